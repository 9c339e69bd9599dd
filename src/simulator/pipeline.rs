//! The path every data request takes after the front door: rate limit, then fault
//! injection, then the endpoint's computation (off the async threads), then any fault that
//! mangles the real response. Every data endpoint (v1 query, the REST pages) goes through it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{header, HeaderName, HeaderValue, StatusCode};

use super::faults::FaultKind;
use super::json;
use super::rate_limit::{RateHeaders, RateLimiter};
use super::server::ConnControl;
use super::state::{Outcome, RequestCtx, SimState};

/// What an endpoint computed: a status, a JSON body and any extra headers (`Link`, ...).
pub(super) struct Answer {
    pub status: StatusCode,
    pub body: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Answer {
    /// A JSON answer without extra headers.
    pub fn new(status: StatusCode, body: String) -> Self {
        Answer {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// The response with `body` (the answer's own, or a mangled one) and the extra headers.
    fn respond(self, body: impl Into<Body>) -> Response {
        let mut resp = json::json_response(self.status, body);
        resp.headers_mut().extend(self.headers);
        resp
    }
}

/// Runs `compute` for a data request under `limiter` and the fault schedule.
pub(super) async fn data_request<F>(
    state: &Arc<SimState>,
    req: Request,
    limiter: &RateLimiter,
    compute: F,
) -> Response
where
    F: FnOnce() -> Answer + Send + 'static,
{
    // Only the extensions are needed; the request itself (its body is not Sync) goes now.
    let ctx = req.extensions().get::<RequestCtx>().cloned();
    let control = req.extensions().get::<ConnControl>().cloned();
    drop(req);
    let (allowed, rate) = limiter.acquire(Instant::now());
    if !allowed {
        state.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut resp = json::error_response(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        rate.apply(resp.headers_mut());
        return resp;
    }

    let (fault_index, fault) = state.faults.next();
    if let Some(kind) = &fault {
        state.faults_injected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(fault_index, fault = ?kind, "simulator injecting fault");
    }
    let mut resp = match &fault {
        None => answer(compute).await,
        Some(FaultKind::ConnectionResetBeforeResponse) => {
            return reset_connection(state, ctx, control).await
        }
        Some(FaultKind::Slow { delay }) => {
            tokio::time::sleep(*delay).await;
            answer(compute).await
        }
        Some(FaultKind::Status(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json::error_response(status, status.canonical_reason().unwrap_or("Error"))
        }
        Some(FaultKind::TooManyRequestsRetryAfter { secs }) => {
            let mut resp = json::error_response(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
            let exhausted = RateHeaders {
                remaining: 0,
                reset_s: *secs,
                ..rate.clone()
            };
            exhausted.apply(resp.headers_mut());
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            return with_outcome(resp, fault, false);
        }
        Some(FaultKind::TooManyRequestsResetOnly { secs }) => {
            let mut resp = json::error_response(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
            resp.headers_mut()
                .insert("x-ratelimit-reset", HeaderValue::from(*secs));
            return with_outcome(resp, fault, false);
        }
        Some(FaultKind::PayloadTooLarge) => {
            json::error_response(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large")
        }
        Some(FaultKind::NotJson) => {
            let mut resp = Response::new(Body::from("<html>oops</html>"));
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            resp
        }
        Some(FaultKind::WrongShape) => {
            json::json_response(StatusCode::OK, r#"{"unexpected":"shape"}"#)
        }
        Some(FaultKind::TruncatedJson) => {
            let mut full = compute_off_thread(compute).await;
            let bytes = Bytes::from(std::mem::take(&mut full.body));
            let cut = bytes.slice(..bytes.len() / 2);
            full.respond(cut)
        }
        Some(FaultKind::ResetMidBody) => {
            let mut full = compute_off_thread(compute).await;
            let (body, full_len) = half_then_error(std::mem::take(&mut full.body));
            let mut resp = full.respond(body);
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
            rate.apply(resp.headers_mut());
            return with_outcome(resp, fault, true);
        }
    };
    rate.apply(resp.headers_mut());
    with_outcome(resp, fault, false)
}

async fn answer<F>(compute: F) -> Response
where
    F: FnOnce() -> Answer + Send + 'static,
{
    let mut a = compute_off_thread(compute).await;
    let body = std::mem::take(&mut a.body);
    a.respond(body)
}

/// Building a large response is CPU work: keep it off the async worker threads (not started at
/// all if the request is dropped first).
async fn compute_off_thread<F>(compute: F) -> Answer
where
    F: FnOnce() -> Answer + Send + 'static,
{
    match datafusion::common::runtime::SpawnedTask::spawn_blocking(compute).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::debug!(error = %e, "simulator computation failed");
            Answer::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                json::error_body("Internal Server Error"),
            )
        }
    }
}

/// A body that sends the first half of `body`, then fails: with the full length announced
/// in `Content-Length`, hyper aborts the connection and the client sees a short body.
fn half_then_error(body: String) -> (Body, usize) {
    let bytes = Bytes::from(body);
    let full_len = bytes.len();
    let chunks = [Some(bytes.slice(..full_len / 2)), None];
    let stream = futures::stream::iter(chunks).then(|chunk| async move {
        match chunk {
            Some(bytes) => Ok(bytes),
            None => {
                // Let the headers and the first half reach the client before the abort.
                tokio::time::sleep(Duration::from_millis(30)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset mid-body",
                ))
            }
        }
    });
    (Body::from_stream(stream), full_len)
}

/// Logs the request as dropped, then has the connection task reset the TCP connection.
async fn reset_connection(
    state: &Arc<SimState>,
    ctx: Option<RequestCtx>,
    control: Option<ConnControl>,
) -> Response {
    match (ctx, control) {
        (Some(ctx), Some(control)) => {
            state.record(&ctx, 0, Some(FaultKind::ConnectionResetBeforeResponse));
            control.kill.notify_one();
            // The connection task drops this future together with the connection.
            std::future::pending().await
        }
        // Served outside the simulator's own accept loop: nothing to reset.
        _ => with_outcome(
            json::error_response(StatusCode::BAD_GATEWAY, "Connection reset unavailable"),
            Some(FaultKind::ConnectionResetBeforeResponse),
            false,
        ),
    }
}

fn with_outcome(mut resp: Response, fault: Option<FaultKind>, dropped: bool) -> Response {
    resp.extensions_mut().insert(Outcome { fault, dropped });
    resp
}
