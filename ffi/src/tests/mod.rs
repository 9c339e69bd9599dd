//! The ABI's tests. They live in the crate rather than in `tests/` because this crate's library
//! is named `ddstream` (for `-lddstream`), like the Rust crate it wraps: a separate test crate
//! would see two crates of that name.

mod abi;
mod header;
