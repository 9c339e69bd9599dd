//! Closed ranges move to Parquet segments: reads are unchanged, a reopened store sees the same
//! data, stragglers merge in order, small segments are compacted, unlisted objects are never
//! read, and the files are plain Parquet in the documented layout.

use chrono::Duration;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use ddstream::store::{DataQuery, Datapoint, Datastream, Granularity};
use serde_json::json;

use crate::common::{append_all, at, data, downsample, store, stream, values};

async fn all_levels(ds: &Datastream, id: &str) -> Vec<Vec<Datapoint>> {
    let mut out = Vec::new();
    for g in Granularity::ALL {
        out.push(data(ds, id, g, DataQuery::start(at(1, 0, 0, 0))).await);
        out.push(data(ds, id, g, DataQuery::start(at(1, 0, 0, 0)).reverse()).await);
    }
    out
}

#[tokio::test]
async fn closed_ranges_move_to_segments_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Datastream::open(dir.path()).await.unwrap();
    let id = stream(&ds, "a", Granularity::Seconds).await;
    let s = at(1, 12, 0, 0);
    append_all(
        &ds,
        &id,
        (0..3600).map(|i| (json!(i), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, s + Duration::hours(2)).await;
    // Latest 12:59:59: raw points before 12:59:50 (3590), 10-second buckets before the minutes
    // state 12:59 (354) and minutes before the 10-minute state 12:50 (50) are closed.
    let stats = ds.storage_stats().await.unwrap();
    assert_eq!(stats.segments, 3);
    assert_eq!(stats.segment_rows, 3590 + 354 + 50);
    assert_eq!(stats.buffered_points, 10);
    // Open 10 s buckets 12:59:00..12:59:40, minutes 12:50..12:58, 10-minute 12:00..12:40.
    assert_eq!(stats.buffered_buckets, 5 + 9 + 5);

    let raw = data(&ds, &id, Granularity::Seconds, DataQuery::start(s)).await;
    assert_eq!(
        values(&raw),
        (0..3600).map(|i| json!(f64::from(i))).collect::<Vec<_>>()
    );
    let ten = data(&ds, &id, Granularity::Seconds10, DataQuery::start(s)).await;
    assert_eq!(ten.len(), 359);
    for (k, p) in ten.iter().enumerate() {
        // Bucket k holds 10k ..= 10k + 9: sum 100k + 45.
        assert_eq!(
            p.key("s"),
            Some(&json!(100.0 * k as f64 + 45.0)),
            "bucket {k}"
        );
        assert_eq!(p.key("c"), Some(&json!(10)));
    }
    let rev = data(
        &ds,
        &id,
        Granularity::Seconds,
        DataQuery::start(s).reverse(),
    )
    .await;
    assert_eq!(rev.first().and_then(|p| p.v.clone()), Some(json!(3599.0)));
    assert_eq!(rev.len(), 3600);
    // A range inside the segment.
    let mid = data(
        &ds,
        &id,
        Granularity::Seconds,
        DataQuery::start(s + Duration::seconds(100)).end(s + Duration::seconds(102)),
    )
    .await;
    assert_eq!(values(&mid), vec![json!(100.0), json!(101.0), json!(102.0)]);

    let before = all_levels(&ds, &id).await;
    drop(ds);
    let ds = Datastream::open(dir.path()).await.unwrap();
    assert_eq!(all_levels(&ds, &id).await, before);

    // An unchecked append into the closed range sits in the buffer and merges in order.
    ds.append(&id, json!(999), Some(s), false).await.unwrap();
    let first = data(&ds, &id, Granularity::Seconds, DataQuery::start(s).end(s)).await;
    assert_eq!(values(&first), vec![json!(0.0), json!(999.0)]);
    let first = data(
        &ds,
        &id,
        Granularity::Seconds,
        DataQuery::start(s).end(s).reverse(),
    )
    .await;
    assert_eq!(values(&first), vec![json!(999.0), json!(0.0)]);

    // Deleting the stream deletes its segment objects.
    ds.delete_streams(Some(json!({"name": "a"}))).await.unwrap();
    assert_eq!(ds.storage_stats().await.unwrap().segments, 0);
    let left: Vec<_> = walk(&dir.path().join("segments"))
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn compaction_keeps_results() {
    let (_d1, rounds) = store().await;
    let (_d2, once) = store().await;
    let a = stream(&rounds, "c", Granularity::Seconds).await;
    let b = stream(&once, "c", Granularity::Seconds).await;
    let s = at(1, 12, 0, 0);
    for minute in 0..12 {
        let points: Vec<_> = (0..60)
            .map(|i| {
                (
                    json!(minute * 60 + i),
                    s + Duration::seconds(minute * 60 + i),
                )
            })
            .collect();
        append_all(&rounds, &a, points.clone()).await;
        append_all(&once, &b, points).await;
        downsample(&rounds, s + Duration::seconds(minute * 60 + 60)).await;
    }
    downsample(&once, s + Duration::hours(1)).await;
    assert_eq!(all_levels(&rounds, &a).await, all_levels(&once, &b).await);
    // Twelve flushes of raw points alone would leave twelve segments.
    let stats = rounds.storage_stats().await.unwrap();
    assert!(stats.segments < 12, "{stats:?}");
    assert_eq!(
        stats.segment_rows + stats.buffered_points + stats.buffered_buckets,
        once.storage_stats()
            .await
            .map(|s| s.segment_rows + s.buffered_points + s.buffered_buckets)
            .unwrap()
    );
}

#[tokio::test]
async fn unlisted_objects_are_never_read_and_old_ones_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Datastream::open(dir.path()).await.unwrap();
    let id = stream(&ds, "o", Granularity::Seconds).await;
    let s = at(1, 12, 0, 0);
    append_all(
        &ds,
        &id,
        (0..120).map(|i| (json!(i), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, s + Duration::hours(1)).await;
    let before = all_levels(&ds, &id).await;
    drop(ds);
    // What a writer killed between writing a segment and listing it leaves behind.
    let stream_dir = dir.path().join(format!("segments/points/stream_id={id}"));
    std::fs::create_dir_all(&stream_dir).unwrap();
    let fresh = stream_dir.join("0-1-fresh.parquet");
    let old = stream_dir.join("0-1-old.parquet");
    std::fs::write(&fresh, b"half a segment").unwrap();
    std::fs::write(&old, b"half a segment").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let ds = Datastream::open(dir.path()).await.unwrap();
    assert!(!old.exists(), "an old unlisted object is removed at open");
    assert!(
        fresh.exists(),
        "a fresh one may belong to a writer still running"
    );
    assert_eq!(all_levels(&ds, &id).await, before);
}

#[tokio::test]
async fn segments_are_plain_parquet_in_the_documented_layout() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Datastream::open(dir.path()).await.unwrap();
    let id = stream(&ds, "p", Granularity::Seconds).await;
    let s = at(1, 12, 0, 0);
    append_all(
        &ds,
        &id,
        (0..600).map(|i| (json!(i % 7), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, s + Duration::hours(1)).await;
    let ctx = SessionContext::new();
    let root = dir.path().join("segments");
    let points = root.join(format!("points/stream_id={id}/"));
    let df = ctx
        .read_parquet(
            points.to_string_lossy().as_ref(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
    let fields: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(fields, ["stream_id", "ts", "seq", "value", "value_json"]);
    // Latest 12:09:59: raw points before 12:09:50 are closed.
    assert_eq!(df.count().await.unwrap(), 590);
    let tens = root.join(format!("buckets/granularity=10seconds/stream_id={id}/"));
    let df = ctx
        .read_parquet(
            tens.to_string_lossy().as_ref(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
    let fields: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        fields,
        [
            "stream_id",
            "ts",
            "count",
            "sum",
            "sum_squares",
            "min",
            "max",
            "mean",
            "std_dev",
            "most_often",
            "least_often",
            "frequencies",
            "time_first",
            "time_mean",
            "time_last"
        ]
    );
    // 10-second buckets before the minutes state 12:09: 54 of them.
    assert_eq!(df.count().await.unwrap(), 54);
}

/// Under `DDSTREAM_STORE_TESTS=s3` the segments go to S3 and none to the local metadata
/// directory; otherwise to the store's own `segments/` directory.
#[tokio::test]
async fn segments_land_where_the_store_location_says() {
    let (dir, ds) = store().await;
    let id = stream(&ds, "where", Granularity::Seconds).await;
    let s = at(1, 12, 0, 0);
    // A point at 14:00:00 closes the 13:00 hour (downsampling stops at the latest point).
    append_all(
        &ds,
        &id,
        (0..=7200).map(|i| (json!(i), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, at(2, 0, 0, 0)).await;
    let stats = ds.storage_stats().await.unwrap();
    assert!(stats.segments > 0, "{stats:?}");
    let local_parquet = walk_parquet(dir.path());
    if std::env::var("DDSTREAM_STORE_TESTS").as_deref() == Ok("s3") {
        assert_eq!(
            local_parquet, 0,
            "segments written locally instead of to S3"
        );
    } else {
        assert!(local_parquet > 0);
    }
    // Reads go through the segments either way.
    let hours = data(&ds, &id, Granularity::Hours, DataQuery::start(s)).await;
    let sums: Vec<f64> = hours
        .iter()
        .map(|p| p.key("s").and_then(|v| v.as_f64()).unwrap())
        .collect();
    assert_eq!(
        sums,
        vec![
            (0..3600).sum::<i64>() as f64,
            (3600..7200).sum::<i64>() as f64
        ]
    );
}

fn walk_parquet(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk_parquet(&path)
            } else {
                usize::from(path.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}

#[tokio::test]
async fn a_flush_larger_than_its_read_pages_moves_every_point_once() {
    // A flush reads and encodes 8,192 rows at a time: 19,990 closed points take three pages
    // of one segment (on S3 too, in the suite's S3 pass).
    let (_dir, ds) = store().await;
    let id = stream(&ds, "a", Granularity::Seconds).await;
    let s = at(1, 0, 0, 0);
    let n = 20_000;
    append_all(
        &ds,
        &id,
        (0..n).map(|i| (json!(i), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, s + Duration::seconds(n) + Duration::hours(1)).await;
    // The latest point is at 19,999 s: the 10 after the last closed 10 s bucket stay buffered.
    let stats = ds.storage_stats().await.unwrap();
    assert_eq!(stats.buffered_points, 10);
    let expected: Vec<_> = (0..n).map(|i| json!(i as f64)).collect();
    let raw = data(&ds, &id, Granularity::Seconds, DataQuery::start(s)).await;
    assert_eq!(values(&raw), expected);
    let rev = data(
        &ds,
        &id,
        Granularity::Seconds,
        DataQuery::start(s).reverse(),
    )
    .await;
    assert_eq!(values(&rev), expected.into_iter().rev().collect::<Vec<_>>());
    // The 10 s buckets (1,999 closed, in one page) still sum their ten points each.
    let ten = data(&ds, &id, Granularity::Seconds10, DataQuery::start(s)).await;
    assert_eq!(ten.len(), 1999);
    assert!(ten
        .iter()
        .enumerate()
        .all(|(k, p)| p.key("s") == Some(&json!(100.0 * k as f64 + 45.0))));
}
