//! Reading datapoints back: upstream's `get_data` range rules (start floored to the
//! granularity, `start_exclusive` skipping its whole bucket, an inclusive `end`, clamping to the
//! supported range) and a cursor that pages through a stream's datapoints of one granularity in
//! time order, newest first with `reverse`.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::append::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use super::datapoint::secs;
use super::downsamplers::Bucket;
use super::error::StoreError;
use super::granularity::Granularity;
use super::meta::{self, PointRow};

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
    /// The time the derive operators see (a downsampled point's last time).
    pub(crate) fn feed_time(&self) -> i64 {
        match self {
            Item::Raw(p) => p.ts,
            Item::Bucket(b) => b.time_last,
        }
    }
}

/// Pages through one stream's datapoints of one granularity within `[lo, hi)`.
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
    done: bool,
}

impl Cursor {
    /// A cursor over `stream`'s datapoints at `granularity`; `raw` when that is its highest.
    pub(crate) fn new(
        stream: i64,
        granularity: Granularity,
        raw: bool,
        lo: i64,
        hi: i64,
        reverse: bool,
    ) -> Self {
        Cursor {
            stream,
            granularity,
            raw,
            lo,
            hi,
            reverse,
            after_raw: None,
            after_bucket: None,
            done: false,
        }
    }

    /// The next page (empty once the range is exhausted).
    pub(crate) fn next_page(&mut self, conn: &Connection) -> Result<Vec<Item>, StoreError> {
        if self.done {
            return Ok(Vec::new());
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
        if page.len() < PAGE {
            self.done = true;
        }
        Ok(page)
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
