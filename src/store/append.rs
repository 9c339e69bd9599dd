//! Appending datapoints (upstream `_append`): the timestamp range, the value check of the stream's
//! type, the monotonic-timestamp rule (equal is allowed; `check_timestamp = false` skips it and
//! may move `latest_datapoint` backwards), the insert into the buffer, and the feeding of derived
//! streams. Everything runs inside the caller's transaction, so the check and the insert are
//! atomic.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::datapoint::{secs, to_datetime, Datapoint, StreamDatapoint, Time};
use super::derive::{self, Feed};
use super::error::StoreError;
use super::meta;
use super::txn::Txn;
use super::value::{self, RawValue};

/// Earliest supported timestamp (1970-01-01T00:00:00Z), as upstream.
pub const MIN_TIMESTAMP: i64 = 0;
/// Latest supported timestamp (2038-01-19T03:14:07Z = 2³¹ − 1), as upstream.
pub const MAX_TIMESTAMP: i64 = i32::MAX as i64;

/// `InvalidTimestamp` outside `[MIN_TIMESTAMP, MAX_TIMESTAMP]`.
pub(crate) fn check_range(ts: i64, stream: &str) -> Result<(), StoreError> {
    if (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&ts) {
        return Ok(());
    }
    Err(StoreError::InvalidTimestamp(format!(
        "stream '{stream}': timestamp {} is out of the supported range 1970-01-01T00:00:00Z to 2038-01-19T03:14:07Z",
        to_datetime(ts).map_or_else(|| ts.to_string(), |t| t.to_rfc3339())
    )))
}

/// Stores a checked value at `ts` in stream `seq` and feeds its derived streams.
pub(crate) fn append_raw(
    txn: &mut Txn<'_>,
    seq: i64,
    value: RawValue,
    ts: i64,
    check_timestamp: bool,
) -> Result<(), StoreError> {
    let highest = {
        let row = txn.row(seq)?;
        check_range(ts, &row.id)?;
        if check_timestamp {
            if let Some(latest) = row.latest.filter(|l| ts < *l) {
                return Err(StoreError::InvalidTimestamp(format!(
                    "stream '{}': datapoint timestamp {} is older than the latest datapoint {}; append in time order, or pass check_timestamp = false",
                    row.id,
                    to_datetime(ts).map_or_else(|| ts.to_string(), |t| t.to_rfc3339()),
                    to_datetime(latest).map_or_else(|| latest.to_string(), |t| t.to_rfc3339())
                )));
            }
        }
        row.highest
    };
    {
        let row = txn.row_mut(seq)?;
        row.latest = Some(ts);
        row.earliest.get_or_insert(ts);
    }
    meta::insert_point(txn.conn, seq, ts, &value)?;
    derive::process_contributions(txn, seq, highest, Feed::Raw { ts, value: &value })
}

/// A user's append to stream `id` (upstream `append`): derived streams refuse it.
pub(crate) fn append_user(
    txn: &mut Txn<'_>,
    id: &str,
    value: &Value,
    timestamp: Option<DateTime<Utc>>,
    check_timestamp: bool,
) -> Result<StreamDatapoint, StoreError> {
    let seq = txn.seq_of(id)?;
    let row = txn.row(seq)?;
    if row.derived_from.is_some() {
        return Err(StoreError::AppendToDerivedStreamNotAllowed(format!(
            "stream '{id}' is derived from other streams; append to its source streams instead"
        )));
    }
    let ts = secs(timestamp.unwrap_or_else(Utc::now));
    check_range(ts, id)?;
    let raw = value::validate(value, row.value_type, row.downsamplers, id)?;
    let highest = row.highest;
    let json = raw.to_json();
    append_raw(txn, seq, raw, ts, check_timestamp)?;
    Ok(StreamDatapoint {
        stream_id: id.to_string(),
        granularity: highest,
        datapoint: Datapoint {
            ts: to_datetime(ts).unwrap_or_default(),
            t: Some(Time::At(to_datetime(ts).unwrap_or_default())),
            v: Some(json),
        },
    })
}
