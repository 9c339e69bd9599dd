//! The Datadog pushdown rules as pure functions: which v1 aggregations a projection needs,
//! which v2 requests answer filters on `name` and `query`, and which rollup each serves.

use std::collections::BTreeSet;

use crate::adapters::datadog::v1::COL_AVG;
use crate::adapters::datadog::{Aggregation, NamedQuery, V2Queries};
use crate::sql::filters::PushedFilters;
use crate::sql::rollup::RollupAgg;

/// The rollup a v1 column is: `avg:q.rollup(avg,G)` and so on, the same aggregate in space and
/// in time, so a coarser `G` gives the column's aggregate over the coarser bucket.
pub(super) fn v1_rollup(a: Aggregation) -> RollupAgg {
    match a {
        Aggregation::Avg => RollupAgg::Avg,
        Aggregation::Min => RollupAgg::Min,
        Aggregation::Max => RollupAgg::Max,
        Aggregation::Sum => RollupAgg::Sum,
    }
}

/// The one rollup every query of a v2 request is, if there is one: no formulas (they are not
/// linear in general), and each query `agg:metric{scope}[ by {..}][.rollup(agg)]` with the
/// same aggregate in space and in time (Datadog's default for both is avg), no other function
/// and no rollup interval of its own (the request's `interval` sets it).
pub(super) fn v2_rollup(q: &V2Queries) -> Option<RollupAgg> {
    if !q.formulas.is_empty() {
        return None;
    }
    let mut aggs = q.queries.iter().map(|q| query_rollup(&q.query));
    let first = aggs.next()??;
    aggs.all(|a| a == Some(first)).then_some(first)
}

/// The rollup of one metric query, when it aggregates the same way in space and time.
fn query_rollup(query: &str) -> Option<RollupAgg> {
    let q = query.trim();
    let (space, rest) = match q.split_once(':') {
        Some((agg, rest)) if !agg.contains('{') => (RollupAgg::of_query_aggregator(agg)?, rest),
        _ => (RollupAgg::Avg, q),
    };
    let (body, time) = match rest.trim_end().strip_suffix(')') {
        Some(head) => {
            let (body, agg) = head.rsplit_once(".rollup(")?;
            (body, RollupAgg::of_query_aggregator(agg)?)
        }
        None => (rest, RollupAgg::Avg),
    };
    // Any other function (`.as_count()`, `abs(...)`, ...) or a second rollup: not known here.
    if body.contains('(') || body.contains(')') || !body.contains('{') {
        return None;
    }
    (space == time).then_some(space)
}

/// The v1 aggregations the projection selects: only those are requested, and at least one
/// (avg), to learn the timestamps.
pub(super) fn selected_aggregations(projection: Option<&[usize]>) -> Vec<Aggregation> {
    let selected: Vec<Aggregation> = Aggregation::ALL
        .into_iter()
        .filter(|a| projection.is_none_or(|p| p.contains(&(COL_AVG + *a as usize))))
        .collect();
    if selected.is_empty() {
        vec![Aggregation::Avg]
    } else {
        selected
    }
}

/// The v2 requests that answer the filters on `name` and `query`. The configured outputs (the
/// formulas, or the queries without formulas) are kept when their name and text pass the
/// filters; a `query = '...'` naming none of them runs as an ad-hoc query named `q1`, `q2`, ...
pub(super) fn v2_requests(base: &V2Queries, pushed: &PushedFilters) -> Vec<V2Queries> {
    let names = pushed.values("name");
    let texts = pushed.values("query");
    let passes = |name: &str, text: &str| {
        names.is_none_or(|n| n.contains(name)) && texts.is_none_or(|t| t.contains(text))
    };
    let mut requests = Vec::new();
    if base.formulas.is_empty() {
        let queries: Vec<NamedQuery> = base
            .queries
            .iter()
            .filter(|q| passes(&q.name, &q.query))
            .cloned()
            .collect();
        if !queries.is_empty() {
            requests.push(V2Queries {
                queries,
                formulas: vec![],
            });
        }
    } else {
        let formulas: Vec<_> = base
            .formulas
            .iter()
            .filter(|f| passes(&f.name, &f.formula))
            .cloned()
            .collect();
        if !formulas.is_empty() {
            // Formulas need every query they might reference.
            requests.push(V2Queries {
                queries: base.queries.clone(),
                formulas,
            });
        }
    }
    let known: BTreeSet<&str> = base
        .queries
        .iter()
        .map(|q| q.query.as_str())
        .chain(base.formulas.iter().map(|f| f.formula.as_str()))
        .collect();
    let ad_hoc: Vec<NamedQuery> = texts
        .into_iter()
        .flatten()
        .filter(|t| !known.contains(t.as_str()))
        .enumerate()
        .map(|(i, t)| NamedQuery {
            name: format!("q{}", i + 1),
            query: t.clone(),
        })
        .filter(|q| names.is_none_or(|n| n.contains(&q.name)))
        .collect();
    if !ad_hoc.is_empty() {
        requests.push(V2Queries {
            queries: ad_hoc,
            formulas: vec![],
        });
    }
    requests
}

/// `a=avg:m{*}, b=... | a / b` for EXPLAIN.
pub(super) fn describe(q: &V2Queries) -> String {
    let queries = q
        .queries
        .iter()
        .map(|q| format!("{}={}", q.name, q.query))
        .collect::<Vec<_>>()
        .join(", ");
    if q.formulas.is_empty() {
        queries
    } else {
        let formulas = q
            .formulas
            .iter()
            .map(|f| {
                if f.name == f.formula {
                    f.formula.clone()
                } else {
                    format!("{}={}", f.name, f.formula)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("{queries} | formulas: {formulas}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::datadog::NamedFormula;

    fn base(formulas: &[(&str, &str)]) -> V2Queries {
        V2Queries {
            queries: vec![
                NamedQuery {
                    name: "a".into(),
                    query: "avg:m{*}".into(),
                },
                NamedQuery {
                    name: "b".into(),
                    query: "avg:n{*}".into(),
                },
            ],
            formulas: formulas
                .iter()
                .map(|(n, f)| NamedFormula {
                    name: n.to_string(),
                    formula: f.to_string(),
                })
                .collect(),
        }
    }

    fn pushed(column: &str, values: &[&str]) -> PushedFilters {
        let mut p = PushedFilters::default();
        p.strings.insert(
            column.into(),
            values.iter().map(|s| s.to_string()).collect(),
        );
        p
    }

    #[test]
    fn name_and_query_filters_choose_the_requests() {
        let all = v2_requests(&base(&[]), &PushedFilters::default());
        assert_eq!(all, vec![base(&[])]);
        let only_b = v2_requests(&base(&[]), &pushed("name", &["b"]));
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].queries.len(), 1);
        assert_eq!(only_b[0].queries[0].name, "b");
        // A formula keeps every query.
        let f = v2_requests(
            &base(&[("ratio", "a / b"), ("twice", "a * 2")]),
            &pushed("name", &["twice"]),
        );
        assert_eq!(f[0].queries.len(), 2);
        assert_eq!(f[0].formulas.len(), 1);
        assert_eq!(f[0].formulas[0].formula, "a * 2");
        // An unknown query runs ad hoc; a known one is selected.
        let q = v2_requests(&base(&[]), &pushed("query", &["avg:n{*}", "sum:x{*}"]));
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].queries[0].name, "b");
        assert_eq!(q[1].queries[0].name, "q1");
        assert_eq!(q[1].queries[0].query, "sum:x{*}");
        assert!(v2_requests(&base(&[]), &pushed("name", &["zzz"])).is_empty());
    }

    #[test]
    fn v2_queries_roll_up_when_space_and_time_aggregate_alike() {
        use RollupAgg::*;
        let cases = [
            ("avg:m{*}", Some(Avg)),
            ("m{*} by {host}", Some(Avg)),
            ("max:m{*} by {host}.rollup(max)", Some(Max)),
            ("sum:m{env:prod,host:a}.rollup(sum)", Some(Sum)),
            ("min:m{*}.rollup(min)", Some(Min)),
            // Space max of per-minute averages: no server rollup gives its hourly max.
            ("max:m{*}", None),
            ("avg:m{*}.rollup(max)", None),
            // An interval of its own, counts, other functions, unknown aggregators.
            ("avg:m{*}.rollup(avg,60)", None),
            ("sum:m{*}.rollup(count)", None),
            ("sum:m{*}.as_count()", None),
            ("abs(avg:m{*})", None),
            ("p95:m{*}", None),
        ];
        for (query, want) in cases {
            assert_eq!(query_rollup(query), want, "{query}");
        }
        let mixed = V2Queries {
            queries: vec![
                NamedQuery {
                    name: "a".into(),
                    query: "avg:m{*}".into(),
                },
                NamedQuery {
                    name: "b".into(),
                    query: "max:n{*}.rollup(max)".into(),
                },
            ],
            formulas: vec![],
        };
        assert_eq!(v2_rollup(&mixed), None);
        assert_eq!(v2_rollup(&base(&[])), Some(Avg));
        assert_eq!(v2_rollup(&base(&[("ratio", "a / b")])), None);
    }

    #[test]
    fn the_projection_chooses_the_v1_aggregations() {
        use Aggregation::*;
        // Columns: query, metric, scope, ts, avg, min, max, sum, interval.
        let cases: &[(Option<&[usize]>, &[Aggregation])] = &[
            (None, &[Avg, Min, Max, Sum]),
            (Some(&[3, 6]), &[Max]),
            (Some(&[5, 7]), &[Min, Sum]),
            // No aggregation selected: avg still comes, to learn the timestamps.
            (Some(&[0, 3]), &[Avg]),
            (Some(&[]), &[Avg]),
        ];
        for (projection, want) in cases {
            assert_eq!(selected_aggregations(*projection), *want, "{projection:?}");
        }
    }
}
