//! The prefetch pipeline: keeps up to `prefetch_depth` cursors in flight as spawned tasks (aborted
//! when the stream is dropped) and yields their batches strictly in cursor order.
//!
//! Written by hand rather than with `futures::stream::buffered` because the in-flight fetches
//! must keep running while the consumer is busy (they are tasks, not futures polled by the
//! consumer), the next page/token cursor is only known once the previous response is parsed,
//! and the window size changes while the stream runs.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use futures::{FutureExt, Stream};

use super::cursor::{next_window, Cursor, TimeWindow};
use super::fetch::{fetch_cursor, ChunkState, FetchContext, Fetched};
use super::metrics::EngineMetrics;
use super::{Engine, FetchPlan};
use crate::{Error, Result};

/// Decides the next cursor to fetch.
#[derive(Debug)]
enum Planner {
    /// Time windows, known in advance: windows are cut from the front of `ranges`.
    Windows {
        ranges: VecDeque<TimeWindow>,
        align_ms: i64,
    },
    /// Tokens: the next one comes from the previous response.
    Sequence {
        next: Option<Cursor>,
        /// A request is in flight whose response names the next cursor.
        waiting: bool,
        seen: HashSet<Cursor>,
        max_pages: u64,
    },
    /// Page numbers: one after another until a response tells the last page; from then on
    /// the pages up to it are requested ahead, in parallel up to the prefetch depth.
    Pages {
        next: u64,
        size: u64,
        first: u64,
        /// The last page, once a response told it.
        last: Option<u64>,
        /// A request is in flight whose response says whether there is a next page.
        waiting: bool,
        /// A response said it was the last page.
        done: bool,
        max_pages: u64,
    },
}

impl Planner {
    fn next_cursor(&mut self, chunk_ms: i64, adapter: &'static str) -> Result<Option<Cursor>> {
        Ok(match self {
            Planner::Windows { ranges, align_ms } => {
                let Some(range) = ranges.front_mut() else {
                    return Ok(None);
                };
                let w = next_window(range.start_ms, range.end_ms, chunk_ms, *align_ms);
                range.start_ms = w.end_ms;
                if range.is_empty() {
                    ranges.pop_front();
                }
                Some(Cursor::Window(w))
            }
            Planner::Sequence { next, waiting, .. } => {
                if *waiting {
                    return Ok(None);
                }
                let cursor = next.take();
                *waiting = cursor.is_some();
                cursor
            }
            Planner::Pages {
                next,
                size,
                first,
                last,
                waiting,
                done,
                max_pages,
            } => {
                let known = last.is_some_and(|l| *next <= l);
                if *done || last.is_some_and(|l| *next > l) || (!known && *waiting) {
                    return Ok(None);
                }
                if *next - *first >= *max_pages {
                    return Err(too_many_pages(adapter, *max_pages));
                }
                *waiting = !known;
                let cursor = Cursor::Page {
                    number: *next,
                    size: *size,
                };
                // No page after the largest number there is.
                match next.checked_add(1) {
                    Some(n) => *next = n,
                    None => *done = true,
                }
                Some(cursor)
            }
        })
    }

    /// Records the cursor a response pointed to; a repeat is a stuck cursor.
    fn advance(&mut self, adapter: &'static str, fetched: &Fetched) -> Result<()> {
        match self {
            Planner::Windows { .. } => {}
            Planner::Sequence {
                next,
                waiting,
                seen,
                max_pages,
            } => {
                *waiting = false;
                if let Some(cursor) = fetched.next.clone() {
                    if !seen.insert(cursor.clone()) {
                        return Err(Error::StuckCursor {
                            adapter,
                            detail: format!(
                                "the API returned {cursor} again after {} pages; it would loop forever",
                                seen.len()
                            ),
                        });
                    }
                    if seen.len() as u64 > *max_pages {
                        return Err(too_many_pages(adapter, *max_pages));
                    }
                    *next = Some(cursor);
                }
            }
            Planner::Pages {
                next,
                last,
                waiting,
                done,
                ..
            } => {
                *waiting = false;
                match &fetched.next {
                    None => *done = true,
                    Some(Cursor::Page { number, .. }) if *number == *next || last.is_some() => {}
                    Some(other) => {
                        return Err(Error::StuckCursor {
                            adapter,
                            detail: format!(
                                "the response pointed to {other} where page {next} was expected"
                            ),
                        })
                    }
                }
                if let Some(l) = fetched.last_page {
                    *last = Some(last.map_or(l, |known| known.min(l)));
                }
            }
        }
        Ok(())
    }
}

fn too_many_pages(adapter: &'static str, max_pages: u64) -> Error {
    Error::TooManyPages { adapter, max_pages }
}

/// A stream of record batches from one engine run. Dropping it aborts every in-flight request.
pub struct EngineStream {
    ctx: Arc<FetchContext>,
    schema: SchemaRef,
    planner: Planner,
    depth: usize,
    batch_size: usize,
    in_flight: VecDeque<SpawnedTask<Result<Fetched>>>,
    ready: VecDeque<RecordBatch>,
    limit_left: Option<usize>,
    finished: bool,
    waiting_since: Option<Instant>,
}

impl std::fmt::Debug for EngineStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineStream")
            .field("adapter", &self.ctx.adapter.name())
            .field("planner", &self.planner)
            .field("in_flight", &self.in_flight.len())
            .field("finished", &self.finished)
            .finish()
    }
}

impl EngineStream {
    pub(crate) fn new(engine: &Engine, plan: FetchPlan, limit: Option<usize>) -> Self {
        let adapter = Arc::clone(&engine.adapter);
        let (planner, chunk_ms) = match plan {
            FetchPlan::Windows { ranges, chunk } => {
                let ranges: VecDeque<TimeWindow> =
                    ranges.into_iter().filter(|r| !r.is_empty()).collect();
                let total: i64 = ranges.iter().map(TimeWindow::len_ms).sum();
                EngineMetrics::add(&engine.metrics.total_ms, total as u64);
                (
                    Planner::Windows {
                        ranges,
                        align_ms: adapter.alignment_ms(),
                    },
                    super::policy::millis(chunk),
                )
            }
            FetchPlan::Sequence {
                first: Cursor::Page { number, size },
            } => (
                Planner::Pages {
                    next: number,
                    size,
                    first: number,
                    last: None,
                    waiting: false,
                    done: false,
                    max_pages: engine.policy.max_pages(),
                },
                0,
            ),
            FetchPlan::Sequence { first } => (
                Planner::Sequence {
                    seen: HashSet::from([first.clone()]),
                    next: Some(first),
                    waiting: false,
                    max_pages: engine.policy.max_pages(),
                },
                0,
            ),
        };
        let ctx = Arc::new(FetchContext {
            adapter: Arc::clone(&adapter),
            policy: Arc::clone(&engine.policy),
            transport: Arc::clone(&engine.transport),
            metrics: Arc::clone(&engine.metrics),
            chunk: Mutex::new(ChunkState {
                chunk_ms,
                ceiling_ms: None,
                streak: 0,
            }),
        });
        Self {
            schema: adapter.schema(),
            depth: engine.policy.prefetch_depth().max(1),
            batch_size: engine.batch_size.max(1),
            planner,
            ctx,
            in_flight: VecDeque::new(),
            ready: VecDeque::new(),
            limit_left: limit,
            finished: limit == Some(0),
            waiting_since: None,
        }
    }

    /// The schema of the batches (the adapter's).
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Counters shared with the engine that made this stream.
    pub fn metrics(&self) -> &Arc<EngineMetrics> {
        &self.ctx.metrics
    }

    fn top_up(&mut self) -> Result<()> {
        if self.in_flight.len() >= self.depth {
            return Ok(());
        }
        // Fetches are tasks of the caller's runtime; outside one, an error rather than
        // tokio's panic.
        tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        while self.in_flight.len() < self.depth {
            let chunk_ms = self
                .ctx
                .chunk
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .chunk_ms;
            let Some(cursor) = self
                .planner
                .next_cursor(chunk_ms, self.ctx.adapter.name())?
            else {
                break;
            };
            let task = SpawnedTask::spawn(fetch_cursor(Arc::clone(&self.ctx), cursor));
            self.in_flight.push_back(task);
        }
        Ok(())
    }

    fn accept(&mut self, fetched: Fetched) -> Result<()> {
        EngineMetrics::add_duration(
            &self.ctx.metrics.consumer_wait_ns,
            fetched.completed_at.elapsed(),
        );
        self.planner.advance(self.ctx.adapter.name(), &fetched)?;
        for batch in fetched.batches {
            let mut offset = 0;
            while offset < batch.num_rows() {
                let len = self.batch_size.min(batch.num_rows() - offset);
                self.ready.push_back(batch.slice(offset, len));
                offset += len;
            }
        }
        Ok(())
    }

    fn emit(&mut self, mut batch: RecordBatch) -> RecordBatch {
        if let Some(left) = self.limit_left.as_mut() {
            if batch.num_rows() >= *left {
                batch = batch.slice(0, *left);
                self.finish();
            }
            if let Some(left) = self.limit_left.as_mut() {
                *left = left.saturating_sub(batch.num_rows());
            }
        }
        EngineMetrics::add(&self.ctx.metrics.rows, batch.num_rows() as u64);
        batch
    }

    /// Stops: drops (and so aborts) every in-flight request.
    fn finish(&mut self) {
        self.finished = true;
        self.in_flight.clear();
        self.ready.clear();
    }
}

impl Stream for EngineStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(batch) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(this.emit(batch))));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            if let Err(e) = this.top_up() {
                this.finish();
                return Poll::Ready(Some(Err(e)));
            }
            let Some(head) = this.in_flight.front_mut() else {
                this.finished = true;
                return Poll::Ready(None);
            };
            let result = match head.poll_unpin(cx) {
                Poll::Pending => {
                    this.waiting_since.get_or_insert_with(Instant::now);
                    return Poll::Pending;
                }
                Poll::Ready(result) => result,
            };
            if let Some(since) = this.waiting_since.take() {
                EngineMetrics::add_duration(&this.ctx.metrics.network_wait_ns, since.elapsed());
            }
            this.in_flight.pop_front();
            let outcome = match result {
                Ok(fetched) => fetched.and_then(|f| this.accept(f)),
                Err(join) => Err(Error::TaskFailed(join)),
            };
            if let Err(e) = outcome {
                this.finish();
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::engine::{
        ApiRequest, ApiResponse, DefaultPolicy, ParsedResponse, Transport, TransportError,
        VendorAdapter,
    };

    /// An adapter whose requests are never answered (the transport below never is called).
    #[derive(Debug)]
    struct Unanswered;

    impl VendorAdapter for Unanswered {
        fn name(&self) -> &'static str {
            "unanswered"
        }
        fn schema(&self) -> SchemaRef {
            Arc::new(datafusion::arrow::datatypes::Schema::empty())
        }
        fn build_request(&self, _cursor: &Cursor) -> Result<ApiRequest> {
            Ok(ApiRequest {
                method: ::http::Method::GET,
                url: url::Url::parse("http://127.0.0.1:9/")
                    .map_err(|e| Error::config(e.to_string()))?,
                headers: Default::default(),
                body: None,
            })
        }
        fn parse(&self, _cursor: &Cursor, _response: &ApiResponse) -> Result<ParsedResponse> {
            Err(Error::Internal("not reached".into()))
        }
    }

    #[derive(Debug)]
    struct Silent;

    #[async_trait::async_trait]
    impl Transport for Silent {
        async fn send(&self, _request: &ApiRequest) -> Result<ApiResponse, TransportError> {
            futures::future::pending().await
        }
    }

    #[test]
    fn polling_outside_a_tokio_runtime_is_an_error_not_a_panic() {
        let engine = Engine::new(
            Arc::new(Unanswered),
            Arc::new(DefaultPolicy::default()),
            Arc::new(Silent),
        );
        let mut stream = engine.stream(FetchPlan::Sequence {
            first: Cursor::Token(None),
        });
        let first = futures::executor::block_on(stream.next());
        assert!(matches!(first, Some(Err(Error::NoRuntime))), "{first:?}");
        assert!(futures::executor::block_on(stream.next()).is_none());
    }

    #[test]
    fn the_page_after_u64_max_is_never_asked_for() {
        let mut planner = Planner::Pages {
            next: u64::MAX,
            size: 10,
            first: u64::MAX,
            last: None,
            waiting: false,
            done: false,
            max_pages: 100,
        };
        let top = planner.next_cursor(0, "t").unwrap();
        assert_eq!(
            top,
            Some(Cursor::Page {
                number: u64::MAX,
                size: 10
            })
        );
        assert_eq!(planner.next_cursor(0, "t").unwrap(), None);
    }
}
