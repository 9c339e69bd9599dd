//! Closed ranges as Parquet segments on an object store (a local directory by default).
//!
//! Layout under the store's segment root, one schema per top-level directory so DuckDB, Polars
//! or Spark read a directory directly (`read_parquet('segments/buckets/granularity=minutes/*/*.parquet',
//! hive_partitioning = true)`):
//!
//! - `points/stream_id=<uuid>/<min_ts>-<max_ts>-<uuid>.parquet`: appended datapoints (each
//!   stream's highest granularity): `stream_id` Utf8, `ts` Timestamp(s, UTC), `seq` Int64
//!   (insertion order), `value` Float64 (numbers), `value_json` Utf8 (JSON of any other value:
//!   pre-downsampled dicts, nominal and graph values; both null for a null value).
//! - `buckets/granularity=<g>/stream_id=<uuid>/<min_ts>-<max_ts>-<uuid>.parquet`: downsampled
//!   datapoints: `stream_id`, `ts` (bucket start), `count` Int64, `sum`, `sum_squares`, `min`,
//!   `max`, `mean`, `std_dev` Float64, `most_often`, `least_often`, `frequencies` Utf8 (JSON),
//!   `time_first`, `time_mean`, `time_last` Timestamp(s, UTC). A key the stream does not store is
//!   null.
//!
//! Rows are sorted by `ts` (then `seq`); zstd-compressed. A segment is visible only once the
//! SQLite `segments` table lists it, in the same transaction that deletes its rows from the
//! buffer: a crash before that leaves an unlisted file (removed by [`Segments::collect_orphans`]),
//! never a half-visible segment or a duplicated row.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampSecondArray,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampSecondType,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;

use super::downsamplers::{frequencies_json, parse_frequencies, Bucket};
use super::error::StoreError;
use super::granularity::Granularity;
use super::meta::{raw_value, PointRow};
use super::query::Item;
use super::value::RawValue;

/// Most rows in one segment.
pub(crate) const SEGMENT_ROWS: usize = 262_144;
/// A (stream, granularity) with more segments than this is compacted.
pub(crate) const COMPACT_AT: usize = 8;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))
}

/// The schema of `points/` segments.
pub fn points_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("stream_id", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("seq", DataType::Int64, false),
        Field::new("value", DataType::Float64, true),
        Field::new("value_json", DataType::Utf8, true),
    ]))
}

/// The downsampled-key columns (`count` .. `time_last`) of `buckets/` segments and of the SQL
/// `datapoints` table (where the times are null on raw rows).
pub(crate) fn key_fields(time_nullable: bool) -> Vec<Field> {
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let t = |n: &str| Field::new(n, ts_type(), time_nullable);
    vec![
        Field::new("count", DataType::Int64, true),
        f("sum"),
        f("sum_squares"),
        f("min"),
        f("max"),
        f("mean"),
        f("std_dev"),
        s("most_often"),
        s("least_often"),
        s("frequencies"),
        t("time_first"),
        t("time_mean"),
        t("time_last"),
    ]
}

/// The schema of `buckets/` segments.
pub fn buckets_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("stream_id", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
    ];
    fields.extend(key_fields(false));
    Arc::new(Schema::new(fields))
}

/// A segment listed in SQLite.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentMeta {
    pub id: i64,
    pub path: String,
    pub min_ts: i64,
    pub max_ts: i64,
    pub rows: i64,
}

/// The object store holding the segments.
#[derive(Debug, Clone)]
pub(crate) struct Segments {
    store: Arc<dyn ObjectStore>,
}

fn storage(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::storage(context.to_string(), e)
}

/// Runs an object-store future from the blocking pool.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(f)
}

impl Segments {
    /// Segments in `store`.
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        Segments { store }
    }

    /// Where a new segment of `stream_id` goes.
    pub(crate) fn new_path(
        stream_id: &str,
        granularity: Option<Granularity>,
        min_ts: i64,
        max_ts: i64,
    ) -> String {
        let dir = match granularity {
            None => format!("points/stream_id={stream_id}"),
            Some(g) => format!("buckets/granularity={}/stream_id={stream_id}", g.name()),
        };
        format!("{dir}/{min_ts}-{max_ts}-{}.parquet", uuid::Uuid::new_v4())
    }

    /// Writes a complete segment object (visible to readers only once listed in SQLite).
    pub(crate) fn put(&self, path: &str, bytes: Bytes) -> Result<(), StoreError> {
        let path = ObjectPath::from(path);
        block_on(self.store.put(&path, PutPayload::from_bytes(bytes)))
            .map_err(|e| storage("writing a segment", e))?;
        Ok(())
    }

    /// Reads a segment's datapoints with `lo <= ts < hi`.
    pub(crate) fn read(
        &self,
        path: &str,
        raw: bool,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<Item>, StoreError> {
        let path = ObjectPath::from(path);
        let bytes = block_on(async { self.store.get(&path).await?.bytes().await })
            .map_err(|e| storage("reading a segment", e))?;
        let items = decode(bytes, raw)?;
        Ok(items
            .into_iter()
            .filter(|i| (lo..hi).contains(&i.ts()))
            .collect())
    }

    /// Deletes segment objects (missing ones are fine).
    pub(crate) fn delete(&self, paths: &[String]) -> Result<(), StoreError> {
        for p in paths {
            match block_on(self.store.delete(&ObjectPath::from(p.as_str()))) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage("deleting a segment", e)),
            }
        }
        Ok(())
    }

    /// Every object under the segment root, with its age in seconds.
    pub(crate) fn list(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let now = chrono::Utc::now();
        let objects: Vec<_> = block_on(self.store.list(None).try_collect())
            .map_err(|e| storage("listing segments", e))?;
        Ok(objects
            .into_iter()
            .map(|o| {
                (
                    o.location.to_string(),
                    (now - o.last_modified).num_seconds(),
                )
            })
            .collect())
    }

    /// Deletes objects older than `min_age` seconds that `known` does not list: segments whose
    /// writer died before listing them.
    pub(crate) fn collect_orphans(
        &self,
        known: &std::collections::HashSet<String>,
        min_age: i64,
    ) -> Result<usize, StoreError> {
        let orphans: Vec<String> = self
            .list()?
            .into_iter()
            .filter(|(p, age)| p.ends_with(".parquet") && *age >= min_age && !known.contains(p))
            .map(|(p, _)| p)
            .collect();
        self.delete(&orphans)?;
        Ok(orphans.len())
    }
}

/// Columns of (nearly) unique numbers: a Parquet dictionary only costs there. Its encoder
/// interns every value until the dictionary page is full, and those hash tables were most of
/// a flush's peak memory once the rows were read page by page (heaptrack); zstd still
/// compresses the plain values.
const NO_DICTIONARY: [&str; 12] = [
    "ts",
    "seq",
    "value",
    "sum",
    "sum_squares",
    "min",
    "max",
    "mean",
    "std_dev",
    "time_first",
    "time_mean",
    "time_last",
];

fn writer_properties() -> Result<WriterProperties, StoreError> {
    let level = ZstdLevel::try_new(3).map_err(|e| storage("Parquet settings", e))?;
    let builder = WriterProperties::builder().set_compression(Compression::ZSTD(level));
    Ok(NO_DICTIONARY
        .iter()
        .fold(builder, |b, column| {
            b.set_column_dictionary_enabled(ColumnPath::from(*column), false)
        })
        .build())
}

/// One segment encoded a page of rows at a time: the Parquet writer keeps only the encoded
/// (compressed) pages of its row group, so a flush of [`SEGMENT_ROWS`] rows does not hold them
/// all as Rust rows and Arrow arrays at once (a 262,144-row `Vec<Bucket>` alone is 60 MB, and
/// was the largest part of a flush's peak memory by heaptrack).
pub(crate) struct SegmentWriter {
    writer: ArrowWriter<Vec<u8>>,
}

impl SegmentWriter {
    /// A writer of `points/` segments.
    pub fn points() -> Result<Self, StoreError> {
        Self::new(points_schema())
    }

    /// A writer of `buckets/` segments.
    pub fn buckets() -> Result<Self, StoreError> {
        Self::new(buckets_schema())
    }

    fn new(schema: SchemaRef) -> Result<Self, StoreError> {
        let writer = ArrowWriter::try_new(Vec::new(), schema, Some(writer_properties()?))
            .map_err(|e| storage("encoding a segment", e))?;
        Ok(Self { writer })
    }

    /// Appends raw points (a writer from [`Self::points`]).
    pub fn write_points(&mut self, stream_id: &str, rows: &[PointRow]) -> Result<(), StoreError> {
        self.write(&points_batch(stream_id, rows)?)
    }

    /// Appends downsampled datapoints (a writer from [`Self::buckets`]).
    pub fn write_buckets(&mut self, stream_id: &str, rows: &[Bucket]) -> Result<(), StoreError> {
        self.write(&buckets_batch(stream_id, rows)?)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        self.writer
            .write(batch)
            .map_err(|e| storage("encoding a segment", e))
    }

    /// The segment's bytes.
    pub fn finish(self) -> Result<Bytes, StoreError> {
        let out = self
            .writer
            .into_inner()
            .map_err(|e| storage("encoding a segment", e))?;
        Ok(Bytes::from(out))
    }
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, StoreError> {
    RecordBatch::try_new(schema, columns).map_err(|e| storage("encoding a segment", e))
}

fn ts_array(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampSecondArray::from_iter_values(values).with_timezone("UTC"))
}

/// Raw points as a `points/` segment.
pub(crate) fn encode_points(stream_id: &str, rows: &[PointRow]) -> Result<Bytes, StoreError> {
    let mut writer = SegmentWriter::points()?;
    writer.write_points(stream_id, rows)?;
    writer.finish()
}

/// Downsampled datapoints as a `buckets/` segment.
pub(crate) fn encode_buckets(stream_id: &str, rows: &[Bucket]) -> Result<Bytes, StoreError> {
    let mut writer = SegmentWriter::buckets()?;
    writer.write_buckets(stream_id, rows)?;
    writer.finish()
}

/// Raw points as rows of a `points/` segment.
fn points_batch(stream_id: &str, rows: &[PointRow]) -> Result<RecordBatch, StoreError> {
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        rows.iter().map(|_| stream_id),
    ));
    let value: ArrayRef = Arc::new(
        rows.iter()
            .map(|r| match r.value {
                RawValue::Num(x) => Some(x),
                _ => None,
            })
            .collect::<Float64Array>(),
    );
    let json: ArrayRef = Arc::new(
        rows.iter()
            .map(|r| match &r.value {
                RawValue::Json(v) => Some(v.to_string()),
                _ => None,
            })
            .collect::<StringArray>(),
    );
    batch(
        points_schema(),
        vec![
            ids,
            ts_array(rows.iter().map(|r| r.ts)),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.seq))),
            value,
            json,
        ],
    )
}

/// Downsampled datapoints as rows of a `buckets/` segment.
fn buckets_batch(stream_id: &str, rows: &[Bucket]) -> Result<RecordBatch, StoreError> {
    let f = |get: fn(&Bucket) -> Option<f64>| -> ArrayRef {
        Arc::new(rows.iter().map(get).collect::<Float64Array>())
    };
    let s = |get: fn(&Bucket) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(get).collect::<StringArray>())
    };
    batch(
        buckets_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|_| stream_id),
            )),
            ts_array(rows.iter().map(|b| b.ts)),
            Arc::new(rows.iter().map(|b| b.count).collect::<Int64Array>()),
            f(|b| b.sum),
            f(|b| b.sum_squares),
            f(|b| b.min),
            f(|b| b.max),
            f(|b| b.mean),
            f(|b| b.std_dev),
            s(|b| b.most_often.as_ref().map(Value::to_string)),
            s(|b| b.least_often.as_ref().map(Value::to_string)),
            s(|b| {
                b.frequencies
                    .as_ref()
                    .map(|f| frequencies_json(f).to_string())
            }),
            ts_array(rows.iter().map(|b| b.time_first)),
            ts_array(rows.iter().map(|b| b.time_mean)),
            ts_array(rows.iter().map(|b| b.time_last)),
        ],
    )
}

/// Items of one kind (as read from segments) as a segment.
pub(crate) fn encode_items(stream_id: &str, items: &[Item]) -> Result<Bytes, StoreError> {
    let mut points = Vec::new();
    let mut buckets = Vec::new();
    for item in items {
        match item {
            Item::Raw(p) => points.push(p.clone()),
            Item::Bucket(b) => buckets.push(b.clone()),
        }
    }
    if buckets.is_empty() {
        encode_points(stream_id, &points)
    } else {
        encode_buckets(stream_id, &buckets)
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, StoreError> {
    batch.column_by_name(name).ok_or_else(|| {
        StoreError::storage("reading a segment", format!("segment lacks column {name}"))
    })
}

fn os(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

fn opt<T: Copy>(valid: bool, v: T) -> Option<T> {
    valid.then_some(v)
}

fn parse_json(text: Option<&str>) -> Result<Option<Value>, StoreError> {
    Ok(match text {
        Some(t) => Some(serde_json::from_str(t)?),
        None => None,
    })
}

/// Decodes a segment.
pub(crate) fn decode(bytes: Bytes, raw: bool) -> Result<Vec<Item>, StoreError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(|e| storage("reading a segment", e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| storage("reading a segment", e))?;
        let ts = column(&batch, "ts")?.as_primitive::<TimestampSecondType>();
        if raw {
            let seq = column(&batch, "seq")?.as_primitive::<Int64Type>();
            let value = column(&batch, "value")?.as_primitive::<Float64Type>();
            let json = column(&batch, "value_json")?.as_string::<i32>();
            for i in 0..batch.num_rows() {
                out.push(Item::Raw(PointRow {
                    ts: ts.value(i),
                    seq: seq.value(i),
                    value: raw_value(
                        opt(value.is_valid(i), value.value(i)),
                        json.is_valid(i).then(|| json.value(i).to_string()),
                    )?,
                }));
            }
        } else {
            let count = column(&batch, "count")?.as_primitive::<Int64Type>();
            let f = |name: &str| -> Result<
                &datafusion::arrow::array::PrimitiveArray<Float64Type>,
                StoreError,
            > { Ok(column(&batch, name)?.as_primitive::<Float64Type>()) };
            let (sum, sq, min, max, mean, sd) = (
                f("sum")?,
                f("sum_squares")?,
                f("min")?,
                f("max")?,
                f("mean")?,
                f("std_dev")?,
            );
            let s = |name: &str| -> Result<&StringArray, StoreError> {
                Ok(column(&batch, name)?.as_string::<i32>())
            };
            let (o, r, fr) = (s("most_often")?, s("least_often")?, s("frequencies")?);
            let t = |name: &str| -> Result<&TimestampSecondArray, StoreError> {
                Ok(column(&batch, name)?.as_primitive::<TimestampSecondType>())
            };
            let (ta, tm, tz) = (t("time_first")?, t("time_mean")?, t("time_last")?);
            let of = |a: &datafusion::arrow::array::PrimitiveArray<Float64Type>, i: usize| {
                opt(a.is_valid(i), a.value(i))
            };
            for i in 0..batch.num_rows() {
                let frequencies = match parse_json(os(fr, i))? {
                    Some(v) => Some(parse_frequencies(&v).ok_or_else(|| {
                        StoreError::storage("reading a segment", "corrupt frequencies")
                    })?),
                    None => None,
                };
                out.push(Item::Bucket(Bucket {
                    ts: ts.value(i),
                    count: opt(count.is_valid(i), count.value(i)),
                    sum: of(sum, i),
                    sum_squares: of(sq, i),
                    min: of(min, i),
                    max: of(max, i),
                    mean: of(mean, i),
                    std_dev: of(sd, i),
                    most_often: parse_json(os(o, i))?,
                    least_often: parse_json(os(r, i))?,
                    frequencies,
                    time_first: ta.value(i),
                    time_mean: tm.value(i),
                    time_last: tz.value(i),
                }));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn segments_round_trip() {
        let rows = vec![
            PointRow {
                ts: 10,
                seq: 1,
                value: RawValue::Num(1.5),
            },
            PointRow {
                ts: 10,
                seq: 2,
                value: RawValue::Null,
            },
            PointRow {
                ts: 11,
                seq: 7,
                value: RawValue::Json(json!({"a": [1, "x"]})),
            },
        ];
        let items = decode(encode_points("s", &rows).unwrap_or_default(), true).unwrap_or_default();
        assert_eq!(items, rows.into_iter().map(Item::Raw).collect::<Vec<_>>());
        let b = Bucket {
            ts: 60,
            count: Some(3),
            sum: Some(4.5),
            mean: Some(1.5),
            most_often: Some(json!("up")),
            frequencies: Some(vec![(json!("up"), 2), (json!(3), 1)]),
            time_first: 61,
            time_mean: 70,
            time_last: 100,
            ..Default::default()
        };
        let items = decode(
            encode_buckets("s", std::slice::from_ref(&b)).unwrap_or_default(),
            false,
        )
        .unwrap_or_default();
        assert_eq!(items, vec![Item::Bucket(b)]);
    }

    #[test]
    fn a_segment_written_in_pages_reads_back_whole_with_dictionaries_only_where_they_pay() {
        let row = |i: i64| PointRow {
            ts: 100 + i,
            seq: i,
            value: RawValue::Num(i as f64 * 0.37),
        };
        let mut writer = SegmentWriter::points().unwrap();
        for page in [0..3, 3..3, 3..10] {
            writer
                .write_points("s", &page.map(row).collect::<Vec<_>>())
                .unwrap();
        }
        let bytes = writer.finish().unwrap();
        let items = decode(bytes.clone(), true).unwrap();
        assert_eq!(items, (0..10).map(row).map(Item::Raw).collect::<Vec<_>>());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let group = reader.metadata().row_group(0);
        let dictionary = |name: &str| {
            let column = group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap();
            column.dictionary_page_offset().is_some()
        };
        assert!(dictionary("stream_id"));
        for name in ["ts", "seq", "value"] {
            assert!(!dictionary(name), "{name}");
        }
    }
}
