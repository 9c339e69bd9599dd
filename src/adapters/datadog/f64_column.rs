//! A nullable `Float64` column appended value by value. arrow's `Float64Builder::append_option`
//! is an out-of-line call per value (a twentieth of the v2 parser's instructions on a
//! simulator body, by callgrind); this pushes onto a `Vec` inline, and keeps no validity bitmap
//! until the first null, as arrow's `NullBufferBuilder` does.

use datafusion::arrow::array::builder::NullBufferBuilder;
use datafusion::arrow::array::Float64Array;

#[derive(Debug)]
pub(super) struct F64Column {
    values: Vec<f64>,
    nulls: NullBufferBuilder,
}

impl F64Column {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            values: Vec::with_capacity(rows),
            nulls: NullBufferBuilder::new(rows),
        }
    }

    /// One value, or a null.
    #[inline(always)]
    pub fn push(&mut self, value: Option<f64>) {
        match value {
            Some(v) => {
                self.values.push(v);
                self.nulls.append_non_null();
            }
            None => {
                self.values.push(0.0);
                self.nulls.append_null();
            }
        }
    }

    /// Room for `more` values without reallocating.
    pub fn reserve(&mut self, more: usize) {
        self.values.reserve(more);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn finish(mut self) -> Float64Array {
        Float64Array::new(self.values.into(), self.nulls.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Builder;

    #[test]
    fn equals_arrow_s_builder() {
        for values in [
            vec![Some(1.5), None, Some(-0.0), None, Some(f64::MAX)],
            vec![Some(2.0); 70],
            vec![None; 3],
            vec![],
        ] {
            let mut ours = F64Column::with_capacity(1);
            let mut arrow = Float64Builder::new();
            for v in &values {
                ours.push(*v);
                arrow.append_option(*v);
            }
            assert_eq!(ours.len(), values.len());
            assert_eq!(ours.finish(), arrow.finish());
        }
    }
}
