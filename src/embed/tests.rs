//! The embedding surface against the simulator over real HTTP: every adapter streams, ranges
//! bound what is fetched, cancel stops requests, reset starts over, errors have their kinds and
//! never show keys, and sessions run several statements.

use std::collections::BTreeSet;
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};

use super::*;
use crate::simulator::{data, records};

/// 2026-01-01T00:00:00Z.
const JAN1: i64 = records::T0_S;
const SECRET: &str = "sekrit-api-key-0123456789";

fn sim(spec: &str) -> SimulatorHandle {
    SimulatorHandle::start(spec).expect("simulator starts")
}

fn drain(stream: &Stream) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    while let Some(b) = stream.next_batch().expect("batch") {
        out.push(b);
    }
    out
}

fn column_i64(batches: &[RecordBatch], name: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(name).expect("column");
            match c.data_type() {
                datafusion::arrow::datatypes::DataType::Int64 => {
                    c.as_primitive::<Int64Type>().values().to_vec()
                }
                _ => c
                    .as_primitive::<TimestampMillisecondType>()
                    .values()
                    .to_vec(),
            }
        })
        .collect()
}

/// v1 buckets of `g` seconds in `[from, to)` where some host has a raw point: the rows
/// `metric{*}` has, from the raw data alone.
fn v1_buckets(metric: &str, from: i64, to: i64, g: i64) -> Vec<i64> {
    (from..to)
        .step_by(g as usize)
        .filter(|b| {
            ["web-1", "web-2", "db-1"].iter().any(|h| {
                (*b..b + g)
                    .step_by(10)
                    .any(|t| data::raw_value(metric, h, t).is_some())
            })
        })
        .map(|b| b * 1000)
        .collect()
}

fn v1_config(sim: &SimulatorHandle, extra: &str) -> String {
    format!(
        r#"{{"query": "system.cpu.user{{*}}", "granularity": "60s", "base_url": "{}", "api_key": "{SECRET}", "app_key": "{SECRET}"{extra}}}"#,
        sim.base_url()
    )
}

#[test]
fn v1_streams_one_day_in_time_order_with_progress_and_metrics() {
    let sim = sim("");
    let config = v1_config(
        &sim,
        r#", "range_start": "2026-01-01T00:00:00Z", "range_end": 1767312000"#,
    );
    let stream = Stream::create("datadog_v1", &config).unwrap();
    assert_eq!(stream.progress(), 0.0);
    let batches = drain(&stream);
    let ts = column_i64(&batches, "ts");
    assert_eq!(ts, v1_buckets("system.cpu.user", JAN1, JAN1 + 86_400, 60));
    assert!(stream.is_done());
    assert_eq!(stream.progress(), 1.0);
    let metrics: serde_json::Value = serde_json::from_str(&stream.metrics_json()).unwrap();
    let data_requests = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/query")
        .count() as u64;
    assert_eq!(metrics["requests"], data_requests);
    assert_eq!(metrics["rows"], ts.len() as u64);
    assert_eq!(metrics["range_total_ms"], 86_400_000u64);
    // The requested windows cover exactly the day.
    let covered: i64 = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/query")
        .map(|r| {
            let get = |k: &str| -> i64 {
                r.query
                    .iter()
                    .find(|(n, _)| n == k)
                    .unwrap()
                    .1
                    .parse()
                    .unwrap()
            };
            get("to") - get("from")
        })
        .sum();
    assert_eq!(covered, 86_400);
}

#[test]
fn v2_tables_stream_rows_inside_the_range() {
    let sim = sim("");
    for (adapter, column) in [
        ("datadog_v2_timeseries", "ts"),
        ("datadog_v2_scalar", "chunk_start"),
    ] {
        let config = format!(
            r#"{{"query": "avg:system.cpu.user{{*}} by {{host}}", "base_url": "{}"}}"#,
            sim.base_url()
        );
        let stream = Stream::create_with_range(
            adapter,
            &config,
            Some(TimeArg::from(JAN1)),
            Some(TimeArg::from(JAN1 + 6 * 3600)),
        )
        .unwrap();
        let batches = drain(&stream);
        let ts = column_i64(&batches, column);
        assert!(!ts.is_empty(), "{adapter} returned no rows");
        assert!(
            ts.iter()
                .all(|t| (JAN1 * 1000..(JAN1 + 6 * 3600) * 1000).contains(t)),
            "{adapter}: a row outside the range"
        );
        let hosts: BTreeSet<String> = batches
            .iter()
            .flat_map(|b| {
                let s = b.column_by_name("scope").expect("a scope column");
                let s = s.as_string::<i32>();
                (0..s.len())
                    .map(|i| s.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            hosts.len(),
            3,
            "{adapter}: one group per host, got {hosts:?}"
        );
    }
}

fn page_config(sim: &SimulatorHandle) -> String {
    format!(
        r#"{{"url": "{}/api/page/events", "records": "/data", "columns": [{{"name": "id", "type": "int64"}}, {{"name": "created_at", "type": "timestamp"}}], "page_size_param": "per_page", "page_size": 50, "total": "/total", "time_column": "created_at", "start_param": "start", "end_param": "end"}}"#,
        sim.base_url()
    )
}

#[test]
fn page_and_token_tables_stream_the_whole_collection() {
    let sim = sim("");
    let token = format!(
        r#"{{"url": "{}/api/token/events", "records": "/records", "columns": [{{"name": "id", "type": "int64"}}], "token_param": "cursor", "next_token": "/next_cursor", "page_size_param": "limit", "page_size": 50}}"#,
        sim.base_url()
    );
    let all: Vec<i64> = (1..=records::DEFAULT_TOTAL as i64).collect();
    for (adapter, config) in [("page_api", page_config(&sim)), ("token_api", token)] {
        let stream = Stream::create(adapter, &config).unwrap();
        assert_eq!(stream.progress(), 0.0, "{adapter}: sequences start at 0");
        let mut ids = column_i64(&drain(&stream), "id");
        ids.sort_unstable();
        assert_eq!(ids, all, "{adapter}");
        assert_eq!(stream.progress(), 1.0, "{adapter}: 1 once done");
    }
}

#[test]
fn a_range_on_a_rest_table_filters_on_its_time_column() {
    let sim = sim("");
    // Record i is created at T0 + 60 i: [T0 + 100 min, T0 + 200 min) holds ids 101..=200.
    let stream = Stream::create_with_range(
        "page_api",
        &page_config(&sim),
        Some(TimeArg::from(JAN1 + 100 * 60)),
        Some(TimeArg::from(JAN1 + 200 * 60)),
    )
    .unwrap();
    let ids = column_i64(&drain(&stream), "id");
    assert_eq!(ids, (101..=200).collect::<Vec<i64>>());
    let no_time = r#"{"url": "http://127.0.0.1:9/x", "columns": [{"name": "id", "type": "int64"}], "range_start": 0}"#;
    let e = Stream::create("page_api", no_time).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("time_column"), "{e}");
}

#[test]
fn cancel_stops_requests_and_reset_starts_over() {
    let sim = sim(r#"{"latency_ms": 100}"#);
    // 30 days at 60 s in 3-hour windows, two in flight: 240 requests if nobody stops it.
    let config = v1_config(
        &sim,
        r#", "range_start": 1767225600, "range_end": "2026-01-31T00:00:00Z", "chunk": "3h", "prefetch_depth": 2"#,
    );
    let stream = Stream::create("datadog_v1", &config).unwrap();
    let first = stream.next_batch().unwrap().expect("a first batch");
    assert!(first.num_rows() > 0);
    let other = stream.clone();
    std::thread::spawn(move || other.cancel()).join().unwrap();
    let e = stream.next_batch().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(stream.is_done());
    // Requests in flight when cancelled may still arrive; then nothing more.
    std::thread::sleep(Duration::from_millis(400));
    let settled = sim.requests().len();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(sim.requests().len(), settled, "a request after cancel");
    assert!(
        settled < 10,
        "cancel did not stop the stream: {settled} requests"
    );

    stream.reset().unwrap();
    let again = stream.next_batch().unwrap().expect("batches after reset");
    assert_eq!(
        column_i64(&[again], "ts")[0],
        column_i64(&[first], "ts")[0],
        "reset starts from the range start"
    );
    stream.cancel();
}

#[test]
fn a_reader_exports_through_the_arrow_c_stream_interface() {
    use datafusion::arrow::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
    let sim = sim("");
    let config = v1_config(
        &sim,
        r#", "range_start": 1767225600, "range_end": 1767229200"#,
    );
    let stream = Stream::create("datadog_v1", &config).unwrap();
    let ffi = FFI_ArrowArrayStream::new(Box::new(stream.reader()));
    let reader = ArrowArrayStreamReader::try_new(ffi).unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(
        column_i64(&batches, "ts"),
        v1_buckets("system.cpu.user", JAN1, JAN1 + 3600, 60)
    );
}

#[test]
fn errors_have_kinds_and_never_show_keys() {
    let sim = sim(r#"{"api_key": "the-right-key", "app_key": "the-right-key"}"#);
    let unknown = Stream::create("datadog_v3", "{}").unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::UnknownAdapter);
    assert!(unknown.message().contains("datadog_v1, "), "{unknown}");

    let mut seen = Vec::new();
    let bad_option = Stream::create("datadog_v1", &v1_config(&sim, r#", "no_such": 1"#));
    seen.push((ErrorKind::Config, bad_option.unwrap_err()));
    let not_json = Stream::create("datadog_v1", &format!(r#"{{"api_key": "{SECRET}""#));
    seen.push((ErrorKind::Config, not_json.unwrap_err()));
    let bad_range = Stream::create("datadog_v1", &v1_config(&sim, r#", "range_start": "soon""#));
    seen.push((ErrorKind::Config, bad_range.unwrap_err()));
    // The simulator wants other keys: 403 with the API's message.
    let forbidden = Stream::create("datadog_v1", &v1_config(&sim, ""))
        .unwrap()
        .next_batch()
        .unwrap_err();
    assert_eq!(forbidden.status(), Some(403));
    assert!(forbidden.api_message().is_some_and(|m| !m.is_empty()));
    seen.push((ErrorKind::Api, forbidden.clone()));
    // The same error again on the next call: never a silent end.
    let validate_403 = validate("datadog_v1", &v1_config(&sim, "")).unwrap_err();
    seen.push((ErrorKind::Api, validate_403));
    let refused = format!(
        r#"{{"query": "q{{*}}", "base_url": "http://127.0.0.1:9", "api_key": "{SECRET}", "max_retries": 1, "request_timeout": "2s", "range_start": 0, "range_end": 60}}"#
    );
    let network = Stream::create("datadog_v1", &refused)
        .unwrap()
        .next_batch()
        .unwrap_err();
    seen.push((ErrorKind::Network, network));
    let session = Session::from_json("{}").unwrap();
    seen.push((ErrorKind::Sql, session.sql("SELEC 1").unwrap_err()));
    seen.push((
        ErrorKind::Sql,
        session.sql("SELECT * FROM nowhere").unwrap_err(),
    ));
    seen.push((
        ErrorKind::Config,
        Session::from_json(r#"{"tabels": {}}"#).unwrap_err(),
    ));
    for (kind, e) in &seen {
        assert_eq!(e.kind(), *kind, "{e}");
        for text in [e.message().to_string(), format!("{e:?}")] {
            assert!(!text.contains(SECRET), "a key in: {text}");
            assert!(!text.contains('\n'), "more than one line: {text}");
            assert!(!text.starts_with("Error during planning"), "{text}");
        }
    }
}

#[test]
fn validate_checks_the_key_against_the_api() {
    let sim = sim(r#"{"api_key": "good"}"#);
    let config = |key: &str| {
        format!(
            r#"{{"query": "q{{*}}", "base_url": "{}", "api_key": "{key}"}}"#,
            sim.base_url()
        )
    };
    validate("datadog_v1", &config("good")).unwrap();
    assert_eq!(
        validate("datadog_v1", &config("bad")).unwrap_err().kind(),
        ErrorKind::Api
    );
    assert!(sim.requests().iter().all(|r| r.path == "/api/v1/validate"));
    // A REST table has no keys to check: only its config is.
    validate("page_api", &page_config(&sim)).unwrap();
}

#[test]
fn a_simulated_session_runs_several_statements_and_streams_the_last() {
    let session = Session::from_json(
        r#"{"simulate": true, "simulator": {"latency_ms": 1}, "settings": {"ddstream.max_range": "2d"},
            "tables": {"cpu": {"adapter": "datadog_v1", "query": "system.cpu.user{*}", "granularity": "60s"}}}"#,
    )
    .unwrap();
    assert!(session.simulator_base_url().is_some());
    let day = "ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-02T00:00:00Z'";
    let query = session
        .sql(&format!(
            "CREATE VIEW day AS SELECT * FROM cpu WHERE {day}; SELECT count(*) AS n FROM day"
        ))
        .unwrap();
    let batches = query.collect().unwrap();
    let n = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    assert_eq!(
        n as usize,
        v1_buckets("system.cpu.user", JAN1, JAN1 + 86_400, 60).len()
    );
    // The session's max_range applies to its tables.
    let wide = session
        .sql("SELECT count(*) FROM cpu WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-05T00:00:00Z'")
        .and_then(QueryStream::collect)
        .unwrap_err();
    assert_eq!(wide.kind(), ErrorKind::Config, "{wide}");
    assert!(wide.message().contains("max_range"), "{wide}");
    // The CLI's --simulate tables exist too.
    let v2 = session
        .sql("SELECT count(DISTINCT scope) FROM datadog_v2_timeseries")
        .and_then(QueryStream::collect)
        .unwrap();
    assert_eq!(v2[0].column(0).as_primitive::<Int64Type>().value(0), 3);
}

#[test]
fn blocking_calls_inside_a_runtime_are_errors_not_panics() {
    let e = runtime()
        .block_on(async { Session::from_json("{}").map(|s| s.sql("SELECT 1").map(|_| ())) });
    let e = match e {
        Ok(Err(e)) | Err(e) => e,
        Ok(Ok(())) => panic!("a blocking call ran inside the runtime"),
    };
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert!(e.message().contains("async runtime"), "{e}");
}
