//! The v2 timeseries adapter against the recorded fixtures and hand-written edge cases.

use super::*;
use crate::adapters::datadog::ParseBytes;
use crate::adapters::datadog::{NamedFormula, NamedQuery};
use datafusion::arrow::array::{AsArray, ListArray};
use datafusion::arrow::datatypes::{Float64Type, TimestampMillisecondType};

fn adapter(queries: &[(&str, &str)], formulas: &[&str]) -> DatadogV2TimeseriesAdapter {
    DatadogV2TimeseriesAdapter::new(DatadogV2TimeseriesOptions {
        queries: V2Queries {
            queries: queries
                .iter()
                .map(|(n, q)| NamedQuery {
                    name: n.to_string(),
                    query: q.to_string(),
                })
                .collect(),
            formulas: formulas
                .iter()
                .map(|f| NamedFormula {
                    name: f.to_string(),
                    formula: f.to_string(),
                })
                .collect(),
        },
        interval_ms: 5_000,
        base_url: url::Url::parse("http://127.0.0.1:1").unwrap(),
        credentials: Credentials::default(),
    })
    .unwrap()
}

fn one_query() -> DatadogV2TimeseriesAdapter {
    adapter(&[("a", "avg:system.cpu.user{*}")], &["a"])
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/datadog/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn window(start: i64, end: i64) -> Cursor {
    Cursor::Window(TimeWindow::new(start, end))
}

fn rows(a: &DatadogV2TimeseriesAdapter, cursor: &Cursor, body: &[u8]) -> RecordBatch {
    match a.parse_bytes(cursor, body).unwrap() {
        ParsedResponse::Rows {
            batch, next: None, ..
        } => batch,
        other => panic!("expected rows, got {other:?}"),
    }
}

fn ts(b: &RecordBatch) -> Vec<i64> {
    b.column(COL_TS)
        .as_primitive::<TimestampMillisecondType>()
        .values()
        .to_vec()
}

fn values(b: &RecordBatch) -> Vec<Option<f64>> {
    b.column(5).as_primitive::<Float64Type>().iter().collect()
}

#[test]
fn recorded_sparse_response_parses_to_its_rows() {
    let b = rows(
        &one_query(),
        &window(1_711_977_601_000, 1_711_981_201_000),
        &fixture("v2_timeseries_ok.json"),
    );
    assert_eq!(
        ts(&b),
        vec![1_711_977_645_000, 1_711_977_705_000, 1_711_980_225_000]
    );
    assert_eq!(values(&b), vec![Some(1.0), Some(1.0), Some(87.0)]);
    assert_eq!(b.column(0).as_string::<i32>().value(0), "a");
    assert_eq!(b.column(2).as_string::<i32>().value(2), "*");
    assert!(b.column(6).is_null(0), "the recorded unit is null");
    let tags: &ListArray = b.column(3).as_list();
    assert_eq!(tags.value(0).len(), 0);
}

#[test]
fn recorded_dense_response_is_trimmed_to_the_window() {
    let body = fixture("v2_timeseries_ok_dense.json");
    let all = rows(&one_query(), &window(0, i64::MAX), &body);
    assert_eq!(all.num_rows(), 1642);
    let sum: f64 = values(&all).iter().map(|v| v.unwrap()).sum();
    assert!((sum - 8987.070527999).abs() < 1e-6, "{sum}");
    assert_eq!(all.column(6).as_string::<i32>().value(0), "percent");
    // The cassette's times start before the request's `from`: those rows are trimmed.
    let trimmed = rows(
        &one_query(),
        &window(1_671_612_804_000, 1_671_620_004_000),
        &body,
    );
    let t = ts(&trimmed);
    assert_eq!(t.first(), Some(&1_671_612_805_000));
    assert!(t
        .iter()
        .all(|t| (1_671_612_804_000..1_671_620_004_000).contains(t)));
    assert_eq!(trimmed.num_rows(), 1440);
}

#[test]
fn recorded_empty_response_has_no_rows() {
    let b = rows(
        &one_query(),
        &window(0, i64::MAX),
        &fixture("v2_timeseries_empty.json"),
    );
    assert_eq!(b.num_rows(), 0);
}

#[test]
fn the_request_matches_the_recorded_one() {
    let request = one_query()
        .build_request(&window(1_671_612_805_000, 1_671_620_005_000))
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
    let mut recorded: serde_json::Value =
        serde_json::from_slice(&fixture("v2_timeseries_ok_dense_request.json")).unwrap();
    let attributes = recorded["data"]["attributes"].as_object_mut().unwrap();
    attributes["formulas"][0]
        .as_object_mut()
        .unwrap()
        .remove("limit");
    // The window was aligned to the 5 s interval.
    attributes.insert("from".into(), 1_671_612_805_000i64.into());
    attributes.insert("to".into(), 1_671_620_005_000i64.into());
    assert_eq!(sent, recorded);
    assert_eq!(
        request.headers.get("content-type").unwrap(),
        "application/json"
    );
}

#[test]
fn grouped_series_and_formulas_are_labelled_by_query_index() {
    let a = adapter(
        &[("a", "avg:m{*} by {host}"), ("b", "avg:n{*} by {host}")],
        &["a / b", "a * 2"],
    );
    let body = br#"{"data":{"type":"timeseries_response","attributes":{
        "times":[0, 60000],
        "series":[
            {"group_tags":["host:web-1"],"query_index":0,"unit":[{"name":"byte"},{"name":"second"}]},
            {"group_tags":["host:web-2"],"query_index":0,"unit":null},
            {"group_tags":["host:web-1"],"query_index":1,"unit":null}],
        "values":[[1, null],[2.5, 3],[4, 5]]}}}"#;
    let b = rows(&a, &window(0, 120_000), body);
    assert_eq!(b.num_rows(), 6);
    let names: Vec<&str> = b.column(0).as_string::<i32>().iter().flatten().collect();
    assert_eq!(
        names,
        ["a / b", "a / b", "a / b", "a / b", "a * 2", "a * 2"]
    );
    let scopes: Vec<&str> = b.column(2).as_string::<i32>().iter().flatten().collect();
    assert_eq!(scopes[2], "host:web-2");
    assert_eq!(
        values(&b),
        vec![Some(1.0), None, Some(2.5), Some(3.0), Some(4.0), Some(5.0)]
    );
    assert_eq!(ts(&b), vec![0, 60_000, 0, 60_000, 0, 60_000]);
    assert_eq!(b.column(6).as_string::<i32>().value(0), "byte/second");
    assert!(b.column(6).is_null(2));
    // Every row carries its own series' labels, not just the series' first row.
    let units: Vec<Option<&str>> = b.column(6).as_string::<i32>().iter().collect();
    assert_eq!(
        units,
        [
            Some("byte/second"),
            Some("byte/second"),
            None,
            None,
            None,
            None
        ]
    );
    let tags: &ListArray = b.column(3).as_list();
    let tags: Vec<Vec<String>> = (0..b.num_rows())
        .map(|i| {
            let row = tags.value(i);
            let row = row.as_string::<i32>();
            row.iter().flatten().map(str::to_string).collect()
        })
        .collect();
    let host = |h: &str| vec![format!("host:{h}")];
    assert_eq!(
        tags,
        [
            host("web-1"),
            host("web-1"),
            host("web-2"),
            host("web-2"),
            host("web-1"),
            host("web-1")
        ]
    );
}

#[test]
fn fields_in_any_order_and_unknown_fields_are_accepted() {
    let body = br#"{"meta":{"x":[1,{"y":2}]},"data":{"attributes":{"values":[[7.0]],
        "extra":null,"series":[{"query_index":0}],"times":[1000.0]},"id":"0"}}"#;
    let b = rows(&one_query(), &window(0, 5_000), body);
    assert_eq!((ts(&b), values(&b)), (vec![1_000], vec![Some(7.0)]));
}

#[test]
fn malformed_bodies_are_clear_errors() {
    let a = one_query();
    let w = window(0, 5_000);
    let err = |body: &[u8]| a.parse_bytes(&w, body).unwrap_err();
    let e = err(
        br#"{"data":{"attributes":{"series":[{"query_index":0}],"times":[1,2],"values":[[1]]}}}"#,
    );
    assert!(
        e.to_string()
            .contains("values[0] holds 1 values for 2 times"),
        "{e}"
    );
    let e = err(
        br#"{"data":{"attributes":{"series":[{"query_index":3}],"times":[1],"values":[[1]]}}}"#,
    );
    assert!(e.to_string().contains("query_index 3"), "{e}");
    let e = err(br#"{"data":{"attributes":{"series":[],"times":[1],"values":[[1]]}}}"#);
    assert!(e.to_string().contains("1 arrays for 0 series"), "{e}");
    let e = err(br#"{"data":{"attributes":{"times":["x"]}}}"#);
    assert!(e.to_string().contains("timestamp"), "{e}");
    let e = err(br#"{"data":{"attributes":{"values":[[1,"#);
    assert!(
        matches!(
            e,
            Error::MalformedResponse {
                truncated: true,
                ..
            }
        ),
        "{e}"
    );
    let e = err(b"<html>");
    assert!(
        matches!(
            e,
            Error::MalformedResponse {
                truncated: false,
                ..
            }
        ),
        "{e}"
    );
    let e = err(br#"{"errors": "Query timed out", "data": null}"#);
    assert!(
        matches!(&e, Error::Api { message, .. } if message == "Query timed out"),
        "{e}"
    );
    let e = err(br#"[1,2]"#);
    assert!(e.to_string().contains("timeseries response object"), "{e}");
}

#[test]
fn error_statuses_are_classified_like_v1() {
    let a = one_query();
    assert_eq!(a.classify_error(429, b""), ErrorClass::Retry);
    assert_eq!(a.classify_error(503, b""), ErrorClass::Retry);
    assert_eq!(
        a.classify_error(
            400,
            br#"{"errors":["too many points; reduce the time window"]}"#
        ),
        ErrorClass::TooLarge
    );
    let recorded = fixture("v2_timeseries_400.json");
    assert_eq!(a.classify_error(400, &recorded), ErrorClass::Fatal);
    assert_eq!(
        a.error_message(&recorded),
        "API input validation failed: Invalid type. Expected \"timeseries_request\"."
    );
}

#[test]
fn a_time_axis_out_of_order_comes_out_in_order_and_other_shapes_are_errors() {
    let body = br#"{"data":{"attributes":{"times":[120000, 0, 60000],
        "series":[{"query_index":0},{"query_index":0,"group_tags":["host:b"]}],
        "values":[[3, 1, 2],[30, null, 20]]}}}"#;
    let b = rows(&one_query(), &window(0, 180_000), body);
    assert_eq!(ts(&b), vec![0, 60_000, 120_000, 0, 60_000, 120_000]);
    assert_eq!(
        values(&b),
        vec![
            Some(1.0),
            Some(2.0),
            Some(3.0),
            None,
            Some(20.0),
            Some(30.0)
        ]
    );
    for other in [&br#"{"unexpected":"shape"}"#[..], br#"{"data":{"id":"0"}}"#] {
        let err = one_query()
            .parse_bytes(&window(0, 1), other)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no 'data.attributes'"), "{err}");
    }
}

#[test]
fn compact_and_spaced_arrays_read_the_same() {
    // Compact `times`/`values` take the scanner's element-at-a-time path; whitespace, floats,
    // signs and long integers the general one, from wherever the compact path stopped.
    let a = adapter(&[("a", "m{*}")], &[]);
    let body = |times: &str, values: &str| {
        format!(
            r#"{{"data":{{"attributes":{{"series":[{{"query_index":0}},{{"query_index":0}}],"times":{times},"values":{values}}}}}}}"#
        )
    };
    let w = window(0, 1_000_000);
    let compact = body(
        "[1000,2000,3000.0,4000]",
        "[[1.5,null,-2e3,12.345678901234567],[0,7,null,null]]",
    );
    let batch = rows(&a, &w, compact.as_bytes());
    let expected_values = [
        Some(1.5),
        None,
        Some(-2000.0),
        Some(12.345678901234567),
        Some(0.0),
        Some(7.0),
        None,
        None,
    ];
    assert_eq!(ts(&batch), [1000, 2000, 3000, 4000, 1000, 2000, 3000, 4000]);
    assert_eq!(values(&batch), expected_values);
    for (times, values) in [
        (
            "[ 1000, 2000,3000.0 ,4000 ]",
            "[ [1.5, null,-2e3 ,12.345678901234567], [ 0,7,null ,null] ]",
        ),
        (
            "[1000,2000,3e3,4000]",
            "[[1.5,null,-2e3,12.345678901234567] ,[0,7,\nnull,null]]",
        ),
        (
            "[1000,2000\n,3000,4000]",
            "[[1.5,null ,-2000,12.345678901234567],[0, 7,null,null ]]",
        ),
    ] {
        let spaced = body(times, values);
        assert_eq!(rows(&a, &w, spaced.as_bytes()), batch, "{times} {values}");
    }
    // What the compact path stops at, the general path refuses with its own message.
    for (times, values, says) in [
        ("[1000,]", "[[1]]", "trailing comma"),
        ("[1000,2000]", "[[1,]]", "trailing comma"),
        (
            "[1000,,2000]",
            "[[1,2]]",
            "expected value at line 1 column 85",
        ),
        ("[1000 2000]", "[[1,2]]", "expected `,` or `]`"),
        ("[1000]", "[[01]]", "invalid number"),
        ("[1000]", "[[nul]]", "expected ident"),
        ("[1000]", "[[1e999]]", "out of range"),
        ("[1000]", "[[\"1\"]]", "number or null"),
        ("[1000]", "[[1.]]", "invalid number"),
        ("[10000000000000000000]", "[[1]]", "out of range"),
    ] {
        let err = a
            .parse_bytes(&w, body(times, values).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{times} {values}: {err}");
    }
}
