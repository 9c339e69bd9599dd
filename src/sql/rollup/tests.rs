//! The rule's matching, on plans DataFusion builds from SQL over tables that send nothing
//! (planning never reaches the network).

use std::sync::Arc;

use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use super::*;
use crate::sql::vendors::datadog::{DatadogConfig, DatadogKind};
use crate::sql::TableDefaults;

const DAY: &str =
    "ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-02T00:00:00Z'";

fn context() -> SessionContext {
    let ctx = SessionContext::new();
    crate::sql::register_sql_surface(&ctx, TableDefaults::without_env());
    for (name, kind, query) in [
        ("v1", DatadogKind::V1, "system.cpu.user{*} by {host}"),
        (
            "v2",
            DatadogKind::V2Timeseries,
            "avg:system.cpu.user{*} by {host}",
        ),
        (
            "v2max",
            DatadogKind::V2Timeseries,
            "max:system.cpu.user{*}.rollup(max)",
        ),
        ("sc", DatadogKind::V2Scalar, "avg:system.cpu.user{*}"),
    ] {
        let config = DatadogConfig {
            query: query.into(),
            base_url: Some("http://127.0.0.1:9".into()),
            ..DatadogConfig::default().with_kind(kind)
        };
        let table = config.into_table(None).expect("table");
        ctx.register_table(name, Arc::new(table)).expect("register");
    }
    ctx
}

/// The hint the optimized plan's scan carries, if the rule fired.
async fn hint_of(ctx: &SessionContext, sql: &str) -> Option<RollupHint> {
    let plan = ctx
        .sql(sql)
        .await
        .expect("plans")
        .into_optimized_plan()
        .expect("optimizes");
    let mut found = None;
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let provider = source_as_provider(&scan.source)?;
            if let Some(table) = provider.downcast_ref::<ApiTable>() {
                found = table.rollup().cloned();
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })
    .expect("walks");
    found
}

/// Why the rule refuses each aggregate of `sql` (planned with the rule off), joined.
async fn refusal_of(ctx: &SessionContext, sql: &str) -> String {
    ctx.sql("SET ddstream.rollup_pushdown = false")
        .await
        .expect("set");
    let plan = ctx
        .sql(sql)
        .await
        .expect("plans")
        .into_optimized_plan()
        .expect("optimizes");
    ctx.sql("SET ddstream.rollup_pushdown = true")
        .await
        .expect("set");
    let mut reasons = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::Aggregate(a) = node {
            match rollup_of(a) {
                Ok((_, hint)) => panic!("{sql}: pushed as {hint}"),
                Err(Refusal(r)) => reasons.push(r),
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })
    .expect("walks");
    assert!(!reasons.is_empty(), "{sql}: no aggregate");
    reasons.join("; ")
}

fn hint(bucket_s: i64, aggregates: &[(&str, RollupAgg)]) -> RollupHint {
    RollupHint {
        bucket_ms: bucket_s * 1000,
        aggregates: aggregates
            .iter()
            .map(|(c, a)| (c.to_string(), *a))
            .collect(),
    }
}

#[tokio::test]
async fn buckets_and_aggregates_that_push() {
    use RollupAgg::*;
    let ctx = context();
    let cases = [
        (
            format!("SELECT date_bin(INTERVAL '1 hour', ts), scope, avg(avg) FROM v1 WHERE {DAY} GROUP BY 1, 2"),
            hint(3600, &[("avg", Avg)]),
        ),
        (
            format!("SELECT ds_bucket('days', ts), mean(avg), min(min), max(max), sum(sum) FROM v1 WHERE {DAY} GROUP BY 1"),
            hint(86_400, &[("avg", Avg), ("min", Min), ("max", Max), ("sum", Sum)]),
        ),
        (
            format!("SELECT date_trunc('hour', ts) h, query, metric, max(max) m FROM v1 WHERE scope = 'host:a' AND {DAY} GROUP BY 1, 2, 3 HAVING max(max) > 1"),
            hint(3600, &[("max", Max)]),
        ),
        (
            // An origin on a bucket boundary is still epoch-aligned; 2 h is a multiple of 1 min.
            format!("SELECT date_bin(INTERVAL '2 hours', ts, TIMESTAMP '2026-01-01T00:00:00Z'), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"),
            hint(7200, &[("avg", Avg)]),
        ),
        (
            format!("SELECT date_bin(INTERVAL '1 hour', ts), name, group_tags, avg(value) FROM v2 WHERE {DAY} GROUP BY 1, 2, 3"),
            hint(3600, &[("value", Avg)]),
        ),
        (
            format!("SELECT date_bin(INTERVAL '1 hour', ts), max(value) FROM v2max WHERE {DAY} GROUP BY 1"),
            hint(3600, &[("value", Max)]),
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(hint_of(&ctx, &sql).await, Some(want), "{sql}");
    }
    assert_eq!(
        hint(3600, &[("avg", Avg), ("max", Max)]).to_string(),
        "avg+max,3600"
    );
}

#[tokio::test]
async fn refusals_say_why() {
    let ctx = context();
    let h = "date_bin(INTERVAL '1 hour', ts)";
    let cases = [
        (format!("SELECT {h}, avg(avg) FROM v1 WHERE avg > 1 AND {DAY} GROUP BY 1"), "raw rows"),
        // DataFusion plans one DISTINCT aggregate as a group by the column (refused as a raw
        // group key), and DISTINCT aggregates of two columns as they are.
        (format!("SELECT {h}, avg(DISTINCT avg) FROM v1 WHERE {DAY} GROUP BY 1"), "not a time bucket or a series label"),
        (format!("SELECT {h}, avg(DISTINCT avg), max(DISTINCT max) FROM v1 WHERE {DAY} GROUP BY 1"), "DISTINCT"),
        (format!("SELECT {h}, avg(avg) FILTER (WHERE max > 1) FROM v1 WHERE {DAY} GROUP BY 1"), "FILTER"),
        (format!("SELECT {h}, count(*) FROM v1 WHERE {DAY} GROUP BY 1"), "count() has no exact"),
        (format!("SELECT {h}, avg(avg), count(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "count() has no exact"),
        (format!("SELECT {h}, max(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "rolls avg up with avg only"),
        (format!("SELECT {h}, avg(\"interval\") FROM v1 WHERE {DAY} GROUP BY 1"), "does not aggregate a column"),
        (format!("SELECT {h}, avg(avg + 1) FROM v1 WHERE {DAY} GROUP BY 1"), "does not aggregate a column"),
        (format!("SELECT date_bin(INTERVAL '30 seconds', ts), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "not a coarser multiple"),
        (format!("SELECT date_bin(INTERVAL '1 minute', ts), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "not a coarser multiple"),
        (format!("SELECT date_bin(INTERVAL '90 seconds', ts), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "not a coarser multiple"),
        (format!("SELECT date_bin(INTERVAL '1 hour', ts, TIMESTAMP '2026-01-01T00:30:00Z'), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "not aligned"),
        (format!("SELECT date_trunc('week', ts), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "not aligned"),
        (format!("SELECT date_trunc('month', ts), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "calendar months"),
        (format!("SELECT ts, avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "by instant"),
        (format!("SELECT scope, avg(avg) FROM v1 WHERE {DAY} GROUP BY 1"), "no group key is a time bucket"),
        (format!("SELECT {h}, avg, max(max) FROM v1 WHERE {DAY} GROUP BY 1, 2"), "not a time bucket or a series label"),
        (format!("SELECT {h}, date_trunc('day', ts), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1, 2"), "two time buckets"),
        (format!("SELECT {h}, max(d) FROM (SELECT ts, avg - lag(avg) OVER (ORDER BY ts) AS d FROM v1 WHERE {DAY}) GROUP BY 1"), "computes expressions"),
        (format!("SELECT {h}, avg(avg) FROM (SELECT * FROM v1 WHERE {DAY} LIMIT 10) GROUP BY 1"), "node"),
        (format!("SELECT {h}, max(value) FROM v2 WHERE {DAY} GROUP BY 1"), "rolls value up with avg only"),
        ("SELECT date_bin(INTERVAL '1 hour', chunk_start), avg(value) FROM sc GROUP BY 1".to_string(), "no server-side rollup"),
    ];
    for (sql, want) in cases {
        let reason = refusal_of(&ctx, &sql).await;
        assert!(reason.contains(want), "{sql}: {reason}");
        assert_eq!(hint_of(&ctx, &sql).await, None, "{sql}");
    }
}

#[tokio::test]
async fn the_setting_turns_it_off() {
    let ctx = context();
    let sql =
        format!("SELECT date_bin(INTERVAL '1 hour', ts), avg(avg) FROM v1 WHERE {DAY} GROUP BY 1");
    assert!(hint_of(&ctx, &sql).await.is_some());
    ctx.sql("SET ddstream.rollup_pushdown = false")
        .await
        .expect("set");
    assert_eq!(hint_of(&ctx, &sql).await, None);
}

#[test]
fn windows_split_at_bucket_boundaries() {
    let h = 3_600_000;
    let w = |a: i64, b: i64| TimeWindow::new(a, b);
    let (whole, edges) = split_at_buckets(&[w(h / 2, 5 * h + h / 4), w(7 * h, 9 * h)], h);
    assert_eq!(whole, vec![w(h, 5 * h), w(7 * h, 9 * h)]);
    assert_eq!(edges, vec![w(h / 2, h), w(5 * h, 5 * h + h / 4)]);
    // Inside one bucket: all edge.
    let (whole, edges) = split_at_buckets(&[w(h + 1, 2 * h - 1)], h);
    assert!(whole.is_empty());
    assert_eq!(edges, vec![w(h + 1, 2 * h - 1)]);
}
