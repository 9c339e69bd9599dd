//! End-to-end tests of the simulator over real HTTP on 127.0.0.1, with a reqwest client.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::data::{self, Agg};
use super::{FaultKind, FaultSchedule, RateLimit, Simulator, SimulatorConfig};

/// A Monday 00:00:00 UTC, aligned to every rollup interval up to a day.
pub(super) const T0: i64 = 1_700_438_400;

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query_url(sim: &Simulator, from: i64, to: i64, q: &str) -> String {
    format!(
        "{}/api/v1/query?from={from}&to={to}&query={}",
        sim.base_url(),
        enc(q)
    )
}

pub(super) struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn get(client: &reqwest::Client, url: &str, keys: Option<(&str, &str)>) -> Reply {
    let mut req = client.get(url);
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

pub(super) async fn query(sim: &Simulator, from: i64, to: i64, q: &str) -> Reply {
    get(&client(), &query_url(sim, from, to, q), None).await
}

pub(super) async fn start(config: SimulatorConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

pub(super) fn points(series: &Value) -> Vec<(f64, Option<f64>)> {
    series["pointlist"]
        .as_array()
        .expect("pointlist")
        .iter()
        .map(|p| (p[0].as_f64().expect("ts"), p[1].as_f64()))
        .collect()
}

pub(super) fn assert_close(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what}: {g} != {w}"
        ),
        _ => assert_eq!(got, want, "{what}"),
    }
}

#[tokio::test]
async fn response_has_the_recorded_shape() {
    let sim = start(SimulatorConfig::default()).await;
    let r = query(&sim, T0, T0 + 86_400, "system.cpu.idle{*}").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    let top = [
        "from_date",
        "group_by",
        "message",
        "query",
        "res_type",
        "resp_version",
        "series",
        "status",
        "times",
        "to_date",
        "values",
    ];
    let series_keys = [
        "aggr",
        "attributes",
        "display_name",
        "end",
        "expression",
        "interval",
        "length",
        "metric",
        "pointlist",
        "query_index",
        "scope",
        "start",
        "tag_set",
        "unit",
    ];
    assert_eq!(keys(&v), top);
    assert_eq!(keys(&v["series"][0]), series_keys);
    // Same field names as the recorded response (tests/fixtures/datadog/, see PROVENANCE.md).
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/datadog/v1_query_metrics_ok.json"
    );
    let text = std::fs::read_to_string(fixture).unwrap_or_else(|e| {
        panic!("the recorded fixture {fixture} is part of the repository: {e}")
    });
    let recorded: Value = serde_json::from_str(&text).expect("fixture parses");
    assert_eq!(keys(&v), keys(&recorded));
    assert_eq!(keys(&v["series"][0]), keys(&recorded["series"][0]));
    // The recording writes `scale_factor` as `1`, other recordings as `1.0`: compare numbers.
    let (unit, want) = (&v["series"][0]["unit"], &recorded["series"][0]["unit"]);
    assert_eq!(keys(&unit[0]), keys(&want[0]));
    for (k, w) in want[0].as_object().expect("unit object") {
        match w.as_f64() {
            Some(w) => assert_eq!(unit[0][k].as_f64(), Some(w), "{k}"),
            None => assert_eq!(&unit[0][k], w, "{k}"),
        }
    }
    assert_eq!(unit[1], want[1]);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["res_type"], "time_series");
    assert_eq!(v["resp_version"], 1);
    assert_eq!(v["query"], "system.cpu.idle{*}");
    assert_eq!(v["from_date"], T0 * 1000);
    assert_eq!(v["to_date"], (T0 + 86_400) * 1000);
    assert_eq!(v["group_by"], serde_json::json!([]));
    assert_eq!(v["message"], "");
    let s = &v["series"][0];
    assert_eq!(s["metric"], "system.cpu.idle");
    assert_eq!(s["display_name"], "system.cpu.idle");
    assert_eq!(s["expression"], "system.cpu.idle{*}");
    assert_eq!(s["scope"], "*");
    assert_eq!(s["aggr"], Value::Null);
    assert_eq!(s["tag_set"], serde_json::json!([]));
    assert_eq!(s["query_index"], 0);
    assert_eq!(s["interval"], 300);
    assert_eq!(s["length"], 288);
    assert_eq!(s["start"], T0 * 1000);
    assert_eq!(s["end"], (T0 + 86_400 - 300 + 300) * 1000 - 1000);
    assert_eq!(s["attributes"], serde_json::json!({}));
    assert!(r.body.contains(r#""scale_factor":1.0"#));
    // Integer timestamps unless the metric asks for floats.
    assert!(r.body.contains(&format!("[{},", T0 * 1000)));
}

#[tokio::test]
async fn buckets_align_to_the_interval_before_from() {
    let sim = start(SimulatorConfig::default()).await;
    let from = T0 + 30; // not a multiple of 20
    let to = from + 3600;
    let v = query(&sim, from, to, "avg:system.load.1{*}").await.json();
    let s = &v["series"][0];
    assert_eq!(s["interval"], 20);
    let first = T0 + 20;
    assert!(first < from);
    assert_eq!(s["start"], first * 1000);
    let pts = points(s);
    assert_eq!(pts.len(), 181); // T0+20 .. T0+3620 (last start < to = T0+3630)
    assert_eq!(s["length"], 181);
    let last = first + 180 * 20;
    assert_eq!(pts[180].0, (last * 1000) as f64);
    assert_eq!(s["end"], (last + 20) * 1000 - 1000);
    let hosts: Vec<&str> = data::HOSTS.iter().map(|h| h.0).collect();
    let want = data::rollup_value("system.load.1", &hosts, Agg::Avg, Agg::Avg, first, 20);
    assert_close(pts[0].1, want, "first bucket");
}

#[tokio::test]
async fn rollup_is_honoured_only_above_the_enforced_interval() {
    let sim = start(SimulatorConfig::default()).await;
    let interval = |v: Value| v["series"][0]["interval"].as_i64();
    let hour = T0 + 3600;
    let day = T0 + 86_400;
    let m = "system.load.1{*}";
    assert_eq!(interval(query(&sim, T0, hour, m).await.json()), Some(20));
    let q = format!("{m}.rollup(max,60)");
    assert_eq!(interval(query(&sim, T0, hour, &q).await.json()), Some(60));
    // Too fine for the window: the enforced interval wins, the method is kept.
    let q = format!("{m}.rollup(max,10)");
    let v = query(&sim, T0, hour, &q).await.json();
    assert_eq!(
        v["series"][0]["expression"],
        "system.load.1{*}.rollup(max,10)"
    );
    assert_eq!(interval(v.clone()), Some(20));
    let hosts: Vec<&str> = data::HOSTS.iter().map(|h| h.0).collect();
    let want = data::rollup_value("system.load.1", &hosts, Agg::Avg, Agg::Max, T0, 20);
    assert_close(points(&v["series"][0])[0].1, want, "max rollup");
    let q = format!("{m}.rollup(avg,60)");
    assert_eq!(interval(query(&sim, T0, day, &q).await.json()), Some(300));
    let q = format!("{m}.rollup(avg,3600)");
    assert_eq!(interval(query(&sim, T0, day, &q).await.json()), Some(3600));
}

#[tokio::test]
async fn max_points_raises_the_interval() {
    let config = SimulatorConfig {
        max_points: 100,
        ..Default::default()
    };
    let sim = start(config).await;
    let v = query(&sim, T0, T0 + 3600, "m.x{*}").await.json();
    assert_eq!(v["series"][0]["interval"], 60);
}

#[tokio::test]
async fn group_by_gives_one_series_per_group() {
    let sim = start(SimulatorConfig::default()).await;
    let q = "avg:system.cpu.user{env:prod} by {host}";
    let v = query(&sim, T0, T0 + 3600, q).await.json();
    assert_eq!(v["group_by"], serde_json::json!(["host"]));
    let series = v["series"].as_array().expect("series");
    assert_eq!(series.len(), 2);
    for (s, host) in series.iter().zip(["web-1", "web-2"]) {
        assert_eq!(s["scope"], format!("env:prod,host:{host}"));
        assert_eq!(s["tag_set"], serde_json::json!([format!("host:{host}")]));
        assert_eq!(
            s["expression"],
            format!("avg:system.cpu.user{{env:prod,host:{host}}}")
        );
        assert_eq!(s["aggr"], "avg");
        let want = data::rollup_value("system.cpu.user", &[host], Agg::Avg, Agg::Avg, T0, 20);
        assert_close(points(s)[0].1, want, host);
    }

    // Scope `*`: the scope is just the group's tags; groups are sorted by value.
    let v = query(
        &sim,
        T0,
        T0 + 3600,
        "sum:system.load.1{*}by{env}.rollup(sum,60)",
    )
    .await
    .json();
    let series = v["series"].as_array().expect("series");
    let scopes: Vec<&str> = series.iter().filter_map(|s| s["scope"].as_str()).collect();
    assert_eq!(scopes, ["env:prod", "env:staging"]);
    assert_eq!(
        series[0]["expression"],
        "sum:system.load.1{env:prod}.rollup(sum,60)"
    );
    let want = data::rollup_value(
        "system.load.1",
        &["web-1", "web-2"],
        Agg::Sum,
        Agg::Sum,
        T0,
        60,
    );
    assert_close(points(&series[0])[0].1, want, "prod sum");
}

#[tokio::test]
async fn several_sub_queries_keep_their_index() {
    let sim = start(SimulatorConfig::default()).await;
    let aggs = [Agg::Avg, Agg::Min, Agg::Max, Agg::Sum];
    let q = aggs
        .iter()
        .map(|a| format!("{a}:system.cpu.user{{*}}.rollup({a},60)"))
        .collect::<Vec<_>>()
        .join(",");
    let from = T0 + 7;
    let v = query(&sim, from, from + 3600, &q).await.json();
    assert_eq!(v["query"], q.as_str());
    let series = v["series"].as_array().expect("series");
    assert_eq!(series.len(), 4);
    let hosts: Vec<&str> = data::HOSTS.iter().map(|h| h.0).collect();
    for (i, (s, agg)) in series.iter().zip(aggs).enumerate() {
        assert_eq!(s["query_index"], i);
        assert_eq!(s["interval"], 60);
        assert_eq!(s["aggr"], agg.as_str());
        let pts = points(s);
        assert_eq!(pts.len(), 61);
        for (ts, value) in pts {
            let b = ts as i64 / 1000;
            let want = data::rollup_value("system.cpu.user", &hosts, agg, agg, b, 60);
            assert_close(value, want, &format!("{agg} at {b}"));
        }
    }
}

#[tokio::test]
async fn commas_inside_scopes_do_not_split() {
    let sim = start(SimulatorConfig::default()).await;
    let q = "avg:system.cpu.user{env:prod,host:web-1},sum:system.load.1{host:db-1, env:staging}";
    let v = query(&sim, T0, T0 + 3600, q).await.json();
    let series = v["series"].as_array().expect("series");
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["scope"], "env:prod,host:web-1");
    assert_eq!(series[0]["query_index"], 0);
    assert_eq!(series[1]["scope"], "host:db-1,env:staging");
    assert_eq!(series[1]["query_index"], 1);
    let want = data::rollup_value("system.load.1", &["db-1"], Agg::Sum, Agg::Avg, T0, 20);
    assert_close(points(&series[1])[0].1, want, "db-1");
}

#[tokio::test]
async fn special_metrics() {
    let sim = start(SimulatorConfig::default()).await;
    // gappy: minute 2 of every 5 has no data, so 60 s buckets there are null.
    let v = query(&sim, T0, T0 + 600, "avg:app.gappy.rps{*}.rollup(avg,60)")
        .await
        .json();
    let pts = points(&v["series"][0]);
    assert_eq!(pts.len(), 10);
    for (ts, value) in &pts {
        let minute = (*ts as i64 / 1000) / 60;
        assert_eq!(value.is_none(), minute % 5 == 2, "minute {minute}");
    }
    assert!(v["series"][0]["pointlist"][2][1].is_null());

    // floatts: timestamps written as floats.
    let r = query(&sim, T0, T0 + 600, "app.floatts.rps{*}").await;
    assert!(r.body.contains(&format!("[{}.0,", T0 * 1000)), "{}", r.body);
    assert_eq!(points(&r.json()["series"][0])[0].0, (T0 * 1000) as f64);

    // No data, or no matching host: no series.
    let v = query(&sim, T0, T0 + 600, "missing.metric{*}").await.json();
    assert_eq!(v["series"], serde_json::json!([]));
    let v = query(&sim, T0, T0 + 600, "m.x{env:nowhere}").await.json();
    assert_eq!(v["series"], serde_json::json!([]));

    // toobig: fine for an hour, refused above.
    assert_eq!(query(&sim, T0, T0 + 3600, "toobig.m{*}").await.status, 200);
    let r = query(&sim, T0, T0 + 3601, "toobig.m{*}").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        serde_json::json!({"errors":["Query too large: too many points requested; reduce the time window"]})
    );
}

#[tokio::test]
async fn keys_are_checked() {
    let config = SimulatorConfig {
        api_key: Some("api-secret".into()),
        app_key: Some("app-secret".into()),
        ..Default::default()
    };
    let sim = start(config).await;
    let c = client();
    let url = query_url(&sim, 0, 0, "somequery");
    let forbidden = r#"{"status":"error","code":403,"errors":["Forbidden"],"statuspage":"http://status.datadoghq.com","twitter":"http://twitter.com/datadogops","email":"support@datadoghq.com"}"#;
    for keys in [
        None,
        Some(("wrong", "app-secret")),
        Some(("api-secret", "wrong")),
    ] {
        let r = get(&c, &url, keys).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.body, forbidden);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let ok = Some(("api-secret", "app-secret"));
    let url = query_url(&sim, T0, T0 + 60, "m.x{*}");
    assert_eq!(get(&c, &url, ok).await.status, 200);
    // The deprecated query-parameter keys work too.
    let with_params = format!("{url}&api_key=api-secret&application_key=app-secret");
    assert_eq!(get(&c, &with_params, None).await.status, 200);

    let validate = format!("{}/api/v1/validate", sim.base_url());
    let r = get(&c, &validate, Some(("api-secret", "wrong-app-key-is-fine"))).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"valid":true}"#));
    let r = get(&c, &validate, Some(("nope", "app-secret"))).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, r#"{"errors":["Forbidden"]}"#)
    );

    let r = get(&c, &format!("{}/api/v2/nothing", sim.base_url()), ok).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, r#"{"errors":["Not found"]}"#)
    );
    let r = get(&c, &format!("{}/api/v2/nothing", sim.base_url()), None).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn bad_parameters_are_400s() {
    let sim = start(SimulatorConfig::default()).await;
    let c = client();
    let base = format!("{}/api/v1/query", sim.base_url());
    let q = enc("m{*}");
    let cases = [
        (format!("{base}?to=10&query={q}"), "'from'"),
        (format!("{base}?from=0&query={q}"), "'to'"),
        (format!("{base}?from=0&to=10"), "'query'"),
        (format!("{base}?from=abc&to=10&query={q}"), "'from'"),
        (format!("{base}?from=0&to=1.5&query={q}"), "'to'"),
        (format!("{base}?from=0&to=%FF%FE&query={q}"), "'to'"),
        (format!("{base}?from=20&to=10&query={q}"), "before"),
        (
            format!("{base}?from=0&to=10&query={}", enc("m{*")),
            "Error parsing query",
        ),
        (
            format!("{base}?from=0&to=10&query={}", enc("avg:m")),
            "Error parsing query",
        ),
        (
            format!("{base}?from=0&to=10&query={}", enc("foo:m{*}")),
            "Error parsing query",
        ),
        (
            format!("{base}?from=0&to=10&query={}", enc("m{*}.rollup(avg,x)")),
            "Error parsing query",
        ),
        (
            format!("{base}?from=0&to=99999999999&query={q}"),
            "too long",
        ),
    ];
    for (url, needle) in cases {
        let r = get(&c, &url, None).await;
        assert_eq!(r.status, 400, "{url}");
        let v = r.json();
        let msg = v["errors"][0].as_str().expect("an error message");
        assert!(msg.contains(needle), "{url}: {msg}");
        assert_eq!(v.as_object().map(|o| o.len()), Some(1));
        assert!(r.header("x-ratelimit-limit").is_some());
    }
}

#[tokio::test]
async fn rate_limit_answers_429_with_headers() {
    let config = SimulatorConfig {
        rate_limit: Some(RateLimit::new(5, Duration::from_secs(1))),
        ..Default::default()
    };
    let sim = start(config).await;
    let c = client();
    let url = query_url(&sim, T0, T0 + 60, "m.x{*}");
    let mut replies = Vec::new();
    for _ in 0..6 {
        replies.push(get(&c, &url, None).await);
    }
    for (i, r) in replies[..5].iter().enumerate() {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(r.header("x-ratelimit-period"), Some("1"));
        assert_eq!(r.header("x-ratelimit-name"), Some("query_metrics"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
    }
    let r = &replies[5];
    assert_eq!(r.status, 429);
    assert_eq!(r.body, r#"{"errors":["Too many requests"]}"#);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let reset: u64 = r
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .expect("reset header");
    assert!(reset >= 1);
    assert_eq!(sim.rate_limited_count(), 1);
    assert_eq!(sim.requests().last().map(|l| l.status), Some(429));

    // The next window admits requests again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(get(&c, &url, None).await.status, 200);
    assert_eq!(sim.rate_limited_count(), 1);

    // Without a configured limit the headers still advertise one.
    let sim = start(SimulatorConfig::default()).await;
    let r = get(&c, &query_url(&sim, T0, T0 + 60, "m.x{*}"), None).await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("1000000"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("999999"));
}

#[tokio::test]
async fn every_fault_kind_is_observed_by_a_client() {
    let kinds = [
        FaultKind::Status(503),
        FaultKind::TooManyRequestsRetryAfter { secs: 3 },
        FaultKind::TooManyRequestsResetOnly { secs: 2 },
        FaultKind::ConnectionResetBeforeResponse,
        FaultKind::ResetMidBody,
        FaultKind::TruncatedJson,
        FaultKind::Slow {
            delay: Duration::from_millis(300),
        },
        FaultKind::PayloadTooLarge,
        FaultKind::NotJson,
        FaultKind::Status(408),
    ];
    let config = SimulatorConfig {
        faults: FaultSchedule::at(
            kinds
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, k)| (i as u64, k)),
        ),
        ..Default::default()
    };
    let sim = start(config).await;
    let c = client();
    let url = query_url(&sim, T0, T0 + 3600, "avg:system.cpu.user{*} by {host}");
    let send = || c.get(&url).send();

    let r = send().await.expect("503 response");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("x-ratelimit-limit"));
    assert_eq!(
        r.text().await.expect("body"),
        r#"{"errors":["Service Unavailable"]}"#
    );

    let r = send().await.expect("429 response");
    assert_eq!(r.status(), 429);
    let h = r.headers();
    assert_eq!(h.get("retry-after").map(|v| v.as_bytes()), Some(&b"3"[..]));
    assert_eq!(
        h.get("x-ratelimit-remaining").map(|v| v.as_bytes()),
        Some(&b"0"[..])
    );
    assert_eq!(
        h.get("x-ratelimit-reset").map(|v| v.as_bytes()),
        Some(&b"3"[..])
    );
    assert!(h.contains_key("x-ratelimit-limit"));

    let r = send().await.expect("429 response");
    assert_eq!(r.status(), 429);
    let h = r.headers();
    assert!(!h.contains_key("retry-after"));
    assert!(!h.contains_key("x-ratelimit-limit"));
    assert_eq!(
        h.get("x-ratelimit-reset").map(|v| v.as_bytes()),
        Some(&b"2"[..])
    );

    let err = send().await.expect_err("connection reset");
    assert!(err.is_request() && !err.is_status(), "{err:?}");

    let mut r = send().await.expect("200 headers before the reset");
    assert_eq!(r.status(), 200);
    let announced = r.content_length().expect("content-length");
    assert!(announced > 1000);
    let mut received = 0u64;
    let err = loop {
        match r.chunk().await {
            Ok(Some(chunk)) => received += chunk.len() as u64,
            Ok(None) => panic!("the body ended normally after {received} bytes"),
            Err(e) => break e,
        }
    };
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert!(
        0 < received && received < announced,
        "{received} of {announced}"
    );

    let r = send().await.expect("truncated response");
    assert_eq!(r.status(), 200);
    let len = r.content_length().expect("content-length");
    let body = r.bytes().await.expect("complete (short) body");
    assert_eq!(body.len() as u64, len);
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert!(body.starts_with(b"{\"status\":\"ok\""));

    let t = Instant::now();
    let r = send().await.expect("slow response");
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(v["series"].as_array().map(Vec::len), Some(3));

    let r = send().await.expect("413 response");
    assert_eq!(r.status(), 413);
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert!(v["errors"][0].is_string());

    let r = send().await.expect("not-json response");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "<html>oops</html>");

    let r = send().await.expect("408 response");
    assert_eq!(r.status(), 408);

    let r = send().await.expect("normal response");
    assert_eq!(r.status(), 200);
    serde_json::from_slice::<Value>(&r.bytes().await.expect("body")).expect("json");

    assert_eq!(sim.faults_injected(), kinds.len() as u64);
    // Give the server a moment to log the last request.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let log = sim.requests();
    assert_eq!(
        log.len(),
        kinds.len() + 1,
        "one log entry per request, no retries"
    );
    let statuses: Vec<u16> = log.iter().map(|l| l.status).collect();
    assert_eq!(
        statuses,
        [503, 429, 429, 0, 0, 200, 200, 413, 200, 408, 200]
    );
    let faults: Vec<Option<FaultKind>> = log.iter().map(|l| l.fault.clone()).collect();
    let mut want: Vec<Option<FaultKind>> = kinds.iter().cloned().map(Some).collect();
    want.push(None);
    assert_eq!(faults, want);
}

#[tokio::test]
async fn seeded_faults_are_deterministic_over_http() {
    let schedule = || {
        FaultSchedule::seeded(
            2024,
            0.6,
            vec![
                FaultKind::Status(500),
                FaultKind::Status(502),
                FaultKind::NotJson,
            ],
        )
        .with_max_consecutive(2)
    };
    let plan = schedule().plan(30);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let config = SimulatorConfig {
            faults: schedule(),
            ..Default::default()
        };
        let sim = start(config).await;
        let c = client();
        let url = query_url(&sim, T0, T0 + 60, "m.x{*}");
        let mut statuses = Vec::new();
        for _ in 0..30 {
            let r = c.get(&url).send().await.expect("response");
            let status = r.status().as_u16();
            let body = r.text().await.expect("body");
            statuses.push((status, body.starts_with('<')));
        }
        // A client retrying twice always gets through: never 3 faults in a row.
        let mut run = 0;
        for (i, f) in plan.iter().enumerate() {
            run = if f.is_some() { run + 1 } else { 0 };
            assert!(run <= 2);
            let expect = match f {
                None => (200, false),
                Some(FaultKind::Status(code)) => (*code, false),
                Some(FaultKind::NotJson) => (200, true),
                Some(other) => panic!("unexpected {other:?}"),
            };
            assert_eq!(statuses[i], expect, "request {i}");
        }
        assert_eq!(
            sim.faults_injected(),
            plan.iter().filter(|f| f.is_some()).count() as u64
        );
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(plan.iter().any(Option::is_some) && plan.iter().any(Option::is_none));
}

#[tokio::test]
async fn the_log_records_every_request() {
    let config = SimulatorConfig {
        api_key: Some("k".into()),
        ..Default::default()
    };
    let sim = start(config).await;
    let c = client();
    let q = "avg:system.cpu.user{env:prod,host:web-1}";
    let url = query_url(&sim, T0, T0 + 60, q);
    get(&c, &url, Some(("k", "any"))).await;
    get(&c, &url, None).await;
    get(&c, &format!("{}/nope?x=1", sim.base_url()), Some(("k", ""))).await;
    let r = c
        .post(format!("{}/api/v1/query", sim.base_url()))
        .header("DD-API-KEY", "k")
        .body("{\"a\":1}")
        .send()
        .await
        .expect("response");
    assert_eq!(r.status(), 404);

    let log = sim.requests();
    assert_eq!(log.len(), 4);
    assert_eq!(
        log.iter().map(|l| l.index).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(
        log.iter().map(|l| l.status).collect::<Vec<_>>(),
        [200, 403, 404, 404]
    );
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/api/v1/query");
    assert_eq!(
        log[0].query,
        vec![
            ("from".to_string(), T0.to_string()),
            ("to".to_string(), (T0 + 60).to_string()),
            ("query".to_string(), q.to_string()),
        ]
    );
    assert_eq!(log[0].body, None);
    assert_eq!(log[0].fault, None);
    assert!(log[0].received_at <= log[1].received_at);
    assert_eq!(log[3].method, "POST");
    assert_eq!(log[3].body.as_deref(), Some("{\"a\":1}"));

    sim.clear_log();
    assert!(sim.requests().is_empty());
    get(&c, &url, Some(("k", ""))).await;
    assert_eq!(sim.requests().first().map(|l| l.index), Some(4));
}

#[tokio::test]
async fn latency_and_shutdown() {
    let config = SimulatorConfig {
        latency: Duration::from_millis(200),
        ..Default::default()
    };
    let sim = start(config).await;
    let c = client();
    let t = Instant::now();
    let r = get(&c, &format!("{}/api/v1/validate", sim.base_url()), None).await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));

    let url = format!("{}/api/v1/validate", sim.base_url());
    sim.shutdown().await;
    // Give dropped connection tasks a moment, then a fresh client finds nothing listening.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client().get(&url).send().await.is_err());

    // Dropping works too, and a fixed port can be reused afterwards.
    let sim = start(SimulatorConfig::default()).await;
    let port = sim.addr().port();
    drop(sim);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sim = Simulator::start_on(SimulatorConfig::default(), port)
        .await
        .expect("port free again");
    assert_eq!(sim.base_url(), format!("http://127.0.0.1:{port}"));
    let r = get(
        &client(),
        &format!("{}/api/v1/validate", sim.base_url()),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Simulator>();
    check::<SimulatorConfig>();
    check::<super::LoggedRequest>();
    check::<FaultSchedule>();
    check::<FaultKind>();
    check::<RateLimit>();
}
