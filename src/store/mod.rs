//! The datastream store: streams of timestamped values kept at every granularity, with upstream
//! `datastream`'s API and semantics (`wlanslovenija/datastream` 0.5.19, its MongoDB backend),
//! embedded: metadata, tags, downsample and derive state and the append buffer in SQLite (WAL).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ddstream::store::StoreError> {
//! use ddstream::store::{DataQuery, Datastream, Granularity, StreamSpec};
//! use serde_json::json;
//! let store = Datastream::open("/tmp/metrics").await?;
//! let id = store
//!     .ensure_stream(StreamSpec::new(json!({"name": "cpu"}), json!({}), ["mean", "min", "max"], Granularity::Seconds))
//!     .await?;
//! store.append(&id, json!(42.5), None, true).await?;
//! store.downsample_streams(None, None, false, None).await?;
//! let points = store.get_data_vec(&id, Granularity::Minutes, DataQuery::start(chrono::DateTime::UNIX_EPOCH)).await?;
//! # Ok(()) }
//! ```
//!
//! Modules: [`granularity`] (the seven granularities), [`segments`] (the Parquet layout),
//! [`sql`] (DataFusion tables), `flush` (moving closed ranges, compaction), `tags` (reserved
//! names, matching),
//! `value` (value types and append checks), `downsamplers` (value and time downsampler maths),
//! `derive` (derive operators), `append`, `downsample`, `backprocess`, `query` (range rules and
//! paging), `streams` (ensure, tags, find, delete), `meta` (SQLite schema and rows), `txn` (a
//! transaction's stream cache), `datapoint` (returned shapes), `error`.
//!
//! # Choices where upstream is silent or MongoDB-specific
//!
//! - **Transactions instead of locks.** Every call that writes runs in one SQLite `BEGIN
//!   IMMEDIATE` transaction (an append, a whole `append_multiple` batch, one stream's
//!   downsampling, a backprocess, an `ensure_stream`), so the monotonic-timestamp check and the
//!   insert are atomic and `downsample_streams` never sees half an append. There is no
//!   maintenance lease, so `LockExpiredMidMaintenance` and `DownsampleConsistencyNotGuaranteed`
//!   do not exist; the `LastDatapoint` safety margin is not needed (`latest_datapoint` alone
//!   bounds the downsampling). When the busy timeout runs out an append is
//!   `StreamAppendContended`; other calls return a `Storage` error.
//! - **`append_multiple`** commits the points before the first failing one and returns that
//!   error (upstream leaves them too), in one transaction for the whole batch.
//! - **Numbers are f64.** `high_accuracy: true` is refused with `UnsupportedValueType`; a numeric
//!   value comes back as a float (`42` → `42.0`); nominal and graph values come back exactly as
//!   appended. Booleans are not numbers.
//! - **Tag queries**: a nested object matches as a recursive subset; a scalar matches an equal
//!   value (numbers by value) or a stored list holding it. MongoDB's operator suffixes (`iexact`,
//!   `gte`, `in`, `all`, ...) are not interpreted: such keys match literally.
//! - **`remove_tag`** removes every leaf path of the given dict (upstream only managed top-level
//!   keys); `update_tags` sets leaf paths (a scalar on the way to a deeper leaf becomes an object).
//! - **Errors**: upstream's `ValueError`, `TypeError` and `AttributeError` cases are
//!   `InvalidArgument`. A malformed stream id is `StreamNotFound`. `get_data` asking for a value
//!   or time downsampler the store does not implement (`median`, `intervals_*`) is
//!   `UnsupportedDownsampler` (upstream asserts). An empty `derive_from` is
//!   `InvalidOperatorArguments`; a non-numeric `max_value` too (as the InfluxDB backend).
//! - **Downsamplers beyond upstream**: `most_often`, `least_often` and `frequencies` work for
//!   numeric and nominal streams; `frequencies` (`f`) is a list of `[value, count]` pairs sorted
//!   by value (numbers numerically, then strings, then other JSON by its text), summed when
//!   cascading; `most_often`/`least_often` store `frequencies` as their dependency and break
//!   ties by the smallest value (the SQL aggregates' rule). `median` is refused.
//! - **Pre-downsampled dicts** are read key by key only in numeric streams; a nominal stream's
//!   dict is one value.
//! - **Derived streams fed downsampled points** (a source descriptor with a coarser granularity):
//!   every operator sees such a point as its mean `s / c` (null when the bucket is empty) at its
//!   last time `t['z']` (upstream does this for `sum` only and fails for the others). `sum`
//!   completes a bucket when every *distinct* source reported.
//! - **Errors inside derived streams** (a derived point older than the derived stream's latest)
//!   are logged, not returned: the source's append did succeed.
//! - **Range end clamp**: an end past 2038-01-19T03:14:07Z includes a point at that second.
//! - **Warnings** are `tracing` events on target `ddstream::store` with a `warning` field naming
//!   upstream's warning class.
//! - **Streams without downsamplers** keep their points in the SQLite buffer (nothing consumes
//!   them, so no range of theirs is ever closed).
//! - **Durability**: SQLite WAL with `synchronous = NORMAL`: an acknowledged write survives a
//!   killed process (tested); a power loss may undo the last commits, never corrupt the store.
//! - **Segments** (see [`segments`]): a range is moved to Parquet once the next coarser level has
//!   consumed it, at the end of each stream's `downsample_streams`; a (stream, granularity) with
//!   more than 8 segments has its small ones merged; replaced objects are deleted 10 minutes
//!   later (a reader older than that may fail and must retry); unlisted objects older than an
//!   hour are removed at open. Any `object_store` can hold them (`StoreOptions::segments`, e.g.
//!   an `AmazonS3` built by the caller); the crate itself builds only the local one.
//! - **Reads are snapshots**: one `get_data` stream (and one SQL scan) reads one SQLite read
//!   transaction, so a concurrent flush or compaction is not seen half-way.
//! - **Async on Tokio**: every call is `async` and runs its SQLite work on Tokio's blocking pool
//!   (through DataFusion's `SpawnedTask`, as the crate's clippy.toml asks),
//!   so the store needs a Tokio runtime.
//! - **SQL** (see [`sql`]): `register_store` adds `streams` and `datapoints`; `append_query` is the
//!   equivalent of `INSERT INTO datapoints SELECT ...`.

pub mod granularity;

mod append;
mod backprocess;
mod datapoint;
mod derive;
mod downsample;
mod downsamplers;
mod error;
mod flush;
mod location;
mod meta;
mod query;
pub mod segments;
pub mod sql;
mod sql_insert;
mod streams;
mod tags;
mod txn;
mod value;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::common::runtime::SpawnedTask;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use rusqlite::{Connection, TransactionBehavior};
use serde_json::{Map, Value};

pub use append::{MAX_TIMESTAMP, MIN_TIMESTAMP};
pub use datapoint::{Datapoint, StreamDatapoint, Time};
pub use derive::DeriveOp;
pub use downsamplers::{DownsamplerSet, TimeDownsampler, ValueDownsampler};
pub use error::{StoreError, StoreResult};
pub use granularity::Granularity;
pub use location::StoreLocation;
pub use query::DataQuery;
pub use streams::{DeriveSource, StreamSpec};
pub use tags::RESERVED_TAGS;
pub use value::ValueType;

use datapoint::{secs, to_datetime};
use downsample::bucket_datapoint;
use query::{Cursor, Item};
use segments::Segments;
use txn::Txn;

/// A stream of datapoints from [`Datastream::get_data`].
pub type DatapointStream = BoxStream<'static, StoreResult<Datapoint>>;

/// A predicate on a stream's tags (as `get_tags` returns them) for `downsample_streams`.
pub type StreamFilter = Arc<dyn Fn(&Map<String, Value>) -> bool + Send + Sync>;

/// One datapoint of an `append_multiple` batch.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDatapoint {
    /// The stream id.
    pub stream_id: String,
    /// The value.
    pub value: Value,
    /// The timestamp (None: now).
    pub timestamp: Option<DateTime<Utc>>,
}

/// One (stream, granularity) part of a SQL scan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScanPart {
    pub seq: i64,
    pub id: String,
    pub granularity: Granularity,
    pub raw: bool,
    pub range: (i64, i64),
    /// Segments in the range, and in all.
    pub segments: (usize, usize),
}

/// Counts from [`Datastream::storage_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageStats {
    /// Appended datapoints in the SQLite buffer.
    pub buffered_points: i64,
    /// Downsampled datapoints in SQLite (not yet closed).
    pub buffered_buckets: i64,
    /// Parquet segments.
    pub segments: i64,
    /// Rows in the segments.
    pub segment_rows: i64,
}

/// How long a write waits for another writer (another process) before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of [`Datastream::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a write waits for another writer (another process) before giving up.
    pub busy_timeout: Duration,
    /// Where segments go (default: the directory `segments/` of the store).
    pub segments: Option<Arc<dyn ObjectStore>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            segments: None,
        }
    }
}

#[derive(Debug)]
struct Inner {
    /// The writer connection.
    write: Mutex<Connection>,
    /// A second connection for reads, so reads never wait for this process's writes (WAL).
    read: Mutex<Connection>,
    root: PathBuf,
    db: PathBuf,
    busy_timeout: Duration,
    segments: Segments,
}

/// The datastream store (upstream's `Datastream(backend)`).
#[derive(Debug, Clone)]
pub struct Datastream {
    inner: Arc<Inner>,
}

fn poisoned() -> StoreError {
    StoreError::storage(
        "datastream store",
        "a previous call panicked while holding the connection",
    )
}

/// The JSON object of an optional query-tags argument, checked for `__` keys.
fn query_object(query: Option<&Value>) -> StoreResult<Option<Map<String, Value>>> {
    let q = tags::object(query, "query_tags")?.cloned();
    if let Some(q) = &q {
        tags::check_query_tags(q)?;
    }
    Ok(q)
}

impl Datastream {
    /// Opens (creating if needed) the store in directory `dir`: `dir/datastream.sqlite`.
    /// Segments go to `dir/segments/` (see [`segments`] for the layout).
    pub async fn open(dir: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(dir, StoreOptions::default()).await
    }

    /// [`Datastream::open`] with options. Objects under the segment root that no listing knows
    /// and that are older than an hour (left by a writer killed mid-flush) are deleted.
    pub async fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> StoreResult<Self> {
        let root = dir.as_ref().to_path_buf();
        let inner = SpawnedTask::spawn_blocking(move || -> StoreResult<Inner> {
            let seg_dir = root.join("segments");
            std::fs::create_dir_all(&seg_dir)
                .map_err(|e| StoreError::storage(format!("creating {}", seg_dir.display()), e))?;
            let store: Arc<dyn ObjectStore> = match options.segments {
                Some(store) => store,
                None => Arc::new(LocalFileSystem::new_with_prefix(&seg_dir).map_err(|e| {
                    StoreError::storage(format!("opening {}", seg_dir.display()), e)
                })?),
            };
            let segments = Segments::new(store);
            let db = root.join("datastream.sqlite");
            let mut write = meta::open(&db, options.busy_timeout)?;
            let read = meta::open(&db, options.busy_timeout)?;
            flush::collect_leftovers(&mut write, &segments)?;
            Ok(Inner {
                write: Mutex::new(write),
                read: Mutex::new(read),
                root,
                db,
                busy_timeout: options.busy_timeout,
                segments,
            })
        })
        .join()
        .await
        .map_err(|e| StoreError::storage("opening the store", e))??;
        Ok(Datastream {
            inner: Arc::new(inner),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.inner.root
    }

    /// Runs `f` on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = Arc::clone(&self.inner);
        SpawnedTask::spawn_blocking(move || f(&inner))
            .join()
            .await
            .map_err(|e| StoreError::storage("datastream store task", e))?
    }

    /// Runs `f` in one write transaction; `Ok(Err(e))` commits and then returns `e`. With
    /// `append`, a busy store is `StreamAppendContended`.
    async fn write<T: Send + 'static>(
        &self,
        append: bool,
        f: impl FnOnce(&mut Txn<'_>) -> StoreResult<StoreResult<T>> + Send + 'static,
    ) -> StoreResult<T> {
        let result = self
            .blocking(move |inner| {
                let mut conn = inner.write.lock().map_err(|_| poisoned())?;
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let outcome = {
                    let mut txn = Txn::new(&tx, &inner.segments);
                    let outcome = f(&mut txn)?;
                    txn.flush()?;
                    outcome
                };
                tx.commit()?;
                Ok(outcome)
            })
            .await;
        match result {
            Ok(inner) => inner,
            Err(e) if append && e.is_busy() => Err(StoreError::StreamAppendContended(format!(
                "another writer held the store longer than the busy timeout; retry the append ({e})"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Runs `f` on the read connection.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.blocking(move |inner| {
            let conn = inner.read.lock().map_err(|_| poisoned())?;
            let mut txn = Txn::new(&conn, &inner.segments);
            f(&mut txn)
        })
        .await
    }

    /// Ensures a stream matching `spec.query_tags` exists and returns its id (upstream
    /// `ensure_stream`): an existing stream gets `query_tags ∪ tags` as its tags and must agree on
    /// value type, options and derivation; a new one is created.
    pub async fn ensure_stream(&self, spec: StreamSpec) -> StoreResult<String> {
        self.write(false, move |txn| {
            streams::ensure_stream(txn, &spec, &|conn, row| {
                meta::has_raw_data(conn, row.seq, row.highest)
            })
        })
        .await
    }

    /// The stream's tags merged with the store's own fields (`stream_id`, `value_downsamplers`,
    /// `downsampled_until`, ...).
    pub async fn get_tags(&self, stream_id: &str) -> StoreResult<Map<String, Value>> {
        let id = stream_id.to_string();
        self.read(move |txn| {
            let seq = txn.seq_of(&id)?;
            let row = txn.row(seq)?.clone();
            streams::tags_of(txn, &row)
        })
        .await
    }

    /// Deep-merges `tags` into the stream's tags.
    pub async fn update_tags(&self, stream_id: &str, tags: Value) -> StoreResult<()> {
        let update = tags::object(Some(&tags), "tags")?
            .cloned()
            .unwrap_or_default();
        tags::check_tags(&update)?;
        let id = stream_id.to_string();
        self.write(false, move |txn| {
            streams::edit_tags(txn, &id, |t| tags::deep_merge(t, &update))?;
            Ok(Ok(()))
        })
        .await
    }

    /// Removes every leaf path of `tag` (values are ignored) from the stream's tags.
    pub async fn remove_tag(&self, stream_id: &str, tag: Value) -> StoreResult<()> {
        let remove = tags::object(Some(&tag), "tag")?
            .cloned()
            .unwrap_or_default();
        tags::check_tags(&remove)?;
        let id = stream_id.to_string();
        self.write(false, move |txn| {
            streams::edit_tags(txn, &id, |t| tags::remove_paths(t, &remove))?;
            Ok(Ok(()))
        })
        .await
    }

    /// Removes all of the stream's tags (its own fields stay).
    pub async fn clear_tags(&self, stream_id: &str) -> StoreResult<()> {
        let id = stream_id.to_string();
        self.write(false, move |txn| {
            streams::edit_tags(txn, &id, Map::clear)?;
            Ok(Ok(()))
        })
        .await
    }

    /// The tags (as `get_tags`) of every stream matching `query_tags`, in creation order.
    /// `stream_id` is not a tag here: `{"stream_id": id}` matches nothing.
    pub async fn find_streams(
        &self,
        query_tags: Option<Value>,
    ) -> StoreResult<Vec<Map<String, Value>>> {
        let query = query_object(query_tags.as_ref())?;
        self.read(move |txn| {
            let rows = streams::matching(txn.conn, query.as_ref(), false)?;
            rows.iter().map(|r| streams::tags_of(txn, r)).collect()
        })
        .await
    }

    /// Appends `value` at `timestamp` (None: now). With `check_timestamp` the timestamp must not
    /// be older than the stream's latest datapoint (equal is fine).
    pub async fn append(
        &self,
        stream_id: &str,
        value: Value,
        timestamp: Option<DateTime<Utc>>,
        check_timestamp: bool,
    ) -> StoreResult<StreamDatapoint> {
        let id = stream_id.to_string();
        self.write(true, move |txn| {
            append::append_user(txn, &id, &value, timestamp, check_timestamp).map(Ok)
        })
        .await
    }

    /// Appends a batch in one transaction, each point with `check_timestamp`; on the first bad
    /// point the ones before it are kept and its error is returned.
    pub async fn append_multiple(&self, datapoints: Vec<NewDatapoint>) -> StoreResult<()> {
        self.write(true, move |txn| {
            for (i, p) in datapoints.iter().enumerate() {
                match append::append_user(txn, &p.stream_id, &p.value, p.timestamp, true) {
                    Ok(_) => {}
                    Err(e @ StoreError::Storage { .. }) => return Err(e),
                    Err(e) => {
                        tracing::debug!(target: "ddstream::store", "append_multiple stopped at datapoint {i}: {e}");
                        return Ok(Err(e));
                    }
                }
            }
            Ok(Ok(()))
        })
        .await
    }

    /// Deletes the streams matching `query_tags` (`stream_id` allowed) in dependency order, or
    /// every stream with `None`.
    pub async fn delete_streams(&self, query_tags: Option<Value>) -> StoreResult<()> {
        let query = query_object(query_tags.as_ref())?;
        let paths = self
            .write(false, move |txn| match query {
                None => {
                    let mut paths: Vec<String> = meta::known_paths(txn.conn)?.into_iter().collect();
                    paths.sort();
                    txn.conn.execute_batch(
                        "DELETE FROM streams; DELETE FROM points; DELETE FROM buckets; DELETE FROM segments; DELETE FROM garbage;",
                    )?;
                    Ok(Ok(paths))
                }
                Some(q) => match streams::delete_matching(txn, &q) {
                    Ok(deleted) => {
                        let mut paths = Vec::new();
                        for seq in deleted {
                            paths.extend(meta::remove_segments(txn.conn, seq, None)?);
                        }
                        Ok(Ok(paths))
                    }
                    Err(e) => Ok(Err(e)),
                },
            })
            .await?;
        // The listings are gone: the objects are unreachable, delete them.
        self.blocking(move |inner| inner.segments.delete(&paths))
            .await
    }

    /// Downsamples the matching streams (`stream_id` allowed) up to `until` (None: now), each in
    /// its own transaction; returns the new datapoints when `return_datapoints`. A stream whose
    /// downsampling fails is skipped with a warning, as upstream (storage failures are returned).
    pub async fn downsample_streams(
        &self,
        query_tags: Option<Value>,
        until: Option<DateTime<Utc>>,
        return_datapoints: bool,
        filter_stream: Option<StreamFilter>,
    ) -> StoreResult<Vec<StreamDatapoint>> {
        let query = query_object(query_tags.as_ref())?;
        let until = secs(until.unwrap_or_else(Utc::now));
        let candidates = self
            .read(move |txn| {
                let rows = streams::matching(txn.conn, query.as_ref(), true)?;
                let mut out = Vec::new();
                for r in rows
                    .iter()
                    .filter(|r| !r.downsamplers.is_empty() && r.latest.is_some())
                {
                    out.push((r.seq, r.id.clone(), streams::tags_of(txn, r)?));
                }
                Ok(out)
            })
            .await?;
        let mut all = Vec::new();
        for (seq, id, tags) in candidates {
            if filter_stream.as_ref().is_some_and(|f| !f(&tags)) {
                continue;
            }
            let result = self
                .write(false, move |txn| {
                    let mut out = Vec::new();
                    match downsample::downsample_stream(
                        txn,
                        seq,
                        until,
                        return_datapoints.then_some(&mut out),
                    ) {
                        Ok(()) => Ok(Ok(out)),
                        Err(e @ StoreError::Storage { .. }) => Err(e),
                        Err(e) => Ok(Err(e)),
                    }
                })
                .await;
            match result {
                Ok(points) => {
                    all.extend(points);
                    self.blocking(move |inner| {
                        let mut conn = inner.write.lock().map_err(|_| poisoned())?;
                        flush::flush_stream(&mut conn, &inner.segments, seq)
                    })
                    .await?;
                }
                Err(e @ StoreError::Storage { .. }) => return Err(e),
                Err(e) => tracing::warn!(
                    target: "ddstream::store",
                    warning = "DatastreamWarning",
                    stream = %id,
                    "downsampling failed, stream skipped: {e}"
                ),
            }
        }
        Ok(all)
    }

    /// Backprocesses the pending derived streams matching `query_tags`.
    pub async fn backprocess_streams(&self, query_tags: Option<Value>) -> StoreResult<()> {
        let query = query_object(query_tags.as_ref())?;
        let pending = self
            .read(move |txn| {
                Ok(streams::matching(txn.conn, query.as_ref(), true)?
                    .into_iter()
                    .filter(|r| r.pending_backprocess)
                    .map(|r| r.seq)
                    .collect::<Vec<_>>())
            })
            .await?;
        for seq in pending {
            self.write(false, move |txn| {
                if txn.exists(seq)? {
                    backprocess::backprocess_stream(txn, seq)?;
                }
                Ok(Ok(()))
            })
            .await?;
        }
        Ok(())
    }

    /// The stream's datapoints at `granularity` in the range of `query` (upstream `get_data`),
    /// oldest first (newest with `reverse`). A granularity finer than the stream's highest is
    /// its highest; there the value and time selections are ignored.
    pub async fn get_data(
        &self,
        stream_id: &str,
        granularity: Granularity,
        query: DataQuery,
    ) -> StoreResult<DatapointStream> {
        query.check()?;
        let values = query
            .value_downsamplers
            .as_deref()
            .map(DownsamplerSet::parse_selection)
            .transpose()?;
        let times = query
            .time_downsamplers
            .as_deref()
            .map(|names| {
                names
                    .iter()
                    .map(|n| TimeDownsampler::parse(n))
                    .collect::<StoreResult<Vec<_>>>()
            })
            .transpose()?;
        let id = stream_id.to_string();
        let row = self
            .read(move |txn| {
                let seq = txn.seq_of(&id)?;
                Ok(txn.row(seq)?.clone())
            })
            .await?;
        let g = granularity.max(row.highest);
        let raw = g == row.highest;
        let Some((lo, hi)) = query.range(g) else {
            return Ok(stream::empty().boxed());
        };
        let keys = match values {
            None => Some(row.downsamplers),
            Some(sel) if sel.is_empty() => None,
            Some(sel) => Some(row.downsamplers.intersect(sel)),
        };
        let times: Option<Vec<TimeDownsampler>> = match times {
            None => Some(TimeDownsampler::ALL.to_vec()),
            Some(t) if t.is_empty() => None,
            Some(t) => Some(t),
        };
        let seq = row.seq;
        let reverse = query.reverse;
        // A connection of its own with an open read transaction: the whole stream reads one
        // snapshot, so a flush moving rows from the buffer to a segment meanwhile is not seen.
        let (conn, cursor) = self
            .blocking(move |inner| {
                let conn = meta::open_reader(&inner.db, inner.busy_timeout)?;
                conn.execute_batch("BEGIN DEFERRED")?;
                let listed = meta::segments_of(&conn, seq, g, lo, hi)?;
                Ok((conn, Cursor::new(seq, g, raw, (lo, hi), reverse, listed)))
            })
            .await?;
        let this = self.clone();
        let pages = stream::try_unfold(
            (this, conn, cursor),
            |(this, conn, mut cursor)| async move {
                let (page, conn, cursor) = this
                    .blocking(move |inner| {
                        let page = cursor.next_page(&conn, &inner.segments)?;
                        Ok((page, conn, cursor))
                    })
                    .await?;
                if page.is_empty() {
                    return Ok::<_, StoreError>(None);
                }
                Ok(Some((page, (this, conn, cursor))))
            },
        );
        let points = pages
            .map_ok(move |page| {
                let keys = keys;
                let times = times.clone();
                stream::iter(page.into_iter().map(move |item| {
                    Ok(match item {
                        Item::Raw(p) => {
                            let at = to_datetime(p.ts).unwrap_or_default();
                            Datapoint {
                                ts: at,
                                t: Some(Time::At(at)),
                                v: Some(p.value.to_json()),
                            }
                        }
                        Item::Bucket(b) => bucket_datapoint(&b, keys, times.as_deref()),
                    })
                }))
            })
            .try_flatten();
        Ok(points.boxed())
    }

    /// Where the datapoints are: rows in the SQLite buffer and in segments.
    pub async fn storage_stats(&self) -> StoreResult<StorageStats> {
        self.read(|txn| {
            let one =
                |sql: &str| -> StoreResult<i64> { Ok(txn.conn.query_row(sql, [], |r| r.get(0))?) };
            Ok(StorageStats {
                buffered_points: one("SELECT COUNT(*) FROM points")?,
                buffered_buckets: one("SELECT COUNT(*) FROM buckets")?,
                segments: one("SELECT COUNT(*) FROM segments")?,
                segment_rows: one("SELECT COALESCE(SUM(rows), 0) FROM segments")?,
            })
        })
        .await
    }

    /// The (stream, granularity) parts of a SQL scan: streams by id (None: all), granularities
    /// (None: all a stream stores), time range `[lo, hi)`; with each part's segment count in the
    /// range and in all.
    pub(crate) async fn plan_scan(
        &self,
        ids: Option<Vec<String>>,
        granularities: Option<Vec<Granularity>>,
        (lo, hi): (i64, i64),
    ) -> StoreResult<Vec<ScanPart>> {
        self.read(move |txn| {
            let mut parts = Vec::new();
            for row in meta::all_streams(txn.conn)? {
                if ids.as_ref().is_some_and(|ids| !ids.contains(&row.id)) {
                    continue;
                }
                for g in Granularity::ALL.into_iter().filter(|g| *g >= row.highest) {
                    if granularities.as_ref().is_some_and(|gs| !gs.contains(&g)) {
                        continue;
                    }
                    if g != row.highest && row.downsamplers.is_empty() {
                        continue;
                    }
                    let pruned = meta::segments_of(txn.conn, row.seq, g, lo, hi)?.len();
                    let total = meta::segments_of(txn.conn, row.seq, g, i64::MIN, i64::MAX)?.len();
                    parts.push(ScanPart {
                        seq: row.seq,
                        id: row.id.clone(),
                        granularity: g,
                        raw: g == row.highest,
                        range: (lo, hi),
                        segments: (pruned, total),
                    });
                }
            }
            Ok(parts)
        })
        .await
    }

    /// Reads the parts of a SQL scan from one snapshot, a page at a time.
    pub(crate) fn scan_pages(
        &self,
        parts: Vec<ScanPart>,
    ) -> BoxStream<'static, StoreResult<(ScanPart, Vec<Item>)>> {
        type State = (
            Datastream,
            Option<Connection>,
            std::collections::VecDeque<ScanPart>,
            Option<(ScanPart, Cursor)>,
        );
        let start: State = (self.clone(), None, parts.into(), None);
        stream::try_unfold(start, |(this, conn, parts, current)| async move {
            let (out, state) = this
                .blocking(move |inner| {
                    let (mut conn, mut parts, mut current) = (conn, parts, current);
                    let c = match conn.take() {
                        Some(c) => c,
                        None => {
                            let c = meta::open_reader(&inner.db, inner.busy_timeout)?;
                            c.execute_batch("BEGIN DEFERRED")?;
                            c
                        }
                    };
                    loop {
                        if current.is_none() {
                            let Some(part) = parts.pop_front() else {
                                return Ok((None, (Some(c), parts, None)));
                            };
                            let (lo, hi) = part.range;
                            let listed = meta::segments_of(&c, part.seq, part.granularity, lo, hi)?;
                            let cursor = Cursor::new(
                                part.seq,
                                part.granularity,
                                part.raw,
                                part.range,
                                false,
                                listed,
                            );
                            current = Some((part, cursor));
                        }
                        if let Some((part, cursor)) = current.as_mut() {
                            let page = cursor.next_page(&c, &inner.segments)?;
                            if page.is_empty() {
                                current = None;
                                continue;
                            }
                            let part = part.clone();
                            return Ok((Some((part, page)), (Some(c), parts, current)));
                        }
                    }
                })
                .await?;
            let (c, parts, current) = state;
            Ok::<_, StoreError>(out.map(|o| (o, (this, c, parts, current))))
        })
        .boxed()
    }

    /// [`Datastream::get_data`] collected into a Vec.
    pub async fn get_data_vec(
        &self,
        stream_id: &str,
        granularity: Granularity,
        query: DataQuery,
    ) -> StoreResult<Vec<Datapoint>> {
        self.get_data(stream_id, granularity, query)
            .await?
            .try_collect()
            .await
    }
}
