//! Parse throughput of the Datadog parsers on recorded Datadog responses and on real-sized
//! ones served by the simulator, against the floor cost of reading the same bytes
//! (`serde_json::from_slice::<IgnoredAny>`, which skips numbers without converting them),
//! against building a `serde_json::Value`, and against the official Rust client's typed serde
//! models (every number converted, no Arrow).
//!
//! `cargo bench --bench parse` runs criterion over every (body, parser) pair, then prints a
//! summary table with the ratios, from 31 rounds that each time a batch of every parser in turn
//! (the ratios are medians of the per-round ratios, so a drifting machine skews them less).
//! `BENCH_PROFILE_CASE="<body>"` runs only that body's parser for 10 s, for `perf record`.
//! Loopback only: the simulator runs in this process to produce the bodies.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use ddstream::adapters::datadog::{
    Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options, DatadogV2TimeseriesAdapter,
    DatadogV2TimeseriesOptions, NamedQuery, V2Queries,
};
use ddstream::engine::{ApiResponse, Cursor, ParsedResponse, TimeWindow, Transport, VendorAdapter};
use ddstream::simulator::{Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, TransportConfig};

/// 2026-01-01T00:00:00Z
const START_MS: i64 = 1_767_225_600_000;
const HOUR_MS: i64 = 3_600_000;

struct Case {
    name: String,
    adapter: Arc<dyn VendorAdapter>,
    cursor: Cursor,
    body: Bytes,
    /// The body as the engine hands it to the adapter (shares the bytes).
    response: ApiResponse,
    /// Values parsed (rows × aggregation columns for v1, rows for v2).
    points: usize,
}

impl Case {
    /// A body and the parser for it; `points` is its rows × `columns` values per row.
    fn new(
        name: &str,
        adapter: Arc<dyn VendorAdapter>,
        cursor: Cursor,
        body: Bytes,
        columns: usize,
    ) -> Self {
        let mut case = Case {
            name: name.into(),
            adapter,
            cursor,
            response: ApiResponse::new(200, body.clone()),
            body,
            points: 0,
        };
        case.points = parse(&case) * columns;
        case
    }
}

fn v1(
    base_url: &url::Url,
    query: &str,
    granularity_s: i64,
    aggregations: &[Aggregation],
) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV1Adapter::new(DatadogV1Options {
            query: query.into(),
            granularity_s,
            aggregations: aggregations.to_vec(),
            base_url: base_url.clone(),
            credentials: Credentials::default(),
        })
        .unwrap(),
    )
}

fn v2(base_url: &url::Url, query: &str, interval_ms: i64) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV2TimeseriesAdapter::new(DatadogV2TimeseriesOptions {
            queries: V2Queries {
                queries: vec![NamedQuery {
                    name: "a".into(),
                    query: query.into(),
                }],
                formulas: vec![],
            },
            interval_ms,
            base_url: base_url.clone(),
            credentials: Credentials::default(),
        })
        .unwrap(),
    )
}

fn parse(case: &Case) -> usize {
    match case
        .adapter
        .parse(&case.cursor, &case.response)
        .expect("parse")
    {
        ParsedResponse::Rows { batch, .. } => batch.num_rows(),
        ParsedResponse::WindowTooLarge(m) => panic!("window too large: {m}"),
    }
}

fn ignored_any(body: &[u8]) {
    black_box(serde_json::from_slice::<serde::de::IgnoredAny>(body).unwrap());
}

fn value(body: &[u8]) {
    black_box(serde_json::from_slice::<serde_json::Value>(body).unwrap());
}

/// The typed serde models of the official Rust client (`datadog-api-client-rust`:
/// `MetricsQueryResponse` with `pointlist: Vec<Vec<Option<f64>>>`, and
/// `TimeseriesResponseAttributes` with `times: Vec<i64>`, `values: Vec<Vec<Option<f64>>>`),
/// reduced to the fields a row needs. This is what a Rust program gets without ddstream: every
/// number converted, no Arrow.
// The fields are deserialized to be measured, never read.
#[allow(dead_code)]
mod typed {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct V1 {
        pub series: Option<Vec<V1Series>>,
    }

    #[derive(Deserialize)]
    pub struct V1Series {
        pub pointlist: Option<Vec<Vec<Option<f64>>>>,
        pub scope: Option<String>,
        pub metric: Option<String>,
        pub query_index: Option<i64>,
        pub tag_set: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    pub struct V2 {
        pub data: Option<V2Data>,
    }

    #[derive(Deserialize)]
    pub struct V2Data {
        pub attributes: Option<V2Attributes>,
    }

    #[derive(Deserialize)]
    pub struct V2Attributes {
        pub series: Option<Vec<V2Series>>,
        pub times: Option<Vec<i64>>,
        pub values: Option<Vec<Vec<Option<f64>>>>,
    }

    #[derive(Deserialize)]
    pub struct V2Series {
        pub group_tags: Option<Vec<String>>,
        pub query_index: Option<i64>,
    }
}

fn typed(case: &Case) {
    if case.name.starts_with("v1") {
        black_box(serde_json::from_slice::<typed::V1>(&case.body).unwrap());
    } else {
        black_box(serde_json::from_slice::<typed::V2>(&case.body).unwrap());
    }
}

/// A recorded response from `tests/fixtures/datadog/` (real Datadog bodies, see PROVENANCE.md).
fn recorded(
    name: &str,
    adapter: Arc<dyn VendorAdapter>,
    cursor: Cursor,
    file: &str,
    columns: usize,
) -> Case {
    let path = format!(
        "{}/tests/fixtures/datadog/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Case::new(name, adapter, cursor, Bytes::from(body), columns)
}

/// The bodies: the two largest recorded responses, then real-sized ones served by an
/// in-process simulator. Windows follow Datadog's rollup table (a day at 300 s is the finest a
/// one-day window gets; per series the API never returns more than about 300 points), so the
/// large bodies get their size from several series: four aggregations times three hosts.
fn cases() -> Vec<Case> {
    let placeholder = url::Url::parse("https://api.datadoghq.com").unwrap();
    let mut out = vec![
        recorded(
            "v1 recorded 1d@300s x1 agg",
            v1(&placeholder, "system.cpu.idle{*}", 300, &[Aggregation::Avg]),
            Cursor::Window(TimeWindow::new(1_641_343_852_000, 1_641_430_552_000)),
            "v1_query_metrics_ok.json",
            1,
        ),
        recorded(
            "v2 recorded 2h@5s",
            v2(&placeholder, "avg:system.cpu.user{*}", 5_000),
            Cursor::Window(TimeWindow::new(0, i64::MAX)),
            "v2_timeseries_ok_dense.json",
            1,
        ),
    ];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
        let base_url = url::Url::parse(&sim.base_url()).unwrap();
        let transport = ReqwestTransport::new(&TransportConfig::default()).unwrap();
        let by_host = "system.cpu.user{*} by {host}";
        let specs: Vec<(&str, Arc<dyn VendorAdapter>, i64, usize)> = vec![
            (
                "v1 4h@60s x4 aggs",
                v1(&base_url, "system.cpu.user{*}", 60, &Aggregation::ALL),
                4 * HOUR_MS,
                4,
            ),
            (
                "v1 1d@300s x4 aggs x3 hosts",
                v1(&base_url, by_host, 300, &Aggregation::ALL),
                24 * HOUR_MS,
                4,
            ),
            (
                "v2 1d@300s x3 hosts",
                v2(&base_url, "avg:system.cpu.user{*} by {host}", 300_000),
                24 * HOUR_MS,
                1,
            ),
        ];
        for (name, adapter, len_ms, columns) in specs {
            let cursor = Cursor::Window(TimeWindow::new(START_MS, START_MS + len_ms));
            let request = adapter.build_request(&cursor).unwrap();
            let response = transport.send(&request).await.unwrap();
            assert_eq!(response.status, 200, "{name}");
            out.push(Case::new(name, adapter, cursor, response.body, columns));
        }
        sim.shutdown().await;
    });
    out
}

/// Rounds of timed batches in [`interleaved`].
const ROUNDS: usize = 31;

/// Times each of `parsers` in turns: every round times one batch (about 20 ms) of each parser
/// back to back, so that all of them see the same machine; on a noisy machine throughput drifts
/// by tens of percent from one second to the next, which skews ratios of parsers timed one
/// after the other. Returns the seconds per call of each parser in each round.
fn interleaved(parsers: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    let per_batch: Vec<u64> = parsers
        .iter_mut()
        .map(|f| {
            let started = Instant::now();
            let mut calls = 0u64;
            while started.elapsed() < Duration::from_millis(20) {
                f();
                calls += 1;
            }
            calls.max(1)
        })
        .collect();
    (0..ROUNDS)
        .map(|_| {
            parsers
                .iter_mut()
                .zip(&per_batch)
                .map(|(f, &n)| {
                    let t = Instant::now();
                    for _ in 0..n {
                        f();
                    }
                    t.elapsed().as_secs_f64() / n as f64
                })
                .collect()
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let cases = cases();
    // `BENCH_PROFILE_CASE=<body name>`: only run that body's parser for 10 s, for `perf
    // record`, or `BENCH_PROFILE_CALLS` times, for `valgrind --tool=callgrind` (instruction
    // counts: the same on a noisy machine; see benches/README.md). `BENCH_PROFILE_PARSER`
    // picks the parser: `ddstream` (the default), `ignored_any`, `value` or `typed`.
    if let Ok(wanted) = std::env::var("BENCH_PROFILE_CASE") {
        let case = cases
            .iter()
            .find(|c| c.name == wanted)
            .unwrap_or_else(|| panic!("no body named {wanted:?}"));
        let parser = std::env::var("BENCH_PROFILE_PARSER").unwrap_or_else(|_| "ddstream".into());
        let mut run: Box<dyn FnMut()> = match parser.as_str() {
            "ddstream" => Box::new(|| {
                black_box(parse(case));
            }),
            "ignored_any" => Box::new(|| ignored_any(&case.body)),
            "value" => Box::new(|| value(&case.body)),
            "typed" => Box::new(|| typed(case)),
            other => panic!("no parser named {other:?}"),
        };
        match std::env::var("BENCH_PROFILE_CALLS") {
            Ok(calls) => {
                let calls: u64 = calls.parse().expect("BENCH_PROFILE_CALLS is a count");
                (0..calls).for_each(|_| run());
            }
            Err(_) => {
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(10) {
                    run();
                }
            }
        }
        return;
    }
    let smoke = cfg!(debug_assertions);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    if !smoke {
        for case in &cases {
            let mut group = c.benchmark_group(case.name.replace(' ', "_"));
            group.throughput(Throughput::Bytes(case.body.len() as u64));
            group.bench_function("ignored_any", |b| b.iter(|| ignored_any(&case.body)));
            group.bench_function("serde_json_value", |b| b.iter(|| value(&case.body)));
            group.bench_function("typed_serde", |b| b.iter(|| typed(case)));
            group.bench_function("ddstream_parser", |b| b.iter(|| black_box(parse(case))));
            group.finish();
        }
        c.final_summary();
    }

    println!();
    println!("## Parse throughput ({ROUNDS} interleaved rounds: median time per call, median of the per-round ratios)");
    println!();
    println!(
        "| body | bytes | points | parser | MB/s | M points/s | time / IgnoredAny | time / Value | time / typed serde |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for case in &cases {
        let rounds = interleaved(&mut [
            &mut || ignored_any(&case.body),
            &mut || value(&case.body),
            &mut || typed(case),
            &mut || {
                black_box(parse(case));
            },
        ]);
        // The ratio of parser `i` to parser `j`, round by round.
        let ratio = |i: usize, j: usize| median(rounds.iter().map(|r| r[i] / r[j]).collect());
        let names = [
            "IgnoredAny (floor)",
            "serde_json::Value",
            "typed serde (official Rust client's models)",
            "ddstream",
        ];
        for (i, name) in names.into_iter().enumerate() {
            let t = median(rounds.iter().map(|r| r[i]).collect());
            println!(
                "| {} | {} | {} | {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} |",
                case.name,
                case.body.len(),
                case.points,
                name,
                case.body.len() as f64 / t / 1e6,
                case.points as f64 / t / 1e6,
                ratio(i, 0),
                ratio(i, 1),
                ratio(i, 2)
            );
        }
    }
}
