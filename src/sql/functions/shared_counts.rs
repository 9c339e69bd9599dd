//! An optimizer rule that counts each argument once for all its frequency keys: in one
//! aggregation, two or more of `most_often(x)`, `least_often(x)` and `frequencies(x)` over the
//! same `x` become one `frequency_summary(x)` and a projection of its fields, so the values are
//! counted into one table instead of one per call (the memory of three count tables was 1.3-1.4 ×
//! DuckDB's on the every-key benchmark, see BENCHMARKS.md). Calls with DISTINCT, FILTER or
//! ORDER BY, and grouping sets, are left as written.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, Result};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, AggregateUDF, Expr, LogicalPlan, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::value_downsamplers::{Frequency, FrequencyKind};

/// The rule's name (for `SessionContext::remove_optimizer_rule`).
pub const RULE_NAME: &str = "share_frequency_counts";

/// See the module docs.
#[derive(Debug, Default)]
pub struct ShareFrequencyCounts;

/// A plain call (no DISTINCT, FILTER or ORDER BY) of one argument among the frequency
/// aggregates: the summary field it reads (`None` for `frequency_summary` itself) and its
/// argument.
fn frequency_call(expr: &Expr) -> Option<(Option<&'static str>, &Expr)> {
    let mut inner = expr;
    while let Expr::Alias(alias) = inner {
        inner = &alias.expr;
    }
    let Expr::AggregateFunction(AggregateFunction { func, params }) = inner else {
        return None;
    };
    let field = match func.name() {
        "most_often" => Some("most_often"),
        "least_often" => Some("least_often"),
        "frequencies" => Some("frequencies"),
        "frequency_summary" => None,
        _ => return None,
    };
    if params.distinct || params.filter.is_some() || !params.order_by.is_empty() {
        return None;
    }
    match params.args.as_slice() {
        [arg] => Some((field, arg)),
        _ => None,
    }
}

/// Whether `a` and `b` have the same columns: qualifiers, names and types, in order.
fn same_columns(a: &DFSchema, b: &DFSchema) -> bool {
    a.fields().len() == b.fields().len()
        && a.iter().zip(b.iter()).all(|((qa, fa), (qb, fb))| {
            qa == qb && fa.name() == fb.name() && fa.data_type() == fb.data_type()
        })
}

impl OptimizerRule for ShareFrequencyCounts {
    fn name(&self) -> &str {
        RULE_NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if aggregate
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
        {
            return Ok(Transformed::no(plan));
        }
        // Per argument: its field calls, and whether a summary of it is computed already.
        let mut uses: Vec<(&Expr, usize, bool)> = Vec::new();
        for expr in &aggregate.aggr_expr {
            if let Some((field, arg)) = frequency_call(expr) {
                let entry = match uses.iter().position(|(a, _, _)| *a == arg) {
                    Some(i) => &mut uses[i],
                    None => {
                        uses.push((arg, 0, false));
                        let last = uses.len() - 1;
                        &mut uses[last]
                    }
                };
                match field {
                    Some(_) => entry.1 += 1,
                    None => entry.2 = true,
                }
            }
        }
        // Shared: two or more field calls, or any next to a summary of the same argument.
        let shared: Vec<Expr> = uses
            .into_iter()
            .filter(|(_, calls, summary)| *calls >= 2 || (*calls >= 1 && *summary))
            .map(|(a, _, _)| a.clone())
            .collect();
        if shared.is_empty() {
            return Ok(Transformed::no(plan));
        }
        // The projection must give the parent exactly the columns it had; otherwise keep the
        // plan as written.
        match share(aggregate, &shared)? {
            Some(rewritten) if same_columns(rewritten.schema(), &aggregate.schema) => {
                Ok(Transformed::yes(rewritten))
            }
            _ => Ok(Transformed::no(plan)),
        }
    }
}

/// `aggregate` with one `frequency_summary` per argument in `shared` in place of that
/// argument's frequency calls (reusing a summary the query computes already), under a
/// projection that restores the original columns; `None` if the columns do not line up.
fn share(aggregate: &Aggregate, shared: &[Expr]) -> Result<Option<LogicalPlan>> {
    let summary_udaf = Arc::new(AggregateUDF::from(Frequency::new(FrequencyKind::Summary)));
    let mut kept: Vec<Expr> = Vec::new();
    // For each original aggregate expression: where its value comes from in the new aggregate
    // (its index there, and the summary field when it is read from a summary).
    let mut sources: Vec<(usize, Option<&'static str>)> = Vec::new();
    // Field calls to point at their argument's summary once it has a place: (expression, which
    // shared argument).
    let mut deferred: Vec<(usize, usize)> = Vec::new();
    // Where each shared argument's summary is in `kept`.
    let mut summary_at: Vec<Option<usize>> = vec![None; shared.len()];
    for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
        let call = frequency_call(expr)
            .and_then(|(field, arg)| Some((field, shared.iter().position(|s| s == arg)?)));
        match call {
            Some((Some(field), which)) => {
                deferred.push((i, which));
                sources.push((usize::MAX, Some(field)));
            }
            other => {
                if let Some((None, which)) = other {
                    summary_at[which].get_or_insert(kept.len());
                }
                sources.push((kept.len(), None));
                kept.push(expr.clone());
            }
        }
    }
    for (k, arg) in shared.iter().enumerate() {
        if summary_at[k].is_some() {
            continue;
        }
        let call = Expr::AggregateFunction(AggregateFunction::new_udf(
            Arc::clone(&summary_udaf),
            vec![arg.clone()],
            false,
            None,
            vec![],
            None,
        ));
        summary_at[k] = Some(kept.len());
        kept.push(call.alias(format!("__ddstream_frequency_summary_{k}")));
    }
    for (i, which) in deferred {
        sources[i].0 = summary_at[which].unwrap_or(usize::MAX);
    }
    let new_aggregate = Aggregate::try_new(
        Arc::clone(&aggregate.input),
        aggregate.group_expr.clone(),
        kept,
    )?;
    let groups = aggregate.group_expr.len();
    let new_schema = Arc::clone(&new_aggregate.schema);
    let column_of = |index: usize| {
        (index < new_schema.fields().len())
            .then(|| Expr::Column(Column::from(new_schema.qualified_field(index))))
    };
    let mut projection: Vec<Expr> = Vec::with_capacity(aggregate.schema.fields().len());
    for (index, (qualifier, field)) in aggregate.schema.iter().enumerate() {
        let expr = if index < groups {
            column_of(index)
        } else {
            match sources.get(index - groups) {
                Some((at, None)) => column_of(groups.saturating_add(*at)),
                Some((at, Some(summary_field))) => column_of(groups.saturating_add(*at))
                    .map(|summary| get_field(summary, *summary_field)),
                None => None,
            }
        };
        let Some(expr) = expr else {
            return Ok(None);
        };
        projection.push(expr.alias_qualified(qualifier.cloned(), field.name()));
    }
    Ok(Some(LogicalPlan::Projection(Projection::try_new(
        projection,
        Arc::new(LogicalPlan::Aggregate(new_aggregate)),
    )?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, RecordBatch};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::prelude::SessionContext;

    async fn run(ctx: &SessionContext, sql: &str) -> Result<(Vec<String>, Vec<RecordBatch>)> {
        let frame = ctx.sql(sql).await?;
        let plan = frame.clone().into_optimized_plan()?;
        let mut aggregates = Vec::new();
        plan.apply(|node| {
            if let LogicalPlan::Aggregate(a) = node {
                aggregates.extend(
                    a.aggr_expr
                        .iter()
                        .map(|e| e.clone().unalias().schema_name().to_string()),
                );
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok((aggregates, frame.collect().await?))
    }

    #[tokio::test]
    async fn frequency_calls_over_one_argument_share_one_count() -> Result<()> {
        let ctx = SessionContext::new();
        super::super::register_functions(&ctx);
        ctx.sql(
            "CREATE TABLE t (g INT, x DOUBLE, s VARCHAR) AS VALUES \
             (1, 2.5, 'a'), (1, 2.5, 'b'), (1, 1.5, 'b'), (2, NULL, 'c'), (2, 4.0, 'c')",
        )
        .await?
        .collect()
        .await?;
        let sql = "SELECT g, most_often(x) AS m, count(*) AS n, least_often(x) AS l, \
                   frequencies(x) AS f, most_often(s) AS ms FROM t GROUP BY g ORDER BY g";
        let (shared, rows) = run(&ctx, sql).await?;
        // x's three calls became one summary; s has one call and keeps it; count stays.
        let summaries = shared
            .iter()
            .filter(|n| n.starts_with("frequency_summary("))
            .count();
        assert_eq!(summaries, 1, "{shared:?}");
        assert!(
            !shared.iter().any(|n| n.starts_with("least_often(")),
            "{shared:?}"
        );
        assert!(
            shared.iter().any(|n| n.starts_with("most_often(t.s)")),
            "{shared:?}"
        );
        assert_eq!(shared.len(), 3, "{shared:?}");

        // Same answers as the calls counted one by one.
        assert!(ctx.remove_optimizer_rule(RULE_NAME));
        let (separate, expected) = run(&ctx, sql).await?;
        assert_eq!(separate.len(), 5, "{separate:?}");
        assert_eq!(rows, expected);
        // And the right ones: group 1 has 2.5 twice and 1.5 once, group 2 only 4.0.
        let batch = &rows[0];
        let most = batch.column(1).as_primitive::<Float64Type>();
        let least = batch.column(3).as_primitive::<Float64Type>();
        assert_eq!((most.value(0), least.value(0)), (2.5, 1.5));
        assert_eq!((most.value(1), least.value(1)), (4.0, 4.0));
        assert_eq!(batch.column(4).as_map().value(0).len(), 2);
        assert!(batch.column(2).is_valid(0));
        Ok(())
    }

    #[tokio::test]
    async fn calls_with_filters_keep_their_own_count() -> Result<()> {
        let ctx = SessionContext::new();
        super::super::register_functions(&ctx);
        let sql = "SELECT most_often(x) FILTER (WHERE x > 1), least_often(x) FILTER (WHERE x > 1) \
                   FROM (VALUES (1.0), (2.0), (2.0), (3.0)) AS t(x)";
        let (aggregates, rows) = run(&ctx, sql).await?;
        assert_eq!(aggregates.len(), 2, "{aggregates:?}");
        let most = rows[0].column(0).as_primitive::<Float64Type>().value(0);
        let least = rows[0].column(1).as_primitive::<Float64Type>().value(0);
        assert_eq!((most, least), (2.0, 3.0));
        Ok(())
    }
}
