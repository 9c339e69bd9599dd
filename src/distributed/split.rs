//! How API scans spread over a distributed stage's tasks: a time-window scan wants one task per
//! window at most (the planner caps it at the number of workers) and, once the task count is
//! known, its whole range is cut again into contiguous, window-aligned slices, `partitions`
//! per task, each window in exactly one ([`ApiScanExec::split_across`]). A page or token
//! sequence cannot be cut without knowing where it ends, so it stays on one task.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, ScaleUpLeafNodeEvent,
    ScaleUpLeafNodeEventResponse,
};

use crate::engine::TimeWindow;
use crate::sql::{ApiScanExec, ScanShape};

/// The whole windows in `partitions` (at least 1).
fn window_count(partitions: &[Vec<TimeWindow>], step_ms: i64) -> usize {
    let total: i64 = partitions.iter().flatten().map(TimeWindow::len_ms).sum();
    let step = step_ms.max(1);
    usize::try_from((total + step - 1) / step)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The tasks an `ApiScanExec` asks for: as many as it has windows (time ranges), one for a
/// page or token sequence; other nodes are left to other handlers.
pub fn desired_task_count(
    event: DesiredTaskCountEvent,
) -> Option<DFResult<DesiredTaskCountEventResponse>> {
    #[cfg(feature = "store")]
    if event.plan.is::<crate::store::sql::StoreScanExec>() {
        // The store's SQLite metadata is local to this process.
        return Some(Err(DataFusionError::Plan(
            "the datastream store's tables cannot be read by workers: run this query without --workers, or write the rows to Parquet first (ddstream --store ... -o rows.parquet \"SELECT ...\") and query that file".into(),
        )));
    }
    let scan = event.plan.downcast_ref::<ApiScanExec>()?;
    if let Err(e) = super::codec::check_portable(scan) {
        return Some(Err(e));
    }
    Some(Ok(match &scan.params().shape {
        ScanShape::Windows {
            partitions, grid, ..
        } => DesiredTaskCountEventResponse::desired(window_count(partitions, grid.step_ms)),
        ScanShape::Sequence { .. } => DesiredTaskCountEventResponse::maximum(1),
    }))
}

/// Cuts an `ApiScanExec`'s range across the stage's `task_count` tasks.
pub fn scale_up_leaf(
    event: ScaleUpLeafNodeEvent,
) -> Option<DFResult<ScaleUpLeafNodeEventResponse>> {
    let scan = event.plan.downcast_ref::<ApiScanExec>()?;
    if event.task_count < 2 {
        return None;
    }
    let split = scan.split_across(event.task_count)?;
    Some(Ok(ScaleUpLeafNodeEventResponse::new(Arc::new(split))))
}
