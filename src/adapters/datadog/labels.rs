//! String and tag-list columns built from runs of equal rows. A series' labels (name, query,
//! scope, group tags, unit) repeat on every one of its rows, so they are appended as
//! (value, rows) runs: the value's bytes are copied once and doubled up to the run's length,
//! and the offsets are an arithmetic sequence. arrow's `StringBuilder::append_value_n` copies
//! and checks an offset row by row, which was a quarter of the v2 parser's time; the columns
//! stay plain `Utf8` and `List<Utf8>`, so no table's schema changes.

use std::sync::Arc;

use datafusion::arrow::array::builder::NullBufferBuilder;
use datafusion::arrow::array::{ListArray, StringArray};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::FieldRef;

/// The most bytes (and list items) an `i32`-offset column holds.
const MAX_OFFSET: usize = i32::MAX as usize;

/// Appends `n` copies of `bytes` to `out` with a few doubling copies.
fn repeat_into(out: &mut Vec<u8>, bytes: &[u8], n: usize) {
    let total = bytes.len() * n;
    if total == 0 {
        return;
    }
    let start = out.len();
    out.reserve(total);
    out.extend_from_slice(bytes);
    while out.len() - start < total {
        let done = out.len() - start;
        out.extend_from_within(start..start + done.min(total - done));
    }
}

/// `n` offsets after `base`, `step` apart (the caller checked the last fits an i32).
fn push_offsets(offsets: &mut Vec<i32>, base: usize, step: usize, n: usize) {
    offsets.extend((1..=n).map(|i| (base + i * step) as i32));
}

/// Offsets built by [`push_offsets`] and [`RunTags::push_n`], which only ever append an offset
/// at or past the last one, starting from 0.
fn offset_buffer(offsets: Vec<i32>) -> OffsetBuffer<i32> {
    // Tests check what `OffsetBuffer::new` checks; checked on every parse it was a fourteenth
    // of the v2 parser's instructions (callgrind, simulator body).
    #[cfg(test)]
    OffsetBuffer::new(ScalarBuffer::from(offsets.clone()));
    // SAFETY: non-empty (the builders start with 0), non-negative and non-decreasing: every
    // offset is the end of bytes or items appended after those of the offset before it; the
    // builders refuse (`overflow`) what would not fit an i32.
    unsafe { OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)) }
}

/// A string array from offsets and bytes built by [`RunStrings`] or [`RunTags`].
fn string_array(offsets: Vec<i32>, values: Vec<u8>, nulls: Option<NullBuffer>) -> StringArray {
    let offsets = offset_buffer(offsets);
    // Tests compare every array to the one `StringBuilder` makes; this checks the invariants.
    #[cfg(test)]
    StringArray::try_new(offsets.clone(), Buffer::from(values.clone()), nulls.clone())
        .expect("valid UTF-8 at every offset");
    // SAFETY: the bytes are whole `&str` values copied end to end (doubling copies repeat
    // whole values), and every offset is the end of one of them, so each slice between two
    // offsets is valid UTF-8; the offsets are valid (`offset_buffer`), and the last is the
    // length of `values`. `try_new` would check the UTF-8 again: it was an eighth of the v2
    // parser's instructions.
    unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), nulls) }
}

/// A nullable `Utf8` column appended in runs.
#[derive(Debug)]
pub(super) struct RunStrings {
    offsets: Vec<i32>,
    values: Vec<u8>,
    nulls: NullBufferBuilder,
    /// More than 2 GiB of text: `finish` reports it instead of wrapping an offset.
    overflow: bool,
}

impl RunStrings {
    /// Room for `rows` rows and `bytes` bytes of text.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            offsets,
            values: Vec::with_capacity(bytes),
            nulls: NullBufferBuilder::new(rows),
            overflow: false,
        }
    }

    /// `n` rows of `value`.
    pub fn push_n(&mut self, value: &str, n: usize) {
        let base = self.values.len();
        match value.len().checked_mul(n).and_then(|b| b.checked_add(base)) {
            Some(end) if end <= MAX_OFFSET => {}
            _ => {
                self.overflow = true;
                return;
            }
        }
        repeat_into(&mut self.values, value.as_bytes(), n);
        push_offsets(&mut self.offsets, base, value.len(), n);
        self.nulls.append_n_non_nulls(n);
    }

    /// `n` rows of `value`, or `n` nulls.
    pub fn push_option_n(&mut self, value: Option<&str>, n: usize) {
        match value {
            Some(v) => self.push_n(v, n),
            None => {
                push_offsets(&mut self.offsets, self.values.len(), 0, n);
                self.nulls.append_n_nulls(n);
            }
        }
    }

    /// The column.
    pub fn finish(mut self) -> Result<StringArray, String> {
        if self.overflow {
            return Err("a label column holds more than 2 GiB of text".into());
        }
        Ok(string_array(self.offsets, self.values, self.nulls.finish()))
    }
}

/// A non-null `List<Utf8>` column (`group_tags`) appended in runs of rows with the same tags.
#[derive(Debug)]
pub(super) struct RunTags {
    item: FieldRef,
    list_offsets: Vec<i32>,
    item_offsets: Vec<i32>,
    values: Vec<u8>,
    /// Ends of each tag within one row's bytes, reused between runs.
    ends: Vec<usize>,
    row: Vec<u8>,
    overflow: bool,
}

impl RunTags {
    /// Room for `rows` rows; `item` is the list's item field.
    pub fn with_capacity(item: FieldRef, rows: usize) -> Self {
        let mut list_offsets = Vec::with_capacity(rows + 1);
        list_offsets.push(0);
        Self {
            item,
            list_offsets,
            item_offsets: vec![0],
            values: Vec::new(),
            ends: Vec::new(),
            row: Vec::new(),
            overflow: false,
        }
    }

    /// `n` rows whose list is `tags`.
    pub fn push_n(&mut self, tags: &[String], n: usize) {
        self.row.clear();
        self.ends.clear();
        for tag in tags {
            self.row.extend_from_slice(tag.as_bytes());
            self.ends.push(self.row.len());
        }
        let items = self.item_offsets.len() - 1;
        let base = self.values.len();
        let fits = |start: usize, per_row: usize| {
            per_row
                .checked_mul(n)
                .and_then(|b| b.checked_add(start))
                .is_some_and(|end| end <= MAX_OFFSET)
        };
        if !fits(base, self.row.len()) || !fits(items, tags.len()) {
            self.overflow = true;
            return;
        }
        repeat_into(&mut self.values, &self.row, n);
        match self.ends.as_slice() {
            [] => {}
            // One tag a row (`host:web-1`), the usual case: an arithmetic sequence, which the
            // compiler vectorises (the general loop below was an eighth of the v2 parser).
            [_] => push_offsets(&mut self.item_offsets, base, self.row.len(), n),
            ends => {
                self.item_offsets.reserve(n * ends.len());
                for r in 0..n {
                    let row_start = base + r * self.row.len();
                    self.item_offsets
                        .extend(ends.iter().map(|end| (row_start + end) as i32));
                }
            }
        }
        push_offsets(&mut self.list_offsets, items, tags.len(), n);
    }

    /// The column.
    pub fn finish(self) -> Result<ListArray, String> {
        if self.overflow {
            return Err("the group_tags column holds more than 2 GiB of tags".into());
        }
        let items = string_array(self.item_offsets, self.values, None);
        ListArray::try_new(
            self.item,
            offset_buffer(self.list_offsets),
            Arc::new(items),
            None,
        )
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field};

    #[test]
    fn runs_equal_row_by_row_appends() {
        let runs: [(Option<&str>, usize); 7] = [
            (Some("avg:system.cpu.user{*} by {host}"), 5),
            (None, 3),
            (Some(""), 4),
            (Some("é✓"), 1),
            (Some("x"), 0),
            (None, 0),
            (Some("host:web-1"), 300),
        ];
        let mut ours = RunStrings::with_capacity(2, 2);
        let mut arrow = StringBuilder::new();
        for (value, n) in runs {
            ours.push_option_n(value, n);
            for _ in 0..n {
                arrow.append_option(value);
            }
        }
        assert_eq!(ours.finish().unwrap(), arrow.finish());
    }

    #[test]
    fn tag_runs_equal_row_by_row_appends() {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let tag = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let runs = [
            (tag(&["host:a", "env:prod"]), 3),
            (tag(&[]), 2),
            (tag(&["host:b"]), 0),
            (tag(&["", "host:c"]), 2),
            (tag(&["host:d"]), 257),
        ];
        let mut ours = RunTags::with_capacity(Arc::clone(&item), 1);
        let mut arrow = ListBuilder::new(StringBuilder::new()).with_field(item);
        for (tags, n) in &runs {
            ours.push_n(tags, *n);
            for _ in 0..*n {
                for t in tags {
                    arrow.values().append_value(t);
                }
                arrow.append(true);
            }
        }
        let ours = ours.finish().unwrap();
        assert_eq!(ours, arrow.finish());
        assert_eq!(ours.len(), 264);
        assert_eq!(ours.value(3).as_string::<i32>().len(), 0);
    }
}
