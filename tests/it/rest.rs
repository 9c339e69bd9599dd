//! Generic REST tables from Rust: page numbers are fetched ahead in parallel once the total is
//! known, tokens one after another (both on paused time, replaying the simulator's answers with
//! a latency, so "in flight together" is counted, not timed); `${ENV}` secrets reach the API and
//! nothing else.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use ddstream::engine::Transport;
use ddstream::simulator::SimulatorConfig;
use ddstream::sql::{RestConfig, RestKind};

use crate::common::{record, simulator, unused_base_url, Reply, StallingTransport};

const LATENCY: Duration = Duration::from_millis(250);

fn config(base_url: &url::Url, path: &str, paging: &str) -> String {
    format!(
        r#"{{"url": "{}{path}", "columns": [{{"name": "id", "type": "int64"}}], "page_size_param": "{}", "page_size": 10, "prefetch_depth": 4, {paging}}}"#,
        base_url.as_str().trim_end_matches('/'),
        if path.contains("token") {
            "limit"
        } else {
            "per_page"
        }
    )
}

/// Runs `sql` over table `events` (`kind`, at `path` with `paging`) against the simulator's
/// recorded answers, each after [`LATENCY`]; returns the result and the replaying transport.
async fn replayed(
    kind: RestKind,
    path: &str,
    paging: &str,
    sql: &str,
) -> (String, Arc<StallingTransport>) {
    let session = |base_url: &url::Url, transport: Arc<dyn Transport>| {
        let mut table = RestConfig::new(kind);
        table.apply_json(&config(base_url, path, paging)).unwrap();
        let ctx = SessionContext::new();
        ctx.register_table(
            "events",
            Arc::new(table.into_table(Some(transport)).unwrap()),
        )
        .unwrap();
        ctx
    };
    async fn text(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }
    let recording = record(|url, transport| async move {
        text(&session(&url, transport), sql).await;
    });
    let transport = StallingTransport::with_latency(recording, vec![Reply::Recorded; 100], LATENCY);
    let out = text(
        &session(&unused_base_url(), Arc::clone(&transport) as _),
        sql,
    )
    .await;
    (out, transport)
}

#[tokio::test(start_paused = true)]
async fn pages_are_prefetched_in_parallel_once_the_total_is_known() {
    let (text, transport) = replayed(
        RestKind::Page,
        "/api/page/events?total=80",
        r#""records": "/data", "total": "/total""#,
        "SELECT count(*) AS n, count(DISTINCT id) AS d FROM events",
    )
    .await;
    assert!(text.contains("| 80 | 80 |"), "{text}");
    assert_eq!(
        transport.calls().started,
        8,
        "8 pages, no request past the end"
    );
    // Page 1 alone, and page 2 only once it answered (the total is unknown until then); then
    // pages 2-5 in flight together (the prefetch depth is 4).
    let in_flight = transport.in_flight_at_start();
    assert_eq!(in_flight[..5], [0, 0, 1, 2, 3], "{in_flight:?}");
    assert!(in_flight.iter().all(|n| *n < 4), "{in_flight:?}");
}

#[tokio::test(start_paused = true)]
async fn tokens_are_fetched_one_after_another() {
    let (text, transport) = replayed(
        RestKind::Token,
        "/api/token/events?total=40",
        r#""records": "/records", "next_token": "/next_cursor""#,
        "SELECT count(DISTINCT id) AS d FROM events",
    )
    .await;
    assert!(text.contains("| 40 |"), "{text}");
    assert_eq!(transport.calls().started, 4, "4 pages");
    assert_eq!(
        transport.in_flight_at_start(),
        [0, 0, 0, 0],
        "each token waited for the previous answer"
    );
}

#[tokio::test]
async fn env_secrets_reach_the_api_but_not_explain_or_errors() {
    let sim = simulator(SimulatorConfig {
        bearer_token: Some("rest-secret-789".into()),
        ..Default::default()
    })
    .await;
    std::env::set_var("DDSTREAM_IT_REST_TOKEN", "rest-secret-789");
    std::env::set_var("DDSTREAM_IT_REST_PARAM", "param-secret-321");
    let ctx = SessionContext::new();
    ddstream::register_sql_surface(&ctx, Default::default());
    let create = |name: &str, header: &str| {
        format!(
            "CREATE EXTERNAL TABLE {name} (id BIGINT) STORED AS PAGE_API LOCATION '{}/api/page/events?total=30' \
             OPTIONS ('records' '/data', 'page_size_param' 'per_page', 'page_size' '10', \
             'headers.authorization' 'Bearer ${{{header}}}', 'params.api_key' '${{DDSTREAM_IT_REST_PARAM}}')",
            sim.base_url()
        )
    };
    ctx.sql(&create("good", "DDSTREAM_IT_REST_TOKEN"))
        .await
        .unwrap();
    let rows = ctx
        .sql("SELECT count(*) FROM good")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(pretty_format_batches(&rows)
        .unwrap()
        .to_string()
        .contains("| 30 "));
    // The parameter reached the API.
    assert!(sim.requests().iter().all(|r| r
        .query
        .contains(&("api_key".into(), "param-secret-321".into()))));

    let explain = ctx
        .sql("EXPLAIN SELECT id FROM good")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let explain = pretty_format_batches(&explain).unwrap().to_string();
    assert!(explain.contains("params=[total, api_key]"), "{explain}");

    std::env::set_var("DDSTREAM_IT_REST_WRONG", "wrong-secret-654");
    ctx.sql(&create("bad", "DDSTREAM_IT_REST_WRONG"))
        .await
        .unwrap();
    let err = ctx
        .sql("SELECT count(*) FROM bad")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 401") && err.contains("Bad credentials"),
        "{err}"
    );
    let table = ctx.table_provider("bad").await.unwrap();
    for text in [&explain, &err, &format!("{table:?}")] {
        for secret in ["rest-secret-789", "param-secret-321", "wrong-secret-654"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}
