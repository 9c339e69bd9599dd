//! What the `GroupsAccumulator`s of this folder (`grouped_*.rs`) share about their input: the
//! one argument column, and which of its rows count (non-null and passing the FILTER clause).

use std::fmt::Debug;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::common::{exec_err, Result};

/// The single argument column of an aggregate `what`.
pub(super) fn single_input(values: &[ArrayRef], what: impl Debug) -> Result<&ArrayRef> {
    match values.first() {
        Some(v) => Ok(v),
        None => exec_err!("{what:?}: no input column"),
    }
}

/// Whether row `i` of `values` is counted: not null, and kept by `opt_filter` if there is one.
pub(super) fn counted(values: &dyn Array, opt_filter: Option<&BooleanArray>, i: usize) -> bool {
    values.is_valid(i) && opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}
