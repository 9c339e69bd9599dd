//! Streams one day of simulated `system.cpu.user{*}` at 60 s through the engine, printing
//! progress and the engine's counters. Runs with no keys: it starts the built-in simulator.
//!
//! `cargo run --example stream_day`

use std::sync::Arc;
use std::time::Duration;

use ddstream::adapters::datadog::{Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options};
use ddstream::engine::{DefaultPolicy, Engine, FetchPlan, TimeWindow};
use ddstream::simulator::{Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, TransportConfig};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::start(SimulatorConfig {
        latency: Duration::from_millis(30),
        ..Default::default()
    })
    .await?;
    let adapter = DatadogV1Adapter::new(DatadogV1Options {
        query: "system.cpu.user{*} by {host}".into(),
        granularity_s: 60,
        aggregations: Aggregation::ALL.to_vec(),
        base_url: url::Url::parse(&sim.base_url())?,
        credentials: Credentials::default(),
    })?;
    let transport = ReqwestTransport::new(&TransportConfig::default())?;
    let engine = Engine::new(
        Arc::new(adapter),
        Arc::new(DefaultPolicy::default()),
        Arc::new(transport),
    );
    let end = chrono::Utc::now().timestamp_millis() / 60_000 * 60_000;
    let plan = FetchPlan::Windows {
        ranges: vec![TimeWindow::new(end - 86_400_000, end)],
        chunk: ddstream::adapters::datadog::max_window_at(60),
    };
    let mut stream = engine.stream(plan);
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch?.num_rows();
        let progress = engine.metrics().progress().unwrap_or(0.0);
        println!("{:5.1}% done, {rows} rows", progress * 100.0);
    }
    println!("{:#?}", engine.metrics().snapshot());
    Ok(())
}
