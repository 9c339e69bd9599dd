//! Parse throughput of the Datadog parsers on real-sized responses served by the simulator,
//! against the floor cost of reading the same bytes (`serde_json::from_slice::<IgnoredAny>`)
//! and against building a `serde_json::Value`.
//!
//! `cargo bench --bench parse` runs criterion over every (body, parser) pair, then prints a
//! summary table (median of 15 timed batches of about 0.1 s each) with the ratios.
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
use ddstream::engine::{Cursor, PageOutcome, TimeWindow, VendorAdapter};
use ddstream::simulator::{Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, Transport, TransportConfig};

/// 2026-01-01T00:00:00Z
const START_MS: i64 = 1_767_225_600_000;
const HOUR_MS: i64 = 3_600_000;

struct Case {
    name: String,
    adapter: Arc<dyn VendorAdapter>,
    cursor: Cursor,
    body: Bytes,
    /// Values parsed (rows × aggregation columns for v1, rows for v2).
    points: usize,
}

fn v1(base_url: &url::Url, granularity_s: i64) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV1Adapter::new(DatadogV1Options {
            query: "system.cpu.user{*}".into(),
            granularity_s,
            aggregations: Aggregation::ALL.to_vec(),
            base_url: base_url.clone(),
            credentials: Credentials::default(),
        })
        .unwrap(),
    )
}

fn v2(base_url: &url::Url, interval_ms: i64) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV2TimeseriesAdapter::new(DatadogV2TimeseriesOptions {
            queries: V2Queries {
                queries: vec![NamedQuery {
                    name: "a".into(),
                    query: "avg:system.cpu.user{*} by {host}".into(),
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
        .parse_response(&case.cursor, &case.body)
        .expect("parse")
    {
        PageOutcome::Rows { batch, .. } => batch.num_rows(),
        PageOutcome::WindowTooLarge(m) => panic!("window too large: {m}"),
    }
}

fn ignored_any(body: &[u8]) {
    black_box(serde_json::from_slice::<serde::de::IgnoredAny>(body).unwrap());
}

fn value(body: &[u8]) {
    black_box(serde_json::from_slice::<serde_json::Value>(body).unwrap());
}

/// Fetches the bodies from an in-process simulator.
fn cases() -> Vec<Case> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = Simulator::start(SimulatorConfig {
            max_points: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
        let base_url = url::Url::parse(&sim.base_url()).unwrap();
        let transport = ReqwestTransport::new(&TransportConfig::default()).unwrap();
        let specs: Vec<(String, Arc<dyn VendorAdapter>, i64, usize)> = vec![
            (
                "v1 4h@60s x4 aggs".into(),
                v1(&base_url, 60),
                4 * HOUR_MS,
                4,
            ),
            (
                "v1 1d@10s x4 aggs".into(),
                v1(&base_url, 10),
                24 * HOUR_MS,
                4,
            ),
            (
                "v2 1d@10s x3 hosts".into(),
                v2(&base_url, 10_000),
                24 * HOUR_MS,
                1,
            ),
        ];
        let mut out = Vec::new();
        for (name, adapter, len_ms, columns) in specs {
            let cursor = Cursor::Window(TimeWindow::new(START_MS, START_MS + len_ms));
            let request = adapter.build_request(&cursor).unwrap();
            let response = transport.send(&request).await.unwrap();
            assert_eq!(response.status, 200, "{name}");
            let mut case = Case {
                name,
                adapter,
                cursor,
                body: response.body,
                points: 0,
            };
            case.points = parse(&case) * columns;
            out.push(case);
        }
        sim.shutdown().await;
        out
    })
}

/// Median seconds per call over 15 batches of about 0.1 s.
fn time_per_call(mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < Duration::from_millis(100) {
        f();
        calls += 1;
    }
    let per_batch = calls.max(1);
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed().as_secs_f64() / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let cases = cases();
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
            group.bench_function("ddstream_parser", |b| b.iter(|| black_box(parse(case))));
            group.finish();
        }
        c.final_summary();
    }

    println!();
    println!("## Parse throughput (median of 15 batches)");
    println!();
    println!(
        "| body | bytes | points | parser | MB/s | M points/s | time / IgnoredAny | time / Value |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|");
    for case in &cases {
        let t_ignored = time_per_call(|| ignored_any(&case.body));
        let t_value = time_per_call(|| value(&case.body));
        let t_parse = time_per_call(|| {
            black_box(parse(case));
        });
        for (name, t) in [
            ("IgnoredAny (floor)", t_ignored),
            ("serde_json::Value", t_value),
            ("ddstream", t_parse),
        ] {
            println!(
                "| {} | {} | {} | {} | {:.0} | {:.1} | {:.2} | {:.2} |",
                case.name,
                case.body.len(),
                case.points,
                name,
                case.body.len() as f64 / t / 1e6,
                case.points as f64 / t / 1e6,
                t / t_ignored,
                t / t_value
            );
        }
    }
}
