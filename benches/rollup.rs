//! Rollup pushdown: the query, hourly avg and max by host over 30 days of a 60 s table,
//! with `ddstream.rollup_pushdown` on and off in the same run, against the simulator with a
//! fixed latency per request. Reports points transferred (scan rows × aggregations), requests,
//! bytes and wall time (median of `BENCH_REPEATS`, default 3), and checks the two results are
//! the same (avg within 1e-9, max exactly).
//!
//! `cargo bench --bench rollup` (env: `BENCH_LATENCY_MS`, default 100; `BENCH_DAYS`, default
//! 30; `BENCH_REPEATS`). In a debug build it only smoke-runs one day at 1 ms, unless
//! `BENCH_FULL=1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, Float64Array, StringArray, TimestampNanosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::physical_plan::collect;
use datafusion::prelude::{SessionConfig, SessionContext};
use ddstream::simulator::{Simulator, SimulatorConfig};
use ddstream::sql::scan::ScanTotals;
use ddstream::sql::{register_sql_surface, DatadogConfig, TableDefaults};

/// 2026-01-01T00:00:00Z in seconds.
const END_S: i64 = 1_767_225_600;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

type Row = (i64, String, Option<f64>, Option<f64>);

struct Run {
    wall: Duration,
    totals: ScanTotals,
    rows: Vec<Row>,
}

async fn run(ctx: &SessionContext, sql: &str, pushdown: bool) -> Run {
    ctx.sql(&format!("SET ddstream.rollup_pushdown = {pushdown}"))
        .await
        .expect("set");
    let started = Instant::now();
    let plan = ctx
        .sql(sql)
        .await
        .expect("plans")
        .create_physical_plan()
        .await
        .expect("physical plan");
    let batches = collect(Arc::clone(&plan), ctx.task_ctx())
        .await
        .expect("runs");
    let wall = started.elapsed();
    let mut rows = Vec::new();
    for b in &batches {
        let ts = cast(
            b.column(0),
            &DataType::Timestamp(TimeUnit::Nanosecond, None),
        )
        .expect("cast");
        let ts = ts
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .expect("ts");
        let scope = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("scope");
        let avg = b
            .column(2)
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("avg");
        let max = b
            .column(3)
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("max");
        for i in 0..b.num_rows() {
            let opt = |a: &Float64Array| (!a.is_null(i)).then(|| a.value(i));
            rows.push((ts.value(i), scope.value(i).to_string(), opt(avg), opt(max)));
        }
    }
    rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Run {
        wall,
        totals: ScanTotals::of(plan.as_ref()),
        rows,
    }
}

fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.wall);
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

/// Whether the two results are the same: same buckets and scopes, avg within 1e-9, max equal.
fn same(a: &[Row], b: &[Row]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.0 == y.0
                && x.1 == y.1
                && match (x.2, y.2) {
                    (Some(p), Some(q)) => (p - q).abs() < 1e-9,
                    (p, q) => p == q,
                }
                && x.3 == y.3
        })
}

fn main() {
    // `BENCH_FULL=1` measures in a debug build too (the wall time is mostly latency × requests).
    let full = std::env::var("BENCH_FULL").is_ok_and(|v| v == "1");
    let smoke = !full && (std::env::args().any(|a| a == "--test") || cfg!(debug_assertions));
    let (days, latency_ms, repeats) = if smoke {
        (1, 1, 1)
    } else {
        (
            env_or("BENCH_DAYS", 30i64),
            env_or("BENCH_LATENCY_MS", 100u64),
            env_or("BENCH_REPEATS", 3usize),
        )
    };
    let partitions = 4;
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
    let sim = sim_rt
        .block_on(Simulator::start(SimulatorConfig {
            latency: Duration::from_millis(latency_ms),
            ..Default::default()
        }))
        .expect("simulator");
    let ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    register_sql_surface(&ctx, TableDefaults::without_env());
    let table = DatadogConfig {
        query: "system.cpu.user{*} by {host}".into(),
        base_url: Some(sim.base_url()),
        ..DatadogConfig::default()
    }
    .into_table(None)
    .expect("table");
    ctx.register_table("cpu", Arc::new(table))
        .expect("register");
    let start_s = END_S - days * 86_400;
    let sql = format!(
        "SELECT date_bin(INTERVAL '1 hour', ts) AS hour, scope, avg(avg), max(max) FROM cpu \
         WHERE ts >= to_timestamp({start_s}) AND ts < to_timestamp({END_S}) GROUP BY 1, 2"
    );

    // Warm the connection pool and the simulator once each way.
    rt.block_on(run(&ctx, &sql, true));
    let mut pushed = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..repeats {
        plain.push(rt.block_on(run(&ctx, &sql, false)));
        pushed.push(rt.block_on(run(&ctx, &sql, true)));
    }
    let (pushed, plain) = (median(pushed), median(plain));
    let identical = same(&pushed.rows, &plain.rows);

    println!(
        "## Rollup pushdown: {days} days, hourly avg and max by host (3 hosts), 60 s table, latency {latency_ms} ms, {partitions} partitions, prefetch depth 2, median of {repeats}"
    );
    println!();
    println!("| | points transferred (rows × 2 aggregations) | scan rows | requests | bytes received | wall (s) | result rows |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, r) in [
        ("pushdown off (baseline)", &plain),
        ("pushdown on", &pushed),
    ] {
        println!(
            "| {name} | {} | {} | {} | {} | {:.3} | {} |",
            r.totals.rows * 2,
            r.totals.rows,
            r.totals.requests,
            r.totals.bytes_received,
            r.wall.as_secs_f64(),
            r.rows.len()
        );
    }
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    println!(
        "| off / on | {:.1}× | {:.1}× | {:.1}× | {:.1}× | {:.1}× | identical: {identical} |",
        ratio(plain.totals.rows, pushed.totals.rows),
        ratio(plain.totals.rows, pushed.totals.rows),
        ratio(plain.totals.requests, pushed.totals.requests),
        ratio(plain.totals.bytes_received, pushed.totals.bytes_received),
        plain.wall.as_secs_f64() / pushed.wall.as_secs_f64().max(1e-9),
    );
    assert!(identical, "the pushed and unpushed results differ");
}
