//! The adaptive per-host concurrency limit against the simulator: it grows past its start when
//! the server keeps up, and against a server that sheds load (503 beyond N at once) it backs
//! off, collecting far fewer 503s than a fixed concurrency, with the same rows.

use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use ddstream::simulator::{LoggedRequest, Simulator, SimulatorConfig};

use crate::common::simulator;

/// Two days at 60 s, from 30 min windows (growing after fast answers): dozens of requests.
const TWO_DAYS: &str = "SELECT count(*) AS n FROM cpu WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-03T00:00:00Z'";

async fn count(sim: &Simulator, options: &str) -> i64 {
    let ctx = SessionContext::new();
    let config = format!(
        r#"{{"query": "system.cpu.user{{*}}", "base_url": "{}", "chunk": "30m", "max_concurrency": 1, "max_retries": 20{options}}}"#,
        sim.base_url()
    );
    ddstream::register(&ctx, "datadog_v1", "cpu", &config).unwrap();
    let batches: Vec<RecordBatch> = ctx.sql(TWO_DAYS).await.unwrap().collect().await.unwrap();
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

fn data(sim: &Simulator) -> Vec<LoggedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/query")
        .collect()
}

/// The most requests that arrived within `latency` of each other that the server answered:
/// with a fixed server latency, the requests that were in flight together.
fn peak_concurrency(requests: &[LoggedRequest], latency: Duration) -> usize {
    let answered: Vec<_> = requests
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.received_at)
        .collect();
    answered
        .iter()
        .map(|t| {
            answered
                .iter()
                .filter(|u| **u >= *t && u.duration_since(*t) < latency)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn the_limit_grows_past_its_start_while_the_server_keeps_up() {
    let latency = Duration::from_millis(150);
    let sim = simulator(SimulatorConfig {
        latency,
        ..Default::default()
    })
    .await;
    // One partition with room for 48 in flight: only the host limit (start 16) holds it back.
    let n = count(&sim, r#", "prefetch_depth": 48"#).await;
    assert_eq!(n, 2 * 1440);
    let requests = data(&sim);
    assert!(
        requests.iter().all(|r| r.status == 200),
        "no request was refused or retried"
    );
    // The simulator advertises a budget (as Datadog does), so after the probe the limit opens
    // (`a_large_rate_budget_skips_slow_start`); slow start from 16, for hosts that advertise
    // none, is pinned by the unit tests in src/engine/concurrency.rs.
    let peak = peak_concurrency(&requests, latency);
    assert!(
        peak > 16,
        "the limit never grew past its start: peak {peak}"
    );

    // With the limit off, prefetch_depth alone decides: 3 at once, all along.
    let fixed = simulator(SimulatorConfig {
        latency,
        ..Default::default()
    })
    .await;
    count(
        &fixed,
        r#", "prefetch_depth": 3, "adaptive_concurrency": false"#,
    )
    .await;
    assert_eq!(peak_concurrency(&data(&fixed), latency), 3);
}

#[tokio::test]
async fn a_large_rate_budget_skips_slow_start() {
    // The API reports 1600 an hour: after the probe's answer, the limit opens to its ceiling and
    // one partition's 48 places fill at once instead of 16, 32, 48 over three round trips.
    let latency = Duration::from_millis(150);
    let sim = simulator(SimulatorConfig {
        latency,
        rate_limit: Some(ddstream::simulator::RateLimit::default()),
        ..Default::default()
    })
    .await;
    let n = count(&sim, r#", "prefetch_depth": 48"#).await;
    assert_eq!(n, 2 * 1440);
    let requests = data(&sim);
    assert!(requests.iter().all(|r| r.status == 200));
    let peak = peak_concurrency(&requests, latency);
    assert!(
        peak >= 40,
        "the limit slow-started under a known budget: peak {peak}"
    );
}

#[tokio::test]
async fn against_a_server_that_sheds_load_the_limit_backs_off() {
    let shedding = |_: ()| SimulatorConfig {
        latency: Duration::from_millis(60),
        max_in_flight: Some(4),
        ..Default::default()
    };
    let adaptive = simulator(shedding(())).await;
    let n = count(&adaptive, r#", "prefetch_depth": 16"#).await;
    let fixed = simulator(shedding(())).await;
    let m = count(
        &fixed,
        r#", "prefetch_depth": 24, "adaptive_concurrency": false"#,
    )
    .await;
    // Same rows either way: 503s are retried.
    assert_eq!((n, m), (2 * 1440, 2 * 1440));
    let shed = |sim: &Simulator| data(sim).iter().filter(|r| r.status == 503).count();
    let (adaptive_503, fixed_503) = (shed(&adaptive), shed(&fixed));
    assert!(
        adaptive_503 * 2 < fixed_503,
        "adaptive {adaptive_503} 503s vs fixed {fixed_503}: the limit did not back off"
    );
}
