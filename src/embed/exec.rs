//! [`Execution`]: one running physical plan behind blocking calls — the next batch, progress
//! and metrics read from the plan's scan metrics, and cancellation from any thread. Streams and
//! SQL queries both run through it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{block_on, runtime, EmbedError};
use crate::sql::scan::ScanTotals;

/// Where a run is.
enum Slot {
    Running(SendableRecordBatchStream),
    Finished,
    Failed(EmbedError),
    Cancelled,
}

/// A running plan. `next_batch` blocks the calling thread (never a runtime worker) on the
/// shared runtime; `cancel` may be called from any thread at any time.
pub(crate) struct Execution {
    plan: Arc<dyn ExecutionPlan>,
    slot: Mutex<Slot>,
    cancel: CancellationToken,
    done: AtomicBool,
    /// Rows handed out, counted here: the count the caller saw.
    rows: AtomicU64,
}

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execution")
            .field("plan", &self.plan.name())
            .field("done", &self.done.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Execution {
    /// Starts `plan` (all partitions merged into one stream).
    pub(crate) fn start(
        plan: Arc<dyn ExecutionPlan>,
        task: Arc<TaskContext>,
    ) -> Result<Execution, EmbedError> {
        let stream = {
            let _in_runtime = runtime().enter();
            execute_stream(Arc::clone(&plan), task)?
        };
        Ok(Execution {
            plan,
            slot: Mutex::new(Slot::Running(stream)),
            cancel: CancellationToken::new(),
            done: AtomicBool::new(false),
            rows: AtomicU64::new(0),
        })
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic while holding the lock left a consistent slot behind: keep using it.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next non-empty batch; `Ok(None)` at the end. An error is returned again on every
    /// later call; after [`cancel`](Self::cancel), `Err(Cancelled)`.
    pub(crate) fn next_batch(&self) -> Result<Option<RecordBatch>, EmbedError> {
        let mut slot = self.lock();
        loop {
            if self.cancel.is_cancelled() {
                self.finish(&mut slot, Slot::Cancelled);
            }
            let stream = match &mut *slot {
                Slot::Running(stream) => stream,
                Slot::Finished => return Ok(None),
                Slot::Failed(e) => return Err(e.clone()),
                Slot::Cancelled => return Err(EmbedError::cancelled()),
            };
            let cancel = self.cancel.clone();
            let polled = block_on(async move {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => None,
                    item = stream.next() => Some(item),
                }
            })?;
            match polled {
                None => continue,
                Some(None) => self.finish(&mut slot, Slot::Finished),
                Some(Some(Ok(batch))) if batch.num_rows() == 0 => continue,
                Some(Some(Ok(batch))) => {
                    self.rows
                        .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    return Ok(Some(batch));
                }
                Some(Some(Err(e))) => self.finish(&mut slot, Slot::Failed(EmbedError::from(&e))),
            }
        }
    }

    /// Ends the run: the stream (and with it every request in flight) is dropped.
    fn finish(&self, slot: &mut Slot, end: Slot) {
        let _in_runtime = runtime().enter();
        *slot = end;
        self.done.store(true, Ordering::Release);
    }

    /// Stops fetching: no request starts afterwards. Thread-safe; `next_batch` then returns
    /// `Err(Cancelled)`.
    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
        // A `next_batch` in progress holds the lock and ends the stream itself.
        if let Ok(mut slot) = self.slot.try_lock() {
            if matches!(*slot, Slot::Running(_)) {
                self.finish(&mut slot, Slot::Cancelled);
            }
        }
    }

    /// Whether the run ended (all rows read, failed or cancelled).
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The scan counters so far.
    pub(crate) fn totals(&self) -> ScanTotals {
        ScanTotals::of(self.plan.as_ref())
    }

    /// 0..1: the fraction of the time range fetched; for page and token sequences 0 until the
    /// run ends, then 1.
    pub(crate) fn progress(&self) -> f64 {
        if self.is_done() {
            return 1.0;
        }
        let t = self.totals();
        if t.range_total_ms == 0 {
            return 0.0;
        }
        (t.range_done_ms as f64 / t.range_total_ms as f64).clamp(0.0, 1.0)
    }

    /// The engine counters as JSON text.
    pub(crate) fn metrics_json(&self) -> String {
        let t = self.totals();
        let ms = |ns: u64| ns as f64 / 1e6;
        serde_json::json!({
            "requests": t.requests,
            "retries": t.retries,
            "splits": t.splits,
            "rows": self.rows.load(Ordering::Relaxed),
            "bytes_received": t.bytes_received,
            "throttled_ms": ms(t.throttled_ns),
            "network_wait_ms": ms(t.network_wait_ns),
            "consumer_wait_ms": ms(t.consumer_wait_ns),
            "range_done_ms": t.range_done_ms,
            "range_total_ms": t.range_total_ms,
            "progress": self.progress(),
            "done": self.is_done(),
        })
        .to_string()
    }
}

impl Drop for Execution {
    fn drop(&mut self) {
        // Dropping the stream aborts its fetch tasks; do it inside the runtime.
        let _in_runtime = runtime().enter();
        let slot = std::mem::replace(
            self.slot.get_mut().unwrap_or_else(|p| p.into_inner()),
            Slot::Cancelled,
        );
        drop(slot);
    }
}
