//! Fetching one cursor to completion: rate gate, send, classify, retry with backoff, and for time
//! windows the adaptive split-and-refetch. Runs inside a spawned task of the prefetch pipeline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;

use super::adapter::{ErrorClass, ParsedResponse, VendorAdapter};
use super::concurrency::{HostLimit, Signal};
use super::cursor::Cursor;
use super::http::{Transport, TransportError};
use super::metrics::EngineMetrics;
use super::policy::{ChunkFeedback, ExecutionPolicy};
use super::rate_gate::RateGate;
use crate::error::RetryCause;
use crate::{Error, Result};

/// Everything a fetch task needs; shared by all tasks of one stream.
#[derive(Debug)]
pub(crate) struct FetchContext {
    pub adapter: Arc<dyn VendorAdapter>,
    pub policy: Arc<dyn ExecutionPolicy>,
    pub transport: Arc<dyn Transport>,
    pub metrics: Arc<EngineMetrics>,
    pub chunk: Mutex<ChunkState>,
}

/// The adaptive window size of one stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkState {
    pub chunk_ms: i64,
    /// Smallest window length the API refused.
    pub ceiling_ms: Option<i64>,
    /// Fast successes in a row.
    pub streak: u32,
}

/// The result of fetching one cursor.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub batches: Vec<RecordBatch>,
    pub next: Option<Cursor>,
    /// The last page number, when a page-number response told it.
    pub last_page: Option<u64>,
    pub completed_at: Instant,
}

/// One attempt-loop outcome for a single request.
enum Attempt {
    Rows(RecordBatch, Option<Cursor>, Option<u64>),
    TooLarge(String),
}

impl FetchContext {
    fn chunk_feedback(&self, feedback: ChunkFeedback) {
        let mut state = self.chunk.lock().unwrap_or_else(|p| p.into_inner());
        if let ChunkFeedback::TooLarge { failed_ms } = feedback {
            state.ceiling_ms = Some(state.ceiling_ms.map_or(failed_ms, |c| c.min(failed_ms)));
            state.streak = 0;
        }
        state.chunk_ms = self
            .policy
            .adjust(state.chunk_ms, state.ceiling_ms, feedback);
    }

    fn note_success(&self, elapsed: Duration) {
        let streak = {
            let mut state = self.chunk.lock().unwrap_or_else(|p| p.into_inner());
            if elapsed <= self.policy.fast_response() {
                state.streak += 1;
            } else {
                state.streak = 0;
            }
            state.streak
        };
        if streak > 0 {
            self.chunk_feedback(ChunkFeedback::FastSuccess { streak });
        }
    }
}

/// Fetches a cursor. A window that the API finds too large is split in two aligned halves and
/// both are fetched, in order, before this returns: results stay in cursor order.
pub(crate) async fn fetch_cursor(ctx: Arc<FetchContext>, cursor: Cursor) -> Result<Fetched> {
    let Cursor::Window(window) = cursor else {
        let (batch, next, last_page) = match fetch_with_retries(&ctx, &cursor, false).await? {
            Attempt::Rows(batch, next, last_page) => (batch, next, last_page),
            Attempt::TooLarge(reason) => {
                return Err(Error::Api {
                    adapter: ctx.adapter.name(),
                    cursor: cursor.to_string(),
                    status: 413,
                    message: reason,
                    hint: Some("lower the page size"),
                })
            }
        };
        EngineMetrics::add(&ctx.metrics.pages, 1);
        return Ok(Fetched {
            batches: vec![batch],
            next,
            last_page,
            completed_at: Instant::now(),
        });
    };

    let align = ctx.adapter.alignment_ms();
    let min_chunk_ms = super::policy::millis(ctx.policy.min_chunk());
    let mut queue = VecDeque::from([window]);
    let mut batches = Vec::new();
    while let Some(w) = queue.pop_front() {
        let halves = (w.len_ms() > min_chunk_ms)
            .then(|| w.split_aligned(align))
            .flatten();
        let started = Instant::now();
        match fetch_with_retries(&ctx, &Cursor::Window(w), halves.is_some()).await? {
            Attempt::Rows(batch, _, _) => {
                ctx.note_success(started.elapsed());
                EngineMetrics::add(&ctx.metrics.done_ms, w.len_ms() as u64);
                if batch.num_rows() > 0 {
                    batches.push(batch);
                }
            }
            Attempt::TooLarge(reason) => {
                let Some((first, second)) = halves else {
                    return Err(Error::WindowTooSmall {
                        adapter: ctx.adapter.name(),
                        cursor: w.to_string(),
                        reason,
                        min_chunk: ctx.policy.min_chunk(),
                    });
                };
                tracing::debug!(adapter = ctx.adapter.name(), window = %w, %reason, "splitting window");
                EngineMetrics::add(&ctx.metrics.splits, 1);
                ctx.chunk_feedback(ChunkFeedback::TooLarge {
                    failed_ms: w.len_ms(),
                });
                queue.push_front(second);
                queue.push_front(first);
            }
        }
    }
    Ok(Fetched {
        batches,
        next: None,
        last_page: None,
        completed_at: Instant::now(),
    })
}

/// Sends one cursor's request until it succeeds, is found too large, fails permanently, or the
/// retry budget is spent. `can_split` turns timeouts into "too large" (a smaller window is
/// likelier to finish in time than the same one again).
async fn fetch_with_retries(
    ctx: &FetchContext,
    cursor: &Cursor,
    can_split: bool,
) -> Result<Attempt> {
    let adapter = ctx.adapter.as_ref();
    let request = adapter.build_request(cursor)?;
    let gate = RateGate::shared(
        &format!("{}{}", request.url.authority(), request.url.path()),
        ctx.policy.rate_share(),
    );
    let authority = request.url.authority().to_string();
    let host_limit = ctx
        .policy
        .concurrency()
        .map(|bounds| HostLimit::shared(&authority, bounds));
    let started = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        // A place under the host's concurrency limit first, then the rate budget: a request
        // waiting for the budget holds its place, so the two never admit more than either.
        let slot = match &host_limit {
            Some(limit) => Some(limit.acquire().await),
            None => None,
        };
        let permit = gate.acquire().await;
        EngineMetrics::add_duration(&ctx.metrics.throttled_ns, permit.waited);
        EngineMetrics::add(&ctx.metrics.requests, 1);
        if attempt > 0 {
            EngineMetrics::add(&ctx.metrics.retries, 1);
        }
        let sent = Instant::now();
        let outcome = ctx.transport.send(&request).await;
        if let Some(slot) = slot {
            slot.finish(signal_of(&outcome, sent.elapsed()));
        }
        let (failure, hint) = match outcome {
            Ok(response) => {
                super::answered::mark(&authority);
                let budget = permit.observe(response.status, &response.headers);
                if let (Some(limit), Some(budget)) = (&host_limit, budget) {
                    // The host said how many requests it will take: no need to slow-start.
                    limit.open_to(usize::try_from(budget).unwrap_or(0));
                }
                EngineMetrics::add(&ctx.metrics.bytes, response.body.len() as u64);
                if (200..300).contains(&response.status) {
                    match adapter.parse(cursor, &response) {
                        Ok(ParsedResponse::Rows {
                            batch,
                            next,
                            last_page,
                        }) => return Ok(Attempt::Rows(batch, next, last_page)),
                        Ok(ParsedResponse::WindowTooLarge(reason)) => {
                            return Ok(Attempt::TooLarge(reason))
                        }
                        // A body cut short by a broken connection: worth another try.
                        Err(e) if is_truncation(&e) => (RetryCause::Truncated(Box::new(e)), None),
                        Err(e) => return Err(e),
                    }
                } else {
                    let message = adapter.error_message(&response.body);
                    match adapter.classify_error(response.status, &response.body) {
                        ErrorClass::TooLarge => {
                            return Ok(Attempt::TooLarge(format!(
                                "HTTP {}: {message}",
                                response.status
                            )))
                        }
                        ErrorClass::Fatal => {
                            return Err(Error::Api {
                                adapter: adapter.name(),
                                cursor: cursor.to_string(),
                                status: response.status,
                                message,
                                hint: adapter.error_hint(response.status),
                            })
                        }
                        ErrorClass::Retry => (
                            RetryCause::Status {
                                status: response.status,
                                message,
                            },
                            sooner_wait(
                                adapter.retry_after(response.status, &response.headers),
                                (response.status == 429).then(|| permit.hold()).flatten(),
                            ),
                        ),
                    }
                }
            }
            Err(TransportError::Timeout(t)) if can_split => {
                return Ok(Attempt::TooLarge(format!("request timed out after {t:?}")))
            }
            // Retrying cannot fix a failed TLS handshake, nor find a server at a host and port
            // that never answered (a typo, or nothing started): say so at once.
            Err(e)
                if e.is_permanent()
                    || (matches!(e, TransportError::Refused(_))
                        && !super::answered::has_answered(&authority)) =>
            {
                return Err(Error::Network {
                    adapter: adapter.name(),
                    cursor: cursor.to_string(),
                    source: e,
                })
            }
            Err(e) => (RetryCause::Transport(e), None),
        };
        // Release the gate (a failed probe lets another request probe) before backing off.
        drop(permit);
        match ctx.policy.backoff(attempt, hint) {
            Some(delay) => {
                tracing::debug!(adapter = adapter.name(), %cursor, attempt, ?delay, error = %failure, "retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            None => {
                return Err(Error::RetriesExhausted {
                    adapter: adapter.name(),
                    cursor: cursor.to_string(),
                    attempts: attempt + 1,
                    elapsed: started.elapsed(),
                    last: failure,
                })
            }
        }
    }
}

/// How long to wait before retrying: what the server asks, or, after a 429, until the rate gate
/// lets requests go again if that is sooner (it may have learned when the period ends, which a
/// whole-second `X-RateLimit-Reset` tells only roughly).
fn sooner_wait(server: Option<Duration>, gate: Option<Duration>) -> Option<Duration> {
    match (server, gate) {
        (Some(server), Some(gate)) => Some(server.min(gate)),
        (server, gate) => server.or(gate),
    }
}

/// What a request's outcome tells the host's concurrency limit.
fn signal_of(
    outcome: &std::result::Result<super::http::ApiResponse, TransportError>,
    round_trip: Duration,
) -> Signal {
    match outcome {
        Ok(response) if response.status == 429 || response.status >= 500 => Signal::Overloaded,
        Ok(_) => Signal::Answered(round_trip),
        Err(TransportError::Timeout(_)) => Signal::Overloaded,
        Err(_) => Signal::Ignore,
    }
}

fn is_truncation(error: &Error) -> bool {
    matches!(
        error,
        Error::MalformedResponse {
            truncated: true,
            ..
        }
    )
}
