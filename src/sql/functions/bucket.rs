//! `ds_bucket(granularity, ts)`: floors a timestamp to the start of its UTC bucket.
//!
//! Buckets are aligned on the Unix epoch, so `6hours` starts at 00/06/12/18 UTC and `days` at
//! midnight UTC whatever the column's time zone (timestamps are stored as UTC instants).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::granularity::parse_granularity;

/// The `ds_bucket` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DsBucket {
    signature: Signature,
}

impl Default for DsBucket {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Units of `unit` per second.
pub(crate) fn units_per_second(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

fn floor_array<T: ArrowTimestampType>(array: &ArrayRef, width: i64) -> ArrayRef {
    let array: &PrimitiveArray<T> = array.as_primitive();
    let tz = array.timezone().map(Arc::from);
    let out: PrimitiveArray<T> = array.unary(|v| v.saturating_sub(v.rem_euclid(width)));
    Arc::new(out.with_timezone_opt(tz))
}

fn floor_all(array: &ArrayRef, unit: &TimeUnit, width: i64) -> ArrayRef {
    match unit {
        TimeUnit::Second => floor_array::<TimestampSecondType>(array, width),
        TimeUnit::Millisecond => floor_array::<TimestampMillisecondType>(array, width),
        TimeUnit::Microsecond => floor_array::<TimestampMicrosecondType>(array, width),
        TimeUnit::Nanosecond => floor_array::<TimestampNanosecondType>(array, width),
    }
}

impl ScalarUDFImpl for DsBucket {
    fn name(&self) -> &str {
        "ds_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Null, t @ DataType::Timestamp(_, _)] => Ok(vec![DataType::Utf8, t.clone()]),
            [_, _] => plan_err!(
                "ds_bucket(granularity, ts) takes a granularity string and a timestamp; got ({})",
                arg_types
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => plan_err!(
                "ds_bucket takes two arguments: ds_bucket(granularity, ts), e.g. ds_bucket('hours', ts)"
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.get(1) {
            Some(t @ DataType::Timestamp(_, _)) => Ok(t.clone()),
            _ => plan_err!("ds_bucket(granularity, ts): ts must be a timestamp"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [granularity, ts] = args.args.as_slice() else {
            return exec_err!("ds_bucket takes two arguments");
        };
        let DataType::Timestamp(unit, _) = ts.data_type() else {
            return exec_err!("ds_bucket(granularity, ts): ts must be a timestamp");
        };
        let per_second = units_per_second(&unit);
        let width = |g: Option<&str>| -> Result<Option<i64>> {
            let Some(g) = g else { return Ok(None) };
            match parse_granularity(g)?.checked_mul(per_second) {
                Some(w) => Ok(Some(w)),
                None => exec_err!("ds_bucket: granularity '{g}' is too wide"),
            }
        };
        match (granularity, ts) {
            // The usual case: one granularity for the whole batch.
            (ColumnarValue::Scalar(g), _) => {
                let g = match g {
                    ScalarValue::Utf8(g) => g.as_deref(),
                    _ => return exec_err!("ds_bucket: the granularity must be a string"),
                };
                let Some(width) = width(g)? else {
                    return Ok(ColumnarValue::Scalar(ScalarValue::try_from(
                        &ts.data_type(),
                    )?));
                };
                let is_scalar = matches!(ts, ColumnarValue::Scalar(_));
                let out = floor_all(&ts.to_array(1)?, &unit, width);
                if is_scalar {
                    Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
                } else {
                    Ok(ColumnarValue::Array(out))
                }
            }
            // A granularity per row (e.g. from a join with a list of granularities).
            (ColumnarValue::Array(g), _) => {
                let ts = ts.to_array(g.len())?;
                let g = g.as_string::<i32>();
                let mut out = Vec::with_capacity(ts.len());
                for i in 0..ts.len() {
                    let w = width(g.is_valid(i).then(|| g.value(i)))?;
                    let v = ScalarValue::try_from_array(&ts, i)?;
                    out.push(match (w, v.is_null()) {
                        (Some(w), false) => {
                            let one = floor_all(&v.to_array()?, &unit, w);
                            ScalarValue::try_from_array(&one, 0)?
                        }
                        _ => ScalarValue::try_from(ts.data_type())?,
                    });
                }
                Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
            }
        }
    }
}
