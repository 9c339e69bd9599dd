//! `downsample(table, granularity, value_column [, start, end])`: datastream's downsampling of
//! a whole table as a table function. One row per series and bucket with `ts` (bucket start) and
//! every datastream key: `count, sum, sum_squares, min, max, mean, std_dev, most_often,
//! least_often, frequencies, time_first, time_mean, time_last`.
//!
//! The series are the table's key columns (string and list columns other than the time and
//! value columns). With `start` (inclusive) and `end` (exclusive), empty buckets of every series
//! inside the window are emitted with `count = 0`, nulls elsewhere and `time_mean` at the middle
//! of the bucket (datastream's gap filling); without them only non-empty buckets are returned.
//!
//! The result is a view over a logical plan (scan → filter → aggregate, LEFT JOINed to a grid of
//! buckets), so filter pushdown into API tables works as for a hand-written query.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, Column, NullEquality, Result, ScalarValue, TableReference};
use datafusion::datasource::{provider_as_source, ViewTable};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, SortExpr};
use datafusion::prelude::{coalesce, lit};

use super::bucket::units_per_second;
use super::granularity::parse_granularity;

/// Most buckets a gap-filled window may have.
const MAX_BUCKETS: i64 = 1_000_000;

/// The column of the aggregate that counts each bucket's values once for `most_often`,
/// `least_often` and `frequencies`.
const SUMMARY: &str = "__frequency_summary";

const USAGE: &str = "downsample('table', 'granularity', 'value_column' [, start, end])";

/// The `downsample` table function.
#[derive(Debug, Default)]
pub struct Downsample;

fn string_arg(expr: &Expr, what: &str) -> Result<String> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Ok(s.clone()),
        other => plan_err!("{USAGE}: {what} must be a string literal; got {other}"),
    }
}

/// A constant `start`/`end` argument (a literal, possibly under casts) as a timestamp of `ts_type`.
fn timestamp_arg(expr: &Expr, ts_type: &DataType, what: &str) -> Result<ScalarValue> {
    let value = match expr {
        Expr::Literal(v, _) => v.clone(),
        Expr::Cast(c) => timestamp_arg(&c.expr, c.field.data_type(), what)?,
        Expr::TryCast(c) => timestamp_arg(&c.expr, c.field.data_type(), what)?,
        other => return plan_err!("{USAGE}: {what} must be a constant timestamp; got {other}"),
    };
    let cast = value.cast_to(ts_type)?;
    if cast.is_null() {
        return plan_err!("{USAGE}: {what} is NULL or not a timestamp");
    }
    Ok(cast)
}

fn timestamp_value(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampSecond(Some(x), _)
        | ScalarValue::TimestampMillisecond(Some(x), _)
        | ScalarValue::TimestampMicrosecond(Some(x), _)
        | ScalarValue::TimestampNanosecond(Some(x), _) => Some(*x),
        _ => None,
    }
}

fn resolve_table(session: &dyn Session, name: &str) -> Result<Arc<dyn TableProvider>> {
    let options = &session.config_options().catalog;
    let reference = TableReference::parse_str(name);
    let resolved = reference.resolve(&options.default_catalog, &options.default_schema);
    let schema = session
        .catalog_list()
        .catalog(&resolved.catalog)
        .and_then(|c| c.schema(&resolved.schema));
    let Some(schema) = schema else {
        return plan_err!("downsample: table '{name}' not found");
    };
    // TableFunctionImpl is synchronous while SchemaProvider::table is async; the catalogs of a
    // SessionContext answer without awaiting anything, so polling it to completion here is safe.
    match futures::executor::block_on(schema.table(&resolved.table))? {
        Some(table) => Ok(table),
        None => plan_err!("downsample: table '{name}' not found"),
    }
}

fn column(qualifier: Option<&str>, name: &str) -> Expr {
    Expr::Column(Column::new(qualifier, name))
}

impl TableFunctionImpl for Downsample {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let session = args.session();
        if !matches!(exprs.len(), 3 | 5) {
            return plan_err!("{USAGE} takes 3 or 5 arguments; got {}", exprs.len());
        }
        let table = string_arg(&exprs[0], "table")?;
        let granularity = string_arg(&exprs[1], "granularity")?;
        let value = string_arg(&exprs[2], "value_column")?;
        let width_seconds = parse_granularity(&granularity)?;

        let provider = resolve_table(session, &table)?;
        let schema = provider.schema();
        let is_ts = |t: &DataType| matches!(t, DataType::Timestamp(_, _));
        let time_field = schema
            .fields()
            .iter()
            .find(|f| f.name() == "ts" && is_ts(f.data_type()))
            .or_else(|| {
                let mut ts = schema.fields().iter().filter(|f| is_ts(f.data_type()));
                match (ts.next(), ts.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                }
            });
        let Some(time_field) = time_field else {
            return plan_err!(
                "downsample: table '{table}' needs a timestamp column named ts (or exactly one timestamp column)"
            );
        };
        let ts_name = time_field.name().clone();
        let ts_type = time_field.data_type().clone();
        let Ok(value_field) = schema.field_with_name(&value) else {
            return plan_err!("downsample: table '{table}' has no column '{value}'");
        };
        // sum, mean and std_dev need numbers: say so here rather than let `sum` fail inside
        // the plan with an internal error.
        if !(value_field.data_type().is_numeric() || value_field.data_type() == &DataType::Null) {
            let numeric: Vec<&str> = schema
                .fields()
                .iter()
                .filter(|f| f.data_type().is_numeric())
                .map(|f| f.name().as_str())
                .collect();
            let instead = if numeric.is_empty() {
                format!("table '{table}' has none")
            } else {
                format!("'{table}' has {}", numeric.join(", "))
            };
            return plan_err!(
                "downsample: the value column '{value}' is {}, not a number: name a numeric column ({instead}); for other values use most_often() or frequencies() with GROUP BY ds_bucket(granularity, ts)",
                value_field.data_type()
            );
        }
        let keys: Vec<String> = schema
            .fields()
            .iter()
            .filter(|f| f.name() != &ts_name && f.name() != &value)
            .filter(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Utf8View
                        | DataType::List(_)
                        | DataType::LargeList(_)
                )
            })
            .map(|f| f.name().clone())
            .collect();

        let window = if exprs.len() == 5 {
            let start = timestamp_arg(&exprs[3], &ts_type, "start")?;
            let end = timestamp_arg(&exprs[4], &ts_type, "end")?;
            Some((start, end))
        } else {
            None
        };

        let scalar = |name: &str| {
            session
                .scalar_functions()
                .get(name)
                .cloned()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Plan(format!(
                        "downsample needs function {name}; call ddstream::register_functions"
                    ))
                })
        };
        let aggregate = |name: &str| {
            session
                .aggregate_functions()
                .get(name)
                .cloned()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Plan(format!(
                        "downsample needs aggregate {name}; call ddstream::register_functions"
                    ))
                })
        };

        let mut base = LogicalPlanBuilder::scan(table.clone(), provider_as_source(provider), None)?;
        if let Some((start, end)) = &window {
            base = base.filter(
                column(None, &ts_name)
                    .gt_eq(lit(start.clone()))
                    .and(column(None, &ts_name).lt(lit(end.clone()))),
            )?;
        }
        let base = base.build()?;

        let bucket = scalar("ds_bucket")?
            .call(vec![lit(granularity.clone()), column(None, &ts_name)])
            .alias("ts");
        let value_keys = [
            "count",
            "sum",
            "sum_squares",
            "min",
            "max",
            "mean",
            "std_dev",
            "most_often",
            "least_often",
            "frequencies",
        ];
        let counted_keys = ["most_often", "least_often", "frequencies"];
        let time_keys = ["time_first", "time_mean", "time_last"];
        let mut aggregates = Vec::new();
        for name in value_keys.iter().filter(|k| !counted_keys.contains(k)) {
            aggregates.push(
                aggregate(name)?
                    .call(vec![column(None, &value)])
                    .alias(*name),
            );
        }
        // The three frequency keys from one count table per bucket, not three.
        aggregates.push(
            aggregate("frequency_summary")?
                .call(vec![column(None, &value)])
                .alias(SUMMARY),
        );
        for name in time_keys {
            aggregates.push(
                aggregate(name)?
                    .call(vec![column(None, &ts_name)])
                    .alias(name),
            );
        }
        let group: Vec<Expr> = keys
            .iter()
            .map(|k| column(None, k))
            .chain([bucket])
            .collect();
        let mut unpacked: Vec<Expr> = keys.iter().map(|k| column(None, k)).collect();
        unpacked.push(column(None, "ts"));
        for name in value_keys.iter().chain(time_keys.iter()) {
            unpacked.push(if counted_keys.contains(name) {
                get_field(column(None, SUMMARY), *name).alias(*name)
            } else {
                column(None, name)
            });
        }
        let aggregated = LogicalPlanBuilder::from(base.clone())
            .aggregate(group, aggregates)?
            .project(unpacked)?;

        let sort: Vec<SortExpr> = keys
            .iter()
            .chain([&"ts".to_string()])
            .map(|k| column(None, k).sort(true, true))
            .collect();

        let plan = match &window {
            Some((start, end)) => {
                let (Some(start), Some(end)) = (timestamp_value(start), timestamp_value(end))
                else {
                    return plan_err!("{USAGE}: start and end must be timestamps");
                };
                let DataType::Timestamp(unit, _) = &ts_type else {
                    return plan_err!("downsample: {ts_name} is not a timestamp");
                };
                let Some(width) = width_seconds.checked_mul(units_per_second(unit)) else {
                    return plan_err!("downsample: granularity '{granularity}' is too wide");
                };
                let first = start.saturating_sub(start.rem_euclid(width));
                // In i128: no overflow near the ends of the timestamp range.
                let span = i128::from(end) - i128::from(first);
                let n = if span > 0 {
                    (span + i128::from(width) - 1) / i128::from(width)
                } else {
                    0
                };
                if n > i128::from(MAX_BUCKETS) {
                    return plan_err!(
                        "downsample: the window has {n} buckets of '{granularity}', more than {MAX_BUCKETS}; use a wider granularity or a narrower window"
                    );
                }
                if n == 0 {
                    aggregated.sort(sort)?.build()?
                } else {
                    let ts_scalar = |v: i64| -> Result<Expr> {
                        Ok(lit(super::time_downsamplers::timestamp_scalar(
                            &ts_type,
                            Some(v),
                        )?))
                    };
                    let mut rows = Vec::with_capacity(n as usize);
                    for i in 0..n as i64 {
                        let b = first + i * width;
                        rows.push(vec![ts_scalar(b)?, ts_scalar(b.saturating_add(width / 2))?]);
                    }
                    let buckets = LogicalPlanBuilder::values(rows)?
                        .project(vec![
                            column(None, "column1").alias("ts"),
                            column(None, "column2").alias("middle"),
                        ])?
                        .build()?;
                    let grid = if keys.is_empty() {
                        LogicalPlanBuilder::from(buckets)
                    } else {
                        LogicalPlanBuilder::from(base)
                            .aggregate(keys.iter().map(|k| column(None, k)), Vec::<Expr>::new())?
                            .cross_join(buckets)?
                    };
                    let join_cols: Vec<Column> = keys
                        .iter()
                        .chain([&"ts".to_string()])
                        .map(|k| Column::from_name(k.clone()))
                        .collect();
                    let left: Vec<Column> = join_cols
                        .iter()
                        .map(|c| Column::new(Some("g"), c.name.clone()))
                        .collect();
                    let right: Vec<Column> = join_cols
                        .iter()
                        .map(|c| Column::new(Some("a"), c.name.clone()))
                        .collect();
                    let mut projection: Vec<Expr> = keys
                        .iter()
                        .map(|k| column(Some("g"), k).alias(k.as_str()))
                        .collect();
                    projection.push(column(Some("g"), "ts").alias("ts"));
                    for name in value_keys.iter().chain(time_keys.iter()) {
                        let e = match *name {
                            "count" => coalesce(vec![column(Some("a"), name), lit(0i64)]),
                            "time_mean" => {
                                coalesce(vec![column(Some("a"), name), column(Some("g"), "middle")])
                            }
                            _ => column(Some("a"), name),
                        };
                        projection.push(e.alias(*name));
                    }
                    grid.alias("g")?
                        .join_detailed(
                            aggregated.alias("a")?.build()?,
                            JoinType::Left,
                            (left, right),
                            None,
                            NullEquality::NullEqualsNull,
                        )?
                        .project(projection)?
                        .sort(sort)?
                        .build()?
                }
            }
            None => aggregated.sort(sort)?.build()?,
        };
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
