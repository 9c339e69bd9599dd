//! Generic REST tables from Rust: page numbers are fetched ahead in parallel once the total is
//! known, tokens one after another; `${ENV}` secrets reach the API and nothing else.

use std::time::Duration;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use ddstream::simulator::{Simulator, SimulatorConfig};

use crate::common::simulator;

const LATENCY: Duration = Duration::from_millis(250);

fn config(sim: &Simulator, path: &str, paging: &str) -> String {
    format!(
        r#"{{"url": "{}{path}", "columns": [{{"name": "id", "type": "int64"}}], "page_size_param": "{}", "page_size": 10, "prefetch_depth": 4, {paging}}}"#,
        sim.base_url(),
        if path.contains("token") {
            "limit"
        } else {
            "per_page"
        }
    )
}

/// Gaps between the arrivals of consecutive requests.
fn arrival_gaps(sim: &Simulator) -> Vec<Duration> {
    let log = sim.requests();
    log.windows(2)
        .map(|w| w[1].received_at.duration_since(w[0].received_at))
        .collect()
}

#[tokio::test]
async fn pages_are_prefetched_in_parallel_once_the_total_is_known() {
    let sim = simulator(SimulatorConfig {
        latency: LATENCY,
        ..Default::default()
    })
    .await;
    let ctx = SessionContext::new();
    ddstream::register(
        &ctx,
        "page_api",
        "events",
        &config(
            &sim,
            "/api/page/events?total=80",
            r#""records": "/data", "total": "/total""#,
        ),
    )
    .unwrap();
    let batches = ctx
        .sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM events")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains("| 80 | 80 |"), "{text}");
    let log = sim.requests();
    assert_eq!(log.len(), 8, "8 pages, no request past the end");
    // Page 1 alone (the total is unknown until it answers); then pages 2-5 leave together,
    // each before the previous could have been answered.
    let gaps = arrival_gaps(&sim);
    assert!(gaps[0] >= LATENCY, "page 2 waited for page 1: {gaps:?}");
    assert!(
        gaps[1..4].iter().all(|g| *g < LATENCY / 2),
        "pages 2-5 were in flight together: {gaps:?}"
    );
}

#[tokio::test]
async fn tokens_are_fetched_one_after_another() {
    let sim = simulator(SimulatorConfig {
        latency: LATENCY,
        ..Default::default()
    })
    .await;
    let ctx = SessionContext::new();
    ddstream::register(
        &ctx,
        "token_api",
        "events",
        &config(
            &sim,
            "/api/token/events?total=40",
            r#""records": "/records", "next_token": "/next_cursor""#,
        ),
    )
    .unwrap();
    let batches = ctx
        .sql("SELECT count(DISTINCT id) AS d FROM events")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(pretty_format_batches(&batches)
        .unwrap()
        .to_string()
        .contains("| 40 |"));
    let gaps = arrival_gaps(&sim);
    assert_eq!(gaps.len(), 3, "4 pages");
    assert!(
        gaps.iter().all(|g| *g >= LATENCY),
        "each token waited for the previous answer: {gaps:?}"
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
