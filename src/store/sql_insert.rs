//! `INSERT INTO store.datapoints SELECT ...`: appends the rows of any query to existing streams,
//! at their highest granularity, with `append_multiple`'s checks (monotonic timestamps, value
//! types, no appends to derived streams).
//!
//! A row names its stream in `stream_id`: the stream's id, or a JSON object of tags that
//! matches exactly one stream (`'{"host": "' || host || '"}'`), so rows from an API table can
//! be routed by their tag columns; tags that match no stream create one (those tags as its
//! query tags, upstream's seven value downsamplers, highest granularity seconds). Its value is `value` (a number) or `value_json` (JSON text of
//! any value: nominal, graph, pre-downsampled dicts); `ts` is required. `granularity` and the
//! downsampled columns (`count`, `sum`, ...) are computed by the store and must be left out.
//! Rows are appended batch by batch, each batch in one transaction; the first failing row
//! stops the statement with its error (the rows before it stay appended, as `append_multiple`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, SchemaRef, TimestampSecondType};
use datafusion::datasource::sink::DataSink;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;
use serde_json::Value;

use super::{Datastream, Granularity, NewDatapoint, StoreError, StreamSpec, ValueDownsampler};

/// What `granularity` holds in an INSERT that leaves it out: the store decides.
pub(crate) const STORE_DECIDES: &str = "highest";

fn invalid(message: String) -> DataFusionError {
    DataFusionError::External(Box::new(StoreError::InvalidArgument(message)))
}

/// The sink behind `INSERT INTO store.datapoints`.
#[derive(Debug)]
pub(crate) struct AppendSink {
    store: Datastream,
    schema: SchemaRef,
}

impl AppendSink {
    pub(crate) fn new(store: Datastream, schema: SchemaRef) -> Self {
        AppendSink { store, schema }
    }

    /// The id of the stream a row names: an id, or tags matching exactly one stream.
    async fn resolve(&self, named: &str, cache: &mut HashMap<String, String>) -> DFResult<String> {
        if let Some(id) = cache.get(named) {
            return Ok(id.clone());
        }
        let id = if named.trim_start().starts_with('{') {
            let tags: Value = serde_json::from_str(named).map_err(|e| {
                invalid(format!(
                    "stream_id '{named}' is neither a stream id nor a JSON object of tags: {e}"
                ))
            })?;
            let found = self
                .store
                .find_streams(Some(tags.clone()))
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            match found.as_slice() {
                [one] => one
                    .get("stream_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| invalid(format!("stream for tags {named} has no id")))?,
                [] => self
                    .store
                    .ensure_stream(StreamSpec::new(
                        tags,
                        Value::Object(Default::default()),
                        ValueDownsampler::upstream_seven(),
                        Granularity::Seconds,
                    ))
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?,
                many => {
                    return Err(invalid(format!(
                        "{} streams have the tags {named}; add tags until one matches",
                        many.len()
                    )))
                }
            }
        } else {
            named.to_string()
        };
        cache.insert(named.to_string(), id.clone());
        Ok(id)
    }
}

impl DisplayAs for AppendSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "DatastreamAppend: {}", self.store.path().display())
    }
}

#[async_trait]
impl DataSink for AppendSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DFResult<u64> {
        let mut cache = HashMap::new();
        let mut appended = 0u64;
        while let Some(batch) = data.next().await {
            let batch = batch?;
            let column = |name: &str| {
                batch.column_by_name(name).ok_or_else(|| {
                    DataFusionError::Internal(format!("INSERT input has no column {name}"))
                })
            };
            for field in self.schema.fields().iter().skip(5) {
                if column(field.name())?.null_count() != batch.num_rows() {
                    return Err(invalid(format!(
                        "INSERT INTO datapoints appends raw datapoints: leave out '{}' (the \
                         store computes the downsampled columns)",
                        field.name()
                    )));
                }
            }
            let granularity = column("granularity")?.as_string::<i32>().clone();
            let stream = column("stream_id")?.as_string::<i32>().clone();
            let ts = column("ts")?.as_primitive::<TimestampSecondType>().clone();
            let value = column("value")?.as_primitive::<Float64Type>().clone();
            let value_json = column("value_json")?.as_string::<i32>().clone();
            let mut points = Vec::with_capacity(batch.num_rows());
            for row in 0..batch.num_rows() {
                if granularity.is_valid(row) && granularity.value(row) != STORE_DECIDES {
                    return Err(invalid(
                        "INSERT INTO datapoints appends at each stream's highest granularity: \
                         leave out 'granularity'"
                            .into(),
                    ));
                }
                let stream_id = self.resolve(stream.value(row), &mut cache).await?;
                let timestamp = chrono::DateTime::from_timestamp(ts.value(row), 0)
                    .ok_or_else(|| invalid(format!("ts {} is out of range", ts.value(row))))?;
                let value = if value.is_valid(row) {
                    Value::from(value.value(row))
                } else if value_json.is_valid(row) {
                    serde_json::from_str(value_json.value(row)).map_err(|e| {
                        invalid(format!(
                            "value_json '{}' is not JSON: {e}",
                            value_json.value(row)
                        ))
                    })?
                } else {
                    Value::Null
                };
                points.push(NewDatapoint {
                    stream_id,
                    value,
                    timestamp: Some(timestamp),
                });
            }
            let n = points.len() as u64;
            self.store
                .append_multiple(points)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            appended += n;
        }
        Ok(appended)
    }
}
