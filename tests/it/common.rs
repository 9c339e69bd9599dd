//! Shared helpers: start a simulator, build a v1 engine against it, compute expected rows
//! independently of the simulator, and a transport that records real answers and replays them
//! (or never answers) for cancellation tests on paused time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, TimestampMillisecondType};
use ddstream::adapters::datadog::{Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options};
use ddstream::engine::{ApiRequest, ApiResponse, Transport, TransportError};
use ddstream::engine::{DefaultPolicy, Engine};
use ddstream::simulator::data;
use ddstream::simulator::{FaultKind, Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, TransportConfig};

/// 2026-01-01T00:00:00Z in seconds.
pub const JAN1: i64 = 1_767_225_600;

/// Whether `needle` occurs in `haystack` (bytes of a plan, of a wire capture).
pub fn contains_bytes(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub async fn simulator(config: SimulatorConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

pub fn v1_adapter(sim: &Simulator, query: &str, granularity_s: i64) -> DatadogV1Adapter {
    DatadogV1Adapter::new(DatadogV1Options {
        query: query.into(),
        granularity_s,
        aggregations: Aggregation::ALL.to_vec(),
        base_url: url::Url::parse(&sim.base_url()).unwrap(),
        credentials: Credentials::default(),
    })
    .unwrap()
}

pub fn fast_policy(depth: usize) -> DefaultPolicy {
    DefaultPolicy {
        prefetch_depth: depth,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..DefaultPolicy::default()
    }
}

pub fn engine(adapter: DatadogV1Adapter, policy: DefaultPolicy, timeout: Duration) -> Engine {
    let transport = ReqwestTransport::new(&TransportConfig {
        request_timeout: timeout,
        ..TransportConfig::default()
    })
    .unwrap();
    Engine::new(Arc::new(adapter), Arc::new(policy), Arc::new(transport))
}

/// One row of the v1 table: (scope, ts_ms, [avg, min, max, sum]).
pub type Row = (String, i64, [Option<f64>; 4]);

pub fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let scope = b.column(2).as_string::<i32>();
        let ts = b.column(3).as_primitive::<TimestampMillisecondType>();
        let vals: Vec<_> = (4..8)
            .map(|i| b.column(i).as_primitive::<Float64Type>())
            .collect();
        for r in 0..b.num_rows() {
            let v = std::array::from_fn(|i| (!vals[i].is_null(r)).then(|| vals[i].value(r)));
            out.push((scope.value(r).to_string(), ts.value(r), v));
        }
    }
    out
}

/// The simulated hosts, as the simulator documents them (`simulator::data::HOSTS`).
pub const HOSTS: [&str; 3] = ["web-1", "web-2", "db-1"];

/// The rows of `metric{*}` at `g` seconds in `[from, to)` (both multiples of `g`), computed here
/// from the raw points alone (one per host every 10 s, `simulator::data::raw_value`) as Datadog
/// documents a v1 rollup: bucket `[b, b + g)` aggregates each host's points in time, then the
/// hosts' results in space, with the same aggregator (`avg:…rollup(avg)`, `min:…rollup(min)`,
/// ...). Written out rather than taken from `data::rollup_value`, which is what the simulator
/// answers with: a bug there must not also be in the expected rows.
pub fn expected_rows(metric: &str, from_s: i64, to_s: i64, g: i64) -> Vec<Row> {
    assert!(from_s % g == 0 && to_s % g == 0, "whole buckets only");
    let mut out = Vec::new();
    for bucket in 0..(to_s - from_s) / g {
        let start = from_s + bucket * g;
        let per_host: Vec<Vec<f64>> = HOSTS
            .iter()
            .map(|host| {
                (start..start + g)
                    .step_by(10)
                    .filter_map(|ts| data::raw_value(metric, host, ts))
                    .collect()
            })
            .filter(|points: &Vec<f64>| !points.is_empty())
            .collect();
        if per_host.is_empty() {
            continue;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let fold = |f: fn(f64, f64) -> f64, v: &[f64]| v.iter().copied().reduce(f);
        let avg: Vec<f64> = per_host.iter().map(|p| mean(p)).collect();
        let min: Vec<f64> = per_host.iter().filter_map(|p| fold(f64::min, p)).collect();
        let max: Vec<f64> = per_host.iter().filter_map(|p| fold(f64::max, p)).collect();
        let sum: Vec<f64> = per_host.iter().map(|p| p.iter().sum()).collect();
        out.push((
            "*".to_string(),
            start * 1000,
            [
                Some(mean(&avg)),
                fold(f64::min, &min),
                fold(f64::max, &max),
                Some(sum.iter().sum()),
            ],
        ));
    }
    out
}

/// Compares rows, floats to 1e-9 relative (the API's JSON carries shortest round-trip decimals),
/// and reports the first difference only.
pub fn assert_rows_eq(got: &[Row], want: &[Row], context: &str) {
    assert_eq!(got.len(), want.len(), "{context}: row count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let close = g.2.iter().zip(&w.2).all(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            (None, None) => true,
            _ => false,
        });
        assert!(
            g.0 == w.0 && g.1 == w.1 && close,
            "{context}: row {i} differs: got {g:?}, want {w:?}"
        );
    }
}

/// Every transient fault kind the simulator injects; `wait_s` is the 429s' wait, `slow` the delay
/// of slow responses (longer than the client's timeout).
pub fn transient_faults(wait_s: u64, slow: Duration) -> Vec<FaultKind> {
    vec![
        FaultKind::Status(500),
        FaultKind::Status(502),
        FaultKind::Status(503),
        FaultKind::Status(504),
        FaultKind::Status(408),
        FaultKind::TooManyRequestsRetryAfter { secs: wait_s },
        FaultKind::TooManyRequestsResetOnly { secs: wait_s },
        FaultKind::ConnectionResetBeforeResponse,
        FaultKind::ResetMidBody,
        FaultKind::TruncatedJson,
        FaultKind::Slow { delay: slow },
        FaultKind::PayloadTooLarge,
    ]
}

/// A base URL no simulator listens on and no other test uses: a port below 1024 (simulators bind
/// ephemeral ports), unique per call, so the process-wide rate gate of one replay (keyed by host
/// and path) is never shared with another test.
pub fn unused_base_url() -> url::Url {
    static NEXT: AtomicU16 = AtomicU16::new(1);
    let port = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(port < 1024, "out of replay ports");
    url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("a valid URL")
}

/// Real answers of the simulator by request (method, path, query and body; not the host, so
/// they replay against [`unused_base_url`]).
#[derive(Clone, Default)]
pub struct Recording(Arc<Mutex<HashMap<String, ApiResponse>>>);

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recording({} answers)", self.lock().len())
    }
}

impl Recording {
    fn key(request: &ApiRequest) -> String {
        let body = request.body.as_deref().unwrap_or_default();
        format!(
            "{} {}?{} {}",
            request.method,
            request.url.path(),
            request.url.query().unwrap_or_default(),
            String::from_utf8_lossy(body)
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ApiResponse>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The recorded answer to `request`; a 404 naming the request when there is none.
    fn answer(&self, request: &ApiRequest) -> ApiResponse {
        let key = Self::key(request);
        self.lock()
            .get(&key)
            .cloned()
            .unwrap_or_else(|| ApiResponse {
                status: 404,
                headers: Default::default(),
                body: format!(r#"{{"errors":["the recording has no answer to {key}"]}}"#).into(),
                elapsed: Duration::ZERO,
            })
    }
}

/// Sends through reqwest and keeps every answer.
#[derive(Debug)]
struct Recorder {
    inner: ReqwestTransport,
    recording: Recording,
}

#[async_trait::async_trait]
impl Transport for Recorder {
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let response = self.inner.send(request).await?;
        self.recording
            .lock()
            .insert(Recording::key(request), response.clone());
        Ok(response)
    }
}

/// Runs `run(base_url, transport)` against a fresh fault-free simulator, on a runtime of its own
/// in another thread, through a transport that records every answer. The simulator, its runtime
/// and the HTTP client are gone when this returns: the caller's runtime holds none of their tasks.
pub fn record<F, Fut>(run: F) -> Recording
where
    F: FnOnce(url::Url, Arc<dyn Transport>) -> Fut + Send,
    Fut: Future<Output = ()>,
{
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Runtime::new().expect("a runtime");
                runtime.block_on(async move {
                    let sim = simulator(SimulatorConfig::default()).await;
                    let url = url::Url::parse(&sim.base_url()).expect("the simulator's URL");
                    let recorder = Arc::new(Recorder {
                        inner: ReqwestTransport::new(&TransportConfig::default())
                            .expect("a transport"),
                        recording: Recording::default(),
                    });
                    run(url, Arc::clone(&recorder) as Arc<dyn Transport>).await;
                    recorder.recording.clone()
                })
            })
            .join()
            .expect("the recording run panicked")
    })
}

/// What [`StallingTransport`] does with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Answers with the recorded response to the same request.
    Recorded,
    /// Answers `429 Too Many Requests` with `Retry-After: 600`: the engine backs off for minutes.
    TooManyRequests,
    /// Never answers: the call pends until its future is dropped.
    Stall,
}

/// What a [`StallingTransport`] has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    /// Calls to `send`: requests started.
    pub started: usize,
    /// Calls that never answer.
    pub stalled: usize,
    /// Stalled calls whose future was dropped: requests cancelled.
    pub dropped: usize,
}

/// A transport for cancellation and prefetch tests: call `n` (0-based, in order) gets
/// `script[n]`, every call past the script stalls. It records each call, each drop of a stalled
/// call's future, and how many calls were in flight when each started. Answers come after
/// `latency` (tokio time: on paused time, no real wait).
#[derive(Debug)]
pub struct StallingTransport {
    recording: Recording,
    script: Vec<Reply>,
    latency: Duration,
    calls: Mutex<Calls>,
    /// Calls in flight now, and when each call started.
    in_flight: Mutex<(usize, Vec<usize>)>,
}

impl StallingTransport {
    pub fn new(recording: Recording, script: impl Into<Vec<Reply>>) -> Arc<Self> {
        Self::with_latency(recording, script, Duration::ZERO)
    }

    pub fn with_latency(
        recording: Recording,
        script: impl Into<Vec<Reply>>,
        latency: Duration,
    ) -> Arc<Self> {
        Arc::new(StallingTransport {
            recording,
            script: script.into(),
            latency,
            calls: Mutex::default(),
            in_flight: Mutex::default(),
        })
    }

    /// The counters so far.
    pub fn calls(&self) -> Calls {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// For each call, in order, how many other calls were in flight when it started.
    pub fn in_flight_at_start(&self) -> Vec<usize> {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    fn update<R>(&self, f: impl FnOnce(&mut Calls) -> R) -> R {
        f(&mut self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, (usize, Vec<usize>)> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts a stalled call as dropped when its future is.
struct CountDrop<'a>(&'a StallingTransport);

impl Drop for CountDrop<'_> {
    fn drop(&mut self) {
        self.0.update(|c| c.dropped += 1);
    }
}

/// Counts a call out of flight when it ends, answered or dropped.
struct InFlight<'a>(&'a StallingTransport);

impl<'a> InFlight<'a> {
    fn start(transport: &'a StallingTransport) -> Self {
        let mut state = transport.in_flight();
        let others = state.0;
        state.1.push(others);
        state.0 += 1;
        InFlight(transport)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight().0 -= 1;
    }
}

#[async_trait::async_trait]
impl Transport for StallingTransport {
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let n = self.update(|c| {
            c.started += 1;
            c.started - 1
        });
        let _in_flight = InFlight::start(self);
        let reply = self.script.get(n).copied().unwrap_or(Reply::Stall);
        if reply != Reply::Stall && !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        match reply {
            Reply::Recorded => Ok(self.recording.answer(request)),
            Reply::TooManyRequests => {
                let mut headers = http::HeaderMap::new();
                headers.insert("retry-after", http::HeaderValue::from_static("600"));
                Ok(ApiResponse {
                    status: 429,
                    headers,
                    body: r#"{"errors":["Too many requests"]}"#.into(),
                    elapsed: Duration::ZERO,
                })
            }
            Reply::Stall => {
                self.update(|c| c.stalled += 1);
                let _counted = CountDrop(self);
                std::future::pending().await
            }
        }
    }
}

/// Tasks alive on the current runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// On paused time (`#[tokio::test(start_paused = true)]`): lets every task run until all wait,
/// and an hour of timers pass (backoffs and rate-gate waits last at most 10 minutes here), in no
/// real time.
pub async fn settle() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

/// After a stream was dropped or stopped at `event` (`before` being the transport's counters
/// then): lets an hour pass ([`settle`]), then asserts that no request started since, that every
/// call that never answered was dropped, and that the runtime is back to `baseline` tasks.
pub async fn assert_all_cancelled(
    transport: &StallingTransport,
    before: Calls,
    baseline: usize,
    event: &str,
) {
    settle().await;
    let after = transport.calls();
    assert_eq!(
        after.started, before.started,
        "{event}: a request started afterwards"
    );
    assert_eq!(
        after.dropped, after.stalled,
        "{event}: a pending request was not cancelled"
    );
    assert_eq!(alive_tasks(), baseline, "{event}: a task survived");
}
