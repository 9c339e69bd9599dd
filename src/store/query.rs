//! Reading datapoints back: upstream's `get_data` range rules (start floored to the
//! granularity, `start_exclusive` skipping its whole bucket, an inclusive `end`, clamping to the
//! supported range) and a cursor that pages through a stream's datapoints of one granularity in
//! time order, newest first with `reverse`.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::append::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use super::datapoint::secs;
use super::downsamplers::Bucket;
use super::error::StoreError;
use super::granularity::Granularity;
use super::meta::{self, PointRow};
use super::segments::{SegmentMeta, Segments};

/// Datapoints read per page.
pub(crate) const PAGE: usize = 2048;

/// The optional arguments of `get_data`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataQuery {
    /// Range start, inclusive (floored to the granularity). Exactly one of `start` and
    /// `start_exclusive` is required.
    pub start: Option<DateTime<Utc>>,
    /// Range start, exclusive: the whole bucket holding it is skipped.
    pub start_exclusive: Option<DateTime<Utc>>,
    /// Range end, inclusive (a bucket counts when it starts at or before it).
    pub end: Option<DateTime<Utc>>,
    /// Range end, exclusive.
    pub end_exclusive: Option<DateTime<Utc>>,
    /// Newest first.
    pub reverse: bool,
    /// The value keys to return at coarser granularities (None: all stored; empty: no `v`).
    pub value_downsamplers: Option<Vec<String>>,
    /// The time keys to return at coarser granularities (None: all; empty: no `t`).
    pub time_downsamplers: Option<Vec<String>>,
}

impl DataQuery {
    /// From `start` (inclusive) on.
    pub fn start(start: DateTime<Utc>) -> Self {
        DataQuery {
            start: Some(start),
            ..Default::default()
        }
    }

    /// After `start` (exclusive) on.
    pub fn start_exclusive(start: DateTime<Utc>) -> Self {
        DataQuery {
            start_exclusive: Some(start),
            ..Default::default()
        }
    }

    /// Up to `end`, inclusive.
    pub fn end(mut self, end: DateTime<Utc>) -> Self {
        self.end = Some(end);
        self
    }

    /// Up to `end`, exclusive.
    pub fn end_exclusive(mut self, end: DateTime<Utc>) -> Self {
        self.end_exclusive = Some(end);
        self
    }

    /// Newest first.
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// Only these value keys.
    pub fn value_downsamplers<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.value_downsamplers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Only these time keys.
    pub fn time_downsamplers<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.time_downsamplers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The start/end combination checks (upstream raises `AttributeError`).
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.start.is_some() == self.start_exclusive.is_some() {
            return Err(StoreError::InvalidArgument(
                "get_data needs exactly one range start: start or start_exclusive".into(),
            ));
        }
        if self.end.is_some() && self.end_exclusive.is_some() {
            return Err(StoreError::InvalidArgument(
                "get_data takes at most one range end: end or end_exclusive".into(),
            ));
        }
        Ok(())
    }

    /// The half-open range `[lo, hi)` of point times (or bucket starts) at `g`, or None when it
    /// is empty (mongodb.py:2060-2108).
    pub(crate) fn range(&self, g: Granularity) -> Option<(i64, i64)> {
        let lo = match (self.start_exclusive, self.start) {
            (Some(se), _) => g.round(secs(se)).saturating_add(1),
            (None, Some(s)) => g.round(secs(s)),
            (None, None) => return None,
        };
        if lo > MAX_TIMESTAMP {
            return None;
        }
        let lo = lo.max(MIN_TIMESTAMP);
        // The upper clamp is one past the last supported second, so a point there is included
        // (upstream clamps to the last second itself and loses it).
        let hi = match (self.end_exclusive, self.end) {
            (Some(e), _) => secs(e),
            (None, Some(e)) => secs(e).saturating_add(1),
            (None, None) => MAX_TIMESTAMP + 1,
        };
        if hi <= MIN_TIMESTAMP {
            return None;
        }
        let hi = hi.min(MAX_TIMESTAMP + 1);
        (hi > lo).then_some((lo, hi))
    }
}

/// One datapoint read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Raw(PointRow),
    Bucket(Bucket),
}

impl Item {
    /// The point's time or bucket start.
    pub(crate) fn ts(&self) -> i64 {
        match self {
            Item::Raw(p) => p.ts,
            Item::Bucket(b) => b.ts,
        }
    }

    /// The order key: (time, insertion sequence).
    pub(crate) fn key(&self) -> (i64, i64) {
        match self {
            Item::Raw(p) => (p.ts, p.seq),
            Item::Bucket(b) => (b.ts, 0),
        }
    }

    /// The time the derive operators see (a downsampled point's last time).
    pub(crate) fn feed_time(&self) -> i64 {
        match self {
            Item::Raw(p) => p.ts,
            Item::Bucket(b) => b.time_last,
        }
    }
}

/// Pages through one stream's datapoints of one granularity within `[lo, hi)`, merging the
/// SQLite buffer with the Parquet segments (a segment is read only when the merge reaches it).
#[derive(Debug)]
pub(crate) struct Cursor {
    stream: i64,
    granularity: Granularity,
    raw: bool,
    lo: i64,
    hi: i64,
    reverse: bool,
    after_raw: Option<(i64, i64)>,
    after_bucket: Option<i64>,
    buffer: VecDeque<Item>,
    buffer_done: bool,
    /// Segments not read yet, in the order the merge reaches them.
    pending: VecDeque<SegmentMeta>,
    /// Items of the segments read so far.
    loaded: Vec<VecDeque<Item>>,
}

impl Cursor {
    /// A cursor over `stream`'s datapoints at `granularity` (`raw` when that is its highest),
    /// with the segments listed for that range.
    pub(crate) fn new(
        stream: i64,
        granularity: Granularity,
        raw: bool,
        (lo, hi): (i64, i64),
        reverse: bool,
        mut segments: Vec<SegmentMeta>,
    ) -> Self {
        if reverse {
            segments.sort_by_key(|s| std::cmp::Reverse((s.max_ts, s.id)));
        } else {
            segments.sort_by_key(|s| (s.min_ts, s.id));
        }
        Cursor {
            stream,
            granularity,
            raw,
            lo,
            hi,
            reverse,
            after_raw: None,
            after_bucket: None,
            buffer: VecDeque::new(),
            buffer_done: false,
            pending: segments.into(),
            loaded: Vec::new(),
        }
    }

    fn refill_buffer(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if !self.buffer.is_empty() || self.buffer_done {
            return Ok(());
        }
        let page: Vec<Item> = if self.raw {
            let rows = meta::points_page(
                conn,
                self.stream,
                self.lo,
                self.hi,
                self.after_raw,
                self.reverse,
                PAGE,
            )?;
            if let Some(last) = rows.last() {
                self.after_raw = Some((last.ts, last.seq));
            }
            rows.into_iter().map(Item::Raw).collect()
        } else {
            let rows = meta::buckets_page(
                conn,
                self.stream,
                self.granularity,
                self.lo,
                self.hi,
                self.after_bucket,
                self.reverse,
                PAGE,
            )?;
            if let Some(last) = rows.last() {
                self.after_bucket = Some(last.ts);
            }
            rows.into_iter().map(Item::Bucket).collect()
        };
        self.buffer_done = page.len() < PAGE;
        self.buffer = page.into();
        Ok(())
    }

    /// True when `a` comes before `b` in the cursor's direction.
    fn before(&self, a: (i64, i64), b: (i64, i64)) -> bool {
        if self.reverse {
            a > b
        } else {
            a < b
        }
    }

    /// Where the next item is: None for the buffer, Some(i) for loaded segment i.
    fn best(&self) -> Option<(Option<usize>, (i64, i64))> {
        let mut best: Option<(Option<usize>, (i64, i64))> =
            self.buffer.front().map(|i| (None, i.key()));
        for (n, seg) in self.loaded.iter().enumerate() {
            if let Some(item) = seg.front() {
                let k = item.key();
                if best.is_none_or(|(_, b)| self.before(k, b)) {
                    best = Some((Some(n), k));
                }
            }
        }
        best
    }

    /// The next page (empty once the range is exhausted).
    pub(crate) fn next_page(
        &mut self,
        conn: &Connection,
        segments: &Segments,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        while out.len() < PAGE {
            self.refill_buffer(conn)?;
            // Read the next segment while it may hold the next item.
            while let Some(next) = self.pending.front() {
                let bound = if self.reverse {
                    (next.max_ts, i64::MAX)
                } else {
                    (next.min_ts, i64::MIN)
                };
                match self.best() {
                    Some((_, b)) if !self.before(bound, b) => break,
                    _ => {}
                }
                let Some(seg) = self.pending.pop_front() else {
                    break;
                };
                let mut items = segments.read(&seg.path, self.raw, self.lo, self.hi)?;
                if self.reverse {
                    items.reverse();
                }
                self.loaded.retain(|l| !l.is_empty());
                self.loaded.push(items.into());
            }
            let item = match self.best() {
                None => break,
                Some((None, _)) => self.buffer.pop_front(),
                Some((Some(n), _)) => self.loaded[n].pop_front(),
            };
            match item {
                Some(item) => out.push(item),
                None => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(ts, 0).unwrap_or_default()
    }

    #[test]
    fn range_rules() {
        let s = 946_728_000; // 2000-01-01T12:00:00Z
        let e = s + 60;
        let g = Granularity::Seconds;
        // end is inclusive: [s, e + 1).
        assert_eq!(
            DataQuery::start(at(s)).end(at(e)).range(g),
            Some((s, e + 1))
        );
        assert_eq!(
            DataQuery::start_exclusive(at(s))
                .end_exclusive(at(e))
                .range(g),
            Some((s + 1, e))
        );
        // At minutes a start inside a bucket is floored; start_exclusive skips the whole bucket.
        let m = Granularity::Minutes;
        assert_eq!(
            DataQuery::start(at(s + 30)).range(m),
            Some((s, MAX_TIMESTAMP + 1))
        );
        assert_eq!(
            DataQuery::start_exclusive(at(s + 30)).range(m),
            Some((s + 1, MAX_TIMESTAMP + 1))
        );
        // Clamping and empty ranges.
        assert_eq!(
            DataQuery::start(DateTime::<Utc>::MIN_UTC).range(g),
            Some((0, MAX_TIMESTAMP + 1))
        );
        assert_eq!(DataQuery::start(at(s)).end_exclusive(at(s)).range(g), None);
        assert_eq!(DataQuery::start(DateTime::<Utc>::MAX_UTC).range(g), None);
        assert!(DataQuery::default().check().is_err());
        assert!(DataQuery::start(at(s))
            .end(at(e))
            .end_exclusive(at(e))
            .check()
            .is_err());
    }
}
