//! The progress bar on stderr: fraction of the time range fetched, requests and rows, read from
//! the running plan's metrics. Hidden when stderr is not a terminal.

use std::sync::Arc;
use std::time::Duration;

use crate::sql::scan::ScanTotals;
use datafusion::common::runtime::SpawnedTask;
use datafusion::physical_plan::ExecutionPlan;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A running progress bar; dropped or finished, it disappears.
pub struct Progress {
    bar: ProgressBar,
    _task: Option<SpawnedTask<()>>,
}

impl Progress {
    /// Starts polling `plan`'s metrics every 200 ms, if `visible`.
    pub fn start(plan: Arc<dyn ExecutionPlan>, visible: bool) -> Self {
        let bar = if visible {
            ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {percent:>3}% {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let task = visible.then(|| {
            let bar = bar.clone();
            SpawnedTask::spawn(async move {
                loop {
                    let totals = ScanTotals::of(plan.as_ref());
                    if let Some(permille) =
                        (totals.range_done_ms * 1000).checked_div(totals.range_total_ms)
                    {
                        bar.set_position(permille);
                    }
                    bar.set_message(format!(
                        "{} requests, {} rows",
                        totals.requests, totals.rows
                    ));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });
        Self { bar, _task: task }
    }

    /// Removes the bar.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
