//! Rollup pushdown: a logical optimizer rule ([`RollupPushdown`]) that lets the API roll a
//! series up to a query's time buckets instead of sending every point at the table's
//! granularity.
//!
//! It matches `Aggregate` over a scan of an [`ApiTable`] whose spec offers rollups
//! ([`TableSpec::rollup_support`]), through projections of plain columns, subquery aliases and
//! filters on series labels only. The group keys must be one epoch-aligned fixed bucket of the
//! time column (`date_bin`, `ds_bucket`, `date_trunc` to hour or day, ...) that is a multiple of
//! the granularity and coarser than it, plus label columns; the aggregates must be
//! `avg`/`mean`, `min`, `max` or `sum` of value columns the API can aggregate that way. The
//! rule then gives the scan a [`RollupHint`]; the plan keeps its `Aggregate`, which now sees
//! one row per bucket and series (or the table's own rows where a time filter cuts a bucket:
//! the scan fetches those edges at the granularity, see [`split_at_buckets`]). Anything else
//! keeps today's plan. `SET ddstream.rollup_pushdown = false` turns the rule off.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use datafusion::catalog::default_table_source::{provider_as_source, source_as_provider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, TableScan};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::prelude::SessionContext;

use super::buckets::{bucket_of, Bucket};
use super::config::DdstreamOptions;
use super::filters::time_ranges;
use super::table::ApiTable;
use crate::engine::cursor::{ceil_to, floor_to};
use crate::engine::TimeWindow;

/// A per-bucket aggregate an API can compute server-side.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum RollupAgg {
    /// The mean of the raw points in the bucket (`avg`, `mean`).
    Avg,
    /// The smallest raw point.
    Min,
    /// The largest raw point.
    Max,
    /// The sum of the raw points.
    Sum,
}

impl RollupAgg {
    /// The name used in Datadog's `.rollup(<agg>, <seconds>)`.
    pub fn as_str(self) -> &'static str {
        match self {
            RollupAgg::Avg => "avg",
            RollupAgg::Min => "min",
            RollupAgg::Max => "max",
            RollupAgg::Sum => "sum",
        }
    }

    /// The rollup a SQL aggregate function computes, if any (`count` has none: see the README).
    pub fn of_function(name: &str) -> Option<Self> {
        Some(match name {
            "avg" | "mean" => RollupAgg::Avg,
            "min" => RollupAgg::Min,
            "max" => RollupAgg::Max,
            "sum" => RollupAgg::Sum,
            _ => return None,
        })
    }

    /// A time or space aggregator as written in a metric query.
    pub fn of_query_aggregator(name: &str) -> Option<Self> {
        match name.trim() {
            "mean" => None,
            other => Self::of_function(other),
        }
    }
}

/// Which rollups a table's spec can serve.
#[derive(Debug, Clone)]
pub struct RollupSupport {
    /// The table's granularity: buckets must be multiples of it, and coarser.
    pub granularity_ms: i64,
    /// The time column the buckets are taken of.
    pub time_column: &'static str,
    /// Columns constant over a series (`query`, `scope`, ...): group keys and filters on them
    /// select whole series, so they keep their meaning over rolled-up rows.
    pub labels: &'static [&'static str],
    /// Value columns and the one rollup each can be aggregated with.
    pub values: Vec<(&'static str, RollupAgg)>,
}

/// What the rule asks a scan for: every value column's rollup over buckets `bucket_ms` wide,
/// aligned to multiples of it in Unix time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RollupHint {
    /// Bucket width in ms (a multiple of the granularity).
    pub bucket_ms: i64,
    /// The value columns aggregated, with their rollup, sorted.
    pub aggregates: BTreeSet<(String, RollupAgg)>,
}

impl RollupHint {
    /// The rollups, e.g. `avg` or `avg+max`.
    pub fn aggs(&self) -> Vec<RollupAgg> {
        let set: BTreeSet<RollupAgg> = self.aggregates.iter().map(|(_, a)| *a).collect();
        set.into_iter().collect()
    }
}

impl fmt::Display for RollupHint {
    /// `avg,3600` (as in `.rollup(avg,3600)`); several rollups as `avg+max,3600`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let aggs: Vec<&str> = self.aggs().into_iter().map(RollupAgg::as_str).collect();
        write!(f, "{},{}", aggs.join("+"), self.bucket_ms / 1000)
    }
}

/// The optimizer rule; registered by [`register_rollup_pushdown`].
#[derive(Debug, Default, Clone, Copy)]
pub struct RollupPushdown;

/// The rule's name, as `EXPLAIN VERBOSE` lists it.
pub const RULE_NAME: &str = "ddstream_rollup_pushdown";

/// Adds [`RollupPushdown`] to `ctx`'s optimizer (once: a second call replaces the first).
pub fn register_rollup_pushdown(ctx: &SessionContext) {
    ctx.remove_optimizer_rule(RULE_NAME);
    ctx.add_optimizer_rule(Arc::new(RollupPushdown));
}

impl OptimizerRule for RollupPushdown {
    fn name(&self) -> &str {
        RULE_NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> DFResult<Transformed<LogicalPlan>> {
        let enabled = config
            .options()
            .extensions
            .get::<DdstreamOptions>()
            .is_none_or(|o| o.rollup_pushdown);
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if !enabled {
            return Ok(Transformed::no(plan));
        }
        let (table, hint) = match rollup_of(aggregate) {
            Ok(found) => found,
            Err(Refusal(reason)) => {
                tracing::debug!("rollup pushdown refused: {reason}");
                return Ok(Transformed::no(plan));
            }
        };
        let input = with_hint(&aggregate.input, &table.with_rollup(hint))?;
        let rewritten = Aggregate::try_new_with_schema(
            Arc::new(input),
            aggregate.group_expr.clone(),
            aggregate.aggr_expr.clone(),
            Arc::clone(&aggregate.schema),
        )?;
        Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
    }
}

/// Why the rule left a plan alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(reason.into()))
}

/// The table under `aggregate` and the rollup it can be asked for, or why not.
pub fn rollup_of(aggregate: &Aggregate) -> Result<(ApiTable, RollupHint), Refusal> {
    let (scan, predicates) = scan_below(&aggregate.input)?;
    let provider = source_as_provider(&scan.source)
        .map_err(|_| Refusal("the input is not a table provider".into()))?;
    let Some(table) = provider.downcast_ref::<ApiTable>() else {
        return refuse("the input is not an API table");
    };
    if table.rollup().is_some() {
        return refuse("the scan already has a rollup");
    }
    let Some(support) = table.spec().rollup_support() else {
        return refuse(format!(
            "{} tables have no server-side rollup",
            table.spec().adapter_name()
        ));
    };
    let is_label = |name: &str| support.labels.contains(&name);
    let time = support.time_column;
    for f in &scan.filters {
        let only_labels_and_time = f
            .column_refs()
            .iter()
            .all(|c| c.name == time || is_label(&c.name));
        if !only_labels_and_time || (mentions(f, time) && time_ranges(f, time).is_none()) {
            return refuse(format!("the filter {} reads raw rows", f.human_display()));
        }
    }
    for p in predicates {
        if !p.column_refs().iter().all(|c| is_label(&c.name)) {
            return refuse(format!(
                "the filter {} is applied to raw rows",
                p.human_display()
            ));
        }
    }
    let bucket_ms = bucket_key(&aggregate.group_expr, &support)?;
    let aggregates = aggregates(&aggregate.aggr_expr, &support)?;
    Ok((
        table.clone(),
        RollupHint {
            bucket_ms,
            aggregates,
        },
    ))
}

/// The scan at the bottom of a chain of plain-column projections, aliases and filters, with
/// the filters' predicates.
fn scan_below(plan: &LogicalPlan) -> Result<(&TableScan, Vec<&Expr>), Refusal> {
    let mut predicates = Vec::new();
    let mut node = plan;
    loop {
        node = match node {
            LogicalPlan::TableScan(scan) => {
                if scan.fetch.is_some() {
                    return refuse("the scan has a LIMIT");
                }
                return Ok((scan, predicates));
            }
            LogicalPlan::Projection(p) => {
                if !p.expr.iter().all(|e| matches!(e, Expr::Column(_))) {
                    return refuse("a projection computes expressions over raw rows");
                }
                &p.input
            }
            LogicalPlan::SubqueryAlias(a) => &a.input,
            LogicalPlan::Filter(f) => {
                predicates.push(&f.predicate);
                &f.input
            }
            other => {
                return refuse(format!(
                    "the aggregate's input has a {} node",
                    other.display().to_string().split(':').next().unwrap_or("")
                ))
            }
        };
    }
}

/// The width of the one time bucket among the group keys; the other keys must be labels.
fn bucket_key(group_expr: &[Expr], support: &RollupSupport) -> Result<i64, Refusal> {
    let mut bucket = None;
    for key in group_expr {
        let key = unalias(key);
        if let Expr::Column(c) = key {
            if support.labels.contains(&c.name.as_str()) {
                continue;
            }
        }
        if !mentions(key, support.time_column) {
            return refuse(format!(
                "the group key {} is not a time bucket or a series label",
                key.human_display()
            ));
        }
        let width_ms = match bucket_of(key, support.time_column) {
            Some(Bucket::Fixed {
                width_ms,
                origin_ms,
            }) => {
                if origin_ms.rem_euclid(width_ms) != 0 {
                    return refuse(format!(
                        "the buckets of {} are not aligned to multiples of their width in Unix time, as the API's rollups are",
                        key.human_display()
                    ));
                }
                width_ms
            }
            Some(Bucket::Instant) => {
                return refuse("the rows are grouped by instant, not by a coarser bucket")
            }
            Some(Bucket::Months(_)) => {
                return refuse("calendar months have no fixed width the API can roll up to")
            }
            None => {
                return refuse(format!(
                    "the group key {} is not a bucket of {} with literal arguments",
                    key.human_display(),
                    support.time_column
                ))
            }
        };
        if bucket.replace(width_ms).is_some() {
            return refuse("the rows are grouped by two time buckets");
        }
    }
    let Some(width_ms) = bucket else {
        return refuse("no group key is a time bucket");
    };
    let g = support.granularity_ms;
    if width_ms <= g || width_ms % g != 0 {
        return refuse(format!(
            "a bucket of {width_ms} ms is not a coarser multiple of the table's {g} ms granularity"
        ));
    }
    Ok(width_ms)
}

/// The value columns aggregated and their rollups.
fn aggregates(
    aggr_expr: &[Expr],
    support: &RollupSupport,
) -> Result<BTreeSet<(String, RollupAgg)>, Refusal> {
    let mut out = BTreeSet::new();
    for e in aggr_expr {
        let Expr::AggregateFunction(AggregateFunction { func, params }) = unalias(e) else {
            return refuse(format!(
                "{} is not an aggregate function",
                e.human_display()
            ));
        };
        let shown = e.human_display().to_string();
        if params.distinct {
            return refuse(format!("{shown} is a DISTINCT aggregate"));
        }
        if params.filter.is_some() || !params.order_by.is_empty() {
            return refuse(format!("{shown} has a FILTER or ORDER BY"));
        }
        let Some(agg) = RollupAgg::of_function(func.name()) else {
            return refuse(format!("{}() has no exact server-side rollup", func.name()));
        };
        let [Expr::Column(c)] = params.args.as_slice() else {
            return refuse(format!("{shown} does not aggregate a column"));
        };
        match support.values.iter().find(|(name, _)| *name == c.name) {
            Some((_, served)) if *served == agg => {
                out.insert((c.name.clone(), agg));
            }
            Some((_, served)) => {
                return refuse(format!(
                    "{shown}: the API rolls {} up with {} only",
                    c.name,
                    served.as_str()
                ))
            }
            None => return refuse(format!("{shown}: {} is not a rollable column", c.name)),
        }
    }
    if out.is_empty() {
        return refuse("there is no aggregate to push");
    }
    Ok(out)
}

/// `plan` with its table scan reading `table` (the same table, with a rollup hint).
fn with_hint(plan: &LogicalPlan, table: &ApiTable) -> DFResult<LogicalPlan> {
    if let LogicalPlan::TableScan(scan) = plan {
        let mut scan = scan.clone();
        scan.source = provider_as_source(Arc::new(table.clone()));
        return Ok(LogicalPlan::TableScan(scan));
    }
    plan.clone()
        .map_children(|child| Ok(Transformed::yes(with_hint(&child, table)?)))
        .map(|t| t.data)
}

fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

fn mentions(e: &Expr, column: &str) -> bool {
    e.column_refs().iter().any(|c| c.name == column)
}

/// Windows cut at bucket boundaries: the whole buckets inside them (fetched rolled up) and the
/// edges that cut a bucket (fetched at the granularity, so a time filter that cuts a bucket
/// keeps its exact meaning: the cut bucket aggregates only the rows inside the filter).
pub fn split_at_buckets(
    windows: &[TimeWindow],
    bucket_ms: i64,
) -> (Vec<TimeWindow>, Vec<TimeWindow>) {
    let mut whole = Vec::new();
    let mut edges = Vec::new();
    for w in windows {
        let (a, b) = (
            ceil_to(w.start_ms, bucket_ms),
            floor_to(w.end_ms, bucket_ms),
        );
        if a < b {
            if w.start_ms < a {
                edges.push(TimeWindow::new(w.start_ms, a));
            }
            whole.push(TimeWindow::new(a, b));
            if b < w.end_ms {
                edges.push(TimeWindow::new(b, w.end_ms));
            }
        } else {
            edges.push(*w);
        }
    }
    (whole, edges)
}

#[cfg(test)]
mod tests;
