//! Engine counters and progress, shared between the fetch tasks, the stream and observers (the
//! CLI's progress bar, EXPLAIN ANALYZE). Plain atomics: cheap to bump from any task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of one engine run (or several, when shared across partitions).
#[derive(Debug, Default)]
pub struct EngineMetrics {
    /// HTTP requests sent (including retries).
    pub requests: AtomicU64,
    /// Requests that were retries.
    pub retries: AtomicU64,
    /// Windows split because the API found them too large.
    pub splits: AtomicU64,
    /// Response body bytes received.
    pub bytes: AtomicU64,
    /// Rows emitted to the consumer.
    pub rows: AtomicU64,
    /// Time spent waiting for the rate gate, in nanoseconds.
    pub throttled_ns: AtomicU64,
    /// Time the consumer waited for the network, in nanoseconds.
    pub network_wait_ns: AtomicU64,
    /// Time a ready batch waited for the consumer, in nanoseconds.
    pub consumer_wait_ns: AtomicU64,
    /// Milliseconds of the time range fetched so far.
    pub done_ms: AtomicU64,
    /// Milliseconds of the whole time range (0 for page/token cursors).
    pub total_ms: AtomicU64,
    /// Pages fetched (page/token cursors).
    pub pages: AtomicU64,
}

/// A point-in-time copy of [`EngineMetrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// See [`EngineMetrics::requests`].
    pub requests: u64,
    /// See [`EngineMetrics::retries`].
    pub retries: u64,
    /// See [`EngineMetrics::splits`].
    pub splits: u64,
    /// See [`EngineMetrics::bytes`].
    pub bytes: u64,
    /// See [`EngineMetrics::rows`].
    pub rows: u64,
    /// See [`EngineMetrics::throttled_ns`].
    pub throttled: Duration,
    /// See [`EngineMetrics::network_wait_ns`].
    pub network_wait: Duration,
    /// See [`EngineMetrics::consumer_wait_ns`].
    pub consumer_wait: Duration,
    /// See [`EngineMetrics::pages`].
    pub pages: u64,
    /// See [`EngineMetrics::done_ms`].
    pub done_ms: u64,
}

impl EngineMetrics {
    pub(crate) fn add(counter: &AtomicU64, v: u64) {
        counter.fetch_add(v, Ordering::Relaxed);
    }

    pub(crate) fn add_duration(counter: &AtomicU64, d: Duration) {
        counter.fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// Fraction of the time range done, in `[0, 1]`; `None` for page/token cursors.
    pub fn progress(&self) -> Option<f64> {
        let total = self.total_ms.load(Ordering::Relaxed);
        (total > 0).then(|| (self.done_ms.load(Ordering::Relaxed) as f64 / total as f64).min(1.0))
    }

    /// Copies the counters.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            requests: load(&self.requests),
            retries: load(&self.retries),
            splits: load(&self.splits),
            bytes: load(&self.bytes),
            rows: load(&self.rows),
            throttled: Duration::from_nanos(load(&self.throttled_ns)),
            network_wait: Duration::from_nanos(load(&self.network_wait_ns)),
            consumer_wait: Duration::from_nanos(load(&self.consumer_wait_ns)),
            pages: load(&self.pages),
            done_ms: load(&self.done_ms),
        }
    }
}
