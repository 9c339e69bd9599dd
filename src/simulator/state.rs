//! The simulator's shared state (configuration, counters, rate limiters, fault cursor) and the
//! request log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::faults::{FaultCursor, FaultKind};
use super::rate_limit::RateLimiter;
use super::{LoggedRequest, RequestHook, SimulatorConfig};

/// State shared by the server loop and every handler.
pub(super) struct SimState {
    pub api_key: Option<String>,
    pub app_key: Option<String>,
    pub latency: Duration,
    /// See `SimulatorConfig::max_in_flight`.
    pub max_in_flight: Option<usize>,
    /// Requests being answered now.
    pub in_flight: std::sync::atomic::AtomicUsize,
    pub max_points: usize,
    /// `SimulatorConfig::bearer_token`: required by the REST endpoints when set.
    pub bearer_token: Option<String>,
    /// The rate limit of `/api/v1/query` (`X-RateLimit-Name: query_metrics` by default).
    pub query_limiter: RateLimiter,
    /// The rate limit of `POST /api/v2/query/timeseries` (same configuration, own count).
    pub timeseries_limiter: RateLimiter,
    /// The rate limit of `POST /api/v2/query/scalar` (same configuration, own count).
    pub scalar_limiter: RateLimiter,
    /// The rate limit shared by all the REST endpoints (same configuration, own window).
    pub rest_limiter: RateLimiter,
    /// Records served so far by `/api/token/stuck?mode=cycle` (each page gets new ones).
    pub stuck_served: AtomicU64,
    pub faults: FaultCursor,
    pub faults_injected: AtomicU64,
    pub rate_limited: AtomicU64,
    next_request: AtomicU64,
    log: Mutex<Vec<LoggedRequest>>,
    on_request: Option<RequestHook>,
    /// The origin of the rate-limit periods.
    start: Instant,
}

/// What the front door learned about a request, carried in its extensions so that whoever
/// ends the request (normally the front door, or a fault dropping the connection) can log it.
#[derive(Debug, Clone)]
pub(super) struct RequestCtx {
    pub index: u64,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<String>,
    pub received_at: Instant,
    pub user_agent: Option<String>,
}

/// Attached to a response by the data pipeline: the fault injected, and whether the
/// connection is going to be dropped (logged as status 0).
#[derive(Debug, Clone, Default)]
pub(super) struct Outcome {
    pub fault: Option<FaultKind>,
    pub dropped: bool,
}

impl SimState {
    pub fn new(config: SimulatorConfig) -> Self {
        let start = Instant::now();
        SimState {
            api_key: config.api_key,
            app_key: config.app_key,
            latency: config.latency,
            max_in_flight: config.max_in_flight,
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            max_points: config.max_points.max(1),
            bearer_token: config.bearer_token,
            query_limiter: RateLimiter::new(config.rate_limit.as_ref(), start),
            timeseries_limiter: RateLimiter::new(config.rate_limit.as_ref(), start),
            scalar_limiter: RateLimiter::new(config.rate_limit.as_ref(), start),
            rest_limiter: RateLimiter::new(config.rate_limit.as_ref(), start),
            stuck_served: AtomicU64::new(0),
            faults: FaultCursor::new(config.faults),
            faults_injected: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            next_request: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            on_request: config.on_request,
            start,
        }
    }

    /// The next arrival index.
    pub fn next_request_index(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    /// Appends the finished request to the log.
    pub fn record(&self, ctx: &RequestCtx, status: u16, fault: Option<FaultKind>) {
        tracing::debug!(
            index = ctx.index,
            method = %ctx.method,
            path = %ctx.path,
            status,
            ?fault,
            "simulator request"
        );
        let entry = LoggedRequest {
            index: ctx.index,
            method: ctx.method.clone(),
            path: ctx.path.clone(),
            query: ctx.query.clone(),
            body: ctx.body.clone(),
            received_at: ctx.received_at,
            since_start: ctx.received_at.saturating_duration_since(self.start),
            user_agent: ctx.user_agent.clone(),
            status,
            fault,
        };
        if let Some(hook) = &self.on_request {
            hook(&entry);
        }
        self.lock_log().push(entry);
    }

    /// The log sorted by arrival (requests are appended when they finish).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        let mut log = self.lock_log().clone();
        log.sort_by_key(|r| r.index);
        log
    }

    pub fn clear_log(&self) {
        self.lock_log().clear();
    }

    fn lock_log(&self) -> std::sync::MutexGuard<'_, Vec<LoggedRequest>> {
        // A panic while holding the lock cannot leave the Vec inconsistent: keep going.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
