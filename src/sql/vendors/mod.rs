//! One folder per vendor, each with the same files: `config.rs` (typed keys and settings),
//! `spec.rs` (its [`TableSpec`](crate::sql::table::TableSpec)) and `mod.rs` (its registry
//! entry). A new vendor is one adapter, one folder here and one line in
//! [`VENDORS`](crate::sql::registry::VENDORS).

pub mod datadog;
pub mod rest;
