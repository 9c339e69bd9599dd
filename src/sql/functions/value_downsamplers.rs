//! datastream's value downsamplers that DataFusion lacks, as aggregate functions (UDAFs):
//! `mean`, `sum_squares`, `std_dev` (from count, Σx and Σx²) and `most_often`, `least_often`,
//! `frequencies` (from a value → count table). Nulls are skipped. Every accumulator has a state
//! and a merge, so partial/final aggregation over many partitions gives the same answer as one.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, ListArray, MapArray, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::grouped_counts::{FrequencyGroups, KeyCodec};
use super::grouped_moments::MomentGroups;
use super::value_counts::ValueCounts;

/// Which statistic a [`Moments`] UDAF returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MomentKind {
    /// Σx / n as Float64; null when n = 0.
    Mean,
    /// Σx²; null when n = 0.
    SumSquares,
    /// Population standard deviation sqrt(Σx²/n − (Σx/n)²); 0 when n = 1, null when n = 0.
    StdDev,
}

impl MomentKind {
    /// The statistic of `count` values with sum `sum` and sum of squares `sum_squares`; `None`
    /// when there are no values.
    pub(crate) fn of(self, count: i64, sum: f64, sum_squares: f64) -> Option<f64> {
        if count == 0 {
            return None;
        }
        let n = count as f64;
        Some(match self {
            MomentKind::Mean => sum / n,
            MomentKind::SumSquares => sum_squares,
            MomentKind::StdDev if count == 1 => 0.0,
            // Rounding can make a zero variance slightly negative: clamp it.
            MomentKind::StdDev => population_variance(n, sum, sum_squares).max(0.0).sqrt(),
        })
    }
}

/// `mean`, `sum_squares` and `std_dev`: numeric input coerced to Float64.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Moments {
    kind: MomentKind,
    signature: Signature,
}

impl Moments {
    /// The UDAF computing `kind`.
    pub fn new(kind: MomentKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Numeric types become Float64; anything else is an error naming the function.
pub(crate) fn coerce_numeric(name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    match arg_types {
        [t] if t.is_numeric() || t == &DataType::Null => Ok(vec![DataType::Float64]),
        [t] => plan_err!("{name}(x) takes a numeric argument; got {t}"),
        _ => plan_err!("{name} takes one argument; got {}", arg_types.len()),
    }
}

impl AggregateUDFImpl for Moments {
    fn name(&self) -> &str {
        match self.kind {
            MomentKind::Mean => "mean",
            MomentKind::SumSquares => "sum_squares",
            MomentKind::StdDev => "std_dev",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_numeric(self.name(), arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "count"),
                DataType::Int64,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "sum"),
                DataType::Float64,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "sum_squares"),
                DataType::Float64,
                true,
            )),
        ])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(MomentGroups::new(self.kind)))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MomentsAccumulator {
            kind: self.kind,
            count: 0,
            sum: 0.0,
            sum_squares: 0.0,
        }))
    }
}

#[derive(Debug)]
struct MomentsAccumulator {
    kind: MomentKind,
    count: i64,
    sum: f64,
    sum_squares: f64,
}

impl Accumulator for MomentsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(values) = values.first() else {
            return exec_err!("{:?}: no input column", self.kind);
        };
        let values = cast(values, &DataType::Float64)?;
        for v in values.as_primitive::<Float64Type>().iter().flatten() {
            self.count += 1;
            self.sum += v;
            self.sum_squares += v * v;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [count, sum, sum_squares] = states else {
            return exec_err!("{:?}: expected 3 state columns", self.kind);
        };
        let count = count.as_primitive::<Int64Type>();
        let sum = sum.as_primitive::<Float64Type>();
        let sum_squares = sum_squares.as_primitive::<Float64Type>();
        for i in 0..count.len() {
            if count.is_valid(i) {
                self.count += count.value(i);
                self.sum += if sum.is_valid(i) { sum.value(i) } else { 0.0 };
                self.sum_squares += if sum_squares.is_valid(i) {
                    sum_squares.value(i)
                } else {
                    0.0
                };
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Int64(Some(self.count)),
            ScalarValue::Float64(Some(self.sum)),
            ScalarValue::Float64(Some(self.sum_squares)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.kind.of(
            self.count,
            self.sum,
            self.sum_squares,
        )))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// Σx²/n − (Σx/n)²: the population variance from count, sum and sum of squares (shared with the
/// datastream store, which applies datastream's own rounding rule on top).
pub(crate) fn population_variance(n: f64, sum: f64, sum_squares: f64) -> f64 {
    let mean = sum / n;
    sum_squares / n - mean * mean
}

/// The most (or least) frequent entry of `entries`, which are sorted by value: keeping the first
/// best count breaks ties by the smallest value. Shared with the datastream store.
pub(crate) fn pick_by_count<K>(
    entries: impl IntoIterator<Item = (K, i64)>,
    most: bool,
) -> Option<K> {
    let mut best: Option<(K, i64)> = None;
    for (k, c) in entries {
        let better = match &best {
            None => true,
            Some((_, b)) if most => c > *b,
            Some((_, b)) => c < *b,
        };
        if better {
            best = Some((k, c));
        }
    }
    best.map(|(k, _)| k)
}

/// Which answer a [`Frequency`] UDAF gives from its value → count table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrequencyKind {
    /// The most frequent value (ties: the smallest).
    MostOften,
    /// The least frequent value (ties: the smallest).
    LeastOften,
    /// `Map<value, count>` sorted by value.
    Frequencies,
    /// All three from one count table: `Struct<most_often, least_often, frequencies>`
    /// (`frequency_summary`; `downsample()` counts each bucket's values once with it).
    Summary,
}

/// `most_often`, `least_often` and `frequencies` over any primitive or string type.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Frequency {
    kind: FrequencyKind,
    signature: Signature,
}

impl Frequency {
    /// The UDAF computing `kind`.
    pub fn new(kind: FrequencyKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// `Map<key, Int64>` with the entries field layout DataFusion's `map()` uses.
fn map_type(key: &DataType) -> DataType {
    DataType::Map(Arc::new(map_entries_field(key)), false)
}

pub(crate) fn map_entries_field(key: &DataType) -> Field {
    Field::new("entries", DataType::Struct(map_struct_fields(key)), false)
}

/// `frequency_summary`'s fields.
pub(crate) fn summary_fields(value: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("most_often", value.clone(), true),
        Field::new("least_often", value.clone(), true),
        Field::new("frequencies", map_type(value), true),
    ])
}

pub(crate) fn map_struct_fields(key: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("key", key.clone(), false),
        Field::new("value", DataType::Int64, true),
    ])
}

impl AggregateUDFImpl for Frequency {
    fn name(&self) -> &str {
        match self.kind {
            FrequencyKind::MostOften => "most_often",
            FrequencyKind::LeastOften => "least_often",
            FrequencyKind::Frequencies => "frequencies",
            FrequencyKind::Summary => "frequency_summary",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::Null] => Ok(vec![DataType::Int64]),
            // Dictionary and view strings are counted as plain Utf8.
            [DataType::Utf8View | DataType::LargeUtf8] => Ok(vec![DataType::Utf8]),
            [DataType::Dictionary(_, v)] => Ok(vec![v.as_ref().clone()]),
            [t] if t.is_primitive() || matches!(t, DataType::Utf8 | DataType::Boolean) => {
                Ok(vec![t.clone()])
            }
            [t] => plan_err!(
                "{}(x) takes a number, string, boolean or timestamp; got {t}",
                self.name()
            ),
            _ => plan_err!(
                "{} takes one argument; got {}",
                self.name(),
                arg_types.len()
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let Some(t) = arg_types.first() else {
            return plan_err!("{} takes one argument", self.name());
        };
        Ok(match self.kind {
            FrequencyKind::Frequencies => map_type(t),
            FrequencyKind::Summary => DataType::Struct(summary_fields(t)),
            _ => t.clone(),
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let Some(input) = args.input_fields.first() else {
            return plan_err!("{} takes one argument", self.name());
        };
        Ok(vec![
            Arc::new(Field::new_list(
                format_state_name(args.name, "values"),
                Field::new_list_field(input.data_type().clone(), true),
                true,
            )),
            Arc::new(Field::new_list(
                format_state_name(args.name, "counts"),
                Field::new_list_field(DataType::Int64, true),
                true,
            )),
        ])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
            && args
                .expr_fields
                .first()
                .is_some_and(|f| KeyCodec::for_type(f.data_type()).is_some())
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let Some(input) = args.expr_fields.first() else {
            return plan_err!("{} takes one argument", self.name());
        };
        let Some(codec) = KeyCodec::for_type(input.data_type()) else {
            return plan_err!(
                "{}: no grouped counting for {}",
                self.name(),
                input.data_type()
            );
        };
        Ok(Box::new(FrequencyGroups::new(
            self.kind,
            input.data_type().clone(),
            codec,
        )))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let Some(input) = args.expr_fields.first() else {
            return plan_err!("{} takes one argument", self.name());
        };
        Ok(Box::new(FrequencyAccumulator {
            kind: self.kind,
            data_type: input.data_type().clone(),
            counts: ValueCounts::new(input.data_type()),
        }))
    }
}

/// `entries` (sorted by value) as a one-row `Map<value, count>`; a null map when empty.
fn frequencies_map(data_type: &DataType, entries: Vec<(ScalarValue, i64)>) -> Result<ScalarValue> {
    if entries.is_empty() {
        return ScalarValue::try_from(&map_type(data_type));
    }
    let counts: ArrayRef = Arc::new(Int64Array::from_iter_values(
        entries.iter().map(|(_, c)| *c),
    ));
    let keys = ScalarValue::iter_to_array(entries.into_iter().map(|(k, _)| k))?;
    let struct_array =
        StructArray::try_new(map_struct_fields(data_type), vec![keys, counts], None)?;
    let len = i32::try_from(struct_array.len()).map_err(|_| {
        datafusion::error::DataFusionError::Execution(
            "frequencies: too many distinct values".into(),
        )
    })?;
    let map = MapArray::try_new(
        Arc::new(map_entries_field(data_type)),
        OffsetBuffer::new(vec![0, len].into()),
        struct_array,
        None,
        false,
    )?;
    Ok(ScalarValue::Map(Arc::new(map)))
}

#[derive(Debug)]
struct FrequencyAccumulator {
    kind: FrequencyKind,
    data_type: DataType,
    counts: ValueCounts,
}

impl Accumulator for FrequencyAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(values) = values.first() else {
            return exec_err!("{:?}: no input column", self.kind);
        };
        let values = cast(values, &self.data_type)?;
        self.counts.add(&values, None)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [values, counts] = states else {
            return exec_err!("{:?}: expected 2 state columns", self.kind);
        };
        let values: &ListArray = values.as_list();
        let counts: &ListArray = counts.as_list();
        for row in 0..values.len() {
            if values.is_null(row) || counts.is_null(row) {
                continue;
            }
            let vs = cast(&values.value(row), &self.data_type)?;
            let cs = counts.value(row);
            let cs = cs.as_primitive::<Int64Type>();
            if vs.len() != cs.len() {
                return exec_err!("{:?}: state lists differ in length", self.kind);
            }
            self.counts.add(&vs, Some(cs))?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let entries = self.counts.sorted(&self.data_type)?;
        let keys: Vec<ScalarValue> = entries.iter().map(|(k, _)| k.clone()).collect();
        let counts: Vec<ScalarValue> = entries
            .iter()
            .map(|(_, c)| ScalarValue::Int64(Some(*c)))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&keys, &self.data_type)),
            ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::Int64)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let entries = self.counts.sorted(&self.data_type)?;
        let pick = |entries: &[(ScalarValue, i64)], most: bool| -> Result<ScalarValue> {
            match pick_by_count(entries.iter().map(|(k, c)| (k, *c)), most) {
                Some(k) => Ok(k.clone()),
                None => ScalarValue::try_from(&self.data_type),
            }
        };
        match self.kind {
            FrequencyKind::MostOften => pick(&entries, true),
            FrequencyKind::LeastOften => pick(&entries, false),
            FrequencyKind::Frequencies => frequencies_map(&self.data_type, entries),
            FrequencyKind::Summary => {
                let most = pick(&entries, true)?;
                let least = pick(&entries, false)?;
                let map = frequencies_map(&self.data_type, entries)?;
                let fields = summary_fields(&self.data_type);
                let columns = vec![most.to_array()?, least.to_array()?, map.to_array()?];
                Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
                    fields, columns, None,
                )?)))
            }
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray};

    /// Merges the states of accumulators fed `parts` into a fresh one, as a final aggregation
    /// over several partitions does.
    fn merged(
        make: impl Fn() -> Box<dyn Accumulator>,
        parts: Vec<ArrayRef>,
    ) -> Result<ScalarValue> {
        let mut states: Vec<Vec<ScalarValue>> = Vec::new();
        for part in parts {
            let mut acc = make();
            acc.update_batch(&[part])?;
            states.push(acc.state()?);
        }
        let columns = (0..states[0].len())
            .map(|c| ScalarValue::iter_to_array(states.iter().map(|s| s[c].clone())))
            .collect::<Result<Vec<_>>>()?;
        let mut last = make();
        last.merge_batch(&columns)?;
        last.evaluate()
    }

    fn moments(kind: MomentKind) -> Box<dyn Accumulator> {
        Box::new(MomentsAccumulator {
            kind,
            count: 0,
            sum: 0.0,
            sum_squares: 0.0,
        })
    }

    #[test]
    fn moments_merge_across_partitions() -> Result<()> {
        let parts = || -> Vec<ArrayRef> {
            vec![
                Arc::new(Float64Array::from(vec![Some(2.0), None, Some(4.0)])),
                Arc::new(Float64Array::from(vec![None::<f64>])),
                Arc::new(Float64Array::from(vec![4.0, 4.0, 5.0, 5.0, 7.0, 9.0])),
            ]
        };
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population σ 2.
        let mean = merged(|| moments(MomentKind::Mean), parts())?;
        assert_eq!(mean, ScalarValue::Float64(Some(5.0)));
        let sd = merged(|| moments(MomentKind::StdDev), parts())?;
        assert_eq!(sd, ScalarValue::Float64(Some(2.0)));
        let sq = merged(|| moments(MomentKind::SumSquares), parts())?;
        assert_eq!(sq, ScalarValue::Float64(Some(232.0)));
        let empty = merged(
            || moments(MomentKind::StdDev),
            vec![Arc::new(Float64Array::from(vec![None::<f64>]))],
        )?;
        assert_eq!(empty, ScalarValue::Float64(None));
        Ok(())
    }

    #[test]
    fn the_summary_is_the_three_keys_from_one_table() -> Result<()> {
        let make = |kind| -> Box<dyn Accumulator> {
            Box::new(FrequencyAccumulator {
                kind,
                data_type: DataType::Float64,
                counts: ValueCounts::new(&DataType::Float64),
            })
        };
        let parts = || -> Vec<ArrayRef> {
            vec![
                Arc::new(Float64Array::from(vec![
                    Some(2.0),
                    Some(1.0),
                    None,
                    Some(2.0),
                ])),
                Arc::new(Float64Array::from(vec![3.0, 1.0, 2.0])),
            ]
        };
        let summary = merged(|| make(FrequencyKind::Summary), parts())?;
        let ScalarValue::Struct(fields) = summary else {
            panic!("not a struct: {summary:?}");
        };
        let field = |i: usize| ScalarValue::try_from_array(fields.column(i), 0);
        assert_eq!(
            field(0)?,
            merged(|| make(FrequencyKind::MostOften), parts())?
        );
        assert_eq!(field(0)?, ScalarValue::Float64(Some(2.0)));
        assert_eq!(
            field(1)?,
            merged(|| make(FrequencyKind::LeastOften), parts())?
        );
        assert_eq!(field(1)?, ScalarValue::Float64(Some(3.0)));
        assert_eq!(
            field(2)?,
            merged(|| make(FrequencyKind::Frequencies), parts())?
        );
        Ok(())
    }

    #[test]
    fn frequencies_merge_across_partitions() -> Result<()> {
        let make = |kind| -> Box<dyn Accumulator> {
            Box::new(FrequencyAccumulator {
                kind,
                data_type: DataType::Utf8,
                counts: ValueCounts::new(&DataType::Utf8),
            })
        };
        let parts = || -> Vec<ArrayRef> {
            vec![
                Arc::new(StringArray::from(vec![Some("b"), Some("c"), None])),
                Arc::new(StringArray::from(vec!["c", "b", "a"])),
            ]
        };
        // b: 2, c: 2, a: 1 → most often b (tie, smaller), least often a.
        let most = merged(|| make(FrequencyKind::MostOften), parts())?;
        assert_eq!(most, ScalarValue::Utf8(Some("b".into())));
        let least = merged(|| make(FrequencyKind::LeastOften), parts())?;
        assert_eq!(least, ScalarValue::Utf8(Some("a".into())));
        let ScalarValue::Map(map) = merged(|| make(FrequencyKind::Frequencies), parts())? else {
            panic!("frequencies returns a map");
        };
        let entries = map.entries();
        let keys: Vec<_> = entries.column(0).as_string::<i32>().iter().collect();
        let counts: Vec<_> = entries
            .column(1)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        assert_eq!(keys, vec![Some("a"), Some("b"), Some("c")]);
        assert_eq!(counts, vec![1, 2, 2]);
        Ok(())
    }
}
