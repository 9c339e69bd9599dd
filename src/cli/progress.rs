//! The progress bar on stderr, read from the running plan's metrics: rows and requests for every
//! scan, the fraction of the time range fetched with an ETA for time-window scans, pages for
//! page/token (REST) scans. Hidden when stderr is not a terminal or with `--quiet`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::common::runtime::SpawnedTask;
use datafusion::physical_plan::ExecutionPlan;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A running progress bar. Finished or dropped (an error, Ctrl-C), it is erased from the
/// terminal, so no stale line stays above the next prompt.
pub struct Progress {
    bar: ProgressBar,
    _task: Option<SpawnedTask<()>>,
}

impl Progress {
    /// Starts polling `plan`'s metrics every 200 ms, if `visible`.
    pub fn start(plan: Arc<dyn ExecutionPlan>, visible: bool) -> Self {
        // Drawn only once the query has run for a while: quick ones do not flicker a bar.
        let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::hidden());
        let task = visible.then(|| {
            let bar = bar.clone();
            SpawnedTask::spawn(async move {
                let started = Instant::now();
                let mut windowed = None;
                tokio::time::sleep(SHOW_AFTER).await;
                bar.set_draw_target(ProgressDrawTarget::stderr());
                loop {
                    let totals = sum_metrics(plan.as_ref());
                    let is_windowed = totals.total_ms > 0;
                    if windowed != Some(is_windowed) {
                        bar.set_style(style(is_windowed));
                        windowed = Some(is_windowed);
                    }
                    if let Some(permille) =
                        (totals.done_ms.min(totals.total_ms) * 1000).checked_div(totals.total_ms)
                    {
                        bar.set_position(permille);
                    }
                    bar.set_message(describe(&totals, started.elapsed()));
                    bar.tick();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });
        Self { bar, _task: task }
    }

    /// Removes the bar.
    pub fn finish(self) {
        drop(self);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // The polling task holds a clone and is only aborted, so the bar would otherwise be
        // left drawn ("finish and leave" is indicatif's default when the last clone goes).
        self.bar.finish_and_clear();
    }
}

/// How long a query runs before its bar shows.
const SHOW_AFTER: Duration = Duration::from_millis(400);

fn style(windowed: bool) -> ProgressStyle {
    let template = if windowed {
        "{bar:30} {msg}"
    } else {
        "{spinner} {msg}"
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// What the scans of a plan have done so far.
#[derive(Debug, Default, Clone, PartialEq)]
struct Totals {
    /// Milliseconds of the time ranges fetched, and to fetch (0: no time-window scan).
    done_ms: u64,
    total_ms: u64,
    /// Requests sent, including retries.
    requests: u64,
    /// Retries among them.
    retries: u64,
    /// Rows out of the scans (API tables, files, memory tables).
    rows: u64,
    /// Whether an API scan walks pages or tokens rather than time windows.
    sequence: bool,
}

/// The bar's text: `42% ETA 3s, 12 requests, 3400 rows` for time windows, `5 pages,
/// 5 requests, 500 rows` for page and token scans, `1200 rows` for other tables.
fn describe(t: &Totals, elapsed: Duration) -> String {
    let mut parts = Vec::new();
    if t.total_ms > 0 {
        let done = t.done_ms.min(t.total_ms);
        let percent = done * 100 / t.total_ms;
        // The rate so far, applied to what is left.
        let eta = (done > 0).then(|| {
            let secs = elapsed.as_secs_f64() * (t.total_ms - done) as f64 / done as f64;
            format_duration(secs)
        });
        parts.push(match eta {
            Some(eta) => format!("{percent:>3}% ETA {eta}"),
            None => format!("{percent:>3}%"),
        });
    }
    if t.sequence {
        // A retried page is one page.
        parts.push(plural(t.requests.saturating_sub(t.retries), "page"));
    }
    if t.requests > 0 || t.total_ms > 0 || t.sequence {
        parts.push(plural(t.requests, "request"));
    }
    parts.push(plural(t.rows, "row"));
    parts.join(", ")
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn format_duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// Sums the metrics of the plan's scans: `ApiScanExec` for API tables, any other leaf's output
/// rows (Parquet, CSV, memory tables, the store).
fn sum_metrics(plan: &dyn ExecutionPlan) -> Totals {
    let mut totals = Totals::default();
    let children = plan.children();
    if plan.name() == "ApiScanExec" || children.is_empty() {
        if let Some(m) = plan.metrics() {
            let get = |name: &str| m.sum_by_name(name).map_or(0, |v| v.as_usize() as u64);
            totals.rows = m.output_rows().map_or(0, |r| r as u64);
            if plan.name() == "ApiScanExec" {
                totals.done_ms = get("range_done_ms");
                totals.total_ms = get("range_total_ms");
                totals.requests = get("requests");
                totals.retries = get("retries");
                // Each partition adds its range before its first request: a scan that has
                // sent requests with no range walks pages or tokens.
                totals.sequence = totals.total_ms == 0 && totals.requests > 0;
            }
        }
    }
    for child in children {
        let t = sum_metrics(child.as_ref());
        totals.done_ms += t.done_ms;
        totals.total_ms += t.total_ms;
        totals.requests += t.requests;
        totals.retries += t.retries;
        totals.rows += t.rows;
        totals.sequence |= t.sequence;
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_window_scans_show_percent_and_eta() {
        let t = Totals {
            done_ms: 250,
            total_ms: 1000,
            requests: 3,
            rows: 1,
            ..Totals::default()
        };
        // A quarter done in 10 s: three quarters left at that rate is 30 s.
        assert_eq!(
            describe(&t, Duration::from_secs(10)),
            " 25% ETA 30s, 3 requests, 1 row"
        );
        let start = Totals {
            total_ms: 1000,
            ..Totals::default()
        };
        assert_eq!(
            describe(&start, Duration::from_secs(1)),
            "  0%, 0 requests, 0 rows"
        );
    }

    #[test]
    fn sequence_scans_show_pages_without_retries() {
        let t = Totals {
            requests: 7,
            retries: 2,
            rows: 500,
            sequence: true,
            ..Totals::default()
        };
        assert_eq!(
            describe(&t, Duration::ZERO),
            "5 pages, 7 requests, 500 rows"
        );
    }

    #[test]
    fn other_tables_show_rows() {
        let t = Totals {
            rows: 1200,
            ..Totals::default()
        };
        assert_eq!(describe(&t, Duration::ZERO), "1200 rows");
    }

    #[test]
    fn eta_is_readable() {
        assert_eq!(format_duration(59.4), "59s");
        assert_eq!(format_duration(61.0), "1m01s");
        assert_eq!(format_duration(7260.0), "2h01m");
    }
}
