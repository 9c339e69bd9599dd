//! The HTTP server: the router (every endpoint is registered here), the front door every
//! request passes (log, latency, Datadog keys or bearer token), and an accept loop that serves the router with
//! hyper directly, so a fault can drop a TCP connection (`axum::serve` cannot).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use super::json::{self, FORBIDDEN_BODY, VALIDATE_FORBIDDEN_BODY};
use super::state::{Outcome, RequestCtx, SimState};
use super::{catalog, rest, rest_page, rest_token, v1, v2_scalar, v2_timeseries};

/// Largest request body read (the data endpoints take small JSON bodies at most).
const MAX_BODY: usize = 4 << 20;

/// Per-connection handle, put in each request's extensions: notifying `kill` makes the
/// connection task drop the TCP connection at once (with a reset), whatever hyper is doing.
#[derive(Clone)]
pub(super) struct ConnControl {
    pub kill: Arc<Notify>,
}

/// All routes of the simulator.
pub(super) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/v1/query", get(v1::query))
        .route("/api/v1/validate", get(v1::validate))
        .route("/api/v1/metrics", get(catalog::list_active))
        .route("/api/v2/metrics/{name}/all-tags", get(catalog::all_tags))
        .route("/api/v2/query/timeseries", post(v2_timeseries::query))
        .route("/api/v2/query/scalar", post(v2_scalar::query))
        .route("/api/page/events", get(rest_page::events))
        .route("/api/page/events/search", post(rest_page::search))
        .route("/api/page/endless", get(rest_page::endless))
        .route("/api/github/events", get(rest_page::github))
        .route("/api/jsonserver/events", get(rest_page::json_server))
        .route("/api/token/events", get(rest_token::events))
        .route("/api/token/events/search", post(rest_token::search))
        .route("/api/token/stuck", get(rest_token::stuck))
        .route("/api/stripe/events", get(rest_token::stripe))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), front_door))
        .with_state(state)
}

async fn not_found() -> Response {
    json::error_response(StatusCode::NOT_FOUND, "Not found")
}

/// Runs for every request: assigns its arrival index, reads the body, waits the configured
/// latency, checks the credentials (Datadog keys under `/api/v1/` and `/api/v2/`, the
/// bearer token elsewhere), then logs the outcome.
async fn front_door(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let index = state.next_request_index();
    let received_at = Instant::now();
    let (mut parts, body) = req.into_parts();
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let body = to_bytes(body, MAX_BODY).await;
    let mut ctx = RequestCtx {
        index,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        body: None,
        received_at,
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let Ok(body) = body else {
        let resp = json::error_response(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large");
        state.record(&ctx, resp.status().as_u16(), None);
        return resp;
    };
    if !body.is_empty() {
        ctx.body = Some(String::from_utf8_lossy(&body).into_owned());
    }

    // A saturated server sheds what it cannot take at once, before doing any work.
    let answering = InFlight::enter(&state);
    if let Some(max) = state.max_in_flight {
        if answering.count > max {
            let resp = json::error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Server overloaded, retry later",
            );
            state.record(&ctx, resp.status().as_u16(), None);
            return resp;
        }
    }

    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }

    let denied = if is_datadog_path(&ctx.path) {
        check_keys(&state, &parts.headers, &ctx)
    } else {
        rest::check_bearer(&state, &parts.headers)
    };
    if let Some(denied) = denied {
        state.record(&ctx, denied.status().as_u16(), None);
        return denied;
    }

    parts.extensions.insert(ctx.clone());
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    let outcome = resp
        .extensions()
        .get::<Outcome>()
        .cloned()
        .unwrap_or_default();
    let status = if outcome.dropped {
        0
    } else {
        resp.status().as_u16()
    };
    state.record(&ctx, status, outcome.fault);
    resp
}

/// One request being answered, counted in `SimState::in_flight` until dropped.
struct InFlight<'a> {
    state: &'a SimState,
    /// Requests being answered, this one included.
    count: usize,
}

impl<'a> InFlight<'a> {
    fn enter(state: &'a SimState) -> Self {
        let count = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        InFlight { state, count }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether `path` belongs to the Datadog API (the keys are checked there, not elsewhere).
fn is_datadog_path(path: &str) -> bool {
    path.starts_with("/api/v1/") || path.starts_with("/api/v2/")
}

/// The 403 to answer if a configured key is missing or wrong. Keys come from the
/// `DD-API-KEY` / `DD-APPLICATION-KEY` headers or the deprecated `api_key` /
/// `application_key` query parameters. `/api/v1/validate` only checks the API key and has a
/// shorter body, like Datadog.
fn check_keys(state: &SimState, headers: &http::HeaderMap, ctx: &RequestCtx) -> Option<Response> {
    let matches = |header: &str, param: &str, want: &Option<String>| {
        let Some(want) = want else { return true };
        let from_header = headers.get(header).map(|v| v.as_bytes());
        let from_query = ctx
            .query
            .iter()
            .find(|(k, _)| k == param)
            .map(|(_, v)| v.as_bytes());
        from_header.or(from_query) == Some(want.as_bytes())
    };
    let api_ok = matches("dd-api-key", "api_key", &state.api_key);
    if ctx.path == "/api/v1/validate" {
        return (!api_ok)
            .then(|| json::json_response(StatusCode::FORBIDDEN, VALIDATE_FORBIDDEN_BODY));
    }
    let ok = api_ok && matches("dd-application-key", "application_key", &state.app_key);
    (!ok).then(|| json::json_response(StatusCode::FORBIDDEN, FORBIDDEN_BODY))
}

/// Accepts connections until shutdown is signalled.
pub(super) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "simulator connection");
                    // Each connection ends with its client or at shutdown (serve_connection
                    // watches the signal), not with the accept loop's iteration.
                    #[allow(
                        clippy::disallowed_methods,
                        reason = "a connection lives until its client closes it or the server shuts down"
                    )]
                    tokio::spawn(serve_connection(stream, router.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::debug!(error = %e, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
    tracing::debug!("simulator stopped accepting");
}

/// Serves one connection until the client closes it, a fault kills it, or shutdown.
async fn serve_connection(stream: TcpStream, router: Router, mut shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let control = ConnControl { kill: kill.clone() };
    let hyper_service = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(control.clone());
        hyper::service::Service::call(&hyper_service, req)
    });
    let mut conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        res = &mut conn => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "simulator connection ended with an error");
            }
        }
        _ = kill.notified() => {
            // Take the socket back and close it with SO_LINGER 0, so the peer sees a reset
            // rather than an orderly close.
            let tcp = conn.into_parts().io.into_inner();
            let _ = tcp.set_zero_linger();
            drop(tcp);
            tracing::debug!("simulator connection reset (fault)");
        }
        _ = shutdown.changed() => {}
    }
}
