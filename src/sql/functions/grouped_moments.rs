//! The `GroupsAccumulator` of `mean`, `sum_squares` and `std_dev`: count, Σx and Σx² of every
//! group in three flat vectors indexed by DataFusion's group index, instead of one boxed
//! row-at-a-time accumulator per group (DataFusion's fallback for UDAFs without one).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::accumulate::accumulate;

use super::grouped_input::{counted, single_input};
use super::value_downsamplers::MomentKind;

/// Count, sum and sum of squares per group.
#[derive(Debug)]
pub(crate) struct MomentGroups {
    kind: MomentKind,
    count: Vec<i64>,
    sum: Vec<f64>,
    sum_squares: Vec<f64>,
}

impl MomentGroups {
    pub(crate) fn new(kind: MomentKind) -> Self {
        Self {
            kind,
            count: Vec::new(),
            sum: Vec::new(),
            sum_squares: Vec::new(),
        }
    }

    fn grow(&mut self, total_num_groups: usize) {
        if self.count.len() < total_num_groups {
            self.count.resize(total_num_groups, 0);
            self.sum.resize(total_num_groups, 0.0);
            self.sum_squares.resize(total_num_groups, 0.0);
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> (Vec<i64>, Vec<f64>, Vec<f64>) {
        (
            emit_to.take_needed(&mut self.count),
            emit_to.take_needed(&mut self.sum),
            emit_to.take_needed(&mut self.sum_squares),
        )
    }
}

fn floats(values: &ArrayRef) -> Result<ArrayRef> {
    Ok(cast(values, &DataType::Float64)?)
}

impl GroupsAccumulator for MomentGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = single_input(values, self.kind)?;
        let values = floats(values)?;
        self.grow(total_num_groups);
        let (count, sum, sum_squares) = (&mut self.count, &mut self.sum, &mut self.sum_squares);
        accumulate(
            group_indices,
            values.as_primitive::<Float64Type>(),
            opt_filter,
            |g, v| {
                count[g] += 1;
                sum[g] += v;
                sum_squares[g] += v * v;
            },
        );
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (count, sum, sum_squares) = self.take(emit_to);
        let out: Float64Array = count
            .iter()
            .zip(&sum)
            .zip(&sum_squares)
            .map(|((&n, &s), &q)| self.kind.of(n, s, q))
            .collect();
        Ok(Arc::new(out))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (count, sum, sum_squares) = self.take(emit_to);
        Ok(vec![
            Arc::new(Int64Array::from(count)),
            Arc::new(Float64Array::from(sum)),
            Arc::new(Float64Array::from(sum_squares)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let [count, sum, sum_squares] = values else {
            return exec_err!("{:?}: expected 3 state columns", self.kind);
        };
        let (Some(count), Some(sum), Some(sum_squares)) = (
            count.as_primitive_opt::<Int64Type>(),
            sum.as_primitive_opt::<Float64Type>(),
            sum_squares.as_primitive_opt::<Float64Type>(),
        ) else {
            return exec_err!("{:?}: the state columns have the wrong types", self.kind);
        };
        self.grow(total_num_groups);
        for (row, &g) in group_indices.iter().enumerate() {
            if count.is_null(row) {
                continue;
            }
            self.count[g] += count.value(row);
            if sum.is_valid(row) {
                self.sum[g] += sum.value(row);
            }
            if sum_squares.is_valid(row) {
                self.sum_squares[g] += sum_squares.value(row);
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
        let values = floats(values)?;
        let values = values.as_primitive::<Float64Type>();
        let kept = |i: usize| counted(values, opt_filter, i);
        let n = values.len();
        let count: Int64Array = (0..n)
            .map(|i| i64::from(kept(i)))
            .collect::<Vec<_>>()
            .into();
        let value = |i: usize| if kept(i) { values.value(i) } else { 0.0 };
        let sum: Float64Array = (0..n).map(value).collect::<Vec<_>>().into();
        let sum_squares: Float64Array = (0..n)
            .map(|i| value(i) * value(i))
            .collect::<Vec<_>>()
            .into();
        Ok(vec![Arc::new(count), Arc::new(sum), Arc::new(sum_squares)])
    }

    fn size(&self) -> usize {
        self.count.capacity() * 8 + self.sum.capacity() * 8 + self.sum_squares.capacity() * 8
    }
}
