//! Seeded fault injection: the same extraction under many random fault schedules returns exactly
//! the fault-free rows. `DDSTREAM_FAULT_SCHEDULES=N` sets the number of schedules (default 200
//! for the v1 extraction here, a quarter of it for each other adapter of the conformance suite).

use std::time::Duration;

use ddstream::engine::{FetchPlan, MetricsSnapshot, TimeWindow};
use ddstream::simulator::{FaultSchedule, Simulator, SimulatorConfig};
use futures::TryStreamExt;

use crate::common::*;

/// The extraction every schedule runs: 12 h of three hosts at 60 s, rows sorted by (ts, scope).
async fn extract(sim: &Simulator, timeout: Duration) -> (Vec<Row>, MetricsSnapshot) {
    let e = engine(
        v1_adapter(sim, "system.cpu.user{*} by {host}", 60),
        fast_policy(2),
        timeout,
    );
    let plan = FetchPlan::Windows {
        ranges: vec![TimeWindow::new(JAN1 * 1000, (JAN1 + 12 * 3600) * 1000)],
        chunk: Duration::from_secs(4 * 3600),
    };
    let batches: Vec<_> = e
        .stream(plan)
        .try_collect()
        .await
        .unwrap_or_else(|err| panic!("{}: {err}", sim.base_url()));
    let mut got = rows(&batches);
    got.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    (got, e.metrics().snapshot())
}

/// Runs one schedule; returns (faults injected, retries + splits).
async fn run_schedule(seed: u64, want: &[Row]) -> (u64, u64) {
    let sim = simulator(SimulatorConfig {
        faults: FaultSchedule::seeded(seed, 0.3, transient_faults(0, Duration::from_millis(600)))
            .with_max_consecutive(2),
        ..Default::default()
    })
    .await;
    let (got, m) = extract(&sim, Duration::from_millis(300)).await;
    assert_rows_eq(&got, want, &format!("seed {seed}"));
    (sim.faults_injected(), m.retries + m.splits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_fault_schedules_return_exactly_the_fault_free_rows() {
    let schedules: u64 = std::env::var("DDSTREAM_FAULT_SCHEDULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // The fault-free run is the reference.
    let sim = simulator(SimulatorConfig::default()).await;
    let (want, _) = extract(&sim, Duration::from_secs(10)).await;
    assert_eq!(want.len(), 3 * 720);

    let (mut faults, mut recoveries) = (0, 0);
    let seeds: Vec<u64> = (1..=schedules).collect();
    for group in seeds.chunks(12) {
        let results =
            futures::future::join_all(group.iter().map(|seed| run_schedule(*seed, &want))).await;
        for (f, r) in results {
            faults += f;
            recoveries += r;
        }
    }
    eprintln!("{schedules} schedules, {faults} faults injected, {recoveries} retries and splits");
    assert!(
        faults >= schedules / 2,
        "the schedules injected faults: {faults}"
    );
    assert!(
        recoveries >= faults,
        "every fault was recovered by a retry or a split"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_fault_schedules_hold_for_every_other_adapter() {
    let schedules: u64 = std::env::var("DDSTREAM_FAULT_SCHEDULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
        / 4;
    let mut report = Vec::new();
    for subject in crate::conformance::subjects()
        .into_iter()
        .filter(|s| s.name != "datadog_v1")
    {
        let sim = simulator(SimulatorConfig::default()).await;
        let want = crate::conformance::fetch(&subject, &sim, 1, Duration::from_secs(10))
            .await
            .unwrap();
        let (mut faults, mut recoveries) = (0, 0);
        for start in (1..=schedules).step_by(10) {
            let seeds = start..(start + 10).min(schedules + 1);
            let (f, r) =
                crate::conformance::survives_random_fault_schedules(&subject, &want, seeds).await;
            faults += f;
            recoveries += r;
        }
        assert!(faults >= schedules / 2, "{}: {faults} faults", subject.name);
        assert!(
            recoveries >= faults,
            "{}: every fault recovered",
            subject.name
        );
        report.push(format!(
            "{}: {schedules} schedules, {faults} faults, {recoveries} retries and splits",
            subject.name
        ));
    }
    eprintln!("{}", report.join("\n"));
}
