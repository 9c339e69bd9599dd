//! The SQL surface from Rust: registration paths, secrets never shown, requests only when
//! needed, LIMIT stopping the fetch, and API errors reaching the caller.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use ddstream::engine::Transport;
use ddstream::simulator::FaultKind;
use ddstream::simulator::SimulatorConfig;
use ddstream::sql::{DatadogBuilder, DatadogConfig, DatadogKind};

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
    let table = DatadogBuilder::new(DatadogKind::V1)
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

/// Collects everything tracing writes, at TRACE. Installed as the process-wide subscriber (no
/// other test sets one): a thread-scoped one missed events in CI.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn keys_never_appear_in_logs_debug_explain_or_errors() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("no other test sets a subscriber");

    const SECRETS: [&str; 3] = [
        "SECRET-API-KEY-123",
        "SECRET-APP-KEY-456",
        "SECRET-BEARER-789",
    ];
    let sim = simulator(SimulatorConfig {
        api_key: Some("SECRET-API-KEY-123".into()),
        bearer_token: Some("SECRET-BEARER-789".into()),
        faults: ddstream::simulator::FaultSchedule::at([(1, FaultKind::Status(503))]),
        ..Default::default()
    })
    .await;
    let mut shown: Vec<String> = Vec::new();
    let ctx = SessionContext::new();
    for (name, kind, query) in [
        ("v1", DatadogKind::V1, "system.cpu.user{*}"),
        ("ts", DatadogKind::V2Timeseries, "avg:system.cpu.user{*}"),
        ("sc", DatadogKind::V2Scalar, "avg:system.cpu.user{*}"),
    ] {
        let mut config = DatadogConfig {
            query: query.into(),
            base_url: Some(sim.base_url()),
            ..Default::default()
        }
        .with_kind(kind);
        config.set("api_key", "SECRET-API-KEY-123").unwrap();
        config.set("app_key", "SECRET-APP-KEY-456").unwrap();
        shown.push(format!("{config:?}"));
        let table = config.clone().into_table(None).unwrap();
        shown.push(format!("{table:?}"));
        ctx.register_table(name, Arc::new(table)).unwrap();
        // The same table with a wrong key: the API's 403 message, no key.
        config.set("api_key", "SECRET-WRONG-KEY-000").unwrap();
        ctx.register_table(
            format!("{name}_wrong"),
            Arc::new(config.into_table(None).unwrap()),
        )
        .unwrap();
    }
    std::env::set_var("DDSTREAM_IT_SECURITY_BEARER", "SECRET-BEARER-789");
    ddstream::register(
        &ctx,
        "page_api",
        "rest",
        &format!(
            r#"{{"url": "{}/api/page/events?total=30", "records": "/data", "headers": {{"Authorization": "Bearer ${{DDSTREAM_IT_SECURITY_BEARER}}"}}, "columns": [{{"name": "id", "type": "int64"}}]}}"#,
            sim.base_url()
        ),
    )
    .unwrap();
    let hour = "ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T01:00:00Z'";
    let scalar_hour = hour.replace("ts ", "chunk_start ");
    for sql in [
        format!("SELECT count(*) FROM v1 WHERE {hour}"),
        format!("SELECT count(*) FROM ts WHERE {hour}"),
        format!("SELECT count(*) FROM sc WHERE {scalar_hour}"),
        "SELECT count(*) FROM rest".to_string(),
        format!("EXPLAIN VERBOSE SELECT * FROM v1 WHERE {hour}"),
        format!("EXPLAIN ANALYZE SELECT * FROM ts WHERE {hour}"),
        "EXPLAIN VERBOSE SELECT * FROM rest".to_string(),
    ] {
        shown.push(
            text(&ctx, &sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        );
    }
    for sql in [
        format!("SELECT * FROM v1_wrong WHERE {hour}"),
        format!("SELECT * FROM ts_wrong WHERE {hour}"),
        format!("SELECT * FROM sc_wrong WHERE {scalar_hour}"),
    ] {
        let error = text(&ctx, &sql).await.unwrap_err().to_string();
        assert!(
            error.contains("HTTP 403") && error.contains("Forbidden"),
            "{error}"
        );
        shown.push(error);
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying"),
        "TRACE logs were captured: {logs}"
    );
    shown.push(logs);
    for text in &shown {
        for secret in SECRETS.iter().chain(&["SECRET-WRONG-KEY-000"]) {
            assert!(!text.contains(secret), "{secret} shown in: {text}");
        }
    }
}

#[tokio::test]
async fn empty_windows_send_no_request_and_limit_stops_early() {
    let sim = simulator(SimulatorConfig::default()).await;
    // One partition, two requests ahead: what LIMIT saves does not depend on how fast this
    // machine stops the scan (with the default depth of 16, a loaded machine lets the
    // prefetch send up to 16 before the stream is dropped).
    let ctx = cpu_session(&sim, r#", "max_concurrency": 1, "prefetch_depth": 2"#);

    let out = text(&ctx, "SELECT count(*) AS n FROM cpu WHERE ts >= TIMESTAMP '2026-01-02T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T00:00:00Z'").await.unwrap();
    assert!(out.contains("| 0 |"), "{out}");
    assert_eq!(sim.requests().len(), 0, "an inverted window sends nothing");

    // 30 days would be 180 requests of 4 h; LIMIT 10 needs one, plus what was prefetched: two
    // ahead, and two more if both answered before the stream was dropped.
    text(&ctx, "SELECT ts FROM cpu WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-31T00:00:00Z' LIMIT 10").await.unwrap();
    let sent = sim.requests().len();
    assert!((1..=5).contains(&sent), "{sent} requests for LIMIT 10");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_queries_share_the_rate_limit_instead_of_collecting_429s() {
    // 8 queries of one day, 2 partitions each (48 requests of 4 h), against 20 requests per 2 s.
    let sim = simulator(SimulatorConfig {
        rate_limit: Some(ddstream::simulator::RateLimit::new(
            20,
            std::time::Duration::from_secs(2),
        )),
        ..Default::default()
    })
    .await;
    let ctx = cpu_session(&sim, r#", "max_concurrency": 2"#);
    let queries = (0..8).map(|i| {
        let ctx = ctx.clone();
        async move {
            let sql = format!(
                "SELECT count(*) AS n, count(DISTINCT ts) AS d, {i} AS q FROM cpu WHERE {DAY}"
            );
            text(&ctx, &sql).await
        }
    });
    for result in futures::future::join_all(queries).await {
        let out = result.unwrap();
        assert!(
            out.contains("| 1440 | 1440 |"),
            "every query gets every row: {out}"
        );
    }
    let requests = sim.requests().len();
    assert!(requests >= 48, "{requests}");
    let answered_429 = sim.rate_limited_count();
    // Without a gate the 48 requests would leave within a second against a budget of 20 per
    // 2 s. Periods turn over on the server's clock, known to a second, so a request sent just
    // before the turn may still meet a 429 (0 seen in runs here).
    assert!(
        answered_429 <= 3,
        "{answered_429} requests were rate limited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tight_rate_limit_costs_at_most_one_429_a_period() {
    // The 42 windows of a week against 10 requests per second: the gate learns when the server's
    // periods begin by sending one probe before the rounded reset, which may meet a 429, but
    // never more than one in a period (the others wait for the period's latest end).
    let period = std::time::Duration::from_secs(1);
    let sim = simulator(SimulatorConfig {
        rate_limit: Some(ddstream::simulator::RateLimit::new(10, period)),
        ..Default::default()
    })
    .await;
    let ctx = cpu_session(&sim, "");
    let week = DAY.replace("2026-01-02", "2026-01-08");
    let out = text(
        &ctx,
        &format!("SELECT count(*) AS n, count(DISTINCT ts) AS d FROM cpu WHERE {week}"),
    )
    .await
    .unwrap();
    assert!(out.contains("| 10080 | 10080 |"), "{out}");
    let requests = sim.requests();
    let admitted = requests.iter().filter(|r| r.status == 200).count();
    assert_eq!(admitted, 42, "{requests:?}");
    let mut refused_per_period = std::collections::BTreeMap::<u128, usize>::new();
    for r in requests.iter().filter(|r| r.status == 429) {
        *refused_per_period
            .entry(r.since_start.as_nanos() / period.as_nanos())
            .or_default() += 1;
    }
    assert!(
        refused_per_period.values().all(|n| *n <= 1),
        "429s per period: {refused_per_period:?}"
    );
}

/// Table `cpu` (`system.cpu.user{*}`, 1 h windows, 3 requests in flight per partition) at
/// `base_url`, sending through `transport`.
fn cpu_table(base_url: &url::Url, transport: Arc<dyn Transport>) -> ddstream::sql::ApiTable {
    let mut config = DatadogConfig {
        query: "system.cpu.user{*}".into(),
        base_url: Some(base_url.to_string()),
        ..Default::default()
    };
    config.set("chunk", "1h").unwrap();
    config.set("prefetch_depth", "3").unwrap();
    config.into_table(Some(transport)).unwrap()
}

const WEEK: &str =
    "ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-08T00:00:00Z'";

/// A session whose table `cpu` replays the simulator's answers to `sql` (run in full) through
/// `script` (the requests past it never answer).
fn replayed_session(sql: &str, script: &[Reply]) -> (SessionContext, Arc<StallingTransport>) {
    let recording = record(|url, transport| async move {
        let ctx = SessionContext::new();
        ctx.register_table("cpu", Arc::new(cpu_table(&url, transport)))
            .unwrap();
        text(&ctx, sql).await.unwrap();
    });
    let transport = StallingTransport::new(recording, script);
    let ctx = SessionContext::new();
    let table = cpu_table(&unused_base_url(), Arc::clone(&transport) as _);
    ctx.register_table("cpu", Arc::new(table)).unwrap();
    (ctx, transport)
}

/// The most requests a scan of `cpu` has out at once: 4 partitions (the default
/// `max_concurrency`) of 3.
const MOST_IN_FLIGHT: usize = 4 * 3;

/// A query cancelled mid-flight (its stream dropped) while its requests are pending cancels
/// every one of them, sends no further request, and leaves no task on the runtime while its
/// session lives on. Paused time: the API never answers but the first request.
#[tokio::test(start_paused = true)]
async fn a_cancelled_query_stops_its_requests_and_leaves_no_task() {
    use futures::StreamExt;
    let sql = format!("SELECT * FROM cpu WHERE {WEEK}");
    let (ctx, transport) = replayed_session(&sql, &[Reply::Recorded]);
    let before = alive_tasks();
    let mut stream = ctx.sql(&sql).await.unwrap().execute_stream().await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    settle().await;
    let running = transport.calls();
    assert!(
        running.stalled >= 1 && running.started <= 1 + MOST_IN_FLIGHT,
        "requests pending, the week not fetched: {running:?}"
    );
    assert!(alive_tasks() > before, "the query runs tasks");
    drop(stream);
    assert_all_cancelled(&transport, running, before, "after the cancel").await;
    drop(ctx);
}

/// A LIMIT that the first response fills returns without waiting for the other requests (they
/// never answer) and cancels them. Paused time.
#[tokio::test(start_paused = true)]
async fn a_limit_returns_without_waiting_for_pending_requests_and_cancels_them() {
    let sql = format!("SELECT ts FROM cpu WHERE {WEEK}");
    let (ctx, transport) = replayed_session(&sql, &[Reply::Recorded]);
    let before = alive_tasks();
    let limited = format!("{sql} LIMIT 10");
    let query = text(&ctx, &limited);
    // The day passes at once on paused time if the query waits for a request that never ends.
    let out = tokio::time::timeout(std::time::Duration::from_secs(86_400), query)
        .await
        .expect("the LIMIT query returns")
        .unwrap();
    assert_eq!(out.lines().count(), 4 + 10, "10 rows: {out}");
    let at_limit = transport.calls();
    assert!(
        at_limit.stalled >= 1 && at_limit.started <= 1 + MOST_IN_FLIGHT,
        "other requests were pending when it returned: {at_limit:?}"
    );
    assert_all_cancelled(&transport, at_limit, before, "after the LIMIT").await;
}

#[tokio::test]
async fn a_week_in_four_partitions_takes_one_request_per_window() {
    // 7 days at 60 s in 4 h windows (the largest Datadog serves at 60 s): 42 windows. The four
    // partition slices are cut on window boundaries, so no window is split at a slice edge.
    let sim = simulator(SimulatorConfig::default()).await;
    let ctx = cpu_session(&sim, r#", "max_concurrency": 4"#);
    let out = text(
        &ctx,
        "SELECT count(*) AS n FROM cpu WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-08T00:00:00Z'",
    )
    .await
    .unwrap();
    assert!(out.contains("| 10080 |"), "{out}");
    let requests: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/query")
        .collect();
    assert_eq!(requests.len(), 42);
}
