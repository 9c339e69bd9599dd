//! The engine against the simulator: exactly-once windows, splits, retries per fault kind,
//! fail-fast errors, cancellation, limits and stuck cursors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use ddstream::engine::{
    ApiRequest, ApiResponse, Cursor, DefaultPolicy, Engine, FetchPlan, ParsedResponse, TimeWindow,
    Transport, TransportError, VendorAdapter,
};
use ddstream::simulator::{Simulator, SimulatorConfig};
use futures::TryStreamExt;

use crate::common::*;

const METRIC: &str = "system.cpu.user";

fn day_plan(days: i64, chunk: Duration) -> FetchPlan {
    FetchPlan::Windows {
        ranges: vec![TimeWindow::new(JAN1 * 1000, (JAN1 + days * 86_400) * 1000)],
        chunk,
    }
}

async fn collect(engine: &Engine, plan: FetchPlan) -> ddstream::Result<Vec<RecordBatch>> {
    engine.stream(plan).try_collect().await
}

/// Runs one day of `query` against `sim` and returns the error it must end with.
async fn day_error(
    sim: &Simulator,
    query: &str,
    granularity_s: i64,
    policy: DefaultPolicy,
) -> String {
    let e = engine(
        v1_adapter(sim, query, granularity_s),
        policy,
        Duration::from_secs(5),
    );
    collect(&e, day_plan(1, Duration::from_secs(4 * 3600)))
        .await
        .expect_err("the extraction must fail")
        .to_string()
}

#[tokio::test]
async fn every_point_of_two_days_arrives_exactly_once_at_any_depth() {
    let sim = simulator(SimulatorConfig::default()).await;
    let want = expected_rows(METRIC, JAN1, JAN1 + 2 * 86_400, 60);
    assert_eq!(want.len(), 2 * 1440);
    for depth in [1, 2, 4] {
        let e = engine(
            v1_adapter(&sim, &format!("{METRIC}{{*}}"), 60),
            fast_policy(depth),
            Duration::from_secs(10),
        );
        let batches = collect(&e, day_plan(2, Duration::from_secs(4 * 3600)))
            .await
            .unwrap();
        assert_rows_eq(&rows(&batches), &want, &format!("depth {depth}"));
        let m = e.metrics().snapshot();
        // 2 days in 4 h windows; growing the window after four fast successes costs at most
        // one refused request per window in flight, after which that size is never tried again.
        let depth = depth as u64;
        assert!(
            m.requests <= 12 + depth && m.splits <= depth,
            "depth {depth}: {m:?}"
        );
        assert_eq!(m.rows, want.len() as u64);
        assert_eq!(e.metrics().progress(), Some(1.0));
    }
}

#[tokio::test]
async fn windows_the_api_rolls_up_are_split_until_the_granularity_holds() {
    let sim = simulator(SimulatorConfig::default()).await;
    let want = expected_rows(METRIC, JAN1, JAN1 + 86_400, 60);
    // A day-long first window comes back at 300 s: the engine must split down to 4 h.
    let e = engine(
        v1_adapter(&sim, &format!("{METRIC}{{*}}"), 60),
        fast_policy(2),
        Duration::from_secs(10),
    );
    let batches = collect(&e, day_plan(1, Duration::from_secs(86_400)))
        .await
        .unwrap();
    assert_rows_eq(&rows(&batches), &want, "split");
    let m = e.metrics().snapshot();
    assert!(m.splits >= 2, "splits: {m:?}");
    // Every logged data request that returned rows had the asked-for interval.
    let intervals: Vec<i64> = sim
        .requests()
        .iter()
        .map(|r| {
            let q: std::collections::HashMap<_, _> = r.query.iter().cloned().collect();
            q["to"].parse::<i64>().unwrap() - q["from"].parse::<i64>().unwrap()
        })
        .collect();
    assert!(
        intervals.iter().filter(|w| **w <= 4 * 3600).count() >= 6,
        "{intervals:?}"
    );
}

#[tokio::test]
async fn group_by_gives_one_series_per_host() {
    let sim = simulator(SimulatorConfig::default()).await;
    let e = engine(
        v1_adapter(&sim, &format!("{METRIC}{{*}} by {{host}}"), 60),
        fast_policy(2),
        Duration::from_secs(10),
    );
    let batches = collect(&e, day_plan(1, Duration::from_secs(4 * 3600)))
        .await
        .unwrap();
    let got = rows(&batches);
    assert_eq!(got.len(), 3 * 1440);
    let scopes: std::collections::BTreeSet<_> = got.iter().map(|r| r.0.clone()).collect();
    assert_eq!(
        scopes.into_iter().collect::<Vec<_>>(),
        ["host:db-1", "host:web-1", "host:web-2"]
    );
    let mut keys: Vec<_> = got.iter().map(|r| (r.0.clone(), r.1)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), got.len(), "no (scope, ts) twice");
}

#[tokio::test]
async fn forbidden_fails_fast_with_the_api_message_and_no_retry() {
    let sim = simulator(SimulatorConfig {
        api_key: Some("right-key".into()),
        ..Default::default()
    })
    .await;
    let mut options = v1_adapter(&sim, &format!("{METRIC}{{*}}"), 60)
        .options()
        .clone();
    options.credentials.api_key = Some(ddstream::adapters::datadog::Secret::new("wrong-key-xyz"));
    let adapter = ddstream::adapters::datadog::DatadogV1Adapter::new(options).unwrap();
    let e = engine(adapter, fast_policy(1), Duration::from_secs(5));
    let err = collect(&e, day_plan(1, Duration::from_secs(4 * 3600)))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 403") && err.contains("Forbidden") && err.contains("DD_API_KEY"),
        "{err}"
    );
    assert!(
        err.contains("window [2026-01-01T00:00:00Z, 2026-01-01T04:00:00Z)"),
        "names the window: {err}"
    );
    assert!(!err.contains("wrong-key-xyz"), "{err}");
    assert_eq!(sim.requests().len(), 1, "no retry on 403");
    assert_eq!(e.metrics().snapshot().retries, 0, "no backoff either");
}

#[tokio::test]
async fn a_bad_query_is_a_400_with_the_api_message() {
    let sim = simulator(SimulatorConfig::default()).await;
    let err = day_error(&sim, "system.cpu.user{*} by {nope}", 60, fast_policy(1)).await;
    assert!(
        err.contains("HTTP 400") && err.contains("query syntax"),
        "{err}"
    );
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn a_window_below_the_minimum_chunk_fails_clearly() {
    let sim = simulator(SimulatorConfig::default()).await;
    // 10 s granularity is only served for windows up to 30 min; a 30 min minimum chunk and a
    // 10 s rollup over a longer minimum window cannot work.
    let policy = DefaultPolicy {
        min_chunk: Duration::from_secs(7200),
        ..fast_policy(1)
    };
    let err = day_error(&sim, &format!("{METRIC}{{*}}"), 10, policy).await;
    assert!(
        err.contains("cannot be split below the minimum chunk"),
        "{err}"
    );
}

#[tokio::test]
async fn a_limit_stops_fetching_early() {
    let sim = simulator(SimulatorConfig::default()).await;
    let e = engine(
        v1_adapter(&sim, &format!("{METRIC}{{*}}"), 60),
        fast_policy(2),
        Duration::from_secs(5),
    );
    let batches: Vec<RecordBatch> = e
        .stream_with_limit(day_plan(7, Duration::from_secs(4 * 3600)), Some(10))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 10);
    assert!(
        sim.requests().len() <= 2,
        "{} requests",
        sim.requests().len()
    );
}

/// A token-paged API whose transport always hands back the same token.
#[derive(Debug)]
struct RepeatingTokenApi {
    schema: SchemaRef,
}

impl VendorAdapter for RepeatingTokenApi {
    fn name(&self) -> &'static str {
        "test_tokens"
    }
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
    fn build_request(&self, cursor: &Cursor) -> ddstream::Result<ApiRequest> {
        let mut url = url::Url::parse("http://127.0.0.1:9/items").unwrap();
        if let Cursor::Token(Some(t)) = cursor {
            url.query_pairs_mut().append_pair("token", t);
        }
        Ok(ApiRequest {
            method: http::Method::GET,
            url,
            headers: Default::default(),
            body: None,
        })
    }
    fn parse(&self, _cursor: &Cursor, response: &ApiResponse) -> ddstream::Result<ParsedResponse> {
        let next = String::from_utf8(response.body.to_vec()).unwrap();
        Ok(ParsedResponse::Rows {
            batch: RecordBatch::new_empty(Arc::clone(&self.schema)),
            next: Some(Cursor::Token(Some(next))),
            last_page: None,
        })
    }
}

#[derive(Debug, Default)]
struct CyclingTransport {
    calls: AtomicU64,
}

#[async_trait::async_trait]
impl Transport for CyclingTransport {
    async fn send(&self, _request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        // Tokens a, b, c, b, ...: the API loops after three pages.
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let token =
            ["a", "b", "c"][(n as usize).min(2) - if n >= 3 { (n as usize - 2) % 2 } else { 0 }];
        Ok(ApiResponse {
            status: 200,
            headers: Default::default(),
            body: token.into(),
            elapsed: Duration::ZERO,
        })
    }
}

#[tokio::test]
async fn a_token_that_repeats_is_a_stuck_cursor_error() {
    let adapter = RepeatingTokenApi {
        schema: Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)])),
    };
    let transport = Arc::new(CyclingTransport::default());
    let e = Engine::new(
        Arc::new(adapter),
        Arc::new(fast_policy(2)),
        Arc::clone(&transport) as _,
    );
    let err = collect(
        &e,
        FetchPlan::Sequence {
            first: Cursor::Token(None),
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("stuck cursor") && err.contains("token \"b\""),
        "{err}"
    );
    assert_eq!(
        transport.calls.load(Ordering::SeqCst),
        4,
        "stopped at the first repeat"
    );
}

/// A refused connection is final only on a host that never answered: once a host has
/// answered, a refusal (a restart) is retried until the retries are spent.
#[tokio::test]
async fn a_host_that_answered_is_retried_after_a_refusal() {
    let sim = simulator(SimulatorConfig::default()).await;
    let adapter = v1_adapter(&sim, &format!("{METRIC}{{*}}"), 60);
    let policy = DefaultPolicy {
        max_retries: 2,
        ..fast_policy(1)
    };
    let e = engine(adapter, policy, Duration::from_secs(5));
    collect(&e, day_plan(1, Duration::from_secs(86_400)))
        .await
        .expect("the simulator answers");
    sim.shutdown().await;
    let err = collect(&e, day_plan(1, Duration::from_secs(86_400)))
        .await
        .expect_err("nothing listens any more")
        .to_string();
    assert!(
        err.contains("after 3 attempts") && err.contains("connection refused"),
        "{err}"
    );
}
