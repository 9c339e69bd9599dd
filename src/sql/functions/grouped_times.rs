//! The `GroupsAccumulator` of `time_first`, `time_last` and `time_mean`: min, max, Σ and count
//! of every group's timestamps in flat vectors indexed by DataFusion's group index, with the
//! same state columns as the row-at-a-time accumulator (min, max, Σ as Decimal128(38, 0), count).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Int64Array, PrimitiveArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::accumulate::accumulate;

use super::grouped_input::{counted, single_input};
use super::time_downsamplers::{truncated_mean, TimeKind};

/// Min, max, sum and count of timestamps (in the column's unit) per group.
#[derive(Debug)]
pub(crate) struct TimeGroups {
    kind: TimeKind,
    /// The argument's timestamp type, which is also the result's.
    data_type: DataType,
    min: Vec<i64>,
    max: Vec<i64>,
    sum: Vec<i128>,
    count: Vec<i64>,
}

struct Taken {
    min: Vec<i64>,
    max: Vec<i64>,
    sum: Vec<i128>,
    count: Vec<i64>,
}

impl Taken {
    /// `values[i]` where group i has timestamps, null elsewhere.
    fn where_counted(&self, values: &[i64]) -> Int64Array {
        values
            .iter()
            .zip(&self.count)
            .map(|(&v, &n)| (n > 0).then_some(v))
            .collect()
    }
}

impl TimeGroups {
    pub(crate) fn new(kind: TimeKind, data_type: DataType) -> Self {
        Self {
            kind,
            data_type,
            min: Vec::new(),
            max: Vec::new(),
            sum: Vec::new(),
            count: Vec::new(),
        }
    }

    fn grow(&mut self, total_num_groups: usize) {
        if self.count.len() < total_num_groups {
            self.min.resize(total_num_groups, i64::MAX);
            self.max.resize(total_num_groups, i64::MIN);
            self.sum.resize(total_num_groups, 0);
            self.count.resize(total_num_groups, 0);
        }
    }

    fn add(&mut self, g: usize, min: i64, max: i64, sum: i128, count: i64) {
        self.min[g] = self.min[g].min(min);
        self.max[g] = self.max[g].max(max);
        self.sum[g] += sum;
        self.count[g] += count;
    }

    fn take(&mut self, emit_to: EmitTo) -> Taken {
        Taken {
            min: emit_to.take_needed(&mut self.min),
            max: emit_to.take_needed(&mut self.max),
            sum: emit_to.take_needed(&mut self.sum),
            count: emit_to.take_needed(&mut self.count),
        }
    }
}

fn decimal_sums(sums: impl IntoIterator<Item = i128>) -> Result<Decimal128Array> {
    Ok(PrimitiveArray::<Decimal128Type>::from_iter_values(sums).with_precision_and_scale(38, 0)?)
}

impl GroupsAccumulator for TimeGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = single_input(values, self.kind)?;
        let values = cast(values, &DataType::Int64)?;
        self.grow(total_num_groups);
        let (min, max, sum, count) = (&mut self.min, &mut self.max, &mut self.sum, &mut self.count);
        accumulate(
            group_indices,
            values.as_primitive::<Int64Type>(),
            opt_filter,
            |g, v| {
                min[g] = min[g].min(v);
                max[g] = max[g].max(v);
                sum[g] += i128::from(v);
                count[g] += 1;
            },
        );
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to);
        let units: Int64Array = match self.kind {
            TimeKind::First => taken.where_counted(&taken.min),
            TimeKind::Last => taken.where_counted(&taken.max),
            TimeKind::Mean => taken
                .sum
                .iter()
                .zip(&taken.count)
                .map(|(&s, &n)| truncated_mean(&self.data_type, s, n))
                .collect::<Result<Vec<Option<i64>>>>()?
                .into(),
        };
        Ok(cast(&units, &self.data_type)?)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        Ok(vec![
            Arc::new(taken.where_counted(&taken.min)),
            Arc::new(taken.where_counted(&taken.max)),
            Arc::new(decimal_sums(taken.sum.iter().copied())?),
            Arc::new(Int64Array::from(taken.count)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let [min, max, sum, count] = values else {
            return exec_err!("{:?}: expected 4 state columns", self.kind);
        };
        let (Some(min), Some(max), Some(sum), Some(count)) = (
            min.as_primitive_opt::<Int64Type>(),
            max.as_primitive_opt::<Int64Type>(),
            sum.as_primitive_opt::<Decimal128Type>(),
            count.as_primitive_opt::<Int64Type>(),
        ) else {
            return exec_err!("{:?}: the state columns have the wrong types", self.kind);
        };
        self.grow(total_num_groups);
        for (row, &g) in group_indices.iter().enumerate() {
            let counted = count.is_valid(row) && count.value(row) > 0;
            if counted && min.is_valid(row) && max.is_valid(row) {
                let s = if sum.is_valid(row) { sum.value(row) } else { 0 };
                self.add(g, min.value(row), max.value(row), s, count.value(row));
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let values = single_input(values, self.kind)?;
        let values = cast(values, &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        let kept = |i: usize| counted(values, opt_filter, i);
        let n = values.len();
        let instants: Int64Array = (0..n).map(|i| kept(i).then(|| values.value(i))).collect();
        let sums = (0..n).map(|i| {
            if kept(i) {
                i128::from(values.value(i))
            } else {
                0
            }
        });
        let count: Int64Array = (0..n)
            .map(|i| i64::from(kept(i)))
            .collect::<Vec<_>>()
            .into();
        Ok(vec![
            Arc::new(instants.clone()),
            Arc::new(instants),
            Arc::new(decimal_sums(sums)?),
            Arc::new(count),
        ])
    }

    fn size(&self) -> usize {
        (self.min.capacity() + self.max.capacity() + self.count.capacity()) * 8
            + self.sum.capacity() * 16
    }
}
