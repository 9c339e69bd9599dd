//! Latency hiding: N windows from the simulator with latency L per request, at prefetch depth
//! 1, 2, 4, 8 and 1, 2, 4 partitions (k engine streams over k slices, as `ApiScanExec` runs
//! them), against the physical limit `N × L / (depth × partitions)` and against depth 1.
//!
//! `cargo bench --bench latency` (env: `BENCH_N` windows, default 100; `BENCH_LATENCIES_MS`,
//! default `20,50,100`; `BENCH_REPEATS`, default 3, the median is reported; `BENCH_CONFIGS`,
//! e.g. `4x8,1x1`, runs only those partitions×depth pairs, for profiling one of them).
//!
//! Two limits are reported: the fluid one, `N·L / (depth·partitions)`, and the discrete one,
//! `⌈N / (partitions·depth)⌉ · L`: with every request taking exactly L and at most
//! `partitions·depth` in flight, the last window cannot arrive before that many rounds of L.
//! The CPU column is the on-CPU time of every thread of the process (client and simulator,
//! from `/proc/self/task/*/schedstat`) during the run, to tell waiting from working.
//!
//! A second table puts a consumer that works `C` ms per batch behind one partition, to show the
//! consumer side: utilisation = 1 − network_wait / wall, the fraction of the run the consumer
//! had a batch ready (with an instant consumer it is ~0 by construction, so it is only reported
//! there).
//!
//! Loopback only: the simulator runs in this process on its own runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ddstream::adapters::datadog::{Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options};
use ddstream::engine::{DefaultPolicy, Engine, EngineMetrics, FetchPlan, TimeWindow};
use ddstream::simulator::{Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, TransportConfig};
use futures::StreamExt;

/// Windows of 4 h at 60 s: the largest the API answers at that granularity.
const CHUNK_MS: i64 = 4 * 3_600_000;
/// 2026-01-01T00:00:00Z
const START_MS: i64 = 1_767_225_600_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// On-CPU time of all live threads of this process (Linux `schedstat`, nanoseconds); `None`
/// where it cannot be read. Both runtimes keep their threads for the whole bench, so
/// differences between two readings are the CPU a run used.
fn process_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

struct Run {
    wall: Duration,
    cpu: Option<Duration>,
    requests: u64,
    rows: u64,
    network_wait: Duration,
}

/// `n` windows over `partitions` concurrent engine streams at `depth`; the consumer works
/// `consumer_ms` per batch.
async fn run(base_url: &url::Url, n: i64, depth: usize, partitions: i64, consumer_ms: u64) -> Run {
    let adapter = Arc::new(
        DatadogV1Adapter::new(DatadogV1Options {
            query: "system.cpu.user{*}".into(),
            granularity_s: 60,
            aggregations: vec![Aggregation::Avg],
            base_url: base_url.clone(),
            credentials: Credentials::default(),
        })
        .expect("adapter"),
    );
    let policy = Arc::new(DefaultPolicy {
        prefetch_depth: depth,
        // Fixed windows: exactly n requests.
        grow_after: 0,
        ..Default::default()
    });
    let transport =
        Arc::new(ReqwestTransport::new(&TransportConfig::default()).expect("transport"));
    let metrics = Arc::new(EngineMetrics::default());
    let per_partition = n / partitions;
    let cpu_before = process_cpu();
    let started = Instant::now();
    let tasks: Vec<_> = (0..partitions)
        .map(|p| {
            let engine = Engine::new(adapter.clone(), policy.clone(), transport.clone())
                .with_metrics(metrics.clone());
            let from = START_MS + p * per_partition * CHUNK_MS;
            let to = from + per_partition * CHUNK_MS;
            tokio::spawn(async move {
                let mut stream = engine.stream(FetchPlan::Windows {
                    ranges: vec![TimeWindow::new(from, to)],
                    chunk: Duration::from_millis(CHUNK_MS as u64),
                });
                let mut rows = 0u64;
                while let Some(batch) = stream.next().await {
                    rows += batch.expect("batch").num_rows() as u64;
                    if consumer_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(consumer_ms)).await;
                    }
                }
                rows
            })
        })
        .collect();
    let mut rows = 0;
    for task in tasks {
        rows += task.await.expect("partition");
    }
    let wall = started.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let snap = metrics.snapshot();
    Run {
        wall,
        cpu,
        requests: snap.requests,
        rows,
        network_wait: snap.network_wait,
    }
}

fn median_run(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.wall);
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

fn main() {
    let n: i64 = env_or("BENCH_N", 100);
    let repeats: usize = env_or("BENCH_REPEATS", 3);
    let latencies: Vec<u64> = std::env::var("BENCH_LATENCIES_MS")
        .unwrap_or_else(|_| "20,50,100".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    // `cargo bench` passes --bench; `cargo test --benches` would too: a quick smoke run there.
    let configs: Option<Vec<(i64, usize)>> = std::env::var("BENCH_CONFIGS").ok().map(|v| {
        v.split(',')
            .filter_map(|pair| {
                let (p, d) = pair.trim().split_once('x')?;
                Some((p.parse().ok()?, d.parse().ok()?))
            })
            .collect()
    });
    let wanted = |partitions: i64, depth: usize| {
        configs
            .as_ref()
            .is_none_or(|c| c.contains(&(partitions, depth)))
    };
    let smoke = std::env::args().any(|a| a == "--test") || cfg!(debug_assertions);
    let (n, repeats, latencies) = if smoke {
        (8, 1, vec![1])
    } else {
        (n, repeats, latencies)
    };

    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    println!("## Latency hiding: N = {n} windows of 4 h at 60 s, median of {repeats}");
    println!();
    println!("| L (ms) | partitions | depth | wall (s) | fluid limit N·L/(p·d) (s) | wall / fluid | discrete limit ⌈N/(p·d)⌉·L (s) | wall / discrete | wall / (depth 1, same partitions) | speed-up vs depth 1, 1 partition | CPU, client + simulator (s) | requests |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &latency in &latencies {
        let sim = sim_rt
            .block_on(Simulator::start(SimulatorConfig {
                latency: Duration::from_millis(latency),
                ..Default::default()
            }))
            .expect("simulator");
        let base_url = url::Url::parse(&sim.base_url()).unwrap();
        // Warm the connection pool path and the simulator once.
        rt.block_on(run(&base_url, 2, 2, 1, 0));
        let mut sequential = None;
        for partitions in [1i64, 2, 4] {
            let mut depth1 = None;
            for depth in [1usize, 2, 4, 8] {
                if !wanted(partitions, depth) {
                    continue;
                }
                let runs = (0..repeats)
                    .map(|_| rt.block_on(run(&base_url, n, depth, partitions, 0)))
                    .collect();
                let r = median_run(runs);
                if r.rows as i64 != n * 240 {
                    eprintln!("warning: {} rows, expected {}", r.rows, n * 240);
                }
                let wall = r.wall.as_secs_f64();
                let l_s = latency as f64 / 1000.0;
                let fluid = n as f64 * l_s / (depth as f64 * partitions as f64);
                let rounds = ((n / partitions) as u64).div_ceil(depth as u64);
                let discrete = rounds as f64 * l_s;
                let d1 = *depth1.get_or_insert(wall);
                let seq = *sequential.get_or_insert(wall);
                let cpu = r
                    .cpu
                    .map_or("n/a".to_string(), |c| format!("{:.3}", c.as_secs_f64()));
                println!(
                    "| {latency} | {partitions} | {depth} | {wall:.3} | {fluid:.3} | {:.2} | {discrete:.3} | {:.2} | {:.2} | {:.1}× | {cpu} | {} |",
                    wall / fluid,
                    wall / discrete,
                    wall / d1,
                    seq / wall,
                    r.requests
                );
            }
        }
        sim_rt.block_on(sim.shutdown());
    }

    if configs.is_some() {
        return;
    }
    // The consumer side: one partition, a consumer that works C ms per window.
    let latency = if smoke { 1 } else { 50 };
    let consumer_ms = if smoke { 1 } else { 20 };
    let sim = sim_rt
        .block_on(Simulator::start(SimulatorConfig {
            latency: Duration::from_millis(latency),
            ..Default::default()
        }))
        .expect("simulator");
    let base_url = url::Url::parse(&sim.base_url()).unwrap();
    println!();
    println!("## Consumer utilisation: N = {n}, L = {latency} ms, consumer works C = {consumer_ms} ms per window, 1 partition, median of {repeats}");
    println!();
    println!("| depth | wall (s) | ideal max(N·C, N·L/depth) (s) | wall / ideal | wall / depth 1 | consumer utilisation (1 − network_wait/wall) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut depth1 = None;
    for depth in [1usize, 2, 4, 8] {
        let runs = (0..repeats)
            .map(|_| rt.block_on(run(&base_url, n, depth, 1, consumer_ms)))
            .collect();
        let r = median_run(runs);
        let wall = r.wall.as_secs_f64();
        let ideal = (n as f64 * consumer_ms as f64 / 1000.0)
            .max(n as f64 * latency as f64 / 1000.0 / depth as f64);
        let d1 = *depth1.get_or_insert(wall);
        let utilisation = 1.0 - r.network_wait.as_secs_f64() / wall;
        println!(
            "| {depth} | {wall:.3} | {ideal:.3} | {:.2} | {:.2} | {:.0} % |",
            wall / ideal,
            wall / d1,
            utilisation * 100.0
        );
    }
    sim_rt.block_on(sim.shutdown());
}
