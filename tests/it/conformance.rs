//! The engine's conformance checks, run for every adapter: exactly once at any prefetch depth,
//! recovery from every transient fault kind to identical rows, fail-fast errors (403, 404, a
//! fault that persists, a body that is not JSON or JSON of another shape) that name the adapter and the cursor, and
//! cancellation (no request starts after the stream is dropped).
//!
//! Each check is a `pub async fn` over a [`Subject`]; a new adapter joins the suite by adding
//! one entry to [`subjects`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use ddstream::adapters::datadog::{
    Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options, DatadogV2ScalarAdapter,
    DatadogV2ScalarOptions, DatadogV2TimeseriesAdapter, DatadogV2TimeseriesOptions, NamedQuery,
    ScalarAggregator, V2Queries,
};
use ddstream::adapters::rest::columns::{ColumnSpec, ColumnType, Pointer, TimeFormat};
use ddstream::adapters::rest::{
    Paging, ParamLocation, RestAdapter, RestOptions, TokenSource, Value,
};
use ddstream::engine::{DefaultPolicy, Engine, FetchPlan, TimeWindow, VendorAdapter};
use ddstream::simulator::{FaultKind, FaultSchedule, Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, TransportConfig};
use futures::{StreamExt, TryStreamExt};

use crate::common::{fast_policy, simulator, transient_faults, JAN1};

/// One adapter under test: how to point it at a simulator, what to fetch, what to expect.
pub struct Subject {
    /// The adapter's name (errors must carry it).
    pub name: &'static str,
    /// The adapter, against `sim`.
    pub adapter: fn(&Simulator) -> Arc<dyn VendorAdapter>,
    /// What to fetch.
    pub plan: fn() -> FetchPlan,
    /// The smallest window the engine may split to (time-window adapters).
    pub min_chunk: Duration,
    /// The largest window it may grow to.
    pub max_chunk: Duration,
    /// Whether a "too large" answer can be split (time windows above `min_chunk`).
    pub splittable: bool,
    /// The number of rows the data model has for `plan`.
    pub rows: usize,
}

const H: i64 = 3_600_000;

fn six_hours(chunk: Duration) -> FetchPlan {
    FetchPlan::Windows {
        ranges: vec![TimeWindow::new(JAN1 * 1000, JAN1 * 1000 + 6 * H)],
        chunk,
    }
}

fn base_url(sim: &Simulator) -> url::Url {
    url::Url::parse(&sim.base_url()).unwrap()
}

fn v1(sim: &Simulator) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV1Adapter::new(DatadogV1Options {
            query: "system.cpu.user{*}".into(),
            granularity_s: 60,
            aggregations: Aggregation::ALL.to_vec(),
            base_url: base_url(sim),
            credentials: Credentials::default(),
        })
        .unwrap(),
    )
}

fn by_host() -> V2Queries {
    V2Queries {
        queries: vec![NamedQuery {
            name: "a".into(),
            query: "avg:system.cpu.user{*} by {host}".into(),
        }],
        formulas: vec![],
    }
}

fn v2_timeseries(sim: &Simulator) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV2TimeseriesAdapter::new(DatadogV2TimeseriesOptions {
            queries: by_host(),
            interval_ms: 60_000,
            base_url: base_url(sim),
            credentials: Credentials::default(),
        })
        .unwrap(),
    )
}

fn v2_scalar(sim: &Simulator) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV2ScalarAdapter::new(DatadogV2ScalarOptions {
            queries: by_host(),
            aggregator: ScalarAggregator::Avg,
            chunk_ms: H,
            base_url: base_url(sim),
            credentials: Credentials::default(),
        })
        .unwrap(),
    )
}

fn rest_columns() -> Vec<ColumnSpec> {
    let column = |name: &str, pointer: &str, kind| ColumnSpec {
        name: name.into(),
        pointer: Pointer::parse(pointer).unwrap(),
        kind,
    };
    vec![
        column("id", "/id", ColumnType::Int64),
        column(
            "created_at",
            "/created_at",
            ColumnType::Timestamp(TimeFormat::Rfc3339),
        ),
        column("score", "/score", ColumnType::Float64),
        column("note", "/note", ColumnType::Utf8),
        column("login", "/owner/login", ColumnType::Utf8),
    ]
}

fn rest(sim: &Simulator, name: &'static str, path: &str, paging: Paging) -> RestOptions {
    RestOptions {
        name,
        method: http::Method::GET,
        url: base_url(sim).join(path).unwrap(),
        params: vec![("total".into(), Value::Plain("230".into()))],
        headers: vec![],
        body: None,
        params_in: ParamLocation::Query,
        records: Pointer::parse("/data").unwrap(),
        paging,
        has_more: None,
        columns: rest_columns(),
        time: None,
        lenient_types: false,
    }
}

fn page_api(sim: &Simulator) -> Arc<dyn VendorAdapter> {
    let options = rest(
        sim,
        "page_api",
        "/api/page/events",
        Paging::PageNumber {
            param: "page".into(),
            first: 1,
            size_param: Some("per_page".into()),
            size: 20,
            total: Some(Pointer::parse("/total").unwrap()),
            total_pages: None,
            stop_on_short_page: true,
        },
    );
    Arc::new(RestAdapter::new(options).unwrap())
}

fn token_api(sim: &Simulator) -> Arc<dyn VendorAdapter> {
    let mut options = rest(
        sim,
        "token_api",
        "/api/token/events",
        Paging::Token {
            param: "cursor".into(),
            next: TokenSource::Pointer(Pointer::parse("/next_cursor").unwrap()),
            size: Some(("limit".into(), 20)),
        },
    );
    options.records = Pointer::parse("/records").unwrap();
    Arc::new(RestAdapter::new(options).unwrap())
}

/// Every adapter in the suite.
pub fn subjects() -> Vec<Subject> {
    vec![
        Subject {
            name: "datadog_v1",
            adapter: v1,
            plan: || six_hours(Duration::from_secs(7200)),
            min_chunk: Duration::from_secs(60),
            max_chunk: Duration::from_secs(7200),
            splittable: true,
            rows: 360,
        },
        Subject {
            name: "datadog_v2_timeseries",
            adapter: v2_timeseries,
            plan: || six_hours(Duration::from_secs(7200)),
            min_chunk: Duration::from_secs(60),
            max_chunk: Duration::from_secs(7200),
            splittable: true,
            rows: 3 * 360,
        },
        Subject {
            name: "datadog_v2_scalar",
            adapter: v2_scalar,
            plan: || six_hours(Duration::from_secs(3600)),
            min_chunk: Duration::from_secs(3600),
            max_chunk: Duration::from_secs(3600),
            splittable: false,
            rows: 3 * 6,
        },
        Subject {
            name: "page_api",
            adapter: page_api,
            plan: || FetchPlan::Sequence {
                first: ddstream::engine::Cursor::Page {
                    number: 1,
                    size: 20,
                },
            },
            min_chunk: Duration::from_secs(60),
            max_chunk: Duration::from_secs(7200),
            splittable: false,
            rows: 230,
        },
        Subject {
            name: "token_api",
            adapter: token_api,
            plan: || FetchPlan::Sequence {
                first: ddstream::engine::Cursor::Token(None),
            },
            min_chunk: Duration::from_secs(60),
            max_chunk: Duration::from_secs(7200),
            splittable: false,
            rows: 230,
        },
    ]
}

fn engine(subject: &Subject, sim: &Simulator, depth: usize, timeout: Duration) -> Engine {
    let transport = ReqwestTransport::new(&TransportConfig {
        request_timeout: timeout,
        ..TransportConfig::default()
    })
    .unwrap();
    let policy = DefaultPolicy {
        min_chunk: subject.min_chunk,
        max_chunk: subject.max_chunk,
        max_retries: 4,
        ..fast_policy(depth)
    };
    Engine::new(
        (subject.adapter)(sim),
        Arc::new(policy),
        Arc::new(transport),
    )
}

/// Every row as text, sorted: an order-independent picture of the result.
fn canonical(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    rows.sort();
    rows
}

/// Fetches the subject's plan; rows in canonical form.
pub async fn fetch(
    subject: &Subject,
    sim: &Simulator,
    depth: usize,
    timeout: Duration,
) -> ddstream::Result<Vec<String>> {
    let e = engine(subject, sim, depth, timeout);
    let batches: Vec<RecordBatch> = e.stream((subject.plan)()).try_collect().await?;
    Ok(canonical(&batches))
}

/// Rows arrive exactly once, the same at depth 1 and 4, as many as the data model has.
pub async fn exactly_once(subject: &Subject) -> Vec<String> {
    let sim = simulator(SimulatorConfig::default()).await;
    let one = fetch(subject, &sim, 1, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", subject.name));
    let four = fetch(subject, &sim, 4, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(one.len(), subject.rows, "{}: row count", subject.name);
    let mut distinct = one.clone();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        one.len(),
        "{}: duplicate rows",
        subject.name
    );
    assert_eq!(one, four, "{}: depth 1 and 4 differ", subject.name);
    one
}

/// Each transient fault kind, injected into the second request, is recovered to the same rows.
pub async fn recovers_from_every_transient_fault(subject: &Subject, want: &[String]) {
    for kind in transient_faults(1, Duration::from_millis(1500)) {
        if kind == FaultKind::PayloadTooLarge && !subject.splittable {
            continue;
        }
        let sim = simulator(SimulatorConfig {
            faults: FaultSchedule::at([(1, kind.clone())]),
            ..Default::default()
        })
        .await;
        let got = fetch(subject, &sim, 2, Duration::from_millis(700))
            .await
            .unwrap_or_else(|e| panic!("{} {kind:?}: {e}", subject.name));
        assert_eq!(sim.faults_injected(), 1, "{} {kind:?}", subject.name);
        assert!(got == want, "{} {kind:?}: rows differ", subject.name);
    }
}

/// Permanent answers end the run at once with a message naming the adapter, the cursor and
/// the status; a fault that persists ends after the retry budget.
pub async fn fails_fast_and_clearly(subject: &Subject) {
    for (kind, needles) in [
        (FaultKind::Status(403), vec!["HTTP 403", "Forbidden"]),
        (FaultKind::Status(404), vec!["HTTP 404", "Not Found"]),
        (FaultKind::NotJson, vec!["malformed response", "<html>"]),
        (
            FaultKind::WrongShape,
            vec!["malformed response", "unexpected"],
        ),
    ] {
        let sim = simulator(SimulatorConfig {
            faults: FaultSchedule::at([(0, kind.clone())]),
            ..Default::default()
        })
        .await;
        let started = Instant::now();
        let err = fetch(subject, &sim, 1, Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{}",
            subject.name
        );
        assert!(
            err.starts_with(subject.name) && needles.iter().all(|n| err.contains(n)),
            "{} {kind:?}: {err}",
            subject.name
        );
        assert!(
            err.contains("window [2026-01-01T") || err.contains("page") || err.contains("first"),
            "{} names the cursor: {err}",
            subject.name
        );
        assert_eq!(
            sim.requests().len(),
            1,
            "{} {kind:?}: no retry",
            subject.name
        );
    }
    let sim = simulator(SimulatorConfig {
        faults: FaultSchedule::at((0..20).map(|i| (i, FaultKind::Status(503)))),
        ..Default::default()
    })
    .await;
    let err = fetch(subject, &sim, 1, Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(subject.name)
            && err.contains("after 5 attempts")
            && err.contains("HTTP 503"),
        "{}: {err}",
        subject.name
    );
    assert_eq!(sim.requests().len(), 5, "{}", subject.name);
}

/// Dropping the stream aborts in-flight requests: none starts after the drop.
pub async fn dropping_stops_requests(subject: &Subject) {
    let sim = simulator(SimulatorConfig {
        latency: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let e = engine(subject, &sim, 3, Duration::from_secs(5));
    let mut stream = e.stream((subject.plan)());
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0, "{}", subject.name);
    drop(stream);
    let dropped_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let log = sim.requests();
    let after = log.iter().filter(|r| r.received_at > dropped_at).count();
    assert_eq!(
        after, 0,
        "{}: a request started after the drop",
        subject.name
    );
    assert!(
        log.len() <= 1 + 3,
        "{}: at most the first request and the prefetched ones, got {}",
        subject.name,
        log.len()
    );
}

/// Under `n` seeded random fault schedules (every transient kind, p = 0.3 per request) the
/// subject returns exactly `want`. Returns (faults injected, retries + splits).
pub async fn survives_random_fault_schedules(
    subject: &Subject,
    want: &[String],
    seeds: std::ops::Range<u64>,
) -> (u64, u64) {
    let kinds: Vec<FaultKind> = transient_faults(0, Duration::from_millis(600))
        .into_iter()
        .filter(|k| subject.splittable || *k != FaultKind::PayloadTooLarge)
        .collect();
    let runs = seeds.map(|seed| {
        let kinds = kinds.clone();
        async move {
            let sim = simulator(SimulatorConfig {
                faults: FaultSchedule::seeded(seed, 0.3, kinds).with_max_consecutive(2),
                ..Default::default()
            })
            .await;
            let e = engine(subject, &sim, 2, Duration::from_millis(300));
            let batches: Vec<RecordBatch> = e
                .stream((subject.plan)())
                .try_collect()
                .await
                .unwrap_or_else(|err| panic!("{} seed {seed}: {err}", subject.name));
            assert!(
                canonical(&batches) == want,
                "{} seed {seed}: rows differ from the fault-free run",
                subject.name
            );
            let m = e.metrics().snapshot();
            (sim.faults_injected(), m.retries + m.splits)
        }
    });
    let mut totals = (0, 0);
    for (faults, recoveries) in futures::future::join_all(runs).await {
        totals.0 += faults;
        totals.1 += recoveries;
    }
    totals
}

#[tokio::test]
async fn every_adapter_returns_every_row_exactly_once_and_survives_every_fault() {
    for subject in subjects() {
        let want = exactly_once(&subject).await;
        recovers_from_every_transient_fault(&subject, &want).await;
    }
}

#[tokio::test]
async fn every_adapter_fails_fast_with_clear_errors() {
    for subject in subjects() {
        fails_fast_and_clearly(&subject).await;
    }
}

#[tokio::test]
async fn every_adapter_stops_requesting_when_dropped() {
    for subject in subjects() {
        dropping_stops_requests(&subject).await;
    }
}
