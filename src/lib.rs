//! # ddstream
//!
//! Query large datasets behind HTTP APIs with SQL. An adaptive execution engine fetches from the
//! API (splitting time ranges into windows, adapting their size, retrying with backoff, honouring
//! rate limits, prefetching ahead of the consumer) and streams Arrow record batches into
//! DataFusion, where each API is a table.
//!
//! Layers, each importing only those below it:
//! - [`sql`]: DataFusion tables, scan plans, filter pushdown, table functions, registration.
//! - [`engine`]: cursors, policy, prefetch pipeline, rate gate, metrics. No vendor, no plans.
//! - [`adapters`]: one module per API style; requests as values, bytes into Arrow.
//! - [`transport`]: the HTTP client behind a trait.
//! - [`simulator`]: a Datadog-style API on loopback for tests, benchmarks and `--simulate`.
//! - [`distributed`] (feature `distributed`): API scans fanned out over workers on
//!   datafusion-distributed: the plan codec, the task split, the worker and the coordinator.
//! - [`embed`]: the surface shared by the C ABI (`ffi/`) and the Python package: streams, SQL
//!   sessions, validation and the simulator behind blocking calls on one shared runtime.

#![warn(missing_docs, missing_debug_implementations)]

pub mod adapters;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "distributed")]
pub mod distributed;
#[cfg(feature = "simulator")]
pub mod embed;
pub mod engine;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_entry;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod sql;
#[cfg(feature = "store")]
pub mod store;
pub mod transport;

pub use error::{one_line, to_datafusion_error, Error, Result};
pub use sql::{
    register, register_functions, register_sql_surface, ApiTable, DatadogBuilder, DatadogKind,
    TableDefaults,
};
