//! The SQL surface from Rust: registration paths, secrets never shown, requests only when
//! needed, LIMIT stopping the fetch, and API errors reaching the caller.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use ddstream::simulator::SimulatorConfig;
use ddstream::sql::{DatadogConfig, DatadogKind, DatadogTable};

use crate::common::*;

const DAY: &str =
    "ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-02T00:00:00Z'";

/// A session with table `cpu` (`system.cpu.user{*}`) on `sim`; `extra` adds JSON options.
fn cpu_session(sim: &ddstream::simulator::Simulator, extra: &str) -> SessionContext {
    let ctx = SessionContext::new();
    let config = format!(
        r#"{{"query": "system.cpu.user{{*}}", "base_url": "{}"{extra}}}"#,
        sim.base_url()
    );
    ddstream::register(&ctx, "datadog_v1", "cpu", &config).unwrap();
    ctx
}

async fn text(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<String> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(pretty_format_batches(&batches)?.to_string())
}

#[tokio::test]
async fn builder_registers_a_working_table() {
    let sim = simulator(SimulatorConfig::default()).await;
    let table = DatadogTable::builder(DatadogKind::V1)
        .query("system.cpu.user{*}")
        .granularity("60s")
        .base_url(sim.base_url())
        .build()
        .unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("cpu", Arc::new(table)).unwrap();
    let out = text(&ctx, &format!("SELECT count(*) AS n FROM cpu WHERE {DAY}"))
        .await
        .unwrap();
    assert!(out.contains("| 1440 |"), "{out}");
}

#[tokio::test]
async fn json_registration_and_its_errors() {
    let sim = simulator(SimulatorConfig::default()).await;
    let ctx = SessionContext::new();
    let config = format!(
        r#"{{"query": "system.cpu.user{{*}} by {{host}}", "granularity": "5m", "base_url": "{}"}}"#,
        sim.base_url()
    );
    ddstream::register(&ctx, "datadog_v1", "hosts", &config).unwrap();
    let out = text(
        &ctx,
        &format!("SELECT count(*) AS n FROM hosts WHERE {DAY}"),
    )
    .await
    .unwrap();
    assert!(
        out.contains("| 864 |"),
        "3 hosts x 288 five-minute buckets: {out}"
    );

    let err = ddstream::register(&ctx, "datadog_v9", "x", "{}")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown adapter 'datadog_v9'") && err.contains("datadog_v1"),
        "{err}"
    );
    let err = ddstream::register(&ctx, "datadog_v1", "x", "{not json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a JSON object"), "{err}");
    let err = ddstream::register(
        &ctx,
        "datadog_v1",
        "x",
        r#"{"query": "m{*}", "chunk_size": "1h"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown option 'chunk_size'"), "{err}");
}

#[tokio::test]
async fn keys_never_appear_in_debug_explain_or_errors() {
    let sim = simulator(SimulatorConfig {
        api_key: Some("the-right-key".into()),
        ..Default::default()
    })
    .await;
    let mut config = DatadogConfig {
        query: "system.cpu.user{*}".into(),
        base_url: Some(sim.base_url()),
        ..Default::default()
    };
    config.set("api_key", "SECRET-API-KEY-123").unwrap();
    config.set("app_key", "SECRET-APP-KEY-456").unwrap();
    let table = DatadogTable::new(config, None).unwrap();
    let debug = format!("{table:?}");
    let ctx = SessionContext::new();
    ctx.register_table("cpu", Arc::new(table)).unwrap();
    let explain = text(
        &ctx,
        &format!("EXPLAIN VERBOSE SELECT * FROM cpu WHERE {DAY}"),
    )
    .await
    .unwrap();
    let error = text(&ctx, &format!("SELECT * FROM cpu WHERE {DAY}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("HTTP 403") && error.contains("Forbidden"),
        "{error}"
    );
    for shown in [&debug, &explain, &error] {
        assert!(
            !shown.contains("SECRET-API-KEY-123") && !shown.contains("SECRET-APP-KEY-456"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn empty_windows_send_no_request_and_limit_stops_early() {
    let sim = simulator(SimulatorConfig::default()).await;
    let ctx = cpu_session(&sim, r#", "max_concurrency": 1"#);

    let out = text(&ctx, "SELECT count(*) AS n FROM cpu WHERE ts >= TIMESTAMP '2026-01-02T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T00:00:00Z'").await.unwrap();
    assert!(out.contains("| 0 |"), "{out}");
    assert_eq!(sim.requests().len(), 0, "an inverted window sends nothing");

    // 30 days would be 180 requests of 4 h; LIMIT 10 needs one (plus what was prefetched).
    text(&ctx, "SELECT ts FROM cpu WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-31T00:00:00Z' LIMIT 10").await.unwrap();
    let sent = sim.requests().len();
    assert!((1..=3).contains(&sent), "{sent} requests for LIMIT 10");
}

#[tokio::test]
async fn only_the_selected_aggregations_are_requested() {
    let sim = simulator(SimulatorConfig::default()).await;
    let ctx = cpu_session(&sim, "");
    text(&ctx, "SELECT max FROM cpu WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T01:00:00Z'").await.unwrap();
    let queries: Vec<String> = sim
        .requests()
        .iter()
        .flat_map(|r| {
            r.query
                .iter()
                .filter(|(k, _)| k == "query")
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!queries.is_empty());
    for q in queries {
        assert_eq!(q, "max:system.cpu.user{*}.rollup(max,60)");
    }
}

#[tokio::test]
async fn a_long_extraction_wastes_no_request() {
    let sim = simulator(SimulatorConfig::default()).await;
    let ctx = cpu_session(&sim, "");
    let out = text(
        &ctx,
        "EXPLAIN ANALYZE SELECT count(*) FROM cpu WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-08T00:00:00Z'",
    )
    .await
    .unwrap();
    // 7 days in 4 h windows: 42 requests, none refused, whatever the partitioning.
    assert_eq!(sim.requests().len(), 42, "{out}");
    assert!(out.contains("splits=0"), "{out}");
}
