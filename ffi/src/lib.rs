//! The C ABI of ddstream (`include/ddstream.h`): streams of API tables and SQL queries handed
//! over through the Arrow C stream interface, the key check and the simulator, on
//! [`ddstream::embed`]. This crate only translates: C strings in, handles and errors out, and
//! every entry point catches panics so that none crosses the boundary.
//!
//! Conventions (the header repeats them):
//! - Strings in are NUL-terminated UTF-8; a NULL or non-UTF-8 argument is an error, never a
//!   crash (where the header says NULL is allowed, it means the default).
//! - `ddstream_error **err` may be NULL. Otherwise `*err` is set to NULL on success and to a
//!   new error on failure, which the caller frees with `ddstream_error_free`.
//! - Handles (`ddstream_stream`, `ddstream_simulator`) are freed with their own function; an
//!   exported `struct ArrowArrayStream` is independent of the handle and is released with its
//!   own `release` callback.
//! - Every function is thread-safe; one tokio runtime, owned by the library, runs everything.

#![allow(non_camel_case_types)]

mod abi;
mod error;
mod reader;
#[cfg(test)]
mod tests;

pub use abi::*;
pub use error::*;
