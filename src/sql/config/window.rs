//! The knobs of every time-window table (Datadog today; any vendor whose API takes a time
//! range): the window per request, the range scanned without a time filter, the widest range
//! one query may scan, and the partitions per scan; and the one place that turns pushed-down
//! time ranges into the windows to fetch.

use std::str::FromStr;
use std::time::Duration;

use super::values::{format_duration, parse_count, parse_duration};
use super::KeyDoc;
use crate::engine::cursor::{ceil_to, floor_to};
use crate::engine::{format_ms_range, TimeWindow};
use crate::sql::filters::RangeSet;
use crate::{Error, Result};

/// The options of time-window tables.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowConfigKey {
    /// `chunk`: the initial window per request.
    Chunk,
    /// `min_chunk`: the smallest window the engine may split to.
    MinChunk,
    /// `default_range`: the range scanned without a time filter.
    DefaultRange,
    /// `max_range`: the widest range one query may scan.
    MaxRange,
    /// `max_concurrency`: the most partitions per scan.
    MaxConcurrency,
}

impl WindowConfigKey {
    /// Every key, in documentation order.
    pub const ALL: [WindowConfigKey; 5] = [
        WindowConfigKey::Chunk,
        WindowConfigKey::MinChunk,
        WindowConfigKey::DefaultRange,
        WindowConfigKey::MaxRange,
        WindowConfigKey::MaxConcurrency,
    ];

    /// What the key means, with its default.
    pub fn doc(self) -> KeyDoc {
        let doc = match self {
            WindowConfigKey::Chunk => {
                "initial window per request (default: the largest the API serves at the granularity)"
            }
            WindowConfigKey::MinChunk => {
                "smallest window the engine may split down to (default: the granularity)"
            }
            WindowConfigKey::DefaultRange => {
                "time range scanned when the query has no time filter (default 1h)"
            }
            WindowConfigKey::MaxRange => "largest time range one query may scan (default 31d)",
            WindowConfigKey::MaxConcurrency => {
                "most partitions (parallel request streams) per scan (default 4)"
            }
        };
        KeyDoc {
            name: self.name(),
            doc,
        }
    }
}

impl WindowConfigKey {
    /// The key's name.
    pub fn name(&self) -> &'static str {
        match self {
            WindowConfigKey::Chunk => "chunk",
            WindowConfigKey::MinChunk => "min_chunk",
            WindowConfigKey::DefaultRange => "default_range",
            WindowConfigKey::MaxRange => "max_range",
            WindowConfigKey::MaxConcurrency => "max_concurrency",
        }
    }
}

impl AsRef<str> for WindowConfigKey {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl FromStr for WindowConfigKey {
    type Err = ();

    /// Accepts the names case-insensitively.
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        let key = super::normalized_key(s);
        Self::ALL.into_iter().find(|k| k.as_ref() == key).ok_or(())
    }
}

/// The values of the [`WindowConfigKey`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSettings {
    /// Initial window; `None` lets the vendor derive it.
    pub chunk: Option<Duration>,
    /// Smallest window; `None` = the vendor's granularity.
    pub min_chunk: Option<Duration>,
    /// Range used without a time filter.
    pub default_range: Duration,
    /// Widest range a query may cover.
    pub max_range: Duration,
    /// Most partitions per scan.
    pub max_concurrency: usize,
}

impl Default for WindowSettings {
    fn default() -> Self {
        Self {
            chunk: None,
            min_chunk: None,
            default_range: Duration::from_secs(3_600),
            max_range: Duration::from_secs(31 * 86_400),
            max_concurrency: 4,
        }
    }
}

/// How a table's rows sit on the time axis, for [`WindowSettings::windows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowTimes {
    /// Each row has an instant; a window keeps the rows inside it.
    Points,
    /// Each row is a chunk of this many ms starting on a multiple of it; a range keeps the
    /// chunks whose start it contains (the last one may end at now).
    Chunks(i64),
}

impl WindowSettings {
    /// Sets one key from its text.
    pub fn set(&mut self, key: WindowConfigKey, value: &str) -> Result<()> {
        let name = key.as_ref();
        match key {
            WindowConfigKey::Chunk => self.chunk = Some(parse_duration(name, value)?),
            WindowConfigKey::MinChunk => self.min_chunk = Some(parse_duration(name, value)?),
            WindowConfigKey::DefaultRange => self.default_range = parse_duration(name, value)?,
            WindowConfigKey::MaxRange => self.max_range = parse_duration(name, value)?,
            WindowConfigKey::MaxConcurrency => {
                self.max_concurrency = parse_count(name, value, 64)? as usize
            }
        }
        Ok(())
    }

    /// Checks the settings against the table's granularity.
    pub fn validate(&self, granularity: Duration) -> Result<()> {
        if self.max_range < granularity {
            return Err(Error::config(format!(
                "option 'max_range' ({}) is shorter than the granularity ({})",
                format_duration(self.max_range),
                format_duration(granularity)
            )));
        }
        if self.default_range.is_zero() {
            return Err(Error::config(
                "option 'default_range' must be longer than 0",
            ));
        }
        Ok(())
    }

    /// The windows to scan for the pushed-down time ranges `time` (`None`: no time filter):
    /// open ends closed with `now_ms` and `default_range`, nothing after now, refused when the
    /// ranges add up to more than `max_range`. `adapter` and `column` name the table and its
    /// time column in that error.
    pub fn windows(
        &self,
        time: Option<&RangeSet>,
        now_ms: i64,
        rows: RowTimes,
        adapter: &str,
        column: &str,
    ) -> Result<Vec<TimeWindow>> {
        let default_ms = i64::try_from(self.default_range.as_millis()).unwrap_or(i64::MAX);
        let all = RangeSet::all();
        let set = time.unwrap_or(&all);
        let windows: Vec<TimeWindow> = set
            .0
            .iter()
            .filter_map(|&(start, end)| {
                let (mut start, mut end) = (start, end);
                if let RowTimes::Chunks(chunk_ms) = rows {
                    // Chunks starting in [start, end): from the first boundary at or after
                    // start to the first at or after end.
                    if start != i64::MIN {
                        start = ceil_to(start, chunk_ms);
                    }
                    if end != i64::MAX {
                        end = ceil_to(end, chunk_ms);
                    }
                }
                // Nothing exists after now: an upper bound in the future ends at now.
                end = end.min(now_ms);
                if start == i64::MIN {
                    start = end.saturating_sub(default_ms);
                    if let RowTimes::Chunks(chunk_ms) = rows {
                        start = floor_to(start, chunk_ms);
                    }
                }
                (start < end).then(|| TimeWindow::new(start, end))
            })
            .collect();
        // What is fetched is the sum of the windows, not their hull: two short ranges a month
        // apart cost two short scans.
        let span: i128 = windows.iter().map(|w| i128::from(w.len_ms())).sum();
        if span > self.max_range.as_millis() as i128 {
            return Err(Error::config(format!(
                "{adapter}: the {column} filter covers {} ({}), more than max_range of {}; narrow the filter, or raise the table option max_range (e.g. OPTIONS ('max_range' '90d') or {{\"max_range\": \"90d\"}})",
                format_duration(Duration::from_millis(u64::try_from(span).unwrap_or(u64::MAX))),
                format_ms_range(&windows),
                format_duration(self.max_range)
            )));
        }
        Ok(windows)
    }
}

/// Splits `ranges` into at most `n` partitions of about equal total length, cutting only on
/// multiples of `align_ms`.
pub fn partition_ranges(ranges: &[TimeWindow], n: usize, align_ms: i64) -> Vec<Vec<TimeWindow>> {
    partition_on_windows(ranges, n, align_ms, align_ms)
}

/// [`partition_ranges`], cutting only where a whole number of `step_ms` (the window length)
/// from the start of a range falls on a multiple of `align_ms`, so a partition's windows end
/// exactly at its cut: a slice edge never splits a window into two requests.
pub fn partition_on_windows(
    ranges: &[TimeWindow],
    n: usize,
    align_ms: i64,
    step_ms: i64,
) -> Vec<Vec<TimeWindow>> {
    let total: i64 = ranges.iter().map(TimeWindow::len_ms).sum();
    if total == 0 {
        return vec![];
    }
    let n = n.max(1) as i64;
    // Cut points on the concatenated timeline, mapped back to instants and aligned down.
    let mut cuts: Vec<i64> = Vec::new();
    for i in 1..n {
        let mut offset = total * i / n;
        for r in ranges {
            if offset < r.len_ms() {
                let step = step_ms.max(align_ms).max(1);
                let cut =
                    floor_to(r.start_ms + floor_to(offset, step), align_ms.max(1)).max(r.start_ms);
                if cuts.last().is_none_or(|last| cut > *last) {
                    cuts.push(cut);
                }
                break;
            }
            offset -= r.len_ms();
        }
    }
    let mut out: Vec<Vec<TimeWindow>> = vec![Vec::new()];
    let mut next_cut = cuts.iter().peekable();
    for r in ranges.iter().filter(|r| !r.is_empty()) {
        let mut start = r.start_ms;
        while start < r.end_ms {
            if next_cut.peek().is_some_and(|c| **c <= start) {
                next_cut.next();
                if !out.last().is_some_and(Vec::is_empty) {
                    out.push(Vec::new());
                }
                continue;
            }
            let end = next_cut.peek().map_or(r.end_ms, |c| (**c).min(r.end_ms));
            if let Some(part) = out.last_mut() {
                part.push(TimeWindow::new(start, end));
            }
            start = end;
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    #[test]
    fn open_ends_close_with_now_and_the_default_range() {
        let s = WindowSettings::default();
        let now = 100 * H + 17;
        let w = s.windows(None, now, RowTimes::Points, "t", "ts").unwrap();
        assert_eq!(w, vec![TimeWindow::new(now - H, now)]);
        let future = RangeSet(vec![(99 * H, 200 * H)]);
        let w = s
            .windows(Some(&future), now, RowTimes::Points, "t", "ts")
            .unwrap();
        assert_eq!(w, vec![TimeWindow::new(99 * H, now)]);
        let after_now = RangeSet(vec![(101 * H, 102 * H)]);
        assert!(s
            .windows(Some(&after_now), now, RowTimes::Points, "t", "ts")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn chunked_rows_keep_the_chunks_starting_in_the_range() {
        let s = WindowSettings::default();
        let now = 100 * H + H / 2;
        // chunk_start >= 10:30 and < 13:00 keeps the chunks starting at 11:00 and 12:00.
        let r = RangeSet(vec![(10 * H + H / 2, 13 * H)]);
        let w = s
            .windows(Some(&r), now, RowTimes::Chunks(H), "t", "c")
            .unwrap();
        assert_eq!(w, vec![TimeWindow::new(11 * H, 13 * H)]);
        // No filter: the default hour from the chunk boundary, the last chunk ending at now.
        let w = s.windows(None, now, RowTimes::Chunks(H), "t", "c").unwrap();
        assert_eq!(w, vec![TimeWindow::new(99 * H, now)]);
    }

    #[test]
    fn max_range_counts_the_sum_of_the_windows_not_their_hull() {
        let s = WindowSettings {
            max_range: Duration::from_secs(7 * 86_400),
            ..WindowSettings::default()
        };
        let now = 100 * D;
        // 5 days and 1 day, 40 days apart: 6 days fetched, within 7.
        let two = RangeSet(vec![(10 * D, 15 * D), (55 * D, 56 * D)]);
        let w = s
            .windows(Some(&two), now, RowTimes::Points, "t", "ts")
            .unwrap();
        assert_eq!(w.len(), 2);
        let wide = RangeSet(vec![(10 * D, 18 * D)]);
        let err = s
            .windows(Some(&wide), now, RowTimes::Points, "datadog_v1", "ts")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("datadog_v1: the ts filter covers 8d") && err.contains("max_range of 7d"),
            "{err}"
        );
    }

    fn total(parts: &[Vec<TimeWindow>]) -> i64 {
        parts.iter().flatten().map(TimeWindow::len_ms).sum()
    }

    #[test]
    fn partitions_cover_the_ranges_exactly_once() {
        let day = 86_400_000;
        let ranges = [TimeWindow::new(0, day)];
        let parts = partition_ranges(&ranges, 4, 60_000);
        assert_eq!(parts.len(), 4);
        assert_eq!(total(&parts), day);
        let flat: Vec<_> = parts.iter().flatten().collect();
        for pair in flat.windows(2) {
            assert_eq!(pair[0].end_ms, pair[1].start_ms);
            assert_eq!(pair[0].end_ms % 60_000, 0);
        }
        // Two disjoint ranges over three partitions.
        let ranges = [
            TimeWindow::new(0, 3_600_000),
            TimeWindow::new(7_200_000, 14_400_000),
        ];
        let parts = partition_ranges(&ranges, 3, 60_000);
        assert!(parts.len() <= 3);
        assert_eq!(total(&parts), 3_600_000 + 7_200_000);
        // Tiny range, many partitions.
        let parts = partition_ranges(&[TimeWindow::new(0, 120_000)], 8, 60_000);
        assert_eq!(total(&parts), 120_000);
        assert!(parts.len() <= 2);
        assert!(partition_ranges(&[], 4, 1).is_empty());
    }

    /// Windows the engine cuts from each partition: `next_window` from the partition's start.
    fn windows_of(parts: &[Vec<TimeWindow>], chunk_ms: i64, align_ms: i64) -> usize {
        let mut n = 0;
        for range in parts.iter().flatten() {
            let mut pos = range.start_ms;
            while pos < range.end_ms {
                pos = crate::engine::cursor::next_window(pos, range.end_ms, chunk_ms, align_ms)
                    .end_ms;
                n += 1;
            }
        }
        n
    }

    #[test]
    fn slices_are_cut_on_window_boundaries() {
        // 7 days at 60 s in 4 h windows over 4 partitions: 42 windows, not 44 (7 days / 4
        // partitions = 42 h per slice, which is not a multiple of 4 h).
        let (minute, hour) = (60_000, 3_600_000);
        let week = [TimeWindow::new(
            1_767_225_600_000,
            1_767_225_600_000 + 7 * 24 * hour,
        )];
        let parts = partition_on_windows(&week, 4, minute, 4 * hour);
        assert_eq!(parts.len(), 4);
        assert_eq!(total(&parts), 7 * 24 * hour);
        assert_eq!(windows_of(&parts, 4 * hour, minute), 42);
        // Cutting on the granularity alone split two windows at slice edges.
        let by_minute = partition_ranges(&week, 4, minute);
        assert_eq!(windows_of(&by_minute, 4 * hour, minute), 44);
        // A range not starting on a window multiple: cuts still land a whole number of windows
        // from its start, on the granularity.
        let odd = [TimeWindow::new(7 * minute, 7 * minute + 30 * hour)];
        let parts = partition_on_windows(&odd, 3, minute, 4 * hour);
        assert_eq!(total(&parts), 30 * hour);
        assert_eq!(windows_of(&parts, 4 * hour, minute), 8);
    }
}
