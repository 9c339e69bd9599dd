//! Helpers: a store in a temporary directory, UTC times, upstream's seven downsamplers.

use chrono::{DateTime, TimeZone, Utc};
use ddstream::store::{DataQuery, Datapoint, Datastream, Granularity, NewDatapoint, StreamSpec};
use serde_json::{json, Value};

/// Upstream's seven value downsamplers (the MongoDB backend's set).
pub const SEVEN: [&str; 7] = [
    "count",
    "sum",
    "sum_squares",
    "min",
    "max",
    "mean",
    "std_dev",
];

/// A fresh store; keep the directory alive as long as the store.
pub async fn store() -> (tempfile::TempDir, Datastream) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Datastream::open(dir.path()).await.expect("open store");
    (dir, store)
}

/// 2000-01-01 (or another day) at h:m:s UTC.
pub fn at(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, day, h, m, s)
        .single()
        .expect("valid time")
}

/// A stream with `name` and upstream's seven downsamplers at `highest`.
pub async fn stream(store: &Datastream, name: &str, highest: Granularity) -> String {
    store
        .ensure_stream(StreamSpec::new(
            json!({ "name": name }),
            json!({}),
            SEVEN,
            highest,
        ))
        .await
        .expect("ensure stream")
}

/// Appends `(value, time)` pairs in one batch.
pub async fn append_all(
    store: &Datastream,
    id: &str,
    points: impl IntoIterator<Item = (Value, DateTime<Utc>)>,
) {
    let batch = points
        .into_iter()
        .map(|(value, t)| NewDatapoint {
            stream_id: id.to_string(),
            value,
            timestamp: Some(t),
        })
        .collect();
    store.append_multiple(batch).await.expect("append_multiple");
}

/// get_data collected.
pub async fn data(store: &Datastream, id: &str, g: Granularity, q: DataQuery) -> Vec<Datapoint> {
    store.get_data_vec(id, g, q).await.expect("get_data")
}

/// The `v` of each datapoint.
pub fn values(points: &[Datapoint]) -> Vec<Value> {
    points
        .iter()
        .map(|p| p.v.clone().unwrap_or(Value::Null))
        .collect()
}

/// Key `k` of each downsampled datapoint.
pub fn key(points: &[Datapoint], k: &str) -> Vec<Value> {
    points
        .iter()
        .map(|p| p.key(k).cloned().unwrap_or(Value::Null))
        .collect()
}

/// Downsamples everything up to `until`.
pub async fn downsample(store: &Datastream, until: DateTime<Utc>) -> usize {
    store
        .downsample_streams(None, Some(until), true, None)
        .await
        .expect("downsample_streams")
        .len()
}
