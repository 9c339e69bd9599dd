//! Pagination state: a time window, a page number or an opaque token, plus the window arithmetic
//! (alignment and splitting) that keeps windows exactly-once.

use std::fmt;

use chrono::{TimeZone, Utc};

/// Where the next request starts. Named as in the dd_stream seed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cursor {
    /// A half-open time window `[start, end)` in epoch milliseconds.
    Window(TimeWindow),
    /// A page number (0- or 1-based, as the API counts) and the page size.
    Page {
        /// Page number as the API counts it.
        number: u64,
        /// Records per page.
        size: u64,
    },
    /// An opaque continuation token; `None` asks for the first page.
    Token(Option<String>),
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cursor::Window(w) => write!(f, "window {w}"),
            Cursor::Page { number, size } => write!(f, "page {number} (size {size})"),
            Cursor::Token(None) => write!(f, "first page"),
            Cursor::Token(Some(t)) => write!(f, "token {t:?}"),
        }
    }
}

/// A half-open time window `[start_ms, end_ms)` in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeWindow {
    /// Inclusive start, epoch ms.
    pub start_ms: i64,
    /// Exclusive end, epoch ms.
    pub end_ms: i64,
}

impl TimeWindow {
    /// A window `[start_ms, end_ms)`.
    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        Self { start_ms, end_ms }
    }

    /// Length in milliseconds (0 for empty or inverted windows).
    pub fn len_ms(&self) -> i64 {
        self.end_ms.saturating_sub(self.start_ms).max(0)
    }

    /// True when the window holds no instant.
    pub fn is_empty(&self) -> bool {
        self.end_ms <= self.start_ms
    }

    /// True when `ts_ms` lies in `[start, end)`.
    pub fn contains(&self, ts_ms: i64) -> bool {
        ts_ms >= self.start_ms && ts_ms < self.end_ms
    }

    /// Splits the window in two at a multiple of `align_ms` near the middle, so that no
    /// granularity bucket straddles the halves. `None` when no such point exists inside.
    pub fn split_aligned(&self, align_ms: i64) -> Option<(TimeWindow, TimeWindow)> {
        let align = align_ms.max(1);
        let mid = self.start_ms.saturating_add(self.len_ms() / 2);
        let candidates = [
            floor_to(mid, align),
            floor_to(mid, align).saturating_add(align),
        ];
        let cut = candidates
            .into_iter()
            .filter(|c| *c > self.start_ms && *c < self.end_ms)
            .min_by_key(|c| (c - mid).abs())?;
        Some((
            TimeWindow::new(self.start_ms, cut),
            TimeWindow::new(cut, self.end_ms),
        ))
    }

    /// Splits into `n` contiguous sub-windows with boundaries on multiples of `align_ms`
    /// (fewer when the window is too short). Used for partitions.
    pub fn split_even(&self, n: usize, align_ms: i64) -> Vec<TimeWindow> {
        let align = align_ms.max(1);
        // More parts than milliseconds cannot all be non-empty.
        let n = i64::try_from(n)
            .unwrap_or(i64::MAX)
            .clamp(1, self.len_ms().max(1));
        let mut out = Vec::new();
        let mut start = self.start_ms;
        for i in 1..=n {
            let end = if i == n {
                self.end_ms
            } else {
                // In i128: `len * i` overflows i64 for windows spanning most of its range.
                let offset = i128::from(self.len_ms()) * i128::from(i) / i128::from(n);
                floor_to(self.start_ms.saturating_add(offset as i64), align)
            };
            if end > start {
                out.push(TimeWindow::new(start, end));
                start = end;
            }
        }
        out
    }
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            format_ms(self.start_ms),
            format_ms(self.end_ms)
        )
    }
}

/// Formats epoch ms as an RFC 3339 UTC timestamp (`2026-01-01T00:00:00Z`).
pub fn format_ms(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => format!("{ms}ms"),
    }
}

/// Formats a list of windows for EXPLAIN and errors: `[a, b)` or `[a, b) ∪ [c, d)`.
pub fn format_ms_range(windows: &[TimeWindow]) -> String {
    if windows.is_empty() {
        return "(empty)".to_string();
    }
    // Adjacent windows (partition slices) print as one.
    let mut merged: Vec<TimeWindow> = Vec::new();
    for w in windows {
        match merged.last_mut() {
            Some(last) if last.end_ms == w.start_ms => last.end_ms = w.end_ms,
            _ => merged.push(*w),
        }
    }
    merged
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ∪ ")
}

/// The window after `pos` of about `chunk_ms`, ending on an aligned boundary
/// (or at `limit`).
pub fn next_window(pos: i64, limit: i64, chunk_ms: i64, align_ms: i64) -> TimeWindow {
    let align = align_ms.max(1);
    let aligned = floor_to(pos.saturating_add(chunk_ms.max(1)), align);
    // Always advance by at least one aligned step, so the planner cannot stall.
    let end = aligned
        .max(ceil_to(pos.saturating_add(1), align))
        .min(limit);
    TimeWindow::new(pos, end)
}

/// Largest multiple of `align` that is `<= v` (works for negative `v`); an `align` below 1
/// counts as 1.
pub fn floor_to(v: i64, align: i64) -> i64 {
    let align = align.max(1);
    v.div_euclid(align).saturating_mul(align)
}

/// Smallest multiple of `align` that is `>= v`; an `align` below 1 counts as 1.
pub fn ceil_to(v: i64, align: i64) -> i64 {
    let align = align.max(1);
    let floor = floor_to(v, align);
    if floor == v {
        v
    } else {
        floor.saturating_add(align)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_aligned_cuts_on_granularity() {
        let w = TimeWindow::new(0, 10 * 60_000);
        let (a, b) = w.split_aligned(60_000).unwrap();
        assert_eq!(a, TimeWindow::new(0, 5 * 60_000));
        assert_eq!(b, TimeWindow::new(5 * 60_000, 10 * 60_000));
        let odd = TimeWindow::new(30_000, 3 * 60_000 + 10_000);
        let (a, b) = odd.split_aligned(60_000).unwrap();
        assert_eq!(a.end_ms % 60_000, 0);
        assert_eq!(a.end_ms, b.start_ms);
        assert!(TimeWindow::new(0, 60_000).split_aligned(60_000).is_none());
    }

    #[test]
    fn split_even_is_contiguous_and_aligned() {
        let w = TimeWindow::new(1_000, 86_400_000 + 1_000);
        let parts = w.split_even(7, 60_000);
        assert_eq!(parts.len(), 7);
        assert_eq!(parts[0].start_ms, w.start_ms);
        assert_eq!(parts.last().unwrap().end_ms, w.end_ms);
        for pair in parts.windows(2) {
            assert_eq!(pair[0].end_ms, pair[1].start_ms);
            assert_eq!(pair[0].end_ms % 60_000, 0);
        }
        // More partitions than buckets: fewer, non-empty windows.
        let short = TimeWindow::new(0, 120_000).split_even(8, 60_000);
        assert_eq!(short.len(), 2);
    }

    #[test]
    fn next_window_aligns_and_advances() {
        assert_eq!(
            next_window(0, 10_000, 3_000, 1_000),
            TimeWindow::new(0, 3_000)
        );
        assert_eq!(
            next_window(500, 10_000, 3_000, 1_000),
            TimeWindow::new(500, 3_000)
        );
        assert_eq!(
            next_window(9_000, 10_000, 3_000, 1_000),
            TimeWindow::new(9_000, 10_000)
        );
        // A chunk smaller than the alignment still moves forward by one aligned step.
        assert_eq!(next_window(0, 10_000, 10, 1_000), TimeWindow::new(0, 1_000));
    }

    #[test]
    fn floor_and_ceil_handle_negatives() {
        assert_eq!(floor_to(-1, 10), -10);
        assert_eq!(ceil_to(-1, 10), 0);
        assert_eq!(ceil_to(11, 10), 20);
        assert_eq!(format_ms(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn arithmetic_at_the_ends_of_time_saturates_instead_of_panicking() {
        // An alignment of 0 or below (a custom adapter's) counts as 1 ms.
        assert_eq!(floor_to(7, 0), 7);
        assert_eq!(ceil_to(7, -5), 7);
        assert_eq!(floor_to(i64::MIN, -1), i64::MIN);
        // The whole i64 range, split: no overflow, contiguous, covering.
        let all = TimeWindow::new(i64::MIN, i64::MAX);
        let parts = all.split_even(4, 60_000);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].start_ms, i64::MIN);
        assert_eq!(parts[3].end_ms, i64::MAX);
        assert!(parts.windows(2).all(|p| p[0].end_ms == p[1].start_ms));
        // Absurd part counts give non-empty parts only.
        let short = TimeWindow::new(0, 3);
        assert_eq!(short.split_even(usize::MAX, 1).len(), 3);
        // Halving near the top of the range.
        let top = TimeWindow::new(i64::MAX - 10 * 60_000, i64::MAX);
        let (a, b) = top.split_aligned(60_000).unwrap();
        assert_eq!(
            (a.start_ms, a.end_ms, b.end_ms),
            (top.start_ms, b.start_ms, i64::MAX)
        );
        assert_eq!(b.start_ms % 60_000, 0);
        assert_eq!(
            next_window(i64::MAX - 1, i64::MAX, i64::MAX, 60_000),
            TimeWindow::new(i64::MAX - 1, i64::MAX)
        );
    }
}
