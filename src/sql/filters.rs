//! Filter pushdown, as a pure translation with no I/O: `ts` comparisons (AND, OR, BETWEEN, any
//! timestamp unit) become a set of half-open millisecond ranges, and `query = '...'` /
//! `query IN (...)` become the set of metric queries to run. Everything else stays in DataFusion.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

use super::buckets::{bucket_of, Bucket};

/// Sorted, disjoint, half-open ranges `[start, end)` in epoch ms; `i64::MIN`/`i64::MAX` stand for
/// unbounded ends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RangeSet(pub Vec<(i64, i64)>);

impl RangeSet {
    /// Every instant.
    pub fn all() -> Self {
        RangeSet(vec![(i64::MIN, i64::MAX)])
    }

    pub(crate) fn single(start: i64, end: i64) -> Self {
        if start < end {
            RangeSet(vec![(start, end)])
        } else {
            RangeSet(vec![])
        }
    }

    /// Instants in both sets.
    pub fn intersect(&self, other: &RangeSet) -> RangeSet {
        let mut out = Vec::new();
        for &(a0, a1) in &self.0 {
            for &(b0, b1) in &other.0 {
                let (s, e) = (a0.max(b0), a1.min(b1));
                if s < e {
                    out.push((s, e));
                }
            }
        }
        RangeSet(out).normalized()
    }

    /// Instants in either set.
    pub fn union(&self, other: &RangeSet) -> RangeSet {
        let mut all = self.0.clone();
        all.extend_from_slice(&other.0);
        RangeSet(all).normalized()
    }

    fn normalized(mut self) -> RangeSet {
        self.0.sort();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(self.0.len());
        for (s, e) in self.0 {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        RangeSet(out)
    }

    /// True when no instant is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the scan takes from its filters.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PushedFilters {
    /// The time ranges; `None` when no filter constrains the time column.
    pub time: Option<RangeSet>,
    /// Per string column (`query`, `name`), the values kept; absent when unconstrained.
    pub strings: BTreeMap<String, BTreeSet<String>>,
}

impl PushedFilters {
    /// The values of `column` the filters keep, if they constrain it.
    pub fn values(&self, column: &str) -> Option<&BTreeSet<String>> {
        self.strings.get(column)
    }
}

/// Combines the pushable filters (AND-ed, as DataFusion passes them): comparisons of
/// `time_column` (if the table has one) and equality filters on `string_columns`; others are
/// ignored.
pub fn push_down(
    filters: &[Expr],
    time_column: Option<&str>,
    string_columns: &[&str],
) -> PushedFilters {
    let mut pushed = PushedFilters::default();
    for f in filters {
        if let Some(r) = time_column.and_then(|c| time_ranges(f, c)) {
            pushed.time = Some(match pushed.time {
                Some(t) => t.intersect(&r),
                None => r,
            });
            continue;
        }
        for column in string_columns {
            if let Some(values) = query_set(f, column) {
                let entry = pushed
                    .strings
                    .entry(column.to_string())
                    .or_insert_with(|| values.clone());
                *entry = entry.intersection(&values).cloned().collect();
                break;
            }
        }
    }
    pushed
}

/// The set of instants `expr` keeps, if it is made only of `ts` comparisons.
pub fn time_ranges(expr: &Expr, column: &str) -> Option<RangeSet> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => {
                Some(time_ranges(left, column)?.intersect(&time_ranges(right, column)?))
            }
            Operator::Or => Some(time_ranges(left, column)?.union(&time_ranges(right, column)?)),
            _ => {
                if let Some(bucket) = bucket_of(left, column) {
                    bucket_comparison(bucket, *op, literal_ms(right)?)
                } else if let Some(bucket) = bucket_of(right, column) {
                    bucket_comparison(bucket, op.swap()?, literal_ms(left)?)
                } else {
                    None
                }
            }
        },
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let bucket = bucket_of(expr, column)?;
            let low = bucket_comparison(bucket, Operator::GtEq, literal_ms(low)?)?;
            let high = bucket_comparison(bucket, Operator::LtEq, literal_ms(high)?)?;
            Some(low.intersect(&high))
        }
        _ => None,
    }
}

/// The instants whose `bucket` compares with the literal `(floor ms, exact?)` as `op` says.
fn bucket_comparison(bucket: Bucket, op: Operator, literal: (i64, bool)) -> Option<RangeSet> {
    if bucket == Bucket::Instant {
        return comparison(op, literal);
    }
    let (floor, exact) = literal;
    if exact {
        return bucket.comparison(op, floor);
    }
    // Bucket starts are whole ms: against a literal between floor and floor + 1 ms, `>` and
    // `>=` mean `>= floor + 1`, `<` and `<=` mean `< floor + 1`, and `=` holds nowhere.
    let next = floor.checked_add(1)?;
    match op {
        Operator::Gt | Operator::GtEq => bucket.comparison(Operator::GtEq, next),
        Operator::Lt | Operator::LtEq => bucket.comparison(Operator::Lt, next),
        Operator::Eq => Some(RangeSet(vec![])),
        _ => None,
    }
}

/// The half-open range `ts <op> literal` keeps. `lit` is (floor in ms, exact ms?), so literals of
/// finer units round correctly: `ts > 1.5ms` keeps `ts >= 2ms`.
fn comparison(op: Operator, (floor, exact): (i64, bool)) -> Option<RangeSet> {
    let next = floor.checked_add(1)?;
    Some(match op {
        Operator::Gt => RangeSet::single(next, i64::MAX),
        Operator::GtEq => RangeSet::single(if exact { floor } else { next }, i64::MAX),
        Operator::Lt => RangeSet::single(i64::MIN, if exact { floor } else { next }),
        Operator::LtEq => RangeSet::single(i64::MIN, next),
        Operator::Eq if exact => RangeSet::single(floor, next),
        Operator::Eq => RangeSet(vec![]),
        _ => return None,
    })
}

/// A timestamp or date literal as (floor in epoch ms, whether it is a whole ms).
pub(crate) fn literal_ms(expr: &Expr) -> Option<(i64, bool)> {
    let value = match expr {
        Expr::Literal(v, _) => v.clone(),
        Expr::Cast(c) => match c.expr.as_ref() {
            Expr::Literal(v, _) => v.cast_to(c.field.data_type()).ok()?,
            _ => return None,
        },
        _ => return None,
    };
    let per_ms =
        |v: i64, units_per_ms: i64| (v.div_euclid(units_per_ms), v.rem_euclid(units_per_ms) == 0);
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => Some((v.checked_mul(1000)?, true)),
        ScalarValue::TimestampMillisecond(Some(v), _) => Some((v, true)),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(per_ms(v, 1_000)),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(per_ms(v, 1_000_000)),
        ScalarValue::Date32(Some(days)) => Some((i64::from(days) * 86_400_000, true)),
        ScalarValue::Date64(Some(ms)) => Some((ms, true)),
        _ => None,
    }
}

/// The strings `expr` selects, if it is made only of `column = 'x'`, `column IN (...)` and ORs.
pub fn query_set(expr: &Expr, column: &str) -> Option<BTreeSet<String>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut set = query_set(left, column)?;
            set.extend(query_set(right, column)?);
            Some(set)
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (col, lit) = if is_plain_column(left, column) {
                (left, right)
            } else {
                (right, left)
            };
            if !is_plain_column(col, column) {
                return None;
            }
            Some(BTreeSet::from([string_literal(lit)?]))
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) if is_plain_column(expr, column) => list.iter().map(string_literal).collect(),
        _ => None,
    }
}

fn is_plain_column(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Column(c) if c.name == name)
}

/// The text of a string literal (any string type).
pub(crate) fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{cast, col, lit};

    fn ts_ms(v: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(
            Some(v),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn comparisons_become_half_open_ranges() {
        let cases = [
            (col("ts").gt(ts_ms(100)), vec![(101, i64::MAX)]),
            (col("ts").gt_eq(ts_ms(100)), vec![(100, i64::MAX)]),
            (col("ts").lt(ts_ms(100)), vec![(i64::MIN, 100)]),
            (col("ts").lt_eq(ts_ms(100)), vec![(i64::MIN, 101)]),
            (col("ts").eq(ts_ms(100)), vec![(100, 101)]),
            (ts_ms(100).lt(col("ts")), vec![(101, i64::MAX)]),
            (col("ts").between(ts_ms(10), ts_ms(20)), vec![(10, 21)]),
        ];
        for (expr, want) in cases {
            assert_eq!(time_ranges(&expr, "ts"), Some(RangeSet(want)), "{expr}");
        }
    }

    #[test]
    fn and_or_combine() {
        let a = col("ts").gt_eq(ts_ms(0)).and(col("ts").lt(ts_ms(10)));
        let b = col("ts").gt_eq(ts_ms(20)).and(col("ts").lt(ts_ms(30)));
        let c = col("ts").gt_eq(ts_ms(5)).and(col("ts").lt(ts_ms(25)));
        assert_eq!(
            time_ranges(&a.clone().or(b.clone()), "ts"),
            Some(RangeSet(vec![(0, 10), (20, 30)]))
        );
        assert_eq!(
            time_ranges(&a.clone().or(c), "ts"),
            Some(RangeSet(vec![(0, 25)]))
        );
        let pushed = push_down(
            &[a.or(b), col("ts").gt_eq(ts_ms(5))],
            Some("ts"),
            &["query"],
        );
        assert_eq!(pushed.time, Some(RangeSet(vec![(5, 10), (20, 30)])));
        // Inverted: empty, not an error.
        let inverted = col("ts").gt(ts_ms(10)).and(col("ts").lt(ts_ms(5)));
        assert!(time_ranges(&inverted, "ts").unwrap().is_empty());
    }

    #[test]
    fn finer_units_round_inwards() {
        let ns = |v: i64| lit(ScalarValue::TimestampNanosecond(Some(v), None));
        assert_eq!(
            time_ranges(&col("ts").gt_eq(ns(1_500_000)), "ts"),
            Some(RangeSet(vec![(2, i64::MAX)]))
        );
        assert_eq!(
            time_ranges(&col("ts").lt(ns(1_500_000)), "ts"),
            Some(RangeSet(vec![(i64::MIN, 2)]))
        );
        assert_eq!(
            time_ranges(&col("ts").eq(ns(1_500_000)), "ts"),
            Some(RangeSet(vec![]))
        );
        let s = lit(ScalarValue::TimestampSecond(Some(2), None));
        assert_eq!(
            time_ranges(&col("ts").lt(s), "ts"),
            Some(RangeSet(vec![(i64::MIN, 2000)]))
        );
    }

    #[test]
    fn bucket_functions_of_ts_push_as_ranges() {
        use datafusion::functions::datetime::expr_fn::{date_bin, date_trunc};
        let day = 86_400_000;
        let d = |days: i64| ts_ms(days * day);
        // date_trunc('day', ts) = day 10 is [day 10, day 11).
        let e = date_trunc(lit("day"), col("ts")).eq(d(10));
        assert_eq!(
            time_ranges(&e, "ts"),
            Some(RangeSet(vec![(10 * day, 11 * day)]))
        );
        // date_bin(1 hour, ts) >= 10:30 starts at 11:00.
        let hour = lit(ScalarValue::new_interval_mdn(0, 0, 3_600_000_000_000));
        let e = date_bin(
            hour,
            col("ts"),
            lit(ScalarValue::TimestampMillisecond(Some(0), None)),
        )
        .gt_eq(ts_ms(10 * 3_600_000 + 1_800_000));
        assert_eq!(
            time_ranges(&e, "ts"),
            Some(RangeSet(vec![(11 * 3_600_000, i64::MAX)]))
        );
        // CAST(ts AS DATE) BETWEEN day 3 AND day 4 is [day 3, day 5).
        let e = cast(col("ts"), DataType::Date32).between(
            lit(ScalarValue::Date32(Some(3))),
            lit(ScalarValue::Date32(Some(4))),
        );
        assert_eq!(
            time_ranges(&e, "ts"),
            Some(RangeSet(vec![(3 * day, 5 * day)]))
        );
        // A cast to whole seconds floors: = 1 s is [1000, 2000).
        let secs = DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Second, None);
        let e = cast(col("ts"), secs).eq(lit(ScalarValue::TimestampSecond(Some(1), None)));
        assert_eq!(time_ranges(&e, "ts"), Some(RangeSet(vec![(1000, 2000)])));
        // A month interval has no fixed width: not pushed.
        let month = lit(ScalarValue::new_interval_mdn(1, 0, 0));
        let e = date_bin(
            month,
            col("ts"),
            lit(ScalarValue::TimestampMillisecond(Some(0), None)),
        )
        .eq(d(0));
        assert_eq!(time_ranges(&e, "ts"), None);
    }

    #[test]
    fn other_filters_are_not_pushed() {
        for expr in [
            col("avg").gt(lit(1.0)),
            col("ts").not_eq(ts_ms(1)),
            col("ts").gt(ts_ms(1)).or(col("avg").gt(lit(1.0))),
            col("ts").gt(col("ts")),
            col("query").like(lit("a%")),
        ] {
            assert!(time_ranges(&expr, "ts").is_none(), "{expr}");
            assert!(query_set(&expr, "query").is_none(), "{expr}");
        }
    }

    #[test]
    fn query_filters() {
        let e = col("query")
            .eq(lit("a{*}"))
            .or(col("query").in_list(vec![lit("b{*}"), lit("c{*}")], false));
        assert_eq!(
            query_set(&e, "query")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["a{*}", "b{*}", "c{*}"]
        );
        assert!(query_set(&col("query").in_list(vec![lit("a")], true), "query").is_none());
        let pushed = push_down(
            &[
                col("query").in_list(vec![lit("a"), lit("b")], false),
                col("query").eq(lit("b")),
            ],
            Some("ts"),
            &["query", "name"],
        );
        assert_eq!(
            pushed.values("query").unwrap().iter().collect::<Vec<_>>(),
            ["b"]
        );
    }
}
