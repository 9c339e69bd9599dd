//! Time buckets in filters: the functions of a timestamp that floor it to a bucket
//! (`date_trunc`, `date_bin`, `ds_bucket`, a cast to `DATE` or to whole seconds), and the
//! range of instants a comparison of such a bucket with a literal keeps. Each is monotone and
//! constant on its buckets, so `date_trunc('day', ts) = '2026-11-30'` is exactly the day's
//! range and `ds_bucket('hours', ts) >= X` is `ts >= X` rounded up to the hour.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::logical_expr::{Expr, Operator};
use datafusion::scalar::ScalarValue;

use super::filters::RangeSet;

const DAY_MS: i64 = 86_400_000;

/// How a bucket function floors an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// The instant itself.
    Instant,
    /// Buckets `width_ms` wide, one starting at `origin_ms`.
    Fixed {
        /// Bucket width.
        width_ms: i64,
        /// An instant where a bucket starts.
        origin_ms: i64,
    },
    /// Calendar months (1), quarters (3) or years (12), in UTC.
    Months(u32),
}

impl Bucket {
    /// The start of the bucket holding `ms`.
    fn floor(self, ms: i64) -> Option<i64> {
        match self {
            Bucket::Instant => Some(ms),
            Bucket::Fixed {
                width_ms,
                origin_ms,
            } => {
                let offset = ms.checked_sub(origin_ms)?;
                offset
                    .div_euclid(width_ms)
                    .checked_mul(width_ms)?
                    .checked_add(origin_ms)
            }
            Bucket::Months(n) => {
                let t = Utc.timestamp_millis_opt(ms).single()?;
                let month0 = (t.month0() / n) * n;
                let start = NaiveDate::from_ymd_opt(t.year(), month0 + 1, 1)?;
                Some(start.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
            }
        }
    }

    /// The start of the bucket after the one starting at `start`.
    fn next(self, start: i64) -> Option<i64> {
        match self {
            Bucket::Instant => start.checked_add(1),
            Bucket::Fixed { width_ms, .. } => start.checked_add(width_ms),
            Bucket::Months(n) => {
                let t: DateTime<Utc> = Utc.timestamp_millis_opt(start).single()?;
                Some(t.checked_add_months(Months::new(n))?.timestamp_millis())
            }
        }
    }

    /// The instants whose bucket compares to the whole-ms literal `x` as `op` says.
    pub fn comparison(self, op: Operator, x: i64) -> Option<RangeSet> {
        let floor = self.floor(x)?;
        let after = self.next(floor)?;
        // The first bucket start at or after x.
        let ceil = if floor == x { x } else { after };
        Some(match op {
            Operator::Eq if floor == x => RangeSet::single(x, after),
            Operator::Eq => RangeSet(vec![]),
            Operator::GtEq => RangeSet::single(ceil, i64::MAX),
            Operator::Gt => RangeSet::single(after, i64::MAX),
            Operator::Lt => RangeSet::single(i64::MIN, ceil),
            Operator::LtEq => RangeSet::single(i64::MIN, after),
            _ => return None,
        })
    }
}

/// The bucket `expr` applies to `column`, if it is the column, a cast of it, or one of the
/// bucket functions of it with literal arguments.
pub fn bucket_of(expr: &Expr, column: &str) -> Option<Bucket> {
    match expr {
        Expr::Column(c) => (c.name == column).then_some(Bucket::Instant),
        Expr::Cast(c) => cast_bucket(c.field.data_type(), bucket_of(&c.expr, column)?),
        Expr::TryCast(c) => cast_bucket(c.field.data_type(), bucket_of(&c.expr, column)?),
        Expr::ScalarFunction(f) => {
            let args = &f.args;
            match f.name() {
                "date_trunc" | "datetrunc" => {
                    let [unit, ts] = args.as_slice() else {
                        return None;
                    };
                    let inner = bucket_of(ts, column)?;
                    compose(inner, trunc_bucket(&string_literal(unit)?)?)
                }
                "date_bin" => {
                    let (width, ts, origin) = match args.as_slice() {
                        [w, ts] => (w, ts, 0),
                        [w, ts, o] => (w, ts, instant_literal(o)?),
                        _ => return None,
                    };
                    let inner = bucket_of(ts, column)?;
                    let width_ms = interval_ms(width)?;
                    compose(
                        inner,
                        Bucket::Fixed {
                            width_ms,
                            origin_ms: origin,
                        },
                    )
                }
                "ds_bucket" => {
                    let [granularity, ts] = args.as_slice() else {
                        return None;
                    };
                    let inner = bucket_of(ts, column)?;
                    let seconds = super::functions::granularity::parse_granularity(
                        &string_literal(granularity)?,
                    )
                    .ok()?;
                    compose(
                        inner,
                        Bucket::Fixed {
                            width_ms: seconds.checked_mul(1000)?,
                            origin_ms: 0,
                        },
                    )
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A bucket applied after another: only an instant composes (a bucket of a bucket is not
/// needed by any query seen, and proving it is one is not worth the code).
fn compose(inner: Bucket, outer: Bucket) -> Option<Bucket> {
    (inner == Bucket::Instant).then_some(outer)
}

/// What a cast does to the instants: to ms or finer keeps them, to seconds floors them to the
/// second, to a date floors them to the UTC day.
fn cast_bucket(to: &DataType, inner: Bucket) -> Option<Bucket> {
    match to {
        DataType::Timestamp(
            TimeUnit::Millisecond | TimeUnit::Microsecond | TimeUnit::Nanosecond,
            _,
        ) => Some(inner),
        DataType::Timestamp(TimeUnit::Second, _) => compose(
            inner,
            Bucket::Fixed {
                width_ms: 1000,
                origin_ms: 0,
            },
        ),
        DataType::Date32 | DataType::Date64 => compose(
            inner,
            Bucket::Fixed {
                width_ms: DAY_MS,
                origin_ms: 0,
            },
        ),
        _ => None,
    }
}

/// `date_trunc`'s units.
fn trunc_bucket(unit: &str) -> Option<Bucket> {
    let fixed = |width_ms| Bucket::Fixed {
        width_ms,
        origin_ms: 0,
    };
    Some(match unit.trim().to_ascii_lowercase().as_str() {
        "millisecond" | "milliseconds" => Bucket::Instant,
        "second" | "seconds" => fixed(1000),
        "minute" | "minutes" => fixed(60_000),
        "hour" | "hours" => fixed(3_600_000),
        "day" | "days" => fixed(DAY_MS),
        // ISO weeks start on Monday; 1970-01-05 was one.
        "week" | "weeks" => Bucket::Fixed {
            width_ms: 7 * DAY_MS,
            origin_ms: 4 * DAY_MS,
        },
        "month" | "months" => Bucket::Months(1),
        "quarter" | "quarters" => Bucket::Months(3),
        "year" | "years" => Bucket::Months(12),
        _ => return None,
    })
}

fn string_literal(expr: &Expr) -> Option<String> {
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

/// A fixed-length interval literal in ms (months have no fixed length: `None`).
fn interval_ms(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    let ms = match value {
        ScalarValue::IntervalDayTime(Some(v)) => {
            i64::from(v.days) * DAY_MS + i64::from(v.milliseconds)
        }
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            if v.nanoseconds % 1_000_000 != 0 {
                return None;
            }
            i64::from(v.days) * DAY_MS + v.nanoseconds / 1_000_000
        }
        ScalarValue::DurationSecond(Some(s)) => s.checked_mul(1000)?,
        ScalarValue::DurationMillisecond(Some(ms)) => *ms,
        _ => return None,
    };
    (ms > 0).then_some(ms)
}

/// A timestamp literal as whole epoch ms (an origin of `date_bin`).
fn instant_literal(expr: &Expr) -> Option<i64> {
    match super::filters::literal_ms(expr)? {
        (ms, true) => Some(ms),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn comparisons_of_buckets_are_ranges_of_instants() {
        let day = Bucket::Fixed {
            width_ms: DAY_MS,
            origin_ms: 0,
        };
        let d30 = ms("2026-11-30T00:00:00Z");
        let d31 = ms("2026-12-01T00:00:00Z");
        let noon = ms("2026-11-30T12:00:00Z");
        let cases = [
            (Operator::Eq, d30, vec![(d30, d31)]),
            (Operator::Eq, noon, vec![]),
            (Operator::GtEq, d30, vec![(d30, i64::MAX)]),
            (Operator::GtEq, noon, vec![(d31, i64::MAX)]),
            (Operator::Gt, d30, vec![(d31, i64::MAX)]),
            (Operator::Gt, noon, vec![(d31, i64::MAX)]),
            (Operator::Lt, d30, vec![(i64::MIN, d30)]),
            (Operator::Lt, noon, vec![(i64::MIN, d31)]),
            (Operator::LtEq, d30, vec![(i64::MIN, d31)]),
            (Operator::LtEq, noon, vec![(i64::MIN, d31)]),
        ];
        for (op, x, want) in cases {
            assert_eq!(day.comparison(op, x), Some(RangeSet(want)), "{op} {x}");
        }
    }

    #[test]
    fn calendar_and_week_buckets() {
        let nov = Bucket::Months(1)
            .comparison(Operator::Eq, ms("2026-11-01T00:00:00Z"))
            .unwrap();
        assert_eq!(
            nov,
            RangeSet(vec![(
                ms("2026-11-01T00:00:00Z"),
                ms("2026-12-01T00:00:00Z")
            )])
        );
        let q4 = Bucket::Months(3)
            .comparison(Operator::GtEq, ms("2026-11-15T00:00:00Z"))
            .unwrap();
        assert_eq!(q4, RangeSet(vec![(ms("2027-01-01T00:00:00Z"), i64::MAX)]));
        let year = Bucket::Months(12)
            .comparison(Operator::LtEq, ms("2026-06-01T00:00:00Z"))
            .unwrap();
        assert_eq!(year, RangeSet(vec![(i64::MIN, ms("2027-01-01T00:00:00Z"))]));
        // 2026-11-30 is a Monday: its week is [Nov 30, Dec 7).
        let week = trunc_bucket("WEEK").unwrap();
        assert_eq!(
            week.comparison(Operator::Eq, ms("2026-11-30T00:00:00Z")),
            Some(RangeSet(vec![(
                ms("2026-11-30T00:00:00Z"),
                ms("2026-12-07T00:00:00Z")
            )]))
        );
        assert_eq!(
            week.comparison(Operator::Eq, ms("2026-12-01T00:00:00Z")),
            Some(RangeSet(vec![]))
        );
    }
}
