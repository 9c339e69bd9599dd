//! Datapoints as the store returns them, in upstream's shape: `t` (a time at the highest
//! granularity, or the `a`/`m`/`z` keys of a downsampled one) and `v` (the value, or the dict of
//! downsampled keys), either of which a `get_data` selection can leave out.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::granularity::Granularity;

/// Epoch seconds of `t` (sub-second parts are dropped, as upstream's second precision).
pub(crate) fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// `ts` (epoch seconds) as a UTC time.
pub(crate) fn to_datetime(ts: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts, 0)
}

/// RFC 3339 text of `ts`, as `get_tags` and `to_json` write times.
pub(crate) fn rfc3339(ts: i64) -> Value {
    to_datetime(ts).map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true))
    })
}

/// The `t` of a datapoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Time {
    /// A point at the highest granularity: its timestamp.
    At(DateTime<Utc>),
    /// A downsampled point: the selected time downsamplers.
    Keys {
        /// `a`: the first point's time.
        first: Option<DateTime<Utc>>,
        /// `m`: the mean time of the non-null points (the bucket's middle when there are none).
        mean: Option<DateTime<Utc>>,
        /// `z`: the last point's time.
        last: Option<DateTime<Utc>>,
    },
}

/// One datapoint of `get_data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    /// The point's timestamp, or the start of its bucket (not part of upstream's dict).
    pub ts: DateTime<Utc>,
    /// `t`; `None` when `time_downsamplers` was empty.
    pub t: Option<Time>,
    /// `v`: the appended value, or the dict of downsampled keys (`c`, `s`, `m`, ...); `None`
    /// when `value_downsamplers` was empty.
    pub v: Option<Value>,
}

impl Datapoint {
    /// Upstream's dict: `{"t": ..., "v": ...}`, times as RFC 3339 text.
    pub fn to_json(&self) -> Value {
        let text = |t: &DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true));
        let mut out = Map::new();
        match &self.t {
            Some(Time::At(t)) => {
                out.insert("t".into(), text(t));
            }
            Some(Time::Keys { first, mean, last }) => {
                let mut keys = Map::new();
                for (k, v) in [("a", first), ("m", mean), ("z", last)] {
                    if let Some(v) = v {
                        keys.insert(k.into(), text(v));
                    }
                }
                out.insert("t".into(), Value::Object(keys));
            }
            None => {}
        }
        if let Some(v) = &self.v {
            out.insert("v".into(), v.clone());
        }
        Value::Object(out)
    }

    /// The value's key `key` of a downsampled datapoint (`"c"`, `"m"`, ...).
    pub fn key(&self, key: &str) -> Option<&Value> {
        self.v.as_ref()?.get(key)
    }
}

/// A datapoint with its stream and granularity: what `append` returns and what
/// `downsample_streams` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDatapoint {
    /// The stream id.
    pub stream_id: String,
    /// The granularity the datapoint was stored at.
    pub granularity: Granularity,
    /// The datapoint.
    pub datapoint: Datapoint,
}
