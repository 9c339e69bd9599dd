//! datastream's time downsamplers as aggregate functions: `time_first(ts)` and `time_last(ts)`
//! (earliest / latest instant) and `time_mean(ts)` (mean epoch second, truncated to a whole
//! second). Each returns the input's timestamp type (unit and time zone); nulls are skipped.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::bucket::units_per_second;
use super::grouped_times::TimeGroups;

/// Which instant a [`TimeDownsampler`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeKind {
    /// The earliest timestamp.
    First,
    /// The latest timestamp.
    Last,
    /// The mean epoch second, truncated.
    Mean,
}

/// `time_first`, `time_last`, `time_mean`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimeDownsampler {
    kind: TimeKind,
    signature: Signature,
}

impl TimeDownsampler {
    /// The UDAF computing `kind`.
    pub fn new(kind: TimeKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// A timestamp scalar of `data_type` (a Timestamp type) holding `value`.
pub(crate) fn timestamp_scalar(data_type: &DataType, value: Option<i64>) -> Result<ScalarValue> {
    let DataType::Timestamp(unit, tz) = data_type else {
        return exec_err!("expected a timestamp type, got {data_type}");
    };
    let tz = tz.clone();
    Ok(match unit {
        TimeUnit::Second => ScalarValue::TimestampSecond(value, tz),
        TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(value, tz),
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(value, tz),
        TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(value, tz),
    })
}

/// The mean of `count` timestamps of `data_type` summing to `sum`, truncated to a whole second
/// (towards negative infinity, like datastream's integer epoch seconds); `None` when there are
/// none.
pub(crate) fn truncated_mean(data_type: &DataType, sum: i128, count: i64) -> Result<Option<i64>> {
    if count == 0 {
        return Ok(None);
    }
    let DataType::Timestamp(unit, _) = data_type else {
        return exec_err!("time_mean: expected a timestamp type, got {data_type}");
    };
    let per_second = units_per_second(unit) as i128;
    let seconds = (sum / count as i128).div_euclid(per_second);
    Ok(i64::try_from(seconds * per_second).ok())
}

impl AggregateUDFImpl for TimeDownsampler {
    fn name(&self) -> &str {
        match self.kind {
            TimeKind::First => "time_first",
            TimeKind::Last => "time_last",
            TimeKind::Mean => "time_mean",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t @ DataType::Timestamp(_, _)] => Ok(vec![t.clone()]),
            [DataType::Date32 | DataType::Date64 | DataType::Null] => {
                Ok(vec![DataType::Timestamp(TimeUnit::Nanosecond, None)])
            }
            [t] => plan_err!("{}(ts) takes a timestamp; got {t}", self.name()),
            _ => plan_err!(
                "{} takes one argument; got {}",
                self.name(),
                arg_types.len()
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t @ DataType::Timestamp(_, _)) => Ok(t.clone()),
            _ => plan_err!("{}(ts) takes a timestamp", self.name()),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |suffix: &str, t: DataType| {
            Arc::new(Field::new(format_state_name(args.name, suffix), t, true))
        };
        Ok(vec![
            field("min", DataType::Int64),
            field("max", DataType::Int64),
            // Σ of raw values: exact in i128 where an i64 sum of nanosecond timestamps overflows.
            field("sum", DataType::Decimal128(38, 0)),
            field("count", DataType::Int64),
        ])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(TimeGroups::new(
            self.kind,
            args.return_type().clone(),
        )))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(TimeAccumulator {
            kind: self.kind,
            data_type: args.return_type().clone(),
            min: None,
            max: None,
            sum: 0,
            count: 0,
        }))
    }
}

#[derive(Debug)]
struct TimeAccumulator {
    kind: TimeKind,
    data_type: DataType,
    min: Option<i64>,
    max: Option<i64>,
    sum: i128,
    count: i64,
}

impl TimeAccumulator {
    fn add(&mut self, min: i64, max: i64, sum: i128, count: i64) {
        self.min = Some(self.min.map_or(min, |m| m.min(min)));
        self.max = Some(self.max.map_or(max, |m| m.max(max)));
        self.sum += sum;
        self.count += count;
    }
}

impl Accumulator for TimeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(values) = values.first() else {
            return exec_err!("{:?}: no input column", self.kind);
        };
        let values = cast(values, &DataType::Int64)?;
        for v in values.as_primitive::<Int64Type>().iter().flatten() {
            self.add(v, v, v as i128, 1);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [min, max, sum, count] = states else {
            return exec_err!("{:?}: expected 4 state columns", self.kind);
        };
        let min = min.as_primitive::<Int64Type>();
        let max = max.as_primitive::<Int64Type>();
        let sum = sum.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
        let count = count.as_primitive::<Int64Type>();
        for i in 0..count.len() {
            if count.is_valid(i) && count.value(i) > 0 && min.is_valid(i) && max.is_valid(i) {
                let s = if sum.is_valid(i) { sum.value(i) } else { 0 };
                self.add(min.value(i), max.value(i), s, count.value(i));
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Int64(self.min),
            ScalarValue::Int64(self.max),
            ScalarValue::Decimal128(Some(self.sum), 38, 0),
            ScalarValue::Int64(Some(self.count)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let value = match self.kind {
            TimeKind::First => self.min,
            TimeKind::Last => self.max,
            TimeKind::Mean => truncated_mean(&self.data_type, self.sum, self.count)?,
        };
        timestamp_scalar(&self.data_type, value)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMillisecondArray;

    #[test]
    fn merge_keeps_the_input_type_and_truncates_the_mean() -> Result<()> {
        let data_type = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let make = |kind| TimeAccumulator {
            kind,
            data_type: data_type.clone(),
            min: None,
            max: None,
            sum: 0,
            count: 0,
        };
        for (kind, expected) in [
            (TimeKind::First, 1_000),
            (TimeKind::Last, 4_500),
            // (1.0 + 2.0 + 4.5) / 3 = 2.5 s → 2 s.
            (TimeKind::Mean, 2_000),
        ] {
            let mut a = make(kind);
            a.update_batch(&[Arc::new(TimestampMillisecondArray::from(vec![
                Some(2_000),
                None,
                Some(1_000),
            ]))])?;
            let mut b = make(kind);
            b.update_batch(&[Arc::new(TimestampMillisecondArray::from(vec![4_500]))])?;
            let mut empty = make(kind);
            let states = [a.state()?, b.state()?, empty.state()?];
            let columns = (0..4)
                .map(|c| ScalarValue::iter_to_array(states.iter().map(|s| s[c].clone())))
                .collect::<Result<Vec<_>>>()?;
            let mut last = make(kind);
            last.merge_batch(&columns)?;
            assert_eq!(
                last.evaluate()?,
                ScalarValue::TimestampMillisecond(Some(expected), Some("UTC".into())),
                "{kind:?}"
            );
        }
        Ok(())
    }
}
