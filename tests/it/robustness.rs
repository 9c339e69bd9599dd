//! Parsers never panic on outside input: every response parser and the config parsers get
//! thousands of mutations of real bodies (recorded fixtures, simulator answers, REST pages).
//! Deterministic (seeded); `DDSTREAM_FUZZ_ITERATIONS=N` runs more per parser. Coverage-guided
//! fuzzing of the same entry points lives in `fuzz/` (cargo fuzz, not built by CI).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use ddstream::fuzz_entry;

const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"\"x\"",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"1e309",
    b"-1",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1.5",
    b"\"\\ud800\"",
    b"[[]]",
    b"{\"data\":",
    b"\"/\"",
    b"0",
    b"\"2026-01-01T00:00:00Z\"",
    b"NaN",
    b"\"\"",
];

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = data.len().max(1);
        let at = rng.random_range(0..len).min(data.len());
        match rng.random_range(0..5) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] = rng.random();
            }
            1 => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + rng.random_range(0..16)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let end = (at + rng.random_range(0..32)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/datadog/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn iterations() -> usize {
    std::env::var("DDSTREAM_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn run(name: &str, seeds: &[Vec<u8>], target: fn(&[u8])) {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let n = iterations();
    for seed in seeds {
        target(seed);
    }
    for _ in 0..n {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        target(&mutate(&mut rng, seed));
    }
    eprintln!("{name}: {} inputs, no panic", n + seeds.len());
}

#[test]
fn response_parsers_never_panic() {
    run(
        "v1",
        &[
            fixture("v1_query_metrics_ok.json"),
            fixture("v1_query_metrics_groupby_ok.json"),
            fixture("v1_query_metrics_ok_float_ts.json"),
            fixture("v1_query_metrics_403.json"),
            br#"{"status":"ok","series":[{"scope":"host:a","query_index":3,"interval":60,"pointlist":[[0,1],[null,2],[60000.5,null]]}]}"#.to_vec(),
        ],
        fuzz_entry::v1,
    );
    run(
        "v2 timeseries",
        &[
            fixture("v2_timeseries_ok.json"),
            fixture("v2_timeseries_empty.json"),
            fixture("v2_timeseries_400.json"),
            br#"{"data":{"attributes":{"times":[1767225600000,0],"series":[{"group_tags":["host:a"],"query_index":0,"unit":[{"name":"byte"},null]}],"values":[[1,null]]}}}"#.to_vec(),
        ],
        fuzz_entry::v2_timeseries,
    );
    run(
        "v2 scalar",
        &[
            fixture("v2_scalar_ok.json"),
            fixture("v2_scalar_400.json"),
            br#"{"data":{"attributes":{"columns":[{"name":"host","type":"group","values":[["a"],["b"]]},{"name":"r","type":"number","values":[1.5,null],"meta":{"unit":null}}]}}}"#.to_vec(),
        ],
        fuzz_entry::v2_scalar,
    );
    run(
        "rest",
        &[
            br#"{"data":[{"id":1,"t":"2026-01-01T00:00:00Z","s":"x","f":1.5,"b":true,"o":{"n":[{"k":1}]}},{"id":2,"t":1767225600}],"total":30,"has_more":true}"#.to_vec(),
            br#"<http://127.0.0.1:9/?page=2>; rel="next""#.to_vec(),
            br#"{"data":null}"#.to_vec(),
        ],
        fuzz_entry::rest,
    );
}

/// The v1 and v2 timeseries parsers read their bodies with their own scanner (numbers, arrays
/// and object structure; serde_json reads the rest): it must be no more lenient than
/// serde_json. Every mutated body that serde_json refuses as JSON is refused, and one it finds
/// cut short in the middle of the hot arrays is reported as truncated (retried) too.
#[test]
fn datadog_parsers_refuse_what_serde_json_refuses() {
    use bytes::Bytes;
    use ddstream::adapters::datadog::{
        Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options, DatadogV2TimeseriesAdapter,
        DatadogV2TimeseriesOptions, NamedQuery, V2Queries,
    };
    use ddstream::engine::{ApiResponse, Cursor, TimeWindow, VendorAdapter};

    let base = url::Url::parse("http://127.0.0.1:9").unwrap();
    let v1 = DatadogV1Adapter::new(DatadogV1Options {
        query: "m{*} by {host}".into(),
        granularity_s: 300,
        aggregations: Aggregation::ALL.to_vec(),
        base_url: base.clone(),
        credentials: Credentials::default(),
    })
    .unwrap();
    let v2 = DatadogV2TimeseriesAdapter::new(DatadogV2TimeseriesOptions {
        queries: V2Queries {
            queries: vec![NamedQuery {
                name: "a".into(),
                query: "avg:m{*} by {host}".into(),
            }],
            formulas: vec![],
        },
        interval_ms: 5_000,
        base_url: base,
        credentials: Credentials::default(),
    })
    .unwrap();
    let cases: [(&dyn VendorAdapter, Vec<Vec<u8>>); 2] = [
        (
            &v1,
            vec![
                fixture("v1_query_metrics_ok.json"),
                fixture("v1_query_metrics_groupby_ok.json"),
                fixture("v1_query_metrics_ok_float_ts.json"),
            ],
        ),
        (
            &v2,
            vec![
                fixture("v2_timeseries_ok.json"),
                fixture("v2_timeseries_ok_dense.json"),
            ],
        ),
    ];
    let cursor = Cursor::Window(TimeWindow::new(0, i64::MAX));
    let mut rng = StdRng::seed_from_u64(0x5ca9);
    let (mut refused, mut cut_in_arrays) = (0, 0);
    for (adapter, seeds) in &cases {
        for _ in 0..iterations() {
            let seed = &seeds[rng.random_range(0..seeds.len())];
            let body = mutate(&mut rng, seed);
            let Err(json) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) else {
                continue;
            };
            refused += 1;
            let outcome = adapter.parse(&cursor, &ApiResponse::new(200, Bytes::from(body.clone())));
            let Err(err) = outcome else {
                panic!(
                    "{}: accepted a body serde_json refuses ({json}): {:?}",
                    adapter.name(),
                    String::from_utf8_lossy(&body)
                );
            };
            // A seed cut inside `pointlist` or `values` (the last array opened before the end
            // is one of them, with only numbers after it).
            let tail = body.rsplit(|b| *b == b'[').next().unwrap_or_default();
            let in_arrays = json.is_eof()
                && seed.starts_with(&body)
                && tail
                    .iter()
                    .all(|b| b" \n\r\t,.-+eE0123456789nul".contains(b));
            if in_arrays {
                cut_in_arrays += 1;
                assert!(
                    matches!(
                        err,
                        ddstream::Error::MalformedResponse {
                            truncated: true,
                            ..
                        }
                    ),
                    "{}: {err}",
                    adapter.name()
                );
            }
        }
    }
    assert!(
        refused > 100 && cut_in_arrays > 10,
        "{refused} {cut_in_arrays}"
    );
    eprintln!("{refused} bodies serde_json refuses, all refused; {cut_in_arrays} cut in the arrays, all truncated");
}

#[test]
fn config_parsers_never_panic() {
    let seeds: Vec<Vec<u8>> = vec![
        br#"{"query": "avg:m{*}", "queries": {"b": "avg:n{*}"}, "formulas": ["a / b"], "granularity": "60s", "base_url": "http://127.0.0.1:1", "max_range": "90d"}"#.to_vec(),
        br#"{"url": "http://127.0.0.1:1/x?a=1", "records": "/data", "next_token": "/n", "columns": [{"name": "id", "type": "int64"}, {"name": "t", "type": "timestamp", "format": "epoch_s", "pointer": "/a/b~1c"}], "params": {"k": "${HOME}"}}"#.to_vec(),
        b"[tables.t]\nadapter = \"datadog_v1\"\nquery = \"m{*}\"\ngranularity = \"1h\"\n".to_vec(),
        b"15 minutes".to_vec(),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let n = iterations() / 3;
    for _ in 0..n {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        fuzz_entry::config(&mutate(&mut rng, seed));
    }
    eprintln!("config: {n} inputs, no panic");
}
