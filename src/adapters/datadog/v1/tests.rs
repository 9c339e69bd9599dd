//! Parser tests on the real recorded responses and on hand-made edge cases.

use super::*;
use crate::adapters::datadog::ParseBytes;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, TimestampMillisecondType};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/datadog/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn adapter(query: &str, granularity_s: i64, aggs: &[Aggregation]) -> DatadogV1Adapter {
    DatadogV1Adapter::new(DatadogV1Options {
        query: query.into(),
        granularity_s,
        aggregations: aggs.to_vec(),
        base_url: url::Url::parse("https://api.datadoghq.com").unwrap(),
        credentials: Credentials::default(),
    })
    .unwrap()
}

fn window(start_s: i64, end_s: i64) -> Cursor {
    Cursor::Window(TimeWindow::new(start_s * 1000, end_s * 1000))
}

fn rows(outcome: ParsedResponse) -> RecordBatch {
    match outcome {
        ParsedResponse::Rows { batch, next, .. } => {
            assert!(next.is_none());
            batch
        }
        other => panic!("expected rows, got {other:?}"),
    }
}

#[test]
fn recorded_24h_response_parses_to_its_288_points() {
    let body = fixture("v1_query_metrics_ok.json");
    let a = adapter("system.cpu.idle{*}", 300, &[Aggregation::Avg]);
    let batch = rows(
        a.parse_bytes(&window(1641343852, 1641430252 + 300), &body)
            .unwrap(),
    );
    assert_eq!(batch.num_rows(), 288);
    let ts = batch
        .column(COL_TS)
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1641344100000);
    assert_eq!(ts.value(1) - ts.value(0), 300_000);
    let avg = batch.column(COL_AVG).as_primitive::<Float64Type>();
    assert!((avg.value(0) - 91.4583840476142).abs() < 1e-12);
    assert_eq!(
        batch.column(COL_MIN).null_count(),
        288,
        "min was not requested"
    );
    assert_eq!(batch.column(COL_SCOPE).as_string::<i32>().value(0), "*");
    assert_eq!(
        batch.column(COL_METRIC).as_string::<i32>().value(0),
        "system.cpu.idle"
    );
    assert_eq!(
        batch
            .column(COL_INTERVAL)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0),
        300
    );
}

#[test]
fn float_timestamps_parse_like_integers() {
    let body = fixture("v1_query_metrics_ok_float_ts.json");
    let a = adapter("system.cpu.idle{*}", 300, &[Aggregation::Avg]);
    let batch = rows(
        a.parse_bytes(&window(1623846101, 1623932501 + 300), &body)
            .unwrap(),
    );
    assert_eq!(batch.num_rows(), 288);
    let ts = batch
        .column(COL_TS)
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1623846300000);
}

#[test]
fn groupby_response_keeps_the_scope_with_commas() {
    let body = fixture("v1_query_metrics_groupby_ok.json");
    let a = adapter(
        "Test_TestMetrics_1618221195{bar:baz} by {host}",
        1,
        &[Aggregation::Avg],
    );
    let batch = rows(
        a.parse_bytes(&window(1618221095, 1618221295), &body)
            .unwrap(),
    );
    assert_eq!(batch.num_rows(), 2);
    let scope = batch.column(COL_SCOPE).as_string::<i32>();
    assert_eq!(scope.value(0), "bar:baz,host:go-client-test-host");
    let avg = batch.column(COL_AVG).as_primitive::<Float64Type>();
    assert_eq!((avg.value(0), avg.value(1)), (10.5, 11.0));
}

#[test]
fn points_outside_the_window_are_trimmed() {
    let body = fixture("v1_query_metrics_ok.json");
    let a = adapter("system.cpu.idle{*}", 300, &[Aggregation::Avg]);
    // One hour starting on a bucket: exactly 12 buckets of 5 minutes.
    let batch = rows(
        a.parse_bytes(&window(1641344100, 1641344100 + 3600), &body)
            .unwrap(),
    );
    assert_eq!(batch.num_rows(), 12);
}

#[test]
fn four_aggregations_zip_by_query_index() {
    let body = br#"{"status":"ok","series":[
        {"metric":"m","scope":"host:a,env:x","query_index":2,"interval":60,"pointlist":[[60000,3.0],[120000,null]]},
        {"metric":"m","scope":"host:a,env:x","query_index":0,"interval":60,"pointlist":[[60000,1.0],[120000,2.0]]},
        {"metric":"m","scope":"host:b","query_index":0,"interval":60,"pointlist":[[60000,5.0]]},
        {"metric":"m","scope":"host:a,env:x","query_index":1,"interval":60,"pointlist":[[60000.0,0.5]]}
    ]}"#;
    let a = adapter(
        "avg:m{*} by {host}",
        60,
        &[Aggregation::Sum, Aggregation::Avg, Aggregation::Max],
    );
    // Sorted aggregations: avg (index 0), max (1), sum (2).
    assert_eq!(a.wire_query(), "avg:m{*} by {host}.rollup(avg,60),max:m{*} by {host}.rollup(max,60),sum:m{*} by {host}.rollup(sum,60)");
    let batch = rows(a.parse_bytes(&window(0, 600), body).unwrap());
    assert_eq!(batch.num_rows(), 3);
    let scope = batch.column(COL_SCOPE).as_string::<i32>();
    let avg = batch.column(COL_AVG).as_primitive::<Float64Type>();
    let max = batch.column(COL_MAX).as_primitive::<Float64Type>();
    let sum = batch.column(COL_SUM).as_primitive::<Float64Type>();
    assert_eq!(scope.value(0), "host:a,env:x");
    assert_eq!((avg.value(0), max.value(0), sum.value(0)), (1.0, 0.5, 3.0));
    // Different axes were merged: the 120 s bucket has avg but no max, and a null sum.
    assert_eq!(avg.value(1), 2.0);
    assert!(max.is_null(1) && sum.is_null(1));
    assert_eq!(scope.value(2), "host:b");
    assert!(batch.column(COL_MIN).is_null(0));
}

#[test]
fn coarser_interval_asks_for_a_split() {
    let body = fixture("v1_query_metrics_ok.json");
    let a = adapter("system.cpu.idle{*}", 60, &[Aggregation::Avg]);
    match a
        .parse_bytes(&window(1641343852, 1641430252), &body)
        .unwrap()
    {
        ParsedResponse::WindowTooLarge(reason) => assert!(reason.contains("300"), "{reason}"),
        other => panic!("expected a split, got {other:?}"),
    }
}

#[test]
fn malformed_and_truncated_bodies_are_clear_errors() {
    let a = adapter("m{*}", 60, &[Aggregation::Avg]);
    let body = fixture("v1_query_metrics_ok.json");
    let err = a
        .parse_bytes(&window(0, 60), &body[..body.len() / 2])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::MalformedResponse {
            truncated: true,
            ..
        }
    ));
    let err = err.to_string();
    assert!(
        err.contains("malformed response") && err.contains("EOF"),
        "{err}"
    );
    let err = a
        .parse_bytes(&window(0, 60), b"<html>oops</html>")
        .unwrap_err();
    assert!(matches!(
        err,
        Error::MalformedResponse {
            truncated: false,
            ..
        }
    ));
    let err = err.to_string();
    assert!(
        err.contains("datadog_v1") && err.contains("<html>"),
        "{err}"
    );
    let err = a
        .parse_bytes(
            &window(0, 60),
            br#"{"series":[{"query_index":7,"pointlist":[]}]}"#,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("query_index 7"), "{err}");
    let err = a
        .parse_bytes(&window(0, 60), br#"{"status":"error","error":"bad query"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad query"), "{err}");
    let err = a
        .parse_bytes(&window(0, 60), br#"{"series":"nope"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn empty_series_give_no_rows_and_other_shapes_are_errors() {
    let a = adapter("m{*}", 60, &[Aggregation::Avg]);
    let empty = br#"{"status":"ok","series":[]}"#;
    assert_eq!(
        rows(a.parse_bytes(&window(0, 60), empty).unwrap()).num_rows(),
        0
    );
    for body in [
        &br#"{"status":"ok","series":null}"#[..],
        b"{}",
        br#"{"unexpected":"shape"}"#,
    ] {
        let err = a.parse_bytes(&window(0, 60), body).unwrap_err().to_string();
        assert!(err.contains("no 'series' list"), "{err}");
    }
}

#[test]
fn points_out_of_order_come_out_in_time_order() {
    let a = adapter("m{*}", 60, &[Aggregation::Avg, Aggregation::Max]);
    let body = br#"{"status":"ok","series":[
        {"scope":"*","query_index":0,"interval":60,"pointlist":[[120000,3],[0,1],[60000,2],[60000,2]]},
        {"scope":"*","query_index":1,"interval":60,"pointlist":[[120000,30],[0,10],[60000,20]]}]}"#;
    let batch = rows(a.parse_bytes(&window(0, 180), body).unwrap());
    let ts = batch
        .column(COL_TS)
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.values().to_vec(), [0, 60_000, 120_000]);
    let avg = batch.column(COL_AVG).as_primitive::<Float64Type>();
    let max = batch.column(COL_MAX).as_primitive::<Float64Type>();
    assert_eq!(avg.values().to_vec(), [1.0, 2.0, 3.0]);
    assert_eq!(max.values().to_vec(), [10.0, 20.0, 30.0]);
}

#[test]
fn request_uses_seconds_and_all_subqueries() {
    let a = adapter(
        "avg:system.cpu.user{env:prod,host:a}",
        60,
        &Aggregation::ALL,
    );
    let req = a
        .build_request(&Cursor::Window(TimeWindow::new(60_500, 3_600_001)))
        .unwrap();
    let pairs: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    assert_eq!(pairs[0], ("from".into(), "60".into()));
    // The end is rounded up to the 60 s granularity: the cut last bucket is asked for whole.
    assert_eq!(pairs[1], ("to".into(), "3660".into()));
    assert!(pairs[2]
        .1
        .starts_with("avg:system.cpu.user{env:prod,host:a}.rollup(avg,60),min:"));
    assert_eq!(req.url.path(), "/api/v1/query");
}

#[test]
fn bad_queries_are_refused_with_advice() {
    for (q, needle) in [
        ("", "empty"),
        ("m{*}.rollup(avg,60)", "remove it"),
        ("system.cpu", "no scope"),
        ("a{*},b{*}", "separated by commas"),
    ] {
        let err = DatadogV1Adapter::new(DatadogV1Options {
            query: q.into(),
            granularity_s: 60,
            aggregations: vec![],
            base_url: url::Url::parse("https://x").unwrap(),
            credentials: Credentials::default(),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(needle), "{q}: {err}");
    }
}

#[test]
fn too_many_points_400_is_a_split() {
    let a = adapter("m{*}", 60, &[Aggregation::Avg]);
    assert_eq!(
        a.classify_error(400, br#"{"errors":["Query too large: too many points"]}"#),
        ErrorClass::TooLarge
    );
    assert_eq!(
        a.classify_error(400, br#"{"errors":["Error parsing query"]}"#),
        ErrorClass::Fatal
    );
    assert_eq!(a.classify_error(503, b""), ErrorClass::Retry);
    assert_eq!(a.classify_error(403, b""), ErrorClass::Fatal);
}

#[test]
fn a_huge_granularity_saturates_instead_of_overflowing() {
    let a = adapter("m{*}", i64::MAX, &[Aggregation::Avg]);
    assert_eq!(a.alignment_ms(), i64::MAX);
    let request = a.build_request(&window(0, 60)).unwrap();
    let to: i64 = request
        .url
        .query_pairs()
        .find(|(k, _)| k == "to")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap();
    // `to` rounds the window's end up to the (saturated) granularity.
    assert_eq!(to, i64::MAX / 1000);
}

#[test]
fn compact_and_spaced_points_read_the_same() {
    // Compact pairs take the scanner's one-go path, spaced ones and nulls the general one.
    let a = adapter("m{*}", 60, &[Aggregation::Avg]);
    let body = |points: &str| {
        format!(
            r#"{{"series":[{{"scope":"*","query_index":0,"interval":60,"pointlist":{points}}}]}}"#
        )
    };
    let w = window(0, 240);
    let compact = "[[0,1.5],[60000,-2e3],[120000.0,null],[180000,12.345678901234567]]";
    let spaced = "[ [0, 1.5], [60000 ,-2e3],\n [120000.0, null], [ 180000,12.345678901234567 ] ]";
    let batch = rows(a.parse_bytes(&w, body(compact).as_bytes()).unwrap());
    assert_eq!(
        batch,
        rows(a.parse_bytes(&w, body(spaced).as_bytes()).unwrap())
    );
    let ts = batch
        .column(COL_TS)
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.values().to_vec(), [0, 60_000, 120_000, 180_000]);
    let avg = batch.column(COL_AVG).as_primitive::<Float64Type>();
    let avg: Vec<Option<f64>> = avg.iter().collect();
    assert_eq!(
        avg,
        [Some(1.5), Some(-2000.0), None, Some(12.345678901234567)]
    );
    // A compact pair of the wrong shape is read, and refused, by the general path.
    for (bad, says) in [
        ("[[0,01]]", "invalid number"),
        ("[[0,1,2]]", "invalid length"),
        ("[[0]]", "invalid length"),
        ("[[0,1.]]", "invalid number"),
        ("[[0,\"1\"]]", "invalid type"),
        ("[[0,1e999]]", "out of range"),
    ] {
        let err = a
            .parse_bytes(&w, body(bad).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}
