//! [`Stream`]: one API table read over a time range as record batches, the seed's
//! `stream_create(adapter, config_json)`. It is the SQL table itself (`table_from_json`) scanned
//! with the range as a time filter, so every adapter, option and pushdown behaves as in SQL.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatchReader;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{col, lit, Expr};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::exec::Execution;
use super::time::{split_config, Range, TimeArg};
use super::{block_on, known_vendor, EmbedError};
use crate::sql::registry::table_from_json;

/// A stream of one API table's rows over a range. Cheap to clone (clones share the run);
/// `Send + Sync`: every method may be called from any thread, `next_batch` blocking it.
#[derive(Clone)]
pub struct Stream {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: SessionContext,
    table: Arc<dyn TableProvider>,
    filter: Option<Expr>,
    run: Mutex<Arc<Execution>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The table's config may hold keys: show only the shape.
        f.debug_struct("Stream")
            .field("schema_fields", &self.schema().fields().len())
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// A stream of `adapter` (`datadog_v1`, `datadog_v2_timeseries`, `datadog_v2_scalar`,
    /// `page_api`, `token_api`) configured by the JSON of `ddstream::register` plus optional
    /// `range_start` / `range_end` (epoch seconds or RFC 3339). Without a range, time tables
    /// read their default range (the last `default_range` up to now).
    pub fn create(adapter: &str, config_json: &str) -> Result<Stream, EmbedError> {
        Self::create_with_range(adapter, config_json, None, None)
    }

    /// [`create`](Self::create) with the range given here (it wins over the config's keys).
    pub fn create_with_range(
        adapter: &str,
        config_json: &str,
        start: Option<TimeArg>,
        end: Option<TimeArg>,
    ) -> Result<Stream, EmbedError> {
        let vendor = known_vendor(adapter)?;
        let (table_json, cfg_start, cfg_end) = split_config(config_json)?;
        let range = Range::new(start.or(cfg_start).as_ref(), end.or(cfg_end).as_ref())?;
        let table = table_from_json(vendor.name(), &table_json)?;
        let filter = time_filter(vendor.name(), table.as_ref(), range)?;
        // One partition: batches come in time order, with `prefetch_depth` requests in flight.
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
        let run = start_run(&ctx, &table, filter.as_ref())?;
        Ok(Stream {
            inner: Arc::new(Inner {
                ctx,
                table,
                filter,
                run: Mutex::new(Arc::new(run)),
            }),
        })
    }

    fn run(&self) -> Arc<Execution> {
        Arc::clone(&self.inner.run.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The columns of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.run().schema()
    }

    /// The next batch, `Ok(None)` at the end. Blocks the calling thread (release the GIL or
    /// call it from a thread of your own; never from inside an async runtime).
    pub fn next_batch(&self) -> Result<Option<RecordBatch>, EmbedError> {
        self.run().next_batch()
    }

    /// 0..1: for time windows the fraction of the range fetched; for page and token sequences
    /// 0 until the stream ends, then 1.
    pub fn progress(&self) -> f64 {
        self.run().progress()
    }

    /// The engine counters (requests, retries, splits, rows, bytes_received, waits in ms,
    /// range_done_ms, range_total_ms, progress, done) as a JSON object.
    pub fn metrics_json(&self) -> String {
        self.run().metrics_json()
    }

    /// Stops fetching from any thread: requests in flight are dropped, none starts afterwards,
    /// and `next_batch` returns `Err(Cancelled)` until [`reset`](Self::reset).
    pub fn cancel(&self) {
        self.run().cancel();
    }

    /// Starts over from the range start (time tables without a range: the default range up
    /// to the current time).
    pub fn reset(&self) -> Result<(), EmbedError> {
        let inner = &self.inner;
        let fresh = Arc::new(start_run(&inner.ctx, &inner.table, inner.filter.as_ref())?);
        let old = std::mem::replace(
            &mut *inner.run.lock().unwrap_or_else(|p| p.into_inner()),
            fresh,
        );
        old.cancel();
        Ok(())
    }

    /// Whether the stream ended (all rows read, an error, or cancelled).
    pub fn is_done(&self) -> bool {
        self.run().is_done()
    }

    /// A [`RecordBatchReader`] over this stream (sharing it), for the Arrow C stream interface.
    pub fn reader(&self) -> StreamReader {
        StreamReader {
            stream: self.clone(),
        }
    }

    /// [`reader`](Self::reader), consuming the handle.
    pub fn into_reader(self) -> StreamReader {
        StreamReader { stream: self }
    }
}

/// The scan of `table` under `filter`, started.
fn start_run(
    ctx: &SessionContext,
    table: &Arc<dyn TableProvider>,
    filter: Option<&Expr>,
) -> Result<Execution, EmbedError> {
    let plan = block_on(async {
        let mut df = ctx.read_table(Arc::clone(table))?;
        if let Some(f) = filter {
            df = df.filter(f.clone())?;
        }
        df.create_physical_plan().await
    })??;
    Execution::start(plan, ctx.task_ctx())
}

/// `time >= start AND time < end` on the table's time column.
fn time_filter(
    adapter: &str,
    table: &dyn TableProvider,
    range: Range,
) -> Result<Option<Expr>, EmbedError> {
    if range.start_ms.is_none() && range.end_ms.is_none() {
        return Ok(None);
    }
    let api = table
        .downcast_ref::<crate::sql::ApiTable>()
        .ok_or_else(|| {
            EmbedError::new(
                super::ErrorKind::Internal,
                "internal error: not an API table",
            )
        })?;
    let Some(column) = api.spec().time_column() else {
        return Err(EmbedError::config(format!(
            "range_start/range_end need a time column, and this {adapter} table has none; set its time_column option or leave the range out"
        )));
    };
    let ts = |ms: i64| {
        lit(ScalarValue::TimestampMillisecond(
            Some(ms),
            Some("UTC".into()),
        ))
    };
    let bounds: Vec<Expr> = [
        range.start_ms.map(|s| col(column).gt_eq(ts(s))),
        range.end_ms.map(|e| col(column).lt(ts(e))),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(bounds.into_iter().reduce(Expr::and))
}

/// A [`Stream`] as a [`RecordBatchReader`]: errors come as `ArrowError::ExternalError` holding
/// the [`EmbedError`].
#[derive(Debug, Clone)]
pub struct StreamReader {
    stream: Stream,
}

impl StreamReader {
    /// The stream read.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }
}

impl Iterator for StreamReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.stream
            .next_batch()
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))
            .transpose()
    }
}

impl RecordBatchReader for StreamReader {
    fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }
}
