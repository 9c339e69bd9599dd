//! The store as a DataFusion schema: `streams` and `datapoints`, filters choosing streams,
//! granularities and time ranges, EXPLAIN showing the segments pruned.

use chrono::Duration;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use ddstream::store::sql::register_store;
use ddstream::store::Granularity;
use serde_json::json;

use crate::common::{append_all, at, downsample, store, stream};

async fn sql(ctx: &SessionContext, q: &str) -> Vec<RecordBatch> {
    ctx.sql(q)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run")
}

fn i64s(batches: &[RecordBatch], col: usize) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.column(col).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

fn f64s(batches: &[RecordBatch], col: usize) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column(col)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

#[tokio::test]
async fn datapoints_and_streams_tables() {
    let (_dir, ds) = store().await;
    let a = stream(&ds, "a", Granularity::Seconds).await;
    let b = stream(&ds, "b", Granularity::Seconds).await;
    let s = at(1, 12, 0, 0);
    append_all(
        &ds,
        &a,
        (0..3600).map(|i| (json!(i), s + Duration::seconds(i))),
    )
    .await;
    append_all(
        &ds,
        &b,
        (0..600).map(|i| (json!(2 * i), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, s + Duration::hours(2)).await;
    let ctx = SessionContext::new();
    register_store(&ctx, "store", ds.clone()).unwrap();

    // Raw points of a: 3590 in a segment, 10 in the buffer; all come back.
    let n = sql(&ctx, &format!("SELECT count(*) FROM store.datapoints WHERE stream_id = '{a}' AND granularity = 'seconds'")).await;
    assert_eq!(i64s(&n, 0), vec![3600]);
    // Minute m of a holds 60m ..= 60m + 59: mean 60m + 29.5.
    let m = sql(
        &ctx,
        &format!(
            "SELECT mean, count FROM store.datapoints WHERE stream_id = '{a}' AND granularity = 'minutes'
             AND ts >= TIMESTAMP '2000-01-01T12:10:00Z' AND ts < TIMESTAMP '2000-01-01T12:13:00Z' ORDER BY ts"
        ),
    )
    .await;
    assert_eq!(f64s(&m, 0), vec![629.5, 689.5, 749.5]);
    assert_eq!(i64s(&m, 1), vec![60, 60, 60]);
    // Both streams' 10-second buckets, summed by stream: a closes 359, b 59 (latest 12:09:59).
    let per = sql(
        &ctx,
        "SELECT s.tags, sum(d.count), count(*) FROM store.datapoints d JOIN store.streams s ON d.stream_id = s.stream_id
         WHERE d.granularity = '10seconds' GROUP BY s.tags ORDER BY s.tags",
    )
    .await;
    let tags: Vec<String> = per
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .map(|t| t.unwrap_or("").to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(tags, vec![r#"{"name":"a"}"#, r#"{"name":"b"}"#]);
    assert_eq!(i64s(&per, 1), vec![3590, 590]);
    assert_eq!(i64s(&per, 2), vec![359, 59]);

    let streams = sql(&ctx, "SELECT stream_id, value_type, highest_granularity, latest_datapoint FROM store.streams ORDER BY stream_id").await;
    let rows = pretty_format_batches(&streams).unwrap().to_string();
    assert!(
        rows.contains("numeric")
            && rows.contains("seconds")
            && rows.contains("2000-01-01T12:59:59Z"),
        "{rows}"
    );
    assert_eq!(streams.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
}

#[tokio::test]
async fn explain_shows_the_pruning() {
    let (_dir, ds) = store().await;
    let a = stream(&ds, "a", Granularity::Seconds).await;
    let _b = stream(&ds, "b", Granularity::Seconds).await;
    let s = at(1, 12, 0, 0);
    append_all(
        &ds,
        &a,
        (0..3600).map(|i| (json!(i), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, s + Duration::hours(2)).await;
    let ctx = SessionContext::new();
    register_store(&ctx, "store", ds).unwrap();
    let plan = |q: String| {
        let ctx = ctx.clone();
        async move {
            let batches = sql(&ctx, &format!("EXPLAIN {q}")).await;
            pretty_format_batches(&batches).unwrap().to_string()
        }
    };
    // The raw segment spans 12:00:00 .. 12:59:49: a range after it opens no segment.
    let late = plan(format!(
        "SELECT value FROM store.datapoints WHERE stream_id = '{a}' AND granularity = 'seconds' AND ts >= TIMESTAMP '2000-01-01T12:59:55Z'"
    ))
    .await;
    assert!(late.contains("StoreScanExec: streams=1 granularities=[seconds] ts=[2000-01-01T12:59:55Z, ..) segments=0/1"), "{late}");
    let early = plan(format!(
        "SELECT value FROM store.datapoints WHERE stream_id = '{a}' AND granularity IN ('seconds', 'minutes') AND ts < TIMESTAMP '2000-01-01T12:30:00Z'"
    ))
    .await;
    assert!(
        early.contains(
            "streams=1 granularities=[seconds, minutes] ts=[.., 2000-01-01T12:30:01Z) segments=2/2"
        ),
        "{early}"
    );
    // Without filters: both streams, every granularity they store.
    let all = plan("SELECT count(*) FROM store.datapoints".into()).await;
    assert!(
        all.contains(
            "streams=2 granularities=[seconds, 10seconds, minutes, 10minutes, hours, 6hours, days]"
        ),
        "{all}"
    );
    let n = sql(&ctx, &format!("SELECT count(*) FROM store.datapoints WHERE stream_id = '{a}' AND granularity = 'seconds' AND ts >= TIMESTAMP '2000-01-01T12:59:55Z'")).await;
    assert_eq!(i64s(&n, 0), vec![5]);
    let n = sql(&ctx, &format!("SELECT count(*) FROM store.datapoints WHERE stream_id = '{a}' AND granularity = 'seconds' AND ts < TIMESTAMP '2000-01-01T12:30:00Z'")).await;
    assert_eq!(i64s(&n, 0), vec![1800]);
}

#[tokio::test]
async fn append_query_feeds_streams_by_tag_columns() {
    let (_dir, ds) = store().await;
    let ctx = SessionContext::new();
    let template = ddstream::store::StreamSpec::new(
        json!({"metric": "cpu"}),
        json!({"unit": "%"}),
        ["mean"],
        Granularity::Seconds,
    );
    let n = ddstream::store::sql::append_query(
        &ctx,
        &ds,
        "SELECT * FROM (VALUES ('a', TIMESTAMP '2000-01-01T12:00:00Z', 1.5), ('b', TIMESTAMP '2000-01-01T12:00:00Z', 10.0),
                               ('a', TIMESTAMP '2000-01-01T12:00:01Z', 2.5), ('b', TIMESTAMP '2000-01-01T12:00:05Z', NULL))
         AS t(host, ts, v) ORDER BY ts",
        &["host"],
        "v",
        &template,
    )
    .await
    .unwrap();
    assert_eq!(n, 4);
    let found = ds
        .find_streams(Some(json!({"metric": "cpu"})))
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    for (host, want) in [
        ("a", vec![json!(1.5), json!(2.5)]),
        ("b", vec![json!(10.0), serde_json::Value::Null]),
    ] {
        let s = ds.find_streams(Some(json!({"host": host}))).await.unwrap();
        assert_eq!(s[0]["unit"], json!("%"));
        let id = s[0]["stream_id"].as_str().unwrap().to_string();
        let got = crate::common::data(
            &ds,
            &id,
            Granularity::Seconds,
            ddstream::store::DataQuery::start(at(1, 0, 0, 0)),
        )
        .await;
        assert_eq!(crate::common::values(&got), want, "{host}");
    }
    let err =
        ddstream::store::sql::append_query(&ctx, &ds, "SELECT 1 AS v", &["host"], "v", &template)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("no column 'ts'"), "{err}");
}

/// `INSERT INTO store.datapoints SELECT ... FROM datadog_v1` over the simulator: rows routed to
/// streams by a tags object built from the API's `scope` column, counted and summed the same
/// as the API table says.
#[tokio::test]
async fn insert_into_datapoints_appends_rows_from_an_api_table() {
    let sim = ddstream::simulator::Simulator::start(Default::default())
        .await
        .unwrap();
    let (_dir, ds) = store().await;
    let ctx = SessionContext::new();
    let config = json!({
        "query": "system.cpu.user{*} by {host}",
        "granularity": "60s",
        "base_url": sim.base_url(),
    });
    ddstream::register(&ctx, "datadog_v1", "cpu", &config.to_string()).unwrap();
    register_store(&ctx, "store", ds.clone()).unwrap();
    let range = "ts >= TIMESTAMP '2026-11-01T00:00:00Z' AND ts < TIMESTAMP '2026-11-01T02:00:00Z'";
    let hosts = sql(
        &ctx,
        &format!("SELECT DISTINCT scope FROM cpu WHERE {range} ORDER BY scope"),
    )
    .await;
    let hosts: Vec<String> = hosts
        .iter()
        .flat_map(|b| {
            let c = b.column(0).as_string::<i32>();
            (0..c.len())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(hosts.len() > 1, "{hosts:?}");
    let inserted = sql(
        &ctx,
        &format!(
            "INSERT INTO store.datapoints (stream_id, ts, value)
             SELECT '{{\"scope\": \"' || scope || '\"}}', ts, avg FROM cpu WHERE {range} ORDER BY ts"
        ),
    )
    .await;
    let api = sql(
        &ctx,
        &format!("SELECT count(*), sum(avg) FROM cpu WHERE {range}"),
    )
    .await;
    let api_rows = api[0].column(0).as_primitive::<Int64Type>().value(0);
    let api_sum = api[0].column(1).as_primitive::<Float64Type>().value(0);
    let inserted_rows = inserted[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
        .value(0);
    assert_eq!(inserted_rows as i64, api_rows);
    let stored = sql(
        &ctx,
        "SELECT count(*), sum(value) FROM store.datapoints WHERE granularity = 'seconds'",
    )
    .await;
    assert_eq!(i64s(&stored, 0), vec![api_rows]);
    assert!((f64s(&stored, 1)[0] - api_sum).abs() < 1e-6 * api_sum.abs().max(1.0));
    let per_stream = sql(
        &ctx,
        "SELECT count(DISTINCT stream_id) FROM store.datapoints",
    )
    .await;
    assert_eq!(i64s(&per_stream, 0), vec![hosts.len() as i64]);
    // The tags created one stream per scope, found again by the same tags.
    for scope in &hosts {
        let found = ds
            .find_streams(Some(json!({ "scope": scope })))
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{scope}");
    }

    // Bad rows say what to change.
    for n in [1, 2] {
        ds.ensure_stream(ddstream::store::StreamSpec::new(
            json!({ "twin": "x", "n": n }),
            json!({}),
            ["mean"],
            Granularity::Seconds,
        ))
        .await
        .unwrap();
    }
    for (bad, expected) in [
        (
            "INSERT INTO store.datapoints (stream_id, ts, value) VALUES ('{\"twin\": \"x\"}', TIMESTAMP '2026-11-02T00:00:00Z', 1.0)",
            "2 streams have the tags",
        ),
        (
            "INSERT INTO store.datapoints (stream_id, ts, value) VALUES ('{\"scope\": ', TIMESTAMP '2026-11-02T00:00:00Z', 1.0)",
            "neither a stream id nor a JSON object of tags",
        ),
        (
            "INSERT INTO store.datapoints (stream_id, granularity, ts, value) VALUES ('x', 'hours', TIMESTAMP '2026-11-02T00:00:00Z', 1.0)",
            "leave out 'granularity'",
        ),
        (
            "INSERT INTO store.datapoints (stream_id, ts, value, count) VALUES ('x', TIMESTAMP '2026-11-02T00:00:00Z', 1.0, 3)",
            "leave out 'count'",
        ),
    ] {
        let err = ctx.sql(bad).await.unwrap().collect().await.unwrap_err().to_string();
        assert!(err.contains(expected), "{bad}: {err}");
    }
    sim.shutdown().await;
}
