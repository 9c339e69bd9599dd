//! The Datadog pushdown rules as pure functions: which v1 aggregations a projection needs, and
//! which v2 requests answer filters on `name` and `query`.

use std::collections::BTreeSet;

use crate::adapters::datadog::v1::COL_AVG;
use crate::adapters::datadog::{Aggregation, NamedQuery, V2Queries};
use crate::sql::filters::PushedFilters;

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
