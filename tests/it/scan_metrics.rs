//! EXPLAIN ANALYZE counts every request the server saw, including those that brought no rows
//! (the empty page that ends a page_api scan), since the scan publishes its counters when a
//! partition ends, not only when a batch arrives.

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use ddstream::simulator::SimulatorConfig;

use crate::common::simulator;

/// The value of `name=N` in an EXPLAIN ANALYZE text.
fn metric(text: &str, name: &str) -> u64 {
    let key = format!("{name}=");
    let at = text
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    text[at + key.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn page_api_requests_in_explain_analyze_equal_the_servers_count() {
    let sim = simulator(SimulatorConfig::default()).await;
    let ctx = SessionContext::new();
    ddstream::register_sql_surface(&ctx, Default::default());
    // 30 records, 10 per page, no total: pages 1-3 are full and page 4 is empty, which ends it.
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE events (id BIGINT) STORED AS PAGE_API LOCATION '{}/api/page/events?total=30' \
         OPTIONS ('records' '/data', 'page_size_param' 'per_page', 'page_size' '10', 'stop_on_short_page' 'false')",
        sim.base_url()
    ))
    .await
    .unwrap();
    let batches = ctx
        .sql("EXPLAIN ANALYZE SELECT id FROM events")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    let seen = sim.requests().len() as u64;
    assert_eq!(seen, 4, "the server saw {seen} requests");
    assert_eq!(metric(&text, "requests"), seen, "{text}");
}
