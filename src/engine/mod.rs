//! The adaptive execution engine: turns an adapter, a policy, a transport and a cursor range into
//! a stream of Arrow record batches, with prefetch, retries, rate limiting, adaptive window sizing
//! and exactly-once windows. Knows no vendor and no DataFusion plan types. Its port to the
//! network is [`Transport`] (in `http`), implemented by `crate::transport`.

pub mod adapter;
mod answered;
pub mod concurrency;
pub mod cursor;
mod fetch;
pub(crate) mod http;
pub mod metrics;
mod pipeline;
pub mod policy;
pub mod rate_gate;
mod rate_period;

use std::sync::Arc;
use std::time::Duration;

pub use self::http::{ApiRequest, ApiResponse, BoxError, Transport, TransportError};
pub use crate::error::RetryCause;
pub use adapter::{default_error_message, ErrorClass, ParsedResponse, VendorAdapter};
pub use concurrency::{ConcurrencyBounds, HostLimit};
pub use cursor::{format_ms, format_ms_range, Cursor, TimeWindow};
pub use metrics::{EngineMetrics, MetricsSnapshot};
pub use pipeline::EngineStream;
pub use policy::{ChunkFeedback, DefaultPolicy, ExecutionPolicy};
pub use rate_gate::{GatePermit, RateGate};

/// What one engine stream fetches: time ranges cut into windows, or a sequence of page/token
/// cursors. (Not a DataFusion plan: the SQL layer builds one of these per scan partition.)
#[derive(Debug, Clone)]
pub enum FetchPlan {
    /// Time ranges (sorted, disjoint, half-open), cut into windows of about `chunk` that grow
    /// or shrink with the API's feedback.
    Windows {
        /// The ranges to cover.
        ranges: Vec<TimeWindow>,
        /// The initial window length.
        chunk: Duration,
    },
    /// Page or token cursors, starting at `first`; each response names the next.
    Sequence {
        /// The first cursor.
        first: Cursor,
    },
}

/// An adapter bound to a policy and a transport. Cheap to clone; every stream it makes shares
/// its [`EngineMetrics`].
#[derive(Debug, Clone)]
pub struct Engine {
    adapter: Arc<dyn VendorAdapter>,
    policy: Arc<dyn ExecutionPolicy>,
    transport: Arc<dyn Transport>,
    metrics: Arc<EngineMetrics>,
    batch_size: usize,
}

impl Engine {
    /// A new engine with fresh metrics and a batch size of 8192 rows.
    pub fn new(
        adapter: Arc<dyn VendorAdapter>,
        policy: Arc<dyn ExecutionPolicy>,
        transport: Arc<dyn Transport>,
    ) -> Self {
        Self {
            adapter,
            policy,
            transport,
            metrics: Arc::new(EngineMetrics::default()),
            batch_size: 8192,
        }
    }

    /// Largest batch the stream yields (large responses are sliced).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Shares `metrics` with other engines (e.g. all partitions of one scan).
    pub fn with_metrics(mut self, metrics: Arc<EngineMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The counters of every stream made by this engine.
    pub fn metrics(&self) -> &Arc<EngineMetrics> {
        &self.metrics
    }

    /// The adapter.
    pub fn adapter(&self) -> &Arc<dyn VendorAdapter> {
        &self.adapter
    }

    /// Starts fetching `plan`. Must be called inside a tokio runtime; nothing is sent until the
    /// stream is first polled.
    pub fn stream(&self, plan: FetchPlan) -> EngineStream {
        EngineStream::new(self, plan, None)
    }

    /// Like [`Engine::stream`], but stops fetching once `limit` rows are out.
    pub fn stream_with_limit(&self, plan: FetchPlan, limit: Option<usize>) -> EngineStream {
        EngineStream::new(self, plan, limit)
    }
}
