//! The store as a DataFusion schema ([`register_store`]) with two tables:
//!
//! - `streams`: one row per stream: `stream_id`, `tags` (JSON text), `tags_map`
//!   (Map<Utf8, Utf8> of the top-level tags, values as JSON text), `value_type`,
//!   `highest_granularity`, `value_downsamplers` (List<Utf8>), `derived_from` (JSON text or
//!   null), `pending_backprocess`, `earliest_datapoint`, `latest_datapoint`, `downsampled_until`
//!   (JSON text).
//! - `datapoints`: every stored datapoint: `stream_id`, `granularity`, `ts` (the point's time or
//!   bucket start), `value`, `value_json` (raw points), and the downsampled keys `count`, `sum`,
//!   `sum_squares`, `min`, `max`, `mean`, `std_dev`, `most_often`, `least_often`, `frequencies`
//!   (JSON text), `time_first`, `time_mean`, `time_last`.
//!
//! Filters on `stream_id` (`=`, `IN`), `granularity` (`=`, `IN`) and `ts` (comparisons and
//! `BETWEEN` with literals) choose the streams and granularities read and the time range of the
//! buffer pages and of the segments (a segment outside the range is not opened); DataFusion
//! applies them again (`Inexact`). `EXPLAIN` shows what was chosen:
//! `StoreScanExec: streams=1 granularities=[minutes] ts=[..) segments=1/4 ...`.
//!
//! [`append_query`] appends a query's rows (e.g. from `datadog_v1`) to streams identified by
//! tag columns: the store's equivalent of `INSERT INTO datapoints SELECT ...`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListBuilder, MapBuilder,
    RecordBatch, StringArray, StringBuilder, TimestampSecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit, TimestampSecondType,
};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use serde_json::Value;

use super::append::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use super::datapoint::rfc3339;
use super::downsamplers::frequencies_json;
use super::query::Item;
use super::value::RawValue;
use super::{Datastream, Granularity, ScanPart, StoreError};

fn df(e: StoreError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))
}

/// Registers `store` as schema `name` of the session's default catalog: `name.streams`,
/// `name.datapoints`.
pub fn register_store(ctx: &SessionContext, name: &str, store: Datastream) -> DFResult<()> {
    let catalog_name = ctx.state().config_options().catalog.default_catalog.clone();
    let catalog = ctx.catalog(&catalog_name).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "no catalog '{catalog_name}' to register the store in"
        ))
    })?;
    catalog.register_schema(name, Arc::new(StoreSchema { store }))?;
    Ok(())
}

/// The store's tables as a schema.
#[derive(Debug)]
pub struct StoreSchema {
    store: Datastream,
}

#[async_trait]
impl SchemaProvider for StoreSchema {
    fn table_names(&self) -> Vec<String> {
        vec!["streams".into(), "datapoints".into()]
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        Ok(match name {
            "streams" => Some(Arc::new(StreamsTable {
                store: self.store.clone(),
            })),
            "datapoints" => Some(Arc::new(DatapointsTable {
                store: self.store.clone(),
            })),
            _ => None,
        })
    }

    fn table_exist(&self, name: &str) -> bool {
        matches!(name, "streams" | "datapoints")
    }
}

/// The `streams` table.
#[derive(Debug)]
pub struct StreamsTable {
    store: Datastream,
}

fn streams_schema() -> SchemaRef {
    let map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let map_type = {
        let mut m = map;
        datafusion::arrow::array::Array::data_type(&m.finish()).clone()
    };
    Arc::new(Schema::new(vec![
        Field::new("stream_id", DataType::Utf8, false),
        Field::new("tags", DataType::Utf8, false),
        Field::new("tags_map", map_type, false),
        Field::new("value_type", DataType::Utf8, false),
        Field::new("highest_granularity", DataType::Utf8, false),
        Field::new(
            "value_downsamplers",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            false,
        ),
        Field::new("derived_from", DataType::Utf8, true),
        Field::new("pending_backprocess", DataType::Boolean, false),
        Field::new("earliest_datapoint", ts_type(), true),
        Field::new("latest_datapoint", ts_type(), true),
        Field::new("downsampled_until", DataType::Utf8, false),
    ]))
}

fn parse_time(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp())
}

#[async_trait]
impl TableProvider for StreamsTable {
    fn schema(&self) -> SchemaRef {
        streams_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let streams = self.store.find_streams(None).await.map_err(df)?;
        let schema = streams_schema();
        let mut ids = Vec::new();
        let mut tags = Vec::new();
        let mut map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        let mut downsamplers = ListBuilder::new(StringBuilder::new());
        let (mut vt, mut hg, mut derived, mut pending, mut earliest, mut latest, mut until) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for s in &streams {
            let mut user = s.clone();
            for k in super::RESERVED_TAGS {
                user.remove(*k);
            }
            ids.push(s["stream_id"].as_str().unwrap_or_default().to_string());
            tags.push(Value::Object(user.clone()).to_string());
            for (k, v) in &user {
                map.keys().append_value(k);
                map.values().append_value(v.to_string());
            }
            map.append(true)?;
            for d in s["value_downsamplers"].as_array().into_iter().flatten() {
                downsamplers
                    .values()
                    .append_value(d.as_str().unwrap_or_default());
            }
            downsamplers.append(true);
            vt.push(s["value_type"].as_str().unwrap_or_default().to_string());
            hg.push(
                s["highest_granularity"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            derived.push(s.get("derived_from").map(Value::to_string));
            pending.push(s["pending_backprocess"].as_bool().unwrap_or(false));
            earliest.push(parse_time(&s["earliest_datapoint"]));
            latest.push(parse_time(&s["latest_datapoint"]));
            until.push(s["downsampled_until"].to_string());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(tags)),
            Arc::new(map.finish()),
            Arc::new(StringArray::from(vt)),
            Arc::new(StringArray::from(hg)),
            Arc::new(downsamplers.finish()),
            Arc::new(StringArray::from(derived)),
            Arc::new(BooleanArray::from(pending)),
            Arc::new(TimestampSecondArray::from(earliest).with_timezone("UTC")),
            Arc::new(TimestampSecondArray::from(latest).with_timezone("UTC")),
            Arc::new(StringArray::from(until)),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        MemTable::try_new(schema, vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// The schema of the `datapoints` table.
pub fn datapoints_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("stream_id", DataType::Utf8, false),
        Field::new("granularity", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("value", DataType::Float64, true),
        Field::new("value_json", DataType::Utf8, true),
    ];
    fields.extend(super::segments::key_fields(true));
    Arc::new(Schema::new(fields))
}

/// The `datapoints` table.
#[derive(Debug)]
pub struct DatapointsTable {
    store: Datastream,
}

/// What the filters on `datapoints` pin down.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pushed {
    pub streams: Option<Vec<String>>,
    pub granularities: Option<Vec<Granularity>>,
    pub lo: i64,
    pub hi: i64,
}

fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c) => column_name(&c.expr),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Epoch seconds (floored) of a timestamp literal.
fn seconds(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampSecond(Some(x), _) => Some(*x),
        ScalarValue::TimestampMillisecond(Some(x), _) => Some(x.div_euclid(1_000)),
        ScalarValue::TimestampMicrosecond(Some(x), _) => Some(x.div_euclid(1_000_000)),
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(x.div_euclid(1_000_000_000)),
        _ => None,
    }
}

fn flip(op: Operator) -> Operator {
    match op {
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        other => other,
    }
}

/// The values of `x = a OR x = b OR x IN (...)` and the column `x`.
fn alternatives(e: &Expr) -> Option<(&str, Vec<String>)> {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let (a, mut va) = alternatives(left)?;
            let (b, vb) = alternatives(right)?;
            (a == b).then(|| {
                va.extend(vb);
                (a, va)
            })
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (
            column_name(left),
            literal(right),
            column_name(right),
            literal(left),
        ) {
            (Some(n), Some(v), _, _) | (_, _, Some(n), Some(v)) => Some((n, vec![text(v)?])),
            _ => None,
        },
        Expr::InList(list) if !list.negated => {
            let values: Option<Vec<String>> = list
                .list
                .iter()
                .map(|v| literal(v).and_then(text))
                .collect();
            Some((column_name(&list.expr)?, values?))
        }
        _ => None,
    }
}

/// Applies one filter to `p`; false when it is not one the scan can use.
fn apply(e: &Expr, p: &mut Pushed) -> bool {
    if let Some((name, values)) = alternatives(e) {
        match name {
            "stream_id" => {
                p.streams = Some(intersect(p.streams.take(), values));
                return true;
            }
            "granularity" => {
                // An unknown name matches no row; keeping it out leaves the filter to DataFusion.
                let gs: Option<Vec<Granularity>> =
                    values.iter().map(|g| Granularity::parse(g).ok()).collect();
                if let Some(gs) = gs {
                    p.granularities = Some(intersect(p.granularities.take(), gs));
                    return true;
                }
                return false;
            }
            _ => {}
        }
    }
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut q = p.clone();
            if apply(left, &mut q) && apply(right, &mut q) {
                *p = q;
                return true;
            }
            false
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (name, value, op) = match (
                column_name(left),
                literal(right),
                column_name(right),
                literal(left),
            ) {
                (Some(n), Some(v), _, _) => (n, v, *op),
                (_, _, Some(n), Some(v)) => (n, v, flip(*op)),
                _ => return false,
            };
            match (name, op) {
                ("ts", op) => seconds(value).is_some_and(|t| {
                    match op {
                        Operator::Eq => {
                            p.lo = p.lo.max(t);
                            p.hi = p.hi.min(t + 1);
                        }
                        Operator::Gt | Operator::GtEq => p.lo = p.lo.max(t),
                        Operator::Lt | Operator::LtEq => p.hi = p.hi.min(t + 1),
                        _ => return false,
                    }
                    true
                }),
                _ => false,
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if column_name(expr) == Some("ts") => {
            match (
                literal(low).and_then(seconds),
                literal(high).and_then(seconds),
            ) {
                (Some(l), Some(h)) => {
                    p.lo = p.lo.max(l);
                    p.hi = p.hi.min(h + 1);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

fn intersect<T: PartialEq>(have: Option<Vec<T>>, new: Vec<T>) -> Vec<T> {
    match have {
        None => new,
        Some(have) => have.into_iter().filter(|x| new.contains(x)).collect(),
    }
}

/// The scan parameters of `filters` (pure; filters it cannot use are ignored).
pub(crate) fn push_down(filters: &[Expr]) -> Pushed {
    let mut p = Pushed {
        streams: None,
        granularities: None,
        lo: MIN_TIMESTAMP,
        hi: MAX_TIMESTAMP + 1,
    };
    for f in filters {
        apply(f, &mut p);
    }
    p
}

#[async_trait]
impl TableProvider for DatapointsTable {
    fn schema(&self) -> SchemaRef {
        datapoints_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                let mut p = push_down(&[]);
                if apply(f, &mut p) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        // An INSERT leaves the granularity to the store (each stream's highest).
        static HIGHEST: std::sync::LazyLock<Expr> = std::sync::LazyLock::new(|| {
            Expr::Literal(
                ScalarValue::Utf8(Some(super::sql_insert::STORE_DECIDES.into())),
                None,
            )
        });
        (column == "granularity").then(|| &*HIGHEST)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::Plan(
                "the store's datapoints can only be appended to: use INSERT INTO, not INSERT \
                 OVERWRITE or REPLACE"
                    .into(),
            ));
        }
        let sink = super::sql_insert::AppendSink::new(self.store.clone(), datapoints_schema());
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let pushed = push_down(filters);
        let parts = if pushed.lo >= pushed.hi {
            Vec::new()
        } else {
            self.store
                .plan_scan(
                    pushed.streams.clone(),
                    pushed.granularities.clone(),
                    (pushed.lo, pushed.hi),
                )
                .await
                .map_err(df)?
        };
        let full = datapoints_schema();
        let schema = match projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        Ok(Arc::new(StoreScanExec::new(
            self.store.clone(),
            parts,
            pushed,
            projection.cloned(),
            schema,
        )))
    }
}

/// Reads the chosen (stream, granularity) parts of the store.
#[derive(Debug)]
pub struct StoreScanExec {
    store: Datastream,
    parts: Vec<ScanPart>,
    pushed: Pushed,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl StoreScanExec {
    fn new(
        store: Datastream,
        parts: Vec<ScanPart>,
        pushed: Pushed,
        projection: Option<Vec<usize>>,
        schema: SchemaRef,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        StoreScanExec {
            store,
            parts,
            pushed,
            projection,
            schema,
            properties,
        }
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut streams: Vec<&str> = self.parts.iter().map(|p| p.id.as_str()).collect();
        streams.dedup();
        let mut gs: Vec<Granularity> = self.parts.iter().map(|p| p.granularity).collect();
        gs.sort();
        gs.dedup();
        let bound = |t: i64, open: i64| {
            if t == open {
                "..".to_string()
            } else {
                rfc3339(t).as_str().unwrap_or_default().to_string()
            }
        };
        let (pruned, total) = self
            .parts
            .iter()
            .fold((0, 0), |(a, b), p| (a + p.segments.0, b + p.segments.1));
        vec![
            ("streams", streams.len().to_string()),
            (
                "granularities",
                format!(
                    "[{}]",
                    gs.iter().map(|g| g.name()).collect::<Vec<_>>().join(", ")
                ),
            ),
            (
                "ts",
                format!(
                    "[{}, {})",
                    bound(self.pushed.lo, MIN_TIMESTAMP),
                    bound(self.pushed.hi, MAX_TIMESTAMP + 1)
                ),
            ),
            ("segments", format!("{pruned}/{total}")),
            (
                "projection",
                format!(
                    "[{}]",
                    self.schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        ]
    }
}

impl DisplayAs for StoreScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        crate::sql::scan::fmt_leaf("StoreScanExec", &self.fields(), t, f)
    }
}

impl ExecutionPlan for StoreScanExec {
    fn name(&self) -> &str {
        "StoreScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DFResult<TreeNodeRecursion>,
    ) -> DFResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        // A leaf: there are no children to replace.
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        let projection = self.projection.clone();
        let stream = self.store.scan_pages(self.parts.clone()).map(move |page| {
            let (part, items) = page.map_err(df)?;
            let batch = page_batch(&part, &items)?;
            match &projection {
                Some(p) => Ok(batch.project(p)?),
                None => Ok(batch),
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}

/// One page of a part as a `datapoints` batch.
fn page_batch(part: &ScanPart, items: &[Item]) -> DFResult<RecordBatch> {
    let n = items.len();
    let raw = |f: fn(&super::meta::PointRow) -> Option<String>| -> Vec<Option<String>> {
        items
            .iter()
            .map(|i| if let Item::Raw(p) = i { f(p) } else { None })
            .collect()
    };
    let bucket_f = |f: fn(&super::downsamplers::Bucket) -> Option<f64>| -> ArrayRef {
        Arc::new(
            items
                .iter()
                .map(|i| if let Item::Bucket(b) = i { f(b) } else { None })
                .collect::<Float64Array>(),
        )
    };
    let bucket_s = |f: fn(&super::downsamplers::Bucket) -> Option<String>| -> ArrayRef {
        Arc::new(
            items
                .iter()
                .map(|i| if let Item::Bucket(b) = i { f(b) } else { None })
                .collect::<StringArray>(),
        )
    };
    let bucket_t = |f: fn(&super::downsamplers::Bucket) -> i64| -> ArrayRef {
        Arc::new(
            items
                .iter()
                .map(|i| {
                    if let Item::Bucket(b) = i {
                        Some(f(b))
                    } else {
                        None
                    }
                })
                .collect::<TimestampSecondArray>()
                .with_timezone("UTC"),
        )
    };
    let ts: Vec<i64> = items.iter().map(Item::ts).collect();
    let value: Float64Array = items
        .iter()
        .map(|i| match i {
            Item::Raw(p) => match p.value {
                RawValue::Num(x) => Some(x),
                _ => None,
            },
            Item::Bucket(_) => None,
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![part.id.as_str(); n])),
        Arc::new(StringArray::from(vec![part.granularity.name(); n])),
        Arc::new(TimestampSecondArray::from(ts).with_timezone("UTC")),
        Arc::new(value),
        Arc::new(StringArray::from(raw(|p| match &p.value {
            RawValue::Json(v) => Some(v.to_string()),
            _ => None,
        }))),
        Arc::new(
            items
                .iter()
                .map(|i| {
                    if let Item::Bucket(b) = i {
                        b.count
                    } else {
                        None
                    }
                })
                .collect::<Int64Array>(),
        ),
        bucket_f(|b| b.sum),
        bucket_f(|b| b.sum_squares),
        bucket_f(|b| b.min),
        bucket_f(|b| b.max),
        bucket_f(|b| b.mean),
        bucket_f(|b| b.std_dev),
        bucket_s(|b| b.most_often.as_ref().map(Value::to_string)),
        bucket_s(|b| b.least_often.as_ref().map(Value::to_string)),
        bucket_s(|b| {
            b.frequencies
                .as_ref()
                .map(|f| frequencies_json(f).to_string())
        }),
        bucket_t(|b| b.time_first),
        bucket_t(|b| b.time_mean),
        bucket_t(|b| b.time_last),
    ];
    Ok(RecordBatch::try_new(datapoints_schema(), columns)?)
}

/// Appends the rows of `query` to streams identified by tag columns (the store's equivalent of
/// `INSERT INTO datapoints SELECT ...`): each distinct combination of `tag_columns` values is
/// a stream, ensured with `template` plus those tags as query tags; `ts` is the row's time
/// column and `value_column` its value (numbers; nulls stay nulls). Rows are appended in
/// query order with the monotonic check, so the query should `ORDER BY ts`. Returns the number
/// of rows appended.
pub async fn append_query(
    ctx: &SessionContext,
    store: &Datastream,
    query: &str,
    tag_columns: &[&str],
    value_column: &str,
    template: &super::StreamSpec,
) -> Result<usize, StoreError> {
    let bad_query = |e: DataFusionError| StoreError::InvalidArgument(format!("append_query: {e}"));
    let mut batches = ctx
        .sql(query)
        .await
        .map_err(bad_query)?
        .execute_stream()
        .await
        .map_err(bad_query)?;
    let mut ids: HashMap<Vec<String>, String> = HashMap::new();
    let mut appended = 0;
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(bad_query)?;
        let column = |name: &str, to: &DataType| -> Result<ArrayRef, StoreError> {
            let c = batch.column_by_name(name).ok_or_else(|| {
                StoreError::InvalidArgument(format!(
                    "append_query: the query has no column '{name}'"
                ))
            })?;
            cast(c, to).map_err(|e| {
                StoreError::InvalidArgument(format!("append_query: column '{name}': {e}"))
            })
        };
        let ts = column("ts", &ts_type())?;
        let ts = ts.as_primitive::<TimestampSecondType>();
        let value = column(value_column, &DataType::Float64)?;
        let value = value.as_primitive::<Float64Type>();
        let tags: Vec<ArrayRef> = tag_columns
            .iter()
            .map(|c| column(c, &DataType::Utf8))
            .collect::<Result<_, _>>()?;
        let mut points = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let key: Vec<String> = tags
                .iter()
                .map(|t| {
                    let t = t.as_string::<i32>();
                    if t.is_valid(row) {
                        t.value(row).to_string()
                    } else {
                        String::new()
                    }
                })
                .collect();
            let id = match ids.get(&key) {
                Some(id) => id.clone(),
                None => {
                    let mut spec = template.clone();
                    let mut query_tags = super::tags::object(Some(&spec.query_tags), "query_tags")?
                        .cloned()
                        .unwrap_or_default();
                    for (c, v) in tag_columns.iter().zip(&key) {
                        query_tags.insert((*c).to_string(), Value::from(v.clone()));
                    }
                    spec.query_tags = Value::Object(query_tags);
                    let id = store.ensure_stream(spec).await?;
                    ids.insert(key, id.clone());
                    id
                }
            };
            if !ts.is_valid(row) {
                return Err(StoreError::InvalidArgument(format!(
                    "append_query: row {row} has a null ts"
                )));
            }
            points.push(super::NewDatapoint {
                stream_id: id,
                value: if value.is_valid(row) {
                    super::value::number(value.value(row))
                } else {
                    Value::Null
                },
                timestamp: Some(super::datapoint::to_datetime(ts.value(row)).unwrap_or_default()),
            });
        }
        appended += points.len();
        store.append_multiple(points).await?;
    }
    Ok(appended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn filters_become_scan_parameters() {
        let t = |s: i64| lit(ScalarValue::TimestampSecond(Some(s), Some("UTC".into())));
        let p = push_down(&[
            col("stream_id").eq(lit("a")),
            col("granularity").in_list(vec![lit("minutes"), lit("hours")], false),
            col("ts").gt_eq(t(100)).and(col("ts").lt(t(200))),
            col("value").gt(lit(1.0)),
        ]);
        assert_eq!(p.streams, Some(vec!["a".to_string()]));
        assert_eq!(
            p.granularities,
            Some(vec![Granularity::Minutes, Granularity::Hours])
        );
        // `<` keeps the bound's whole second (the filter is applied again above the scan).
        assert_eq!((p.lo, p.hi), (100, 201));
        let p = push_down(&[
            t(50).lt(col("ts")),
            col("ts").between(t(10), t(60)),
            col("granularity").eq(lit("weeks")),
        ]);
        assert_eq!((p.lo, p.hi), (50, 61));
        assert_eq!(p.granularities, None);
        let p = push_down(&[
            col("stream_id").eq(lit("a")),
            col("stream_id").in_list(vec![lit("b")], false),
        ]);
        assert_eq!(p.streams, Some(vec![]));
        let p = push_down(&[col("granularity")
            .eq(lit("days"))
            .or(col("granularity").eq(lit("hours")))]);
        assert_eq!(
            p.granularities,
            Some(vec![Granularity::Days, Granularity::Hours])
        );
        let p = push_down(&[col("granularity")
            .eq(lit("days"))
            .or(col("stream_id").eq(lit("x")))]);
        assert_eq!((p.granularities, p.streams), (None, None));
    }
}
