//! The engine's conformance checks, run for every adapter: exactly once at any prefetch depth,
//! recovery from every transient fault kind to identical rows, fail-fast errors (403, 404, a
//! fault that persists, a body that is not JSON or JSON of another shape) that name the adapter,
//! the cursor and the API's message, and cancellation: dropping the stream, during a request or
//! a backoff, and reaching a LIMIT cancel every request and task, and none starts afterwards.
//!
//! Each check is a `pub async fn` over a [`Subject`]; [`conformance!`] makes one `#[test]` per
//! check and adapter (`conformance::page_api::fails_fast_and_clearly`), so a failure names both
//! and they run in parallel. A new adapter joins the suite with an entry in [`subjects`] and its
//! name in the `conformance!` line. The cancellation checks are about the engine, not HTTP: they
//! replay recorded simulator answers through a [`StallingTransport`] on paused time.

use std::sync::Arc;
use std::time::Duration;

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
use ddstream::engine::Transport;
use ddstream::engine::{DefaultPolicy, Engine, EngineStream, FetchPlan, TimeWindow, VendorAdapter};
use ddstream::simulator::{FaultKind, FaultSchedule, Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, TransportConfig};
use futures::{StreamExt, TryStreamExt};

use crate::common::{
    alive_tasks, assert_all_cancelled, fast_policy, record, settle, simulator, transient_faults,
    unused_base_url, Recording, Reply, StallingTransport, JAN1,
};

/// One adapter under test: how to point it at an API, what to fetch, what to expect.
pub struct Subject {
    /// The adapter's name (errors must carry it).
    pub name: &'static str,
    /// The adapter, against the API at a base URL.
    pub adapter: fn(&url::Url) -> Arc<dyn VendorAdapter>,
    /// What to fetch.
    pub plan: fn() -> FetchPlan,
    /// The smallest window the engine may split to (time-window adapters).
    pub min_chunk: Duration,
    /// The largest window it may grow to.
    pub max_chunk: Duration,
    /// Whether a "too large" answer can be split (time windows above `min_chunk`).
    pub splittable: bool,
    /// The number of rows `plan` covers, from its range and granularity (or page total).
    pub rows: usize,
    /// How errors name the plan's first cursor, written out.
    pub first_cursor: &'static str,
    /// The rows of the first response.
    pub first_rows: usize,
}

const H: i64 = 3_600_000;
/// The hours of [`six_hours`].
const HOURS: usize = 6;
/// The simulated hosts (`web-1`, `web-2`, `db-1`): one series each with `by {host}`.
const HOSTS: usize = 3;
/// The records of the REST collection (its `total` parameter).
const REST_TOTAL: usize = 230;

fn six_hours(chunk: Duration) -> FetchPlan {
    FetchPlan::Windows {
        ranges: vec![TimeWindow::new(JAN1 * 1000, JAN1 * 1000 + HOURS as i64 * H)],
        chunk,
    }
}

fn base_url(sim: &Simulator) -> url::Url {
    url::Url::parse(&sim.base_url()).unwrap()
}

fn v1(base_url: &url::Url) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV1Adapter::new(DatadogV1Options {
            query: "system.cpu.user{*}".into(),
            granularity_s: 60,
            aggregations: Aggregation::ALL.to_vec(),
            base_url: base_url.clone(),
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

fn v2_timeseries(base_url: &url::Url) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV2TimeseriesAdapter::new(DatadogV2TimeseriesOptions {
            queries: by_host(),
            interval_ms: 60_000,
            base_url: base_url.clone(),
            credentials: Credentials::default(),
        })
        .unwrap(),
    )
}

fn v2_scalar(base_url: &url::Url) -> Arc<dyn VendorAdapter> {
    Arc::new(
        DatadogV2ScalarAdapter::new(DatadogV2ScalarOptions {
            queries: by_host(),
            aggregator: ScalarAggregator::Avg,
            chunk_ms: H,
            base_url: base_url.clone(),
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

fn rest(base_url: &url::Url, name: &'static str, path: &str, paging: Paging) -> RestOptions {
    RestOptions {
        name,
        method: http::Method::GET,
        url: base_url.join(path).unwrap(),
        params: vec![("total".into(), Value::Plain(REST_TOTAL.to_string()))],
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

fn page_api(base_url: &url::Url) -> Arc<dyn VendorAdapter> {
    let options = rest(
        base_url,
        "page_api",
        "/api/page/events",
        Paging::PageNumber {
            param: "page".into(),
            first: 1,
            size_param: Some("per_page".into()),
            size: 20,
            total: Some(Pointer::parse("/total").unwrap()),
            total_header: None,
            total_pages: None,
            stop_on_short_page: true,
        },
    );
    Arc::new(RestAdapter::new(options).unwrap())
}

fn token_api(base_url: &url::Url) -> Arc<dyn VendorAdapter> {
    let mut options = rest(
        base_url,
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
            // One row per minute.
            rows: HOURS * 60,
            first_cursor: "window [2026-01-01T00:00:00Z, 2026-01-01T02:00:00Z)",
            // The first window is two hours.
            first_rows: 2 * 60,
        },
        Subject {
            name: "datadog_v2_timeseries",
            adapter: v2_timeseries,
            plan: || six_hours(Duration::from_secs(7200)),
            min_chunk: Duration::from_secs(60),
            max_chunk: Duration::from_secs(7200),
            splittable: true,
            // One row per host and minute.
            rows: HOSTS * HOURS * 60,
            first_cursor: "window [2026-01-01T00:00:00Z, 2026-01-01T02:00:00Z)",
            first_rows: HOSTS * 2 * 60,
        },
        Subject {
            name: "datadog_v2_scalar",
            adapter: v2_scalar,
            plan: || six_hours(Duration::from_secs(3600)),
            min_chunk: Duration::from_secs(3600),
            max_chunk: Duration::from_secs(3600),
            splittable: false,
            // One row per host and hour-long chunk.
            rows: HOSTS * HOURS,
            first_cursor: "window [2026-01-01T00:00:00Z, 2026-01-01T01:00:00Z)",
            first_rows: HOSTS,
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
            rows: REST_TOTAL,
            first_cursor: "page 1 (size 20)",
            first_rows: 20,
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
            rows: REST_TOTAL,
            first_cursor: "first page",
            first_rows: 20,
        },
    ]
}

/// The subject called `name`.
pub fn subject(name: &str) -> Subject {
    subjects()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no subject {name}"))
}

fn policy(subject: &Subject, depth: usize) -> DefaultPolicy {
    DefaultPolicy {
        min_chunk: subject.min_chunk,
        max_chunk: subject.max_chunk,
        max_retries: 4,
        ..fast_policy(depth)
    }
}

fn engine(subject: &Subject, sim: &Simulator, depth: usize, timeout: Duration) -> Engine {
    let transport = ReqwestTransport::new(&TransportConfig {
        request_timeout: timeout,
        ..TransportConfig::default()
    })
    .unwrap();
    Engine::new(
        (subject.adapter)(&base_url(sim)),
        Arc::new(policy(subject, depth)),
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
    fetch_counted(subject, sim, depth, timeout).await.0
}

/// [`fetch`], and the retries the engine made.
async fn fetch_counted(
    subject: &Subject,
    sim: &Simulator,
    depth: usize,
    timeout: Duration,
) -> (ddstream::Result<Vec<String>>, u64) {
    let e = engine(subject, sim, depth, timeout);
    let batches: ddstream::Result<Vec<RecordBatch>> =
        e.stream((subject.plan)()).try_collect().await;
    (
        batches.map(|b| canonical(&b)),
        e.metrics().snapshot().retries,
    )
}

/// Rows arrive exactly once, the same at depth 1 and 4, as many as the plan covers.
pub async fn exactly_once(subject: &Subject) {
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
}

/// Each transient fault kind, injected into the second request, is recovered to the rows of a
/// fault-free run. The kinds run concurrently, each against a simulator of its own.
pub async fn recovers_from_every_transient_fault(subject: &Subject) {
    let clean = simulator(SimulatorConfig::default()).await;
    let want = fetch(subject, &clean, 1, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", subject.name));
    assert_eq!(want.len(), subject.rows, "{}: row count", subject.name);
    let runs = transient_faults(1, Duration::from_millis(1500))
        .into_iter()
        .filter(|kind| subject.splittable || *kind != FaultKind::PayloadTooLarge)
        .map(|kind| {
            let want = &want;
            async move {
                let sim = simulator(SimulatorConfig {
                    faults: FaultSchedule::at([(1, kind.clone())]),
                    ..Default::default()
                })
                .await;
                let got = fetch(subject, &sim, 2, Duration::from_millis(700))
                    .await
                    .unwrap_or_else(|e| panic!("{} {kind:?}: {e}", subject.name));
                assert_eq!(sim.faults_injected(), 1, "{} {kind:?}", subject.name);
                assert!(got == *want, "{} {kind:?}: rows differ", subject.name);
            }
        });
    futures::future::join_all(runs).await;
}

/// Permanent answers end the run at the first request, with no retry, in a message that starts
/// with the adapter's name and names the cursor, the status and the API's message; a fault that
/// persists ends after the retry budget. The cases run concurrently.
pub async fn fails_fast_and_clearly(subject: &Subject) {
    let cursor = format!("for {}", subject.first_cursor);
    let permanent = [
        (FaultKind::Status(403), vec!["HTTP 403", "Forbidden"]),
        (FaultKind::Status(404), vec!["HTTP 404", "Not Found"]),
        (FaultKind::NotJson, vec!["malformed response", "<html>"]),
        (
            FaultKind::WrongShape,
            vec!["malformed response", "unexpected"],
        ),
    ]
    .map(|(kind, needles)| {
        let cursor = &cursor;
        async move {
            let sim = simulator(SimulatorConfig {
                faults: FaultSchedule::at([(0, kind.clone())]),
                ..Default::default()
            })
            .await;
            let (result, retries) = fetch_counted(subject, &sim, 1, Duration::from_secs(5)).await;
            let err = result.unwrap_err().to_string();
            assert!(
                err.starts_with(subject.name) && needles.iter().all(|n| err.contains(n)),
                "{} {kind:?}: {err}",
                subject.name
            );
            assert!(
                err.contains(cursor.as_str()),
                "{} {kind:?} names the cursor ({cursor}): {err}",
                subject.name
            );
            assert_eq!(
                (sim.requests().len(), retries),
                (1, 0),
                "{} {kind:?}: no retry",
                subject.name
            );
        }
    });
    let persistent = async {
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
                && err.contains(&cursor)
                && err.contains("after 5 attempts")
                && err.contains("HTTP 503"),
            "{}: {err}",
            subject.name
        );
        assert_eq!(sim.requests().len(), 5, "{}", subject.name);
    };
    futures::future::join(futures::future::join_all(permanent), persistent).await;
}

/// The simulator's answers to the subject's whole plan, recorded on a runtime of its own.
fn recorded(subject: &Subject) -> Recording {
    record(|url, transport: Arc<dyn Transport>| async move {
        let e = Engine::new(
            (subject.adapter)(&url),
            Arc::new(policy(subject, 1)),
            transport,
        );
        let _: Vec<RecordBatch> = e
            .stream((subject.plan)())
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{}: the recording run: {e}", subject.name));
    })
}

/// The subject at prefetch depth 3 against `transport`, at a base URL of its own.
fn replay(subject: &Subject, transport: &Arc<StallingTransport>) -> Engine {
    Engine::new(
        (subject.adapter)(&unused_base_url()),
        Arc::new(policy(subject, 3)),
        Arc::clone(transport) as Arc<dyn Transport>,
    )
}

/// The subject replayed through `script`, its stream after the first batch (checked against
/// `first_rows`) and one more poll, which tops the pipeline up: the next requests go out. Returns
/// the transport, the stream and the runtime's task count before the stream existed.
async fn running(
    subject: &Subject,
    script: &[Reply],
) -> (Arc<StallingTransport>, EngineStream, usize) {
    let transport = StallingTransport::new(recorded(subject), script);
    let baseline = alive_tasks();
    let mut stream = replay(subject, &transport).stream((subject.plan)());
    let first = stream.next().await.expect("a first batch").unwrap();
    assert_eq!(first.num_rows(), subject.first_rows, "{}", subject.name);
    assert!(
        futures::poll!(stream.next()).is_pending(),
        "{}",
        subject.name
    );
    (transport, stream, baseline)
}

/// Dropping the stream while requests are pending (the API never answers them) drops every one
/// of them and every task; no request starts afterwards. Run on paused time.
pub async fn dropping_cancels_pending_requests(subject: &Subject) {
    let name = subject.name;
    let (transport, stream, baseline) = running(subject, &[Reply::Recorded]).await;
    settle().await;
    let before = transport.calls();
    assert!(
        before.stalled >= 1 && before.started == 1 + before.stalled && before.started <= 1 + 3,
        "{name}: the first request answered, then up to the prefetch depth pending: {before:?}"
    );
    assert!(
        alive_tasks() > baseline,
        "{name}: pending requests are tasks"
    );
    drop(stream);
    let event = format!("{name}, after the drop");
    assert_all_cancelled(&transport, before, baseline, &event).await;
}

/// Dropping the stream while a request backs off (after a 429 asking for 10 minutes) cancels
/// the backoff: when the 10 minutes have passed, no request starts. Run on paused time.
pub async fn dropping_during_a_backoff_sends_nothing_more(subject: &Subject) {
    let name = subject.name;
    let script = [Reply::Recorded, Reply::TooManyRequests];
    let (transport, stream, baseline) = running(subject, &script).await;
    // A second is enough for the next requests to leave, far from the end of the backoff.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = transport.calls();
    assert!(
        before.started >= 2,
        "{name}: the 429 was answered: {before:?}"
    );
    drop(stream);
    let event = format!("{name}, after a drop during the backoff");
    assert_all_cancelled(&transport, before, baseline, &event).await;
}

/// A limit reached in the second response ends the stream at once (the other requests never
/// answer) and cancels what is still in flight while the stream is alive. Run on paused time.
pub async fn a_limit_cancels_the_rest(subject: &Subject) {
    let name = subject.name;
    let limit = subject.first_rows + 1;
    let transport = StallingTransport::new(recorded(subject), [Reply::Recorded, Reply::Recorded]);
    let baseline = alive_tasks();
    let e = replay(subject, &transport);
    let mut stream = e.stream_with_limit((subject.plan)(), Some(limit));
    let mut rows = 0;
    // Paused time: the day passes at once if the stream waits for a request that never ends.
    while let Some(batch) = tokio::time::timeout(Duration::from_secs(86_400), stream.next())
        .await
        .unwrap_or_else(|_| panic!("{name}: the stream waits past its limit"))
    {
        rows += batch.unwrap().num_rows();
    }
    assert_eq!(rows, limit, "{name}");
    let at_limit = transport.calls();
    assert!(at_limit.started >= 2, "{name}: {at_limit:?}");
    // The stream is still alive: the limit itself must have cancelled the rest.
    let event = format!("{name}, at the limit");
    assert_all_cancelled(&transport, at_limit, baseline, &event).await;
    drop(stream);
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

/// One `#[test]` per check for each named subject, in a module named after it.
macro_rules! conformance {
    ($($subject:ident),+ $(,)?) => {
        /// The subjects that have tests.
        const TESTED: &[&str] = &[$(stringify!($subject)),+];
        $(
            mod $subject {
                use super::*;

                fn this() -> Subject {
                    subject(stringify!($subject))
                }

                #[tokio::test]
                async fn returns_every_row_exactly_once() {
                    exactly_once(&this()).await;
                }

                #[tokio::test]
                async fn recovers_from_every_transient_fault() {
                    super::recovers_from_every_transient_fault(&this()).await;
                }

                #[tokio::test]
                async fn fails_fast_and_clearly() {
                    super::fails_fast_and_clearly(&this()).await;
                }

                #[tokio::test(start_paused = true)]
                async fn dropping_cancels_pending_requests() {
                    super::dropping_cancels_pending_requests(&this()).await;
                }

                #[tokio::test(start_paused = true)]
                async fn dropping_during_a_backoff_sends_nothing_more() {
                    super::dropping_during_a_backoff_sends_nothing_more(&this()).await;
                }

                #[tokio::test(start_paused = true)]
                async fn a_limit_cancels_the_rest() {
                    super::a_limit_cancels_the_rest(&this()).await;
                }
            }
        )+
    };
}

conformance!(
    datadog_v1,
    datadog_v2_timeseries,
    datadog_v2_scalar,
    page_api,
    token_api
);

#[test]
fn every_subject_has_its_tests() {
    let names: Vec<&str> = subjects().iter().map(|s| s.name).collect();
    assert_eq!(names, TESTED);
}
