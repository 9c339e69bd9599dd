//! A Datadog-style HTTP API simulator on loopback, for tests, benchmarks and `--simulate`.
//!
//! It answers these endpoints with the same JSON, status codes and `X-RateLimit-*` headers
//! as Datadog, over a deterministic data model ([`data`]):
//!
//! - `GET /api/v1/query` (QueryMetrics): classic metric queries, v1 series and pointlists;
//! - `GET /api/v1/validate`: the API key check;
//! - `GET /api/v1/metrics?from=S` (ListActiveMetrics) and `GET /api/v2/metrics/{name}/all-tags`
//!   (ListTagsByMetricName): what the account has ([`catalog`]);
//! - `POST /api/v2/query/timeseries` (QueryTimeseriesData): metrics queries and formulas on
//!   one time axis;
//! - `POST /api/v2/query/scalar` (QueryScalarData): one value per query or formula and
//!   group ([`data::scalar_value`]), with formula `limit`s.
//!
//! The data endpoints (all but `validate`) share the fault schedule ([`FaultSchedule`]);
//! each has its own rate limiter with the configured [`RateLimit`]. Latency and the key check
//! apply to every request, and every request is logged ([`Simulator::requests`]).
//!
//! It also serves generic paginated REST endpoints over a deterministic collection of
//! events ([`records`]), for page-number and token adapters:
//!
//! | Endpoint | Paging | Response |
//! |---|---|---|
//! | `GET /api/page/events?page=N&per_page=M` | page number (from 1, or 0 with `page_base=0`) | `{"data":[..],"page":N,"per_page":M,"total":T,"has_more":b}` |
//! | `POST /api/page/events/search`, body `{"page":N,"per_page":M,"start":..,"end":..}` | same | same |
//! | `GET /api/github/events?page=N&per_page=M` | page number from 1, `Link` header (`next`, `last`, `first`, `prev`) | `[..]` |
//! | `GET /api/jsonserver/events?_page=N&_limit=M` | page number from 1 (json-server): `X-Total-Count` and `Link` (`first`, `prev`, `next`, `last`) headers; `link=false` leaves `Link` out | `[..]` |
//! | `GET /api/page/endless?page=N&per_page=M` | page number, never ends | `{"data":[..],"page":N,"per_page":M}` |
//! | `GET /api/token/events?limit=M[&cursor=C]` | opaque cursor | `{"records":[..],"next_cursor":C\|null}` |
//! | `POST /api/token/events/search`, body `{"limit":M,"cursor":C\|null,"start":..,"end":..}` | opaque cursor, `""` when done | `{"results":{"items":[..]},"meta":{"next":C\|""}}` |
//! | `GET /api/stripe/events?limit=M[&starting_after=ID]` | after an id | `{"object":"list","url":"/v1/events","has_more":b,"data":[..]}` |
//! | `GET /api/token/stuck?mode=repeat\|cycle&limit=M[&cursor=C]` | a cursor that repeats | `{"records":[..],"next_cursor":"same"\|"a"\|"b"}` |
//!
//! All of them also take `total` (records in the collection, default 1000, at most
//! 1,000,000), `start`/`end` (records created in `[start, end)`; epoch seconds, epoch
//! milliseconds or RFC 3339), `shuffle=true` (pages out of id order), `leak=true` (each page
//! gets one record from just outside `[start, end)`) and `corrupt=<id>` (that record's
//! `count` is `"oops"`); a POST takes them in its body or its query string. Page sizes
//! default to 50, at most 500. Bad parameters are 400 `{"message":".."}`. They need no
//! Datadog keys, but [`SimulatorConfig::bearer_token`] makes them require
//! `Authorization: Bearer <token>`. They share one rate limiter configured like the Datadog
//! one, and the same fault schedule.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ddstream::simulator::{Simulator, SimulatorConfig};
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! let url = format!("{}/api/v1/query?from=0&to=3600&query=avg:system.cpu.user{{*}}", sim.base_url());
//! # let _ = url;
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod catalog;
pub mod data;
mod faults;
mod formula;
mod json;
mod pipeline;
mod query;
mod rate_limit;
pub mod records;
mod rest;
mod rest_page;
mod rest_token;
mod server;
mod spec;
mod state;
mod v1;
mod v2;
mod v2_scalar;
mod v2_timeseries;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rest;
#[cfg(test)]
mod tests_v2;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{FaultKind, FaultSchedule};
pub use spec::SimulatorSpec;

use state::SimState;

/// How a [`Simulator`] behaves.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// If set, requests under `/api/v1/` and `/api/v2/` must carry `DD-API-KEY` equal to
    /// it, else 403.
    pub api_key: Option<String>,
    /// If set, requests under `/api/v1/` and `/api/v2/` must carry `DD-APPLICATION-KEY`
    /// equal to it, else 403 (`/api/v1/validate` only checks the API key, like Datadog).
    pub app_key: Option<String>,
    /// Added before every response.
    pub latency: Duration,
    /// `None`: unlimited (the headers still advertise a large limit). Each data endpoint
    /// (v1 query, v2 timeseries, v2 scalar) counts its requests separately against it.
    pub rate_limit: Option<RateLimit>,
    /// Faults injected into data requests.
    pub faults: FaultSchedule,
    /// Maximum points per series; the rollup interval grows to respect it.
    pub max_points: usize,
    /// If set, the generic REST endpoints (every path outside `/api/v1/` and `/api/v2/`)
    /// require `Authorization: Bearer <token>`, else 401 `{"message":"Bad credentials"}`.
    pub bearer_token: Option<String>,
    /// Called with every request once it is answered (`ddstream simulate --log-requests`).
    pub on_request: Option<RequestHook>,
    /// If set, a server that sheds load: a request arriving while this many are being answered
    /// gets 503 at once (a model of a saturated API, for the adaptive concurrency limit).
    pub max_in_flight: Option<usize>,
}

/// A callback that sees each request as it is logged ([`SimulatorConfig::on_request`]).
pub type RequestHook = Arc<dyn Fn(&LoggedRequest) + Send + Sync>;

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            api_key: None,
            app_key: None,
            latency: Duration::ZERO,
            rate_limit: None,
            faults: FaultSchedule::none(),
            max_points: data::DEFAULT_MAX_POINTS,
            bearer_token: None,
            on_request: None,
            max_in_flight: None,
        }
    }
}

// Keys are secrets: Debug shows only whether they are set.
impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("app_key", &self.app_key.as_ref().map(|_| "<set>"))
            .field("latency", &self.latency)
            .field("rate_limit", &self.rate_limit)
            .field("faults", &self.faults)
            .field("max_points", &self.max_points)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<set>"))
            .field("on_request", &self.on_request.as_ref().map(|_| "<set>"))
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// A fixed-window rate limit: `limit` requests per `period`, reported as `X-RateLimit-Name: name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests admitted per window (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Window length (`X-RateLimit-Period`, in whole seconds, rounded up).
    pub period: Duration,
    /// `X-RateLimit-Name`.
    pub name: String,
}

impl RateLimit {
    /// `limit` requests per `period`, named `query_metrics`.
    pub fn new(limit: u32, period: Duration) -> Self {
        RateLimit {
            limit,
            period,
            name: "query_metrics".to_string(),
        }
    }
}

impl Default for RateLimit {
    /// The limit Datadog reported for `/api/v1/query`: 1600 per hour.
    fn default() -> Self {
        RateLimit::new(1600, Duration::from_secs(3600))
    }
}

/// One request as the simulator saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// Position among all requests, in arrival order (0-based).
    pub index: u64,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The URL path, without the query string.
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The request body, if not empty.
    pub body: Option<String>,
    /// When the request arrived (before any configured latency).
    pub received_at: Instant,
    /// The same, counted from the simulator's start: its rate-limit periods begin at multiples
    /// of the period from there, so this places the request in its period.
    pub since_start: Duration,
    /// The client's `User-Agent` (a ddstream worker names itself there).
    pub user_agent: Option<String>,
    /// The status answered; 0 when the connection was dropped.
    pub status: u16,
    /// The fault injected into this request, if any.
    pub fault: Option<FaultKind>,
}

/// A running simulator. Dropping it shuts the server down.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Starts a simulator on `127.0.0.1` on a free port.
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Simulator> {
        Simulator::start_on(config, 0).await
    }

    /// Starts a simulator on `127.0.0.1:port` (0 = any free port).
    pub async fn start_on(config: SimulatorConfig, port: u16) -> std::io::Result<Simulator> {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(config));
        let (shutdown, shutdown_rx) = watch::channel(false);
        // The accept loop outlives this call by design; `Drop` and `shutdown` stop it.
        #[allow(
            clippy::disallowed_methods,
            reason = "the server runs until the Simulator is dropped or shut down"
        )]
        let task = tokio::spawn(server::accept_loop(
            listener,
            server::router(state.clone()),
            shutdown_rx,
        ));
        tracing::debug!(%addr, "simulator listening");
        Ok(Simulator {
            addr,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The request log, in arrival order. Requests still being answered are not in it yet.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.requests()
    }

    /// Empties the request log (arrival indices keep counting).
    pub fn clear_log(&self) {
        self.state.clear_log();
    }

    /// How many faults were injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.state.faults_injected.load(Ordering::Relaxed)
    }

    /// How many 429s were answered because the configured rate limit was exceeded (faults
    /// that answer 429 are not counted here).
    pub fn rate_limited_count(&self) -> u64 {
        self.state.rate_limited.load(Ordering::Relaxed)
    }

    /// Stops accepting, closes open connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.signal_shutdown();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn signal_shutdown(&mut self) {
        // Connection tasks watch this channel; a send (or the sender's drop) ends them.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.signal_shutdown();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
