//! Distributed scans on [datafusion-distributed](https://crates.io/crates/datafusion-distributed)
//! (feature `distributed`): the same SQL, its API scans fanned out over workers.
//!
//! - [`codec`]: [`DdstreamCodec`], the `PhysicalExtensionCodec` that carries `ApiScanExec`
//!   across the wire as what it was made from (vendor, options without keys, pushed filters, the
//!   query's `now`, the task's slices), never as engines, clients or credentials.
//! - [`split`]: how many tasks a scan wants and how its time range is dealt to them
//!   (contiguous, window-aligned slices; page and token sequences stay on one task).
//! - [`coordinator`]: a session state that plans distributed queries over a fixed worker list,
//!   over channels (`channels`) with keep-alive whose errors name the worker and its slice.
//! - [`worker`]: the worker service (`ddstream worker --listen ADDR`).
//!
//! The rate limit holds across workers: a scan split over N tasks rebuilds its table on each
//! worker with `rate_limit_share = N`, so each worker's rate gate spends 1/N of the budget the
//! API reports (`X-RateLimit-Remaining / N`, rounded down).

mod channels;
pub mod codec;
pub mod coordinator;
pub mod split;
pub mod worker;

pub use codec::DdstreamCodec;
pub use coordinator::{coordinator_state, parse_workers};
pub use worker::{serve_worker, WorkerHandle};
