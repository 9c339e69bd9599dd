//! End-to-end tests of the v2 endpoints (`POST /api/v2/query/timeseries` and
//! `/api/v2/query/scalar`) over real HTTP, in the style of [`super::tests`].

use std::time::Duration;

use serde_json::{json, Value};

use super::data::{self, Agg, ScalarAgg};
use super::tests::{assert_close, client, points, query, start, Reply, T0};
use super::{FaultKind, FaultSchedule, RateLimit, Simulator, SimulatorConfig};

const TIMESERIES: &str = "/api/v2/query/timeseries";
const SCALAR: &str = "/api/v2/query/scalar";

const ALL_HOSTS: [&str; 3] = ["web-1", "web-2", "db-1"];

async fn post_raw(sim: &Simulator, path: &str, body: &str, keys: Option<(&str, &str)>) -> Reply {
    let mut req = client()
        .post(format!("{}{path}", sim.base_url()))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some((api, app)) = keys {
        req = req
            .header("DD-API-KEY", api)
            .header("DD-APPLICATION-KEY", app);
    }
    let resp = req.send().await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

async fn post(sim: &Simulator, path: &str, body: &Value) -> Reply {
    post_raw(sim, path, &body.to_string(), None).await
}

/// A timeseries request over `[from_s, to_s)` (in seconds, sent in ms).
fn ts_request(from_s: i64, to_s: i64, queries: Value, formulas: Option<Value>) -> Value {
    let mut attrs = json!({"from": from_s * 1000, "to": to_s * 1000, "queries": queries});
    if let Some(f) = formulas {
        attrs["formulas"] = f;
    }
    json!({"data": {"type": "timeseries_request", "attributes": attrs}})
}

fn scalar_request(from_s: i64, to_s: i64, queries: Value, formulas: Option<Value>) -> Value {
    let mut req = ts_request(from_s, to_s, queries, formulas);
    req["data"]["type"] = json!("scalar_request");
    req
}

fn mq(name: &str, q: &str) -> Value {
    json!({"data_source": "metrics", "name": name, "query": q})
}

fn sq(name: &str, q: &str, aggregator: &str) -> Value {
    json!({"data_source": "metrics", "name": name, "query": q, "aggregator": aggregator})
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

/// A recorded Datadog body from the repository's `tests/fixtures/datadog/`.
fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/datadog/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture parses")
}

fn attrs(v: &Value) -> &Value {
    &v["data"]["attributes"]
}

fn times(v: &Value) -> Vec<i64> {
    attrs(v)["times"]
        .as_array()
        .expect("times")
        .iter()
        .map(|t| t.as_i64().expect("integer ms"))
        .collect()
}

fn row(v: &Value, i: usize) -> Vec<Option<f64>> {
    attrs(v)["values"][i]
        .as_array()
        .expect("values row")
        .iter()
        .map(Value::as_f64)
        .collect()
}

/// Compares a unit with the recorded percent unit (numbers compared as numbers).
fn assert_percent_unit(unit: &Value) {
    assert_eq!(unit[0]["name"], "percent", "{unit}");
    assert_eq!(unit[0]["id"], 17);
    assert_eq!(unit[0]["scale_factor"].as_f64(), Some(1.0));
    assert_eq!(unit[1], Value::Null);
    let rec = fixture("v2_scalar_ok.json");
    let want = &rec["data"]["attributes"]["columns"][0]["meta"]["unit"];
    assert_eq!(sorted_keys(&unit[0]), sorted_keys(&want[0]));
    for (k, w) in want[0].as_object().expect("unit object") {
        match w.as_f64() {
            Some(w) => assert_eq!(unit[0][k].as_f64(), Some(w), "{k}"),
            None => assert_eq!(&unit[0][k], w, "{k}"),
        }
    }
}

#[tokio::test]
async fn timeseries_has_the_recorded_shape_and_v1_values() {
    let sim = start(SimulatorConfig::default()).await;
    let q = "avg:system.cpu.user{*}";
    let r = post(
        &sim,
        TIMESERIES,
        &ts_request(T0, T0 + 3600, json!([mq("a", q)]), None),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-ratelimit-limit").is_some());
    let v = r.json();
    assert_eq!(sorted_keys(&v), ["data"]);
    assert_eq!(sorted_keys(&v["data"]), ["attributes", "id", "type"]);
    assert_eq!(v["data"]["id"], "0");
    assert_eq!(v["data"]["type"], "timeseries_response");
    assert_eq!(sorted_keys(attrs(&v)), ["series", "times", "values"]);
    let series = attrs(&v)["series"].as_array().expect("series");
    assert_eq!(series.len(), 1);
    assert_eq!(
        sorted_keys(&series[0]),
        ["group_tags", "query_index", "unit"]
    );
    let rec = fixture("v2_timeseries_ok.json");
    assert_eq!(sorted_keys(&v), sorted_keys(&rec));
    assert_eq!(sorted_keys(&v["data"]), sorted_keys(&rec["data"]));
    assert_eq!(sorted_keys(attrs(&v)), sorted_keys(attrs(&rec)));
    assert_eq!(
        sorted_keys(&series[0]),
        sorted_keys(&attrs(&rec)["series"][0])
    );
    assert_eq!(series[0]["group_tags"], json!([]));
    assert_eq!(series[0]["query_index"], 0);
    assert_percent_unit(&series[0]["unit"]);

    // The v1 buckets and values for the same window.
    let ts = times(&v);
    assert_eq!(ts.len(), 180);
    assert_eq!(ts[0], T0 * 1000);
    assert!(ts.windows(2).all(|w| w[1] - w[0] == 20_000));
    let values = row(&v, 0);
    assert_eq!(values.len(), ts.len());
    let v1 = query(&sim, T0, T0 + 3600, q).await.json();
    let v1_points = points(&v1["series"][0]);
    assert_eq!(v1_points.len(), ts.len());
    for ((t, got), (v1_t, v1_v)) in ts.iter().zip(&values).zip(&v1_points) {
        assert_eq!(*t as f64, *v1_t);
        assert_eq!(got, v1_v, "at {t}");
        let want = data::rollup_value(
            "system.cpu.user",
            &ALL_HOSTS,
            Agg::Avg,
            Agg::Avg,
            t / 1000,
            20,
        );
        assert_close(*got, want, "rollup value");
    }
}

#[tokio::test]
async fn timeseries_window_in_ms_rounds_like_v1() {
    let sim = start(SimulatorConfig::default()).await;
    // from rounds down to T0, to rounds up to T0 + 601: 61 buckets of 10 s.
    let mut body = ts_request(T0, T0, json!([mq("a", "system.load.1{*}")]), None);
    body["data"]["attributes"]["from"] = json!(T0 * 1000 + 500);
    body["data"]["attributes"]["to"] = json!((T0 + 600) * 1000 + 1);
    let v = post(&sim, TIMESERIES, &body).await.json();
    let ts = times(&v);
    let want: Vec<i64> = data::bucket_starts(T0, T0 + 601, 10)
        .map(|b| b * 1000)
        .collect();
    assert_eq!(ts, want);
    assert_eq!(ts.len(), 61);
    assert_eq!(attrs(&v)["series"][0]["unit"], Value::Null);
}

#[tokio::test]
async fn timeseries_grouped_series_are_sorted_by_group_tags() {
    let sim = start(SimulatorConfig::default()).await;
    let queries = json!([
        mq("a", "max:system.load.1{*} by {host}.rollup(max)"),
        mq("b", "sum:system.load.1{env:prod} by {env}"),
    ]);
    let v = post(&sim, TIMESERIES, &ts_request(T0, T0 + 3600, queries, None))
        .await
        .json();
    let series = attrs(&v)["series"].as_array().expect("series");
    let labels: Vec<(i64, Value)> = series
        .iter()
        .map(|s| {
            (
                s["query_index"].as_i64().expect("index"),
                s["group_tags"].clone(),
            )
        })
        .collect();
    assert_eq!(
        labels,
        [
            (0, json!(["host:db-1"])),
            (0, json!(["host:web-1"])),
            (0, json!(["host:web-2"])),
            (1, json!(["env:prod"])),
        ]
    );
    assert_eq!(attrs(&v)["values"].as_array().map(Vec::len), Some(4));
    let ts = times(&v);
    for (i, host) in ["db-1", "web-1", "web-2"].iter().enumerate() {
        let values = row(&v, i);
        assert_eq!(values.len(), ts.len());
        let want = data::rollup_value("system.load.1", &[host], Agg::Max, Agg::Max, T0, 20);
        assert_close(values[0], want, host);
    }
    let want = data::rollup_value(
        "system.load.1",
        &["web-1", "web-2"],
        Agg::Sum,
        Agg::Avg,
        T0 + 20,
        20,
    );
    assert_close(row(&v, 3)[1], want, "prod sum");
}

#[tokio::test]
async fn timeseries_formulas_replace_the_queries() {
    let sim = start(SimulatorConfig::default()).await;
    let queries = json!([
        mq("a", "sum:system.load.1{*} by {host}"),
        mq("b", "avg:system.load.1{*}"),
        mq("c", "avg:system.cpu.user{*} by {host}"),
        mq("d", "avg:system.load.1{env:prod} by {host}"),
    ]);
    let formulas = json!([
        {"formula": "a / b", "limit": {"count": 1, "order": "desc"}},
        {"formula": "c * 2"},
        {"formula": "(a - d) * -1 + c"},
    ]);
    let v = post(
        &sim,
        TIMESERIES,
        &ts_request(T0, T0 + 3600, queries, Some(formulas)),
    )
    .await
    .json();
    let series = attrs(&v)["series"].as_array().expect("series");
    // The limit is ignored on timeseries; the raw queries are not output; `a - d` only
    // exists for the hosts both have (web-1, web-2).
    let labels: Vec<(i64, String)> = series
        .iter()
        .map(|s| {
            (
                s["query_index"].as_i64().expect("index"),
                s["group_tags"][0].as_str().expect("tag").to_string(),
            )
        })
        .collect();
    let want: Vec<(i64, String)> = [
        (0, "db-1"),
        (0, "web-1"),
        (0, "web-2"),
        (1, "db-1"),
        (1, "web-1"),
        (1, "web-2"),
        (2, "web-1"),
        (2, "web-2"),
    ]
    .iter()
    .map(|(i, h)| (*i, format!("host:{h}")))
    .collect();
    assert_eq!(labels, want);
    // Units: a / b mixes nothing with percent (null); c * 2 keeps percent; the last formula
    // mixes load (no unit) and cpu (percent): null.
    assert_eq!(series[0]["unit"], Value::Null);
    assert_percent_unit(&series[3]["unit"]);
    assert_eq!(series[6]["unit"], Value::Null);

    let ts = times(&v);
    let m = "system.load.1";
    let cpu = "system.cpu.user";
    for (j, t) in ts.iter().enumerate().step_by(37) {
        let b = t / 1000;
        let all = data::rollup_value(m, &ALL_HOSTS, Agg::Avg, Agg::Avg, b, 20).expect("b");
        for (i, host) in ["db-1", "web-1", "web-2"].iter().enumerate() {
            let a = data::rollup_value(m, &[host], Agg::Sum, Agg::Avg, b, 20).expect("a");
            assert_close(row(&v, i)[j], Some(a / all), "a / b");
            let c = data::rollup_value(cpu, &[host], Agg::Avg, Agg::Avg, b, 20).expect("c");
            assert_close(row(&v, 3 + i)[j], Some(c * 2.0), "c * 2");
            if i > 0 {
                let d = data::rollup_value(m, &[host], Agg::Avg, Agg::Avg, b, 20).expect("d");
                assert_close(row(&v, 5 + i)[j], Some(c - (a - d)), "nested");
            }
        }
    }
}

#[tokio::test]
async fn timeseries_nulls_and_empty_results() {
    let sim = start(SimulatorConfig::default()).await;
    let mut body = ts_request(
        T0,
        T0 + 600,
        json!([mq("a", "avg:app.gappy.rps{*}")]),
        Some(json!([{"formula": "a / 0"}, {"formula": "a + 1"}])),
    );
    body["data"]["attributes"]["interval"] = json!(60_000);
    let r = post(&sim, TIMESERIES, &body).await;
    let v = r.json();
    // `a / 0` is null everywhere, so its series is left out; `a + 1` keeps query_index 1.
    let series = attrs(&v)["series"].as_array().expect("series");
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["query_index"], 1);
    let ts = times(&v);
    assert_eq!(ts.len(), 10);
    for (t, value) in ts.iter().zip(row(&v, 0)) {
        let minute = t / 60_000;
        assert_eq!(value.is_none(), minute % 5 == 2, "minute {minute}");
    }
    assert!(r.body.contains(",null,"), "{}", r.body);

    // No data at all: the recorded empty shape.
    let body = ts_request(T0, T0 + 600, json!([mq("a", "missing.metric{*}")]), None);
    let v = post(&sim, TIMESERIES, &body).await.json();
    assert_eq!(v, fixture("v2_timeseries_empty.json"));
    assert_eq!(attrs(&v)["times"], json!([]));
}

#[tokio::test]
async fn timeseries_interval_is_overridden_when_too_fine() {
    let config = SimulatorConfig {
        max_points: 100,
        ..Default::default()
    };
    let capped = start(config).await;
    let sim = start(SimulatorConfig::default()).await;
    let step = |v: &Value| {
        let ts = times(v);
        assert!(ts.windows(2).all(|w| w[1] - w[0] == ts[1] - ts[0]));
        (ts[1] - ts[0]) / 1000
    };
    let interval = |which: &'static str, ms: Option<i64>, q: &str, to: i64| {
        let mut body = ts_request(T0, to, json!([mq("a", q)]), None);
        if let Some(ms) = ms {
            body["data"]["attributes"]["interval"] = json!(ms);
        }
        (which, body)
    };
    let hour = T0 + 3600;
    let day = T0 + 86_400;
    let m = "system.load.1{*}";
    let cases = [
        // Too fine for an hour (20 s enforced), honoured when larger.
        (interval("default", Some(5_000), m, hour), 20),
        (interval("default", None, m, hour), 20),
        (interval("default", Some(60_000), m, hour), 60),
        // Rounded up to whole seconds.
        (interval("default", Some(60_001), m, hour), 61),
        (interval("default", Some(60_000), m, day), 300),
        // The query's own rollup interval wins over the request's.
        (
            interval(
                "default",
                Some(60_000),
                "system.load.1{*}.rollup(max,120)",
                hour,
            ),
            120,
        ),
        (
            interval("default", None, "system.load.1{*}.rollup(max,5)", hour),
            20,
        ),
        // A lower point cap raises the interval, as in v1.
        (interval("capped", Some(20_000), m, hour), 60),
    ];
    for ((which, body), want) in cases {
        let target = if which == "capped" { &capped } else { &sim };
        let v = post(target, TIMESERIES, &body).await.json();
        assert_eq!(step(&v), want, "{body}");
        let first = times(&v)[0] / 1000;
        assert_eq!(first, data::first_bucket(T0, want));
    }
    // The max rollup sets the time aggregation.
    let body = ts_request(
        T0,
        hour,
        json!([mq("a", "system.load.1{*}.rollup(max,120)")]),
        None,
    );
    let v = post(&sim, TIMESERIES, &body).await.json();
    let want = data::rollup_value("system.load.1", &ALL_HOSTS, Agg::Avg, Agg::Max, T0, 120);
    assert_close(row(&v, 0)[0], want, "max rollup");
}

#[tokio::test]
async fn bad_requests_are_400s() {
    let sim = start(SimulatorConfig::default()).await;
    // The recorded request and answer, byte for byte.
    let mut wrong_type = ts_request(T0, T0 + 60, json!([mq("a", "m{*}")]), None);
    wrong_type["data"]["type"] = json!("timeseries_rquest");
    let r = post(&sim, TIMESERIES, &wrong_type).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        r#"{"errors":["API input validation failed: Invalid type. Expected \"timeseries_request\"."]}"#
    );
    assert_eq!(r.json(), fixture("v2_timeseries_400.json"));
    let req = fixture("v2_timeseries_400_request.json");
    let r = post(&sim, TIMESERIES, &req).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), fixture("v2_timeseries_400.json"));
    // A timeseries body sent to the scalar endpoint.
    let r = post(&sim, SCALAR, &ts_request(T0, T0 + 60, json!([]), None)).await;
    assert_eq!(
        r.json(),
        json!({"errors":["API input validation failed: Invalid type. Expected \"scalar_request\"."]})
    );

    let ts = |f: &dyn Fn(&mut Value)| {
        let mut body = ts_request(T0, T0 + 60, json!([mq("a", "m{*}")]), None);
        f(&mut body);
        body.to_string()
    };
    let set = |key: &'static str, value: Value| {
        move |b: &mut Value| b["data"]["attributes"][key] = value.clone()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (TIMESERIES, "not json".to_string(), "not valid JSON"),
        (TIMESERIES, String::new(), "body is empty"),
        (TIMESERIES, "{}".to_string(), "'data'"),
        (
            TIMESERIES,
            ts(&|b| b["data"]["attributes"] = json!({})),
            "'from' is required",
        ),
        (
            TIMESERIES,
            ts(&set("from", json!((T0 + 60) * 1000))),
            "before",
        ),
        (TIMESERIES, ts(&set("from", json!("0"))), "'from'"),
        (TIMESERIES, ts(&set("to", json!(1.5))), "'to'"),
        (TIMESERIES, ts(&set("to", json!(-1))), "'to'"),
        (TIMESERIES, ts(&set("interval", json!(-5))), "'interval'"),
        (
            TIMESERIES,
            ts(&set("queries", json!([]))),
            "at least one query",
        ),
        (
            TIMESERIES,
            ts(&set("queries", json!("m{*}"))),
            "API input validation failed",
        ),
        (
            TIMESERIES,
            ts(&set(
                "queries",
                json!([{"data_source": "logs", "name": "a", "query": "m{*}"}]),
            )),
            "data_source 'logs'",
        ),
        (
            TIMESERIES,
            ts(&set("queries", json!([{"name": "a", "query": "m{*}"}]))),
            "'data_source' is required",
        ),
        (
            TIMESERIES,
            ts(&set("queries", json!([mq("a", "m{*}, n{*}")]))),
            "holds 2 queries",
        ),
        (
            TIMESERIES,
            ts(&set("queries", json!([mq("a", "m{*")]))),
            "Error parsing query",
        ),
        (
            TIMESERIES,
            ts(&set("formulas", json!([{"formula": "a + b"}]))),
            "unknown variable 'b'",
        ),
        (
            TIMESERIES,
            ts(&set("formulas", json!([{"formula": "a +* 2"}]))),
            "Invalid formula",
        ),
        (
            TIMESERIES,
            ts(&set("formulas", json!([{"limit": {}}]))),
            "'formula' is required",
        ),
        (
            TIMESERIES,
            ts(&|b| {
                b["data"]["attributes"]["queries"] = json!([mq("a", "toobig.m{*}")]);
                b["data"]["attributes"]["to"] = json!((T0 + 3601) * 1000);
            }),
            "Query too large: too many points requested",
        ),
        (
            TIMESERIES,
            ts(&set("to", json!(99_999_999_999_000i64))),
            "too long",
        ),
        (
            SCALAR,
            scalar_request(T0, T0 + 60, json!([mq("a", "m{*}")]), None).to_string(),
            "'aggregator' is required",
        ),
        (
            SCALAR,
            scalar_request(T0, T0 + 60, json!([sq("a", "m{*}", "percentile")]), None).to_string(),
            "unsupported aggregator 'percentile' (supported: avg, mean, min, max, sum, last)",
        ),
        (
            SCALAR,
            scalar_request(
                T0,
                T0 + 60,
                json!([sq("a", "m{*}", "avg")]),
                Some(json!([{"formula": "a", "limit": {"count": 3, "order": "up"}}])),
            )
            .to_string(),
            "'order'",
        ),
        (
            SCALAR,
            scalar_request(T0, T0 + 7200, json!([sq("a", "toobig.x{*}", "avg")]), None).to_string(),
            "too many points",
        ),
    ];
    // toobig windows of an hour are fine.
    let ok = ts_request(T0, T0 + 3600, json!([mq("a", "toobig.m{*}")]), None);
    assert_eq!(post(&sim, TIMESERIES, &ok).await.status, 200);
    for (path, body, needle) in cases {
        let r = post_raw(&sim, path, &body, None).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let v = r.json();
        let msg = v["errors"][0].as_str().expect("an error message");
        assert!(msg.contains(needle), "{body}: {msg}");
        assert_eq!(sorted_keys(&v), ["errors"]);
        assert!(r.header("x-ratelimit-limit").is_some());
    }
}

#[tokio::test]
async fn scalar_has_the_recorded_shape() {
    let sim = start(SimulatorConfig::default()).await;
    let body = scalar_request(
        T0,
        T0 + 3600,
        json!([sq("a", "avg:system.cpu.user{*}", "avg")]),
        Some(json!([{"formula": "a", "limit": {"count": 10, "order": "desc"}}])),
    );
    let r = post(&sim, SCALAR, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("x-ratelimit-remaining").is_some());
    let v = r.json();
    assert_eq!(sorted_keys(&v), ["data"]);
    assert_eq!(sorted_keys(&v["data"]), ["attributes", "type"]);
    assert_eq!(v["data"]["type"], "scalar_response");
    let columns = attrs(&v)["columns"].as_array().expect("columns");
    assert_eq!(columns.len(), 1);
    assert_eq!(sorted_keys(&columns[0]), ["meta", "name", "type", "values"]);
    let rec = fixture("v2_scalar_ok.json");
    assert_eq!(sorted_keys(&v), sorted_keys(&rec));
    assert_eq!(sorted_keys(&v["data"]), sorted_keys(&rec["data"]));
    let rec_col = &rec["data"]["attributes"]["columns"][0];
    assert_eq!(sorted_keys(&columns[0]), sorted_keys(rec_col));
    assert_eq!(
        sorted_keys(&columns[0]["meta"]),
        sorted_keys(&rec_col["meta"])
    );
    assert_eq!(columns[0]["name"], "a");
    assert_eq!(columns[0]["type"], "number");
    assert_percent_unit(&columns[0]["meta"]["unit"]);
    let want = data::scalar_value(
        "system.cpu.user",
        &ALL_HOSTS,
        Agg::Avg,
        ScalarAgg::Avg,
        T0 * 1000,
        (T0 + 3600) * 1000,
    );
    assert_close(columns[0]["values"][0].as_f64(), want, "avg");
    // The recorded request shape (2024 window) is answered the same way.
    let req = fixture("v2_scalar_request.json");
    let r = post(&sim, SCALAR, &req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(attrs(&r.json())["columns"][0]["values"][0].is_f64());
}

#[tokio::test]
async fn scalar_aggregators_agree_with_v1_and_the_data_model() {
    let sim = start(SimulatorConfig::default()).await;
    for metric in ["system.cpu.user", "app.gappy.rps"] {
        let q = format!("avg:{metric}{{*}}");
        let (from, to) = (T0 + 120, T0 + 3600 + 120);
        let aggs = ["avg", "mean", "min", "max", "sum", "last"];
        let queries: Vec<Value> = aggs.iter().map(|a| sq(&format!("q_{a}"), &q, a)).collect();
        let v = post(
            &sim,
            SCALAR,
            &scalar_request(from, to, json!(queries), None),
        )
        .await
        .json();
        let columns = attrs(&v)["columns"].as_array().expect("columns");
        let names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(
            names,
            ["q_avg", "q_mean", "q_min", "q_max", "q_sum", "q_last"]
        );
        let got = |i: usize| columns[i]["values"][0].as_f64();

        // avg = the mean of the non-null v1 avg points at 60 s over the same whole minutes.
        let v1 = query(&sim, from, to, &format!("{q}.rollup(avg,60)"))
            .await
            .json();
        let v1_points: Vec<f64> = points(&v1["series"][0])
            .into_iter()
            .filter_map(|(_, v)| v)
            .collect();
        assert_eq!(
            v1_points.len(),
            if metric.contains("gappy") { 48 } else { 60 }
        );
        let mean = v1_points.iter().sum::<f64>() / v1_points.len() as f64;
        assert_close(got(0), Some(mean), &format!("{metric} avg vs v1"));
        assert_eq!(got(0), got(1), "mean is avg");

        // The others from the native space-aggregated series.
        let native: Vec<f64> = data::native_timestamps(from * 1000, to * 1000)
            .filter_map(|t| data::space_value(metric, &ALL_HOSTS, Agg::Avg, t))
            .collect();
        assert_eq!(native.len(), v1_points.len() * 6);
        let min = native.iter().copied().fold(f64::INFINITY, f64::min);
        let max = native.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = native.iter().sum();
        assert_eq!(got(2), Some(min));
        assert_eq!(got(3), Some(max));
        assert_close(got(4), Some(sum), "sum");
        assert_eq!(got(5), native.last().copied());
        assert!(min < max);
        for (i, agg) in [
            ScalarAgg::Min,
            ScalarAgg::Max,
            ScalarAgg::Sum,
            ScalarAgg::Last,
        ]
        .into_iter()
        .enumerate()
        {
            let want =
                data::scalar_value(metric, &ALL_HOSTS, Agg::Avg, agg, from * 1000, to * 1000);
            assert_close(got(i + 2), want, agg.as_str());
        }
    }

    // A window inside a gappy minute, or without data: the row is left out.
    let body = scalar_request(
        T0 + 120,
        T0 + 180,
        json!([sq("a", "avg:app.gappy.rps{*}", "avg")]),
        None,
    );
    let v = post(&sim, SCALAR, &body).await.json();
    assert_eq!(attrs(&v)["columns"][0]["values"], json!([]));
    assert_eq!(attrs(&v)["columns"][0]["meta"]["unit"], Value::Null);
}

#[tokio::test]
async fn scalar_group_columns_and_formulas() {
    let sim = start(SimulatorConfig::default()).await;
    let (from, to) = (T0, T0 + 1800);
    let value = |metric: &str, hosts: &[&str], space: Agg, agg: ScalarAgg| {
        data::scalar_value(metric, hosts, space, agg, from * 1000, to * 1000).expect("value")
    };
    let body = scalar_request(
        from,
        to,
        json!([
            sq("a", "max:system.load.1{*} by {host,env}", "max"),
            sq("b", "avg:system.load.1{*}", "avg"),
        ]),
        Some(json!([
            {"formula": "a / b", "alias": "ratio"},
            {"formula": "a * 2"},
        ])),
    );
    let v = post(&sim, SCALAR, &body).await.json();
    let columns = attrs(&v)["columns"].as_array().expect("columns");
    let heads: Vec<(&str, &str)> = columns
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name"),
                c["type"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(
        heads,
        [
            ("host", "group"),
            ("env", "group"),
            ("ratio", "number"),
            ("a * 2", "number")
        ]
    );
    assert_eq!(sorted_keys(&columns[0]), ["name", "type", "values"]);
    // Rows sorted by group tags (env first, then host).
    assert_eq!(
        columns[0]["values"],
        json!([["web-1"], ["web-2"], ["db-1"]])
    );
    assert_eq!(
        columns[1]["values"],
        json!([["prod"], ["prod"], ["staging"]])
    );
    let b = value("system.load.1", &ALL_HOSTS, Agg::Avg, ScalarAgg::Avg);
    for (k, host) in ["web-1", "web-2", "db-1"].iter().enumerate() {
        let a = value("system.load.1", &[host], Agg::Max, ScalarAgg::Max);
        assert_close(columns[2]["values"][k].as_f64(), Some(a / b), host);
        assert_close(columns[3]["values"][k].as_f64(), Some(a * 2.0), host);
    }

    // Without formulas: one column per query, rows are the union of their groups.
    let body = scalar_request(
        from,
        to,
        json!([
            sq("a", "sum:system.load.1{*} by {env}", "sum"),
            sq("b", "system.cpu.user{host:db-1}", "last"),
        ]),
        None,
    );
    let v = post(&sim, SCALAR, &body).await.json();
    let columns = attrs(&v)["columns"].as_array().expect("columns");
    assert_eq!(columns.len(), 3);
    assert_eq!(columns[0]["name"], "env");
    // The ungrouped query's row has no env: `[]`, sorted first.
    assert_eq!(columns[0]["values"], json!([[], ["prod"], ["staging"]]));
    assert_eq!(columns[1]["values"][0], Value::Null);
    let prod = value(
        "system.load.1",
        &["web-1", "web-2"],
        Agg::Sum,
        ScalarAgg::Sum,
    );
    assert_close(columns[1]["values"][1].as_f64(), Some(prod), "prod sum");
    assert_eq!(columns[2]["name"], "b");
    let last = value("system.cpu.user", &["db-1"], Agg::Avg, ScalarAgg::Last);
    assert_close(columns[2]["values"][0].as_f64(), Some(last), "db-1 last");
    assert_eq!(columns[2]["values"][1], Value::Null);
    assert_percent_unit(&columns[2]["meta"]["unit"]);
}

#[tokio::test]
async fn scalar_formula_limit_keeps_the_top_rows() {
    let sim = start(SimulatorConfig::default()).await;
    let (from, to) = (T0, T0 + 3600);
    let per_host: Vec<(&str, f64)> = ALL_HOSTS
        .iter()
        .map(|h| {
            let v = data::scalar_value(
                "system.load.1",
                &[h],
                Agg::Avg,
                ScalarAgg::Avg,
                from * 1000,
                to * 1000,
            );
            (*h, v.expect("value"))
        })
        .collect();
    let ask = |order: &str, count: u64| {
        scalar_request(
            from,
            to,
            json!([sq("a", "system.load.1{*} by {host}", "avg")]),
            Some(json!([
                {"formula": "a * 10"},
                {"formula": "a", "limit": {"count": count, "order": order}},
            ])),
        )
    };
    for (order, count) in [("desc", 2), ("asc", 2), ("desc", 10), ("asc", 0)] {
        let v = post(&sim, SCALAR, &ask(order, count)).await.json();
        let columns = attrs(&v)["columns"].as_array().expect("columns");
        let mut want = per_host.clone();
        want.sort_by(|x, y| x.1.total_cmp(&y.1));
        if order == "desc" {
            want.reverse();
        }
        want.truncate(count as usize);
        let hosts: Vec<Value> = want.iter().map(|(h, _)| json!([h])).collect();
        assert_eq!(columns[0]["values"], json!(hosts), "{order} {count}");
        let values: Vec<Option<f64>> = columns[2]["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(Value::as_f64)
            .collect();
        assert_eq!(
            values,
            want.iter().map(|(_, v)| Some(*v)).collect::<Vec<_>>()
        );
        // The other column follows the same rows.
        assert_eq!(
            columns[1]["values"].as_array().map(Vec::len),
            Some(want.len())
        );
        if let Some((_, top)) = want.first() {
            assert_close(columns[1]["values"][0].as_f64(), Some(top * 10.0), "a * 10");
        }
    }
    // Without a limit, the rows stay in group order.
    let body = scalar_request(
        from,
        to,
        json!([sq("a", "system.load.1{*} by {host}", "avg")]),
        None,
    );
    let v = post(&sim, SCALAR, &body).await.json();
    assert_eq!(
        attrs(&v)["columns"][0]["values"],
        json!([["db-1"], ["web-1"], ["web-2"]])
    );
}

#[tokio::test]
async fn v2_keys_are_checked() {
    let config = SimulatorConfig {
        api_key: Some("api-secret".into()),
        app_key: Some("app-secret".into()),
        ..Default::default()
    };
    let sim = start(config).await;
    let ts = ts_request(T0, T0 + 60, json!([mq("a", "m.x{*}")]), None).to_string();
    let sc = scalar_request(T0, T0 + 60, json!([sq("a", "m.x{*}", "avg")]), None).to_string();
    let forbidden = r#"{"status":"error","code":403,"errors":["Forbidden"],"statuspage":"http://status.datadoghq.com","twitter":"http://twitter.com/datadogops","email":"support@datadoghq.com"}"#;
    for (path, body) in [(TIMESERIES, &ts), (SCALAR, &sc)] {
        for keys in [
            None,
            Some(("api-secret", "wrong")),
            Some(("wrong", "app-secret")),
        ] {
            let r = post_raw(&sim, path, body, keys).await;
            assert_eq!((r.status, r.body.as_str()), (403, forbidden), "{path}");
        }
        let r = post_raw(&sim, path, body, Some(("api-secret", "app-secret"))).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // GET is not served on the v2 paths.
    let r = client()
        .get(format!("{}{TIMESERIES}", sim.base_url()))
        .header("DD-API-KEY", "api-secret")
        .header("DD-APPLICATION-KEY", "app-secret")
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 404);
    let log = sim.requests();
    assert_eq!(log.len(), 9);
    assert_eq!(log[3].method, "POST");
    assert_eq!(log[3].path, TIMESERIES);
    assert_eq!(log[3].body.as_deref(), Some(ts.as_str()));
}

#[tokio::test]
async fn faults_apply_to_v2_in_the_shared_schedule() {
    let config = SimulatorConfig {
        faults: FaultSchedule::at([
            (0, FaultKind::Status(503)),
            (1, FaultKind::NotJson),
            (3, FaultKind::TruncatedJson),
            (4, FaultKind::TooManyRequestsRetryAfter { secs: 4 }),
        ]),
        ..Default::default()
    };
    let sim = start(config).await;
    let ts = ts_request(T0, T0 + 600, json!([mq("a", "system.load.1{*}")]), None);
    let sc = scalar_request(
        T0,
        T0 + 600,
        json!([sq("a", "system.load.1{*}", "avg")]),
        None,
    );

    let r = post(&sim, TIMESERIES, &ts).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, r#"{"errors":["Service Unavailable"]}"#)
    );
    assert!(r.header("x-ratelimit-limit").is_some());
    let r = post(&sim, SCALAR, &sc).await;
    assert_eq!((r.status, r.body.as_str()), (200, "<html>oops</html>"));
    // Position 2 (a v1 request) is clean: the schedule counts every data request.
    assert_eq!(query(&sim, T0, T0 + 600, "m.x{*}").await.status, 200);
    let r = post(&sim, TIMESERIES, &ts).await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(r#"{"data":{"id":"0""#), "{}", r.body);
    assert!(serde_json::from_str::<Value>(&r.body).is_err());
    let r = post(&sim, SCALAR, &sc).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("4"));
    let r = post(&sim, SCALAR, &sc).await;
    assert_eq!(r.status, 200);
    assert!(attrs(&r.json())["columns"][0]["values"][0].is_f64());

    assert_eq!(sim.faults_injected(), 4);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let log = sim.requests();
    let statuses: Vec<u16> = log.iter().map(|l| l.status).collect();
    assert_eq!(statuses, [503, 200, 200, 200, 429, 200]);
    assert_eq!(log[0].fault, Some(FaultKind::Status(503)));
    assert_eq!(log[1].fault, Some(FaultKind::NotJson));
    assert_eq!(log[2].fault, None);
}

#[tokio::test]
async fn each_v2_endpoint_has_its_own_rate_limit() {
    let config = SimulatorConfig {
        rate_limit: Some(RateLimit::new(2, Duration::from_secs(60))),
        ..Default::default()
    };
    let sim = start(config).await;
    let ts = ts_request(T0, T0 + 60, json!([mq("a", "m.x{*}")]), None);
    let sc = scalar_request(T0, T0 + 60, json!([sq("a", "m.x{*}", "avg")]), None);
    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.push(post(&sim, TIMESERIES, &ts).await);
    }
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 429]);
    let remaining: Vec<Option<&str>> = replies
        .iter()
        .map(|r| r.header("x-ratelimit-remaining"))
        .collect();
    assert_eq!(remaining, [Some("1"), Some("0"), Some("0")]);
    for r in &replies {
        assert_eq!(r.header("x-ratelimit-limit"), Some("2"));
        assert_eq!(r.header("x-ratelimit-period"), Some("60"));
        assert_eq!(r.header("x-ratelimit-name"), Some("query_metrics"));
    }
    assert_eq!(replies[2].body, r#"{"errors":["Too many requests"]}"#);
    assert_eq!(sim.rate_limited_count(), 1);

    // The scalar endpoint and v1 count separately.
    let r = post(&sim, SCALAR, &sc).await;
    assert_eq!(
        (r.status, r.header("x-ratelimit-remaining")),
        (200, Some("1"))
    );
    let r = post(&sim, SCALAR, &sc).await;
    assert_eq!(
        (r.status, r.header("x-ratelimit-remaining")),
        (200, Some("0"))
    );
    assert_eq!(post(&sim, SCALAR, &sc).await.status, 429);
    let r = query(&sim, T0, T0 + 60, "m.x{*}").await;
    assert_eq!(
        (r.status, r.header("x-ratelimit-remaining")),
        (200, Some("1"))
    );
    assert_eq!(sim.rate_limited_count(), 2);
}
