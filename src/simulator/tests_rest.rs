//! End-to-end tests of the generic REST endpoints over real HTTP on 127.0.0.1, with a
//! reqwest client.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::records::{self, created_ms, created_s, record_json, T0_S};
use super::{FaultKind, FaultSchedule, RateLimit, Simulator, SimulatorConfig};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn start(config: SimulatorConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
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

async fn get(sim: &Simulator, path_and_query: &str) -> Reply {
    send(client().get(format!("{}{path_and_query}", sim.base_url()))).await
}

async fn post(sim: &Simulator, path_and_query: &str, body: &str) -> Reply {
    let url = format!("{}{path_and_query}", sim.base_url());
    send(client().post(url).body(body.to_string())).await
}

/// Record `i` as the endpoints write it, parsed.
fn rec(i: u64) -> Value {
    serde_json::from_str(&record_json(i)).expect("record parses")
}

/// The records of indices `range`, parsed.
fn recs(range: impl IntoIterator<Item = u64>) -> Value {
    Value::Array(range.into_iter().map(rec).collect())
}

fn ids(items: &Value) -> Vec<u64> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort();
    k
}

/// Asserts a 400 whose body is exactly `{"message": <starts with prefix>}`.
fn assert_400(r: &Reply, prefix: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    let v = r.json();
    assert_eq!(keys(&v), ["message"], "{}", r.body);
    let msg = v["message"].as_str().expect("message");
    assert!(
        msg.starts_with(prefix),
        "{msg:?} does not start with {prefix:?}"
    );
}

#[tokio::test]
async fn page_events_shape_and_bounds() {
    let sim = start(SimulatorConfig::default()).await;
    let r = get(&sim, "/api/page/events").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(keys(&v), ["data", "has_more", "page", "per_page", "total"]);
    assert_eq!(v["page"], 1);
    assert_eq!(v["per_page"], 50);
    assert_eq!(v["total"], 1000);
    assert_eq!(v["has_more"], true);
    assert_eq!(v["data"], recs(0..50));
    // The body is the hand-written records byte for byte.
    assert!(r
        .body
        .starts_with(&format!(r#"{{"data":[{},"#, record_json(0))));

    let v = get(&sim, "/api/page/events?page=3&per_page=7").await.json();
    assert_eq!(
        (v["page"].as_u64(), v["per_page"].as_u64()),
        (Some(3), Some(7))
    );
    assert_eq!(v["data"], recs(14..21));
    // The last page is short and says so; past the end is empty.
    let v = get(&sim, "/api/page/events?page=3&per_page=400")
        .await
        .json();
    assert_eq!(v["data"], recs(800..1000));
    assert_eq!(v["has_more"], false);
    let v = get(&sim, "/api/page/events?page=2&per_page=500")
        .await
        .json();
    assert_eq!(ids(&v["data"]), (501..=1000).collect::<Vec<_>>());
    assert_eq!(v["has_more"], false);
    let v = get(&sim, "/api/page/events?page=4&per_page=400")
        .await
        .json();
    assert_eq!(v["data"], json!([]));
    assert_eq!(
        (v["has_more"].as_bool(), v["total"].as_u64()),
        (Some(false), Some(1000))
    );
    let v = get(&sim, "/api/page/events?page=18446744073709551615")
        .await
        .json();
    assert_eq!(v["data"], json!([]));
    // A full last page has no more after it.
    let v = get(&sim, "/api/page/events?page=2&per_page=5&total=10")
        .await
        .json();
    assert_eq!(
        (ids(&v["data"]), v["has_more"].as_bool()),
        (vec![6, 7, 8, 9, 10], Some(false))
    );
    assert_eq!(v["total"], 10);

    // page_base=0: pages start at 0, and a missing page is page 0.
    let v = get(&sim, "/api/page/events?page_base=0&page=0&per_page=4")
        .await
        .json();
    assert_eq!(
        (ids(&v["data"]), v["page"].as_u64()),
        (vec![1, 2, 3, 4], Some(0))
    );
    let v = get(&sim, "/api/page/events?page_base=0&per_page=4")
        .await
        .json();
    assert_eq!(
        (ids(&v["data"]), v["page"].as_u64()),
        (vec![1, 2, 3, 4], Some(0))
    );
    let v = get(&sim, "/api/page/events?page_base=0&page=1&per_page=4")
        .await
        .json();
    assert_eq!(ids(&v["data"]), [5, 6, 7, 8]);
    let v = get(&sim, "/api/page/events?page_base=1&page=1&per_page=4")
        .await
        .json();
    assert_eq!(ids(&v["data"]), [1, 2, 3, 4]);

    let cases = [
        ("page=0", "page must be at least 1"),
        ("page_base=2", "page_base must be 0 or 1"),
        ("page=-1", "invalid page: '-1'"),
        ("page=x", "invalid page: 'x'"),
        ("per_page=0", "per_page must be at least 1"),
        ("per_page=1.5", "invalid per_page"),
        ("total=1000001", "total must be at most 1000000"),
        ("shuffle=yes", "invalid shuffle"),
    ];
    for (q, prefix) in cases {
        assert_400(&get(&sim, &format!("/api/page/events?{q}")).await, prefix);
    }
    let r = get(&sim, "/api/page/events?per_page=501").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, r#"{"message":"per_page must be at most 500"}"#)
    );
    assert!(
        r.header("x-ratelimit-limit").is_some(),
        "400s come through the pipeline"
    );
    let v = get(
        &sim,
        "/api/page/events?total=1000000&page=2000&per_page=500",
    )
    .await
    .json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(500));
    assert_eq!(v["data"][499], rec(999_999));
    assert_eq!(v["has_more"], false);
}

#[tokio::test]
async fn time_filters_in_three_formats() {
    let sim = start(SimulatorConfig::default()).await;
    // Records 10..20 (ids 11..=20), written three ways.
    let (s, e) = (created_s(10), created_s(20));
    let forms = [
        (s.to_string(), e.to_string()),
        ((s * 1000).to_string(), (e * 1000).to_string()),
        (
            "2026-01-01T00:10:00Z".to_string(),
            "2026-01-01T01:20:00+01:00".to_string(),
        ),
    ];
    for (start, end) in &forms {
        let q = format!("/api/page/events?start={}&end={}", enc(start), enc(end));
        let v = get(&sim, &q).await.json();
        assert_eq!(v["data"], recs(10..20), "{q}");
        assert_eq!(v["total"], 10);
        assert_eq!(v["has_more"], false);
    }
    // Start is inclusive and rounds to the next record; end is exclusive.
    let q = format!(
        "/api/page/events?start={}&end={}",
        created_ms(10) + 1,
        created_ms(20) + 1
    );
    assert_eq!(
        ids(&get(&sim, &q).await.json()["data"]),
        (12..=21).collect::<Vec<_>>()
    );
    // One bound alone.
    let v = get(
        &sim,
        &format!("/api/page/events?start={}&total=30", created_s(25)),
    )
    .await
    .json();
    assert_eq!(ids(&v["data"]), [26, 27, 28, 29, 30]);
    let v = get(
        &sim,
        &format!("/api/page/events?end={}", enc("2026-01-01T00:03:00Z")),
    )
    .await;
    assert_eq!(ids(&v.json()["data"]), [1, 2, 3]);
    // A window outside the collection is empty.
    let v = get(&sim, &format!("/api/page/events?end={}", T0_S))
        .await
        .json();
    assert_eq!(
        (v["data"].clone(), v["total"].as_u64()),
        (json!([]), Some(0))
    );

    for (q, prefix) in [
        ("start=yesterday", "invalid start: 'yesterday'"),
        ("end=2026-01-01", "invalid end: '2026-01-01'"),
        ("start=1.5", "invalid start"),
        ("start=20&end=10", "start must not be after end"),
    ] {
        assert_400(&get(&sim, &format!("/api/page/events?{q}")).await, prefix);
        assert_400(&get(&sim, &format!("/api/token/events?{q}")).await, prefix);
    }
}

#[tokio::test]
async fn page_search_takes_a_json_body() {
    let sim = start(SimulatorConfig::default()).await;
    let body = json!({
        "page": 2,
        "per_page": 3,
        "start": "2026-01-01T00:10:00Z",
        "end": created_s(20),
    });
    let r = post(&sim, "/api/page/events/search", &body.to_string()).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(keys(&v), ["data", "has_more", "page", "per_page", "total"]);
    assert_eq!(v["data"], recs(13..16));
    assert_eq!(
        (v["page"].as_u64(), v["per_page"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(
        (v["total"].as_u64(), v["has_more"].as_bool()),
        (Some(10), Some(true))
    );
    // Epoch milliseconds as numbers; options in the query string; nulls are absent.
    let body = json!({"page": 1, "per_page": 500, "start": created_ms(2), "end": null});
    let v = post(&sim, "/api/page/events/search?total=5", &body.to_string())
        .await
        .json();
    assert_eq!(ids(&v["data"]), [3, 4, 5]);
    // The body wins over the query string.
    let v = post(
        &sim,
        "/api/page/events/search?per_page=9",
        r#"{"per_page":2}"#,
    )
    .await
    .json();
    assert_eq!(ids(&v["data"]), [1, 2]);
    // `{}` is the first page.
    let v = post(&sim, "/api/page/events/search", "{}").await.json();
    assert_eq!(v["data"], recs(0..50));

    assert_400(
        &post(&sim, "/api/page/events/search", "page=1").await,
        "the body is not JSON",
    );
    assert_400(
        &post(&sim, "/api/page/events/search", "").await,
        "the body is not JSON",
    );
    assert_400(
        &post(&sim, "/api/page/events/search", "[1]").await,
        "the body must be a JSON object",
    );
    assert_400(
        &post(&sim, "/api/page/events/search", r#"{"page":[1]}"#).await,
        "invalid page",
    );
    assert_400(
        &post(&sim, "/api/page/events/search", r#"{"page":1.5}"#).await,
        "invalid page",
    );
    assert_400(
        &post(&sim, "/api/page/events/search", r#"{"per_page":501}"#).await,
        "per_page must be at most 500",
    );
    // GET is not routed there.
    assert_eq!(get(&sim, "/api/page/events/search").await.status, 404);
}

#[tokio::test]
async fn shuffle_leak_and_corrupt() {
    let sim = start(SimulatorConfig::default()).await;
    let v = get(&sim, "/api/page/events?per_page=10&page=2&shuffle=true")
        .await
        .json();
    let got = ids(&v["data"]);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, (11..=20).collect::<Vec<_>>());
    assert_ne!(got, sorted, "shuffled");
    // Deterministic, and the records themselves are intact.
    let again = get(&sim, "/api/page/events?per_page=10&page=2&shuffle=true")
        .await
        .json();
    assert_eq!(again["data"], v["data"]);
    for r in v["data"].as_array().expect("data") {
        assert_eq!(r, &rec(r["id"].as_u64().expect("id") - 1));
    }

    // leak: records 10..20 selected; page 1 gets the one before, page 2 the one after.
    let window = format!("start={}&end={}", created_s(10), created_s(20));
    let v = get(
        &sim,
        &format!("/api/page/events?leak=true&per_page=5&{window}"),
    )
    .await
    .json();
    assert_eq!(ids(&v["data"]), [10, 11, 12, 13, 14, 15]);
    assert_eq!(v["total"], 10);
    let v = get(
        &sim,
        &format!("/api/page/events?leak=true&per_page=5&page=2&{window}"),
    )
    .await;
    assert_eq!(ids(&v.json()["data"]), [16, 17, 18, 19, 20, 21]);
    let v = get(
        &sim,
        &format!("/api/page/events?leak=true&per_page=5&page=3&{window}"),
    )
    .await;
    assert_eq!(v.json()["data"], json!([]), "no leak onto an empty page");
    // Nothing exists outside the whole collection.
    let v = get(&sim, "/api/page/events?leak=true&total=3").await.json();
    assert_eq!(ids(&v["data"]), [1, 2, 3]);
    // At the collection's start the only neighbour is after.
    let v = get(
        &sim,
        &format!("/api/token/events?leak=1&end={}", created_s(3)),
    )
    .await;
    assert_eq!(ids(&v.json()["records"]), [1, 2, 3, 4]);

    let v = get(&sim, "/api/page/events?per_page=5&corrupt=3")
        .await
        .json();
    assert_eq!(v["data"][2]["count"], "oops");
    assert_eq!(v["data"][2]["id"], 3);
    assert_eq!(v["data"][1], rec(1));
    assert_eq!(v["data"][3], rec(3));
    let v = get(&sim, "/api/stripe/events?limit=5&corrupt=3")
        .await
        .json();
    assert_eq!(v["data"][2]["count"], "oops");
    let v = get(&sim, "/api/page/events?per_page=5&corrupt=30")
        .await
        .json();
    assert_eq!(v["data"], recs(0..5));
}

#[tokio::test]
async fn github_links_walk_every_page() {
    let sim = start(SimulatorConfig::default()).await;
    let host = sim.addr().to_string();
    let start = "2026-01-01T00:00:00+00:00";
    let first = format!(
        "/api/github/events?total=95&per_page=10&start={}",
        enc(start)
    );
    let r = get(&sim, &first).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), recs(0..10));
    let link = r.header("link").expect("Link header");
    let url = |page: u64| {
        format!(
            "http://{host}/api/github/events?page={page}&per_page=10&total=95&start={}",
            enc(start)
        )
    };
    assert_eq!(
        link,
        format!(r#"<{}>; rel="next", <{}>; rel="last""#, url(2), url(10))
    );

    // Follow `next` to the end.
    let c = client();
    let mut seen = Vec::new();
    let mut next = Some(format!("{}{first}", sim.base_url()));
    let mut pages = 0;
    let mut last_link = String::new();
    while let Some(u) = next.take() {
        let r = send(c.get(&u)).await;
        assert_eq!(r.status, 200);
        seen.extend(ids(&r.json()));
        pages += 1;
        last_link = r.header("link").unwrap_or_default().to_string();
        next = last_link.split(", ").find_map(|l| {
            l.strip_suffix(r#">; rel="next""#)
                .and_then(|l| l.strip_prefix('<'))
                .map(str::to_string)
        });
    }
    assert_eq!(pages, 10);
    assert_eq!(seen, (1..=95).collect::<Vec<_>>());
    // The last page has no next or last, only first and prev.
    assert_eq!(
        last_link,
        format!(r#"<{}>; rel="first", <{}>; rel="prev""#, url(1), url(9))
    );
    let v = get(&sim, "/api/github/events?total=95&per_page=10&page=10")
        .await
        .json();
    assert_eq!(v, recs(90..95));

    // One page only: no Link at all. Past the end: an empty array.
    let r = get(&sim, "/api/github/events?total=5").await;
    assert_eq!((r.json(), r.header("link")), (recs(0..5), None));
    let r = get(&sim, "/api/github/events?total=5&page=3").await;
    assert_eq!(r.json(), json!([]));
    assert!(r.header("link").expect("link").contains(r#"rel="prev""#));
    assert!(!r.header("link").expect("link").contains(r#"rel="next""#));
    assert_400(
        &get(&sim, "/api/github/events?page=0").await,
        "page must be at least 1",
    );
    // page_base does not apply: GitHub pages start at 1.
    let v = get(&sim, "/api/github/events?page_base=0&page=1&per_page=2")
        .await
        .json();
    assert_eq!(ids(&v), [1, 2]);
}

#[tokio::test]
async fn endless_pages_never_run_out() {
    let sim = start(SimulatorConfig::default()).await;
    let mut seen = BTreeSet::new();
    for page in 1..=6 {
        let v = get(
            &sim,
            &format!("/api/page/endless?page={page}&per_page=200&total=10"),
        )
        .await;
        let v = v.json();
        assert_eq!(keys(&v), ["data", "page", "per_page"]);
        let got = ids(&v["data"]);
        assert_eq!(got.len(), 200, "page {page} is full");
        assert!(got.iter().all(|id| seen.insert(*id)), "distinct ids");
    }
    assert_eq!(seen.len(), 1200);
    let v = get(&sim, "/api/page/endless?page=1000000&per_page=500")
        .await
        .json();
    assert_eq!(v["data"][0], rec(999_999 * 500));
    assert_eq!(v["data"].as_array().map(Vec::len), Some(500));
    let v = get(&sim, "/api/page/endless?page_base=0&page=1&per_page=3")
        .await
        .json();
    assert_eq!(ids(&v["data"]), [4, 5, 6]);
    let v = get(
        &sim,
        &format!("/api/page/endless?per_page=2&start={}", created_s(7)),
    )
    .await;
    assert_eq!(ids(&v.json()["data"]), [8, 9]);
    assert_400(
        &get(&sim, "/api/page/endless?page=18446744073709551615").await,
        "page out of range",
    );
    assert_400(
        &get(&sim, "/api/page/endless?per_page=501").await,
        "per_page must be at most 500",
    );
}

#[tokio::test]
async fn token_chain_reaches_every_record_once() {
    let sim = start(SimulatorConfig::default()).await;
    let window = format!(
        "start={}&end={}",
        created_s(100),
        enc("2026-01-01T02:00:00Z")
    );
    let expected: Vec<u64> = (101..=120).collect();
    assert_eq!(
        records::window(1000, Some(created_ms(100)), Some(created_ms(120))),
        100..120
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = format!("/api/token/events?limit=7&{window}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", enc(c)));
        }
        let r = get(&sim, &q).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(keys(&v), ["next_cursor", "records"]);
        seen.extend(ids(&v["records"]));
        pages += 1;
        match &v["next_cursor"] {
            Value::Null => break,
            Value::String(c) => {
                assert!(
                    !c.is_empty() && !c.chars().all(|ch| ch.is_ascii_digit()),
                    "opaque: {c}"
                );
                cursor = Some(c.clone());
            }
            other => panic!("next_cursor {other}"),
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    // Defaults: 50 per page, the whole collection; an exact multiple ends without an empty page.
    let v = get(&sim, "/api/token/events").await.json();
    assert_eq!(v["records"], recs(0..50));
    let v = get(&sim, "/api/token/events?total=10&limit=5").await.json();
    let c = v["next_cursor"].as_str().expect("a cursor").to_string();
    let v = get(
        &sim,
        &format!("/api/token/events?total=10&limit=5&cursor={}", enc(&c)),
    )
    .await;
    let v = v.json();
    assert_eq!(
        (ids(&v["records"]), v["next_cursor"].clone()),
        (vec![6, 7, 8, 9, 10], Value::Null)
    );

    let r = get(&sim, "/api/token/events?cursor=garbage").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, r#"{"message":"invalid cursor"}"#)
    );
    // A real cursor with one character changed.
    let mut tampered = c.clone();
    tampered.insert(1, '1');
    assert_400(
        &get(
            &sim,
            &format!("/api/token/events?cursor={}", enc(&tampered)),
        )
        .await,
        "invalid cursor",
    );
    assert_400(
        &get(&sim, "/api/token/events?cursor=").await,
        "invalid cursor",
    );
    assert_400(
        &get(&sim, "/api/token/events?limit=501").await,
        "limit must be at most 500",
    );
    assert_400(
        &get(&sim, "/api/token/events?limit=0").await,
        "limit must be at least 1",
    );
    assert_eq!(
        get(&sim, "/api/token/events?limit=500").await.json()["records"],
        recs(0..500)
    );
}

#[tokio::test]
async fn token_search_ends_with_an_empty_string() {
    let sim = start(SimulatorConfig::default()).await;
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    let mut nexts = Vec::new();
    loop {
        let body =
            json!({"limit": 4, "cursor": cursor, "start": created_ms(3), "end": created_s(13)});
        let r = post(&sim, "/api/token/events/search", &body.to_string()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(keys(&v), ["meta", "results"]);
        assert_eq!(keys(&v["results"]), ["items"]);
        seen.extend(ids(&v["results"]["items"]));
        let next = v["meta"]["next"]
            .as_str()
            .expect("next is always a string")
            .to_string();
        nexts.push(next.clone());
        if next.is_empty() {
            break;
        }
        cursor = Value::String(next);
        assert!(nexts.len() < 10);
    }
    assert_eq!(seen, (4..=13).collect::<Vec<_>>());
    assert_eq!(nexts.len(), 3);
    assert_eq!(nexts[2], "");
    assert!(!nexts[0].is_empty() && nexts[0] != nexts[1]);
    // The search and GET cursors are the same kind: one chain can be resumed in the other.
    let q = format!(
        "/api/token/events?limit=4&start={}&end={}&cursor={}",
        created_ms(3),
        created_s(13),
        enc(&nexts[0])
    );
    assert_eq!(ids(&get(&sim, &q).await.json()["records"]), [8, 9, 10, 11]);

    // An empty cursor is not "the first page".
    assert_400(
        &post(&sim, "/api/token/events/search", r#"{"cursor":""}"#).await,
        "invalid cursor",
    );
    assert_400(
        &post(&sim, "/api/token/events/search", "nope").await,
        "the body is not JSON",
    );
    assert_400(
        &post(&sim, "/api/token/events/search", r#"{"limit":501}"#).await,
        "limit must be at most 500",
    );
}

#[tokio::test]
async fn stripe_pages_start_after_an_id() {
    let sim = start(SimulatorConfig::default()).await;
    let mut seen: Vec<u64> = Vec::new();
    let mut after: Option<u64> = None;
    let mut pages = 0;
    loop {
        let mut q = format!(
            "/api/stripe/events?limit=6&total=40&start={}",
            created_s(20)
        );
        if let Some(id) = after {
            q.push_str(&format!("&starting_after={id}"));
        }
        let v = get(&sim, &q).await.json();
        assert_eq!(keys(&v), ["data", "has_more", "object", "url"]);
        assert_eq!(
            (v["object"].as_str(), v["url"].as_str()),
            (Some("list"), Some("/v1/events"))
        );
        let page = ids(&v["data"]);
        seen.extend(&page);
        pages += 1;
        if v["has_more"] == false {
            break;
        }
        assert_eq!(v["has_more"], true);
        after = page.last().copied();
        assert!(pages < 10);
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, (21..=40).collect::<Vec<_>>());
    let v = get(&sim, "/api/stripe/events?starting_after=997")
        .await
        .json();
    assert_eq!(
        (ids(&v["data"]), v["has_more"].as_bool()),
        (vec![998, 999, 1000], Some(false))
    );
    let v = get(&sim, "/api/stripe/events?starting_after=1000")
        .await
        .json();
    assert_eq!(v["data"], json!([]));
    let v = get(&sim, "/api/stripe/events?limit=2").await.json();
    assert_eq!(
        (v["data"].clone(), v["has_more"].as_bool()),
        (recs(0..2), Some(true))
    );
    assert_400(
        &get(&sim, "/api/stripe/events?starting_after=0").await,
        "invalid starting_after",
    );
    assert_400(
        &get(&sim, "/api/stripe/events?starting_after=evt_1").await,
        "invalid starting_after",
    );
}

#[tokio::test]
async fn stuck_cursors_repeat_or_cycle() {
    let sim = start(SimulatorConfig::default()).await;
    let a = get(&sim, "/api/token/stuck?mode=repeat&limit=3")
        .await
        .json();
    assert_eq!(a, json!({"records": recs(0..3), "next_cursor": "same"}));
    let b = get(&sim, "/api/token/stuck?mode=repeat&limit=3&cursor=same")
        .await
        .json();
    assert_eq!(a, b);
    let d = get(&sim, "/api/token/stuck?limit=3&cursor=same")
        .await
        .json();
    assert_eq!(a, d, "repeat is the default mode");

    let mut cursor = String::new();
    let mut cursors = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..5 {
        let mut q = "/api/token/stuck?mode=cycle&limit=4&total=6".to_string();
        if !cursor.is_empty() {
            q.push_str(&format!("&cursor={cursor}"));
        }
        let v = get(&sim, &q).await.json();
        let page = ids(&v["records"]);
        assert_eq!(page.len(), 4, "full pages past total");
        assert!(
            page.iter().all(|id| seen.insert(*id)),
            "new records on every page"
        );
        cursor = v["next_cursor"].as_str().expect("cursor").to_string();
        cursors.push(cursor.clone());
    }
    assert_eq!(cursors, ["a", "b", "a", "b", "a"]);
    assert_400(
        &get(&sim, "/api/token/stuck?mode=cycle&cursor=c").await,
        "invalid cursor",
    );
    assert_400(
        &get(&sim, "/api/token/stuck?mode=spin").await,
        "invalid mode: 'spin'",
    );
}

#[tokio::test]
async fn bearer_token_guards_rest_but_not_datadog() {
    let config = SimulatorConfig {
        bearer_token: Some("s3cret".into()),
        api_key: Some("dd-key".into()),
        ..Default::default()
    };
    let sim = start(config).await;
    let c = client();
    let url = format!("{}/api/page/events?per_page=1", sim.base_url());
    for auth in [
        None,
        Some("Bearer nope"),
        Some("s3cret"),
        Some("Basic s3cret"),
        Some("Bearer"),
    ] {
        let mut req = c.get(&url).header("DD-API-KEY", "dd-key");
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = send(req).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (401, r#"{"message":"Bad credentials"}"#),
            "{auth:?}"
        );
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    for auth in ["Bearer s3cret", "bearer s3cret"] {
        let r = send(c.get(&url).header("Authorization", auth)).await;
        assert_eq!(r.status, 200, "{auth}: no Datadog key needed");
        assert_eq!(r.json()["data"], recs(0..1));
    }
    let r = send(
        c.post(format!("{}/api/token/events/search", sim.base_url()))
            .body("{}"),
    )
    .await;
    assert_eq!(r.status, 401);
    // The Datadog endpoints check their keys only.
    let validate = format!("{}/api/v1/validate", sim.base_url());
    assert_eq!(
        send(c.get(&validate).header("DD-API-KEY", "dd-key"))
            .await
            .status,
        200
    );
    assert_eq!(
        send(c.get(&validate).header("Authorization", "Bearer s3cret"))
            .await
            .status,
        403
    );
    let log = sim.requests();
    assert_eq!(log.iter().filter(|l| l.status == 401).count(), 6);

    // Without a bearer token the REST endpoints are open, whatever the Datadog keys.
    let sim = start(SimulatorConfig {
        api_key: Some("dd-key".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(get(&sim, "/api/token/events?limit=1").await.status, 200);
    assert_eq!(get(&sim, "/api/v1/validate").await.status, 403);
}

#[tokio::test]
async fn rest_rate_limit_has_its_own_window() {
    let config = SimulatorConfig {
        rate_limit: Some(RateLimit::new(3, Duration::from_secs(30))),
        ..Default::default()
    };
    let sim = start(config).await;
    let paths = [
        "/api/page/events",
        "/api/github/events",
        "/api/token/events",
    ];
    for (i, path) in paths.iter().enumerate() {
        let r = get(&sim, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(r.header("x-ratelimit-period"), Some("30"));
        assert_eq!(r.header("x-ratelimit-name"), Some("query_metrics"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((2 - i).to_string().as_str())
        );
        assert!(r.header("x-ratelimit-reset").is_some());
    }
    let r = get(&sim, "/api/stripe/events").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let r = post(&sim, "/api/page/events/search", "{}").await;
    assert_eq!(r.status, 429);
    assert_eq!(sim.rate_limited_count(), 2);
    // The Datadog limiter is separate.
    let r = get(&sim, "/api/v1/query?from=0&to=60&query=m.x%7B*%7D").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("2"));
}

#[tokio::test]
async fn faults_apply_to_rest_paths() {
    let config = SimulatorConfig {
        faults: FaultSchedule::at([
            (0, FaultKind::Status(503)),
            (1, FaultKind::TruncatedJson),
            (3, FaultKind::NotJson),
        ]),
        ..Default::default()
    };
    let sim = start(config).await;
    let r = get(&sim, "/api/token/events?limit=2").await;
    assert_eq!(r.status, 503);
    assert!(r.header("x-ratelimit-limit").is_some());

    // A truncated body still carries the endpoint's own headers.
    let r = get(&sim, "/api/github/events?per_page=20").await;
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_str::<Value>(&r.body).is_err(),
        "{}",
        r.body
    );
    assert!(r.body.starts_with(&format!("[{}", record_json(0))));
    assert!(r.header("link").expect("link").contains(r#"rel="next""#));

    let r = get(&sim, "/api/token/events?limit=2").await;
    assert_eq!(r.json()["records"], recs(0..2));
    let r = post(&sim, "/api/token/events/search", "{}").await;
    assert_eq!((r.status, r.body.as_str()), (200, "<html>oops</html>"));
    assert_eq!(get(&sim, "/api/page/endless").await.status, 200);

    assert_eq!(sim.faults_injected(), 3);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let log = sim.requests();
    let got: Vec<(&str, u16, Option<FaultKind>)> = log
        .iter()
        .map(|l| (l.path.as_str(), l.status, l.fault.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("/api/token/events", 503, Some(FaultKind::Status(503))),
            ("/api/github/events", 200, Some(FaultKind::TruncatedJson)),
            ("/api/token/events", 200, None),
            ("/api/token/events/search", 200, Some(FaultKind::NotJson)),
            ("/api/page/endless", 200, None),
        ]
    );
    assert_eq!(log[3].body.as_deref(), Some("{}"));
}
