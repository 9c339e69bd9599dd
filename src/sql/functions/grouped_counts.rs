//! The `GroupsAccumulator` of `most_often`, `least_often`, `frequencies` and
//! `frequency_summary` for numbers and timestamps: every group's values in one flat
//! `Vec<GroupCounts>` indexed by DataFusion's group index, each group a sorted run of
//! (value, count) pairs plus the values seen since it was last compacted.
//!
//! Why not a hash map per group: with one boxed `Accumulator` and `HashMap` per group (the
//! row-at-a-time path DataFusion falls back to), 10 M rows to 27,780 host-hours spent most of
//! its time and memory on per-group maps whose entries were nearly all distinct raw values. A
//! value appended to a `Vec<u64>` costs 8 bytes and no hashing; sorting a group's few hundred
//! values once when its answer is needed is cheaper than hashing each, and the sorted runs are
//! already in the order `frequencies` returns and `least_often`'s ties need. Groups with few
//! distinct values stay small: a group compacts its pending values into runs whenever they
//! outnumber twice its runs (amortised O(n log n), memory O(distinct + pending)).
//!
//! Values are counted as order-preserving `u64` keys: floats by the IEEE total order
//! (`f64::total_cmp`, so NaN and -0.0 count as themselves, as in the row-at-a-time path) and
//! integers, timestamps, dates and times as `i64` with the sign bit flipped. Strings and other
//! types keep the row-at-a-time path ([`super::value_counts`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, MapArray,
    StructArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{can_cast_types, cast, filter};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::accumulate::accumulate;

use super::grouped_input::{counted, single_input};
use super::value_downsamplers::{
    map_entries_field, map_struct_fields, pick_by_count, summary_fields, FrequencyKind,
};

/// Pending values a group holds before it compacts them, at least.
const COMPACT_AT: usize = 1024;

/// How values of a column become order-preserving `u64` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCodec {
    /// Counted as `Float64` (Float64 and Float32 columns).
    Float,
    /// Counted as `Int64` (integers that fit, timestamps, dates, times, durations).
    Signed,
}

const SIGN: u64 = 1 << 63;

impl KeyCodec {
    /// The codec for a column of `t`, or `None` when its values are not numbers stored as (or
    /// exactly convertible to and from) `Float64` or `Int64`.
    pub(crate) fn for_type(t: &DataType) -> Option<Self> {
        let round_trips = |via: &DataType| can_cast_types(t, via) && can_cast_types(via, t);
        match t {
            DataType::Float64 | DataType::Float32 => Some(Self::Float),
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Timestamp(_, _)
            | DataType::Date32
            | DataType::Date64
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Duration(_)
                if round_trips(&DataType::Int64) =>
            {
                Some(Self::Signed)
            }
            _ => None,
        }
    }

    /// The type values are cast to before they become keys.
    fn count_type(self) -> DataType {
        match self {
            Self::Float => DataType::Float64,
            Self::Signed => DataType::Int64,
        }
    }

    /// Calls `f(group, key)` for each value of `values` (already of [`Self::count_type`]) that
    /// is not null and passes `opt_filter`.
    fn for_each_key(
        self,
        values: &ArrayRef,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, u64) + Send,
    ) {
        match self {
            Self::Float => accumulate(
                group_indices,
                values.as_primitive::<Float64Type>(),
                opt_filter,
                |g, v| f(g, float_key(v)),
            ),
            Self::Signed => accumulate(
                group_indices,
                values.as_primitive::<Int64Type>(),
                opt_filter,
                |g, v| f(g, (v as u64) ^ SIGN),
            ),
        }
    }

    /// The keys as an array of `data_type` (nulls where `None`).
    fn array(
        self,
        keys: impl Iterator<Item = Option<u64>>,
        data_type: &DataType,
    ) -> Result<ArrayRef> {
        let counted: ArrayRef = match self {
            Self::Float => Arc::new(keys.map(|k| k.map(float_of_key)).collect::<Float64Array>()),
            Self::Signed => Arc::new(
                keys.map(|k| k.map(|k| (k ^ SIGN) as i64))
                    .collect::<Int64Array>(),
            ),
        };
        if counted.data_type() == data_type {
            Ok(counted)
        } else {
            Ok(cast(&counted, data_type)?)
        }
    }
}

/// `v`'s key: unsigned order of keys is `f64::total_cmp`'s order of values.
fn float_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits & SIGN != 0 {
        !bits
    } else {
        bits ^ SIGN
    }
}

fn float_of_key(key: u64) -> f64 {
    f64::from_bits(if key & SIGN != 0 { key ^ SIGN } else { !key })
}

/// One group's counts.
#[derive(Debug, Default)]
struct GroupCounts {
    /// Distinct keys and their counts, sorted by key.
    runs: Vec<(u64, i64)>,
    /// Keys seen once each since the last compaction, in arrival order.
    ones: Vec<u64>,
    /// (key, count) pairs from merged states since the last compaction.
    weighted: Vec<(u64, i64)>,
}

impl GroupCounts {
    fn heap_bytes(&self) -> usize {
        self.runs.capacity() * 16 + self.ones.capacity() * 8 + self.weighted.capacity() * 16
    }

    fn pending(&self) -> usize {
        self.ones.len() + self.weighted.len()
    }

    fn compact_if_large(&mut self) {
        if self.pending() > COMPACT_AT.max(2 * self.runs.len()) {
            self.compact();
        }
    }

    /// Folds the pending keys into `runs`.
    fn compact(&mut self) {
        if self.pending() == 0 {
            return;
        }
        self.ones.sort_unstable();
        self.weighted.sort_unstable_by_key(|&(k, _)| k);
        let ones = self
            .ones
            .chunk_by(|a, b| a == b)
            .map(|run| (run[0], run.len() as i64));
        let fresh = merge_runs(ones, self.weighted.iter().copied());
        let runs = std::mem::take(&mut self.runs);
        self.runs = merge_runs(runs.into_iter(), fresh.into_iter());
        self.ones.clear();
        self.weighted.clear();
    }
}

/// Two sequences of (key, count) sorted by key merged into one with each key once.
fn merge_runs(
    a: impl Iterator<Item = (u64, i64)>,
    b: impl Iterator<Item = (u64, i64)>,
) -> Vec<(u64, i64)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    let mut out: Vec<(u64, i64)> = Vec::with_capacity(a.size_hint().0 + b.size_hint().0);
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        if let Some((k, c)) = next {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 += c,
                _ => out.push((k, c)),
            }
        }
    }
    out
}

/// The frequency keys for every group of an aggregation (see the module docs).
#[derive(Debug)]
pub(crate) struct FrequencyGroups {
    kind: FrequencyKind,
    /// The argument's type: of the keys returned and of the state's value lists.
    data_type: DataType,
    codec: KeyCodec,
    groups: Vec<GroupCounts>,
    /// Heap bytes of `groups`' vectors, kept up to date so `size` is O(1).
    heap: usize,
}

impl FrequencyGroups {
    pub(crate) fn new(kind: FrequencyKind, data_type: DataType, codec: KeyCodec) -> Self {
        Self {
            kind,
            data_type,
            codec,
            groups: Vec::new(),
            heap: 0,
        }
    }

    /// The first groups `emit_to` names, compacted, and removed from `self`.
    fn take(&mut self, emit_to: EmitTo) -> Vec<GroupCounts> {
        let mut taken = emit_to.take_needed(&mut self.groups);
        let bytes: usize = taken.iter().map(GroupCounts::heap_bytes).sum();
        self.heap = self.heap.saturating_sub(bytes);
        for g in &mut taken {
            g.compact();
        }
        taken
    }

    fn grow(&mut self, total_num_groups: usize) {
        if self.groups.len() < total_num_groups {
            self.groups
                .resize_with(total_num_groups, GroupCounts::default);
        }
    }

    /// The most (or least) frequent value of each group; null for an empty group.
    fn picked(&self, groups: &[GroupCounts], most: bool) -> Result<ArrayRef> {
        let keys = groups
            .iter()
            .map(|g| pick_by_count(g.runs.iter().copied(), most));
        self.codec.array(keys, &self.data_type)
    }

    /// Offsets of each group's runs in the concatenation of all of them.
    fn offsets(groups: &[GroupCounts]) -> Result<OffsetBuffer<i32>> {
        let mut offsets = Vec::with_capacity(groups.len() + 1);
        let mut end = 0usize;
        offsets.push(0i32);
        for g in groups {
            end += g.runs.len();
            let Ok(o) = i32::try_from(end) else {
                return exec_err!(
                    "frequencies: more than {} distinct values in one batch of groups",
                    i32::MAX
                );
            };
            offsets.push(o);
        }
        Ok(OffsetBuffer::new(offsets.into()))
    }

    fn all_keys(&self, groups: &[GroupCounts]) -> Result<ArrayRef> {
        let keys = groups
            .iter()
            .flat_map(|g| g.runs.iter().map(|&(k, _)| Some(k)));
        self.codec.array(keys, &self.data_type)
    }

    fn all_counts(groups: &[GroupCounts]) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            groups.iter().flat_map(|g| g.runs.iter().map(|&(_, c)| c)),
        ))
    }

    /// Each group's `Map<value, count>` sorted by value; a null map for an empty group.
    fn maps(&self, groups: &[GroupCounts]) -> Result<ArrayRef> {
        let entries = StructArray::try_new(
            map_struct_fields(&self.data_type),
            vec![self.all_keys(groups)?, Self::all_counts(groups)],
            None,
        )?;
        let nulls = NullBuffer::from_iter(groups.iter().map(|g| !g.runs.is_empty()));
        Ok(Arc::new(MapArray::try_new(
            Arc::new(map_entries_field(&self.data_type)),
            Self::offsets(groups)?,
            entries,
            Some(nulls),
            false,
        )?))
    }

    fn list_field(data_type: &DataType) -> Arc<Field> {
        Arc::new(Field::new_list_field(data_type.clone(), true))
    }
}

impl GroupsAccumulator for FrequencyGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = single_input(values, self.kind)?;
        let values = cast(values, &self.codec.count_type())?;
        self.grow(total_num_groups);
        let (groups, heap) = (&mut self.groups, &mut self.heap);
        self.codec
            .for_each_key(&values, group_indices, opt_filter, |g, key| {
                let group = &mut groups[g];
                let before = group.heap_bytes();
                group.ones.push(key);
                group.compact_if_large();
                *heap = (*heap + group.heap_bytes()).saturating_sub(before);
            });
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        match self.kind {
            FrequencyKind::MostOften => self.picked(&groups, true),
            FrequencyKind::LeastOften => self.picked(&groups, false),
            FrequencyKind::Frequencies => self.maps(&groups),
            FrequencyKind::Summary => Ok(Arc::new(StructArray::try_new(
                summary_fields(&self.data_type),
                vec![
                    self.picked(&groups, true)?,
                    self.picked(&groups, false)?,
                    self.maps(&groups)?,
                ],
                None,
            )?)),
        }
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let offsets = Self::offsets(&groups)?;
        let values = ListArray::try_new(
            Self::list_field(&self.data_type),
            offsets.clone(),
            self.all_keys(&groups)?,
            None,
        )?;
        let counts = ListArray::try_new(
            Self::list_field(&DataType::Int64),
            offsets,
            Self::all_counts(&groups),
            None,
        )?;
        Ok(vec![Arc::new(values), Arc::new(counts)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let [keys, counts] = values else {
            return exec_err!("{:?}: expected 2 state columns", self.kind);
        };
        let (Some(keys), Some(counts)) = (keys.as_list_opt::<i32>(), counts.as_list_opt::<i32>())
        else {
            return exec_err!("{:?}: the state columns are not lists", self.kind);
        };
        let key_values = cast(keys.values(), &self.codec.count_type())?;
        let Some(count_values) = counts.values().as_primitive_opt::<Int64Type>() else {
            return exec_err!("{:?}: the state's counts are not Int64", self.kind);
        };
        let (floats, ints) = (
            key_values.as_primitive_opt::<Float64Type>(),
            key_values.as_primitive_opt::<Int64Type>(),
        );
        let key_at = |j: usize| match (floats, ints) {
            (Some(f), _) => float_key(f.value(j)),
            (None, Some(i)) => (i.value(j) as u64) ^ SIGN,
            (None, None) => 0,
        };
        let (key_offsets, count_offsets) = (keys.value_offsets(), counts.value_offsets());
        self.grow(total_num_groups);
        for (row, &g) in group_indices.iter().enumerate() {
            if keys.is_null(row) || counts.is_null(row) {
                continue;
            }
            let (start, end) = (key_offsets[row] as usize, key_offsets[row + 1] as usize);
            let count_start = count_offsets[row] as usize;
            if end - start != count_offsets[row + 1] as usize - count_start {
                return exec_err!("{:?}: state lists differ in length", self.kind);
            }
            let group = &mut self.groups[g];
            let before = group.heap_bytes();
            for (j, c) in (start..end).zip(count_start..) {
                if key_values.is_null(j) || count_values.is_null(c) {
                    continue;
                }
                group.weighted.push((key_at(j), count_values.value(c)));
            }
            group.compact_if_large();
            self.heap = (self.heap + group.heap_bytes()).saturating_sub(before);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let values = single_input(values, self.kind)?;
        let values = cast(values, &self.data_type)?;
        let kept: Vec<bool> = (0..values.len())
            .map(|i| counted(&values, opt_filter, i))
            .collect();
        // Each row its own group: a one-value list with count 1, or an empty list.
        let offsets = OffsetBuffer::<i32>::from_lengths(kept.iter().map(|&k| usize::from(k)));
        let kept_values = filter(&values, &BooleanArray::from(kept))?;
        let ones: ArrayRef = Arc::new(Int64Array::from(vec![1i64; kept_values.len()]));
        Ok(vec![
            Arc::new(ListArray::try_new(
                Self::list_field(&self.data_type),
                offsets.clone(),
                kept_values,
                None,
            )?),
            Arc::new(ListArray::try_new(
                Self::list_field(&DataType::Int64),
                offsets,
                ones,
                None,
            )?),
        ])
    }

    fn size(&self) -> usize {
        self.heap + self.groups.capacity() * std::mem::size_of::<GroupCounts>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;

    /// Four groups: many repeats of 7 values (compacted over and over while counting), 3,000
    /// distinct values, nothing, and the float edge cases (signed zeros, infinities, NaN).
    fn rows() -> Vec<(usize, Option<f64>)> {
        let mut rows = Vec::new();
        for i in 0..5000 {
            rows.push((0, Some((i * 31 % 7) as f64 - 3.0)));
            if i < 3000 {
                rows.push((1, Some(i as f64 * 0.25 - 100.0)));
            }
            if i % 11 == 0 {
                rows.push((1, None));
            }
        }
        for v in [
            0.0,
            -0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::NAN,
            -2.5,
        ] {
            rows.push((3, Some(v)));
        }
        // Interleave the groups, as rows of a scan arrive.
        rows.sort_by_key(|&(g, v)| (v.map_or(0, |v| v.to_bits()) % 13, g));
        rows
    }

    /// What each group's answers must be, counted without the code under test: values sorted
    /// by `f64::total_cmp` and equal bits counted together.
    fn expected(rows: &[(usize, Option<f64>)], groups: usize) -> Vec<Vec<(f64, i64)>> {
        (0..groups)
            .map(|g| {
                let mut vs: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.0 == g)
                    .filter_map(|r| r.1)
                    .collect();
                vs.sort_by(|a, b| a.total_cmp(b));
                let mut out: Vec<(f64, i64)> = Vec::new();
                for v in vs {
                    match out.last_mut() {
                        Some(last) if last.0.to_bits() == v.to_bits() => last.1 += 1,
                        _ => out.push((v, 1)),
                    }
                }
                out
            })
            .collect()
    }

    fn feed(acc: &mut FrequencyGroups, rows: &[(usize, Option<f64>)], groups: usize) -> Result<()> {
        for chunk in rows.chunks(997) {
            let values: ArrayRef = Arc::new(chunk.iter().map(|r| r.1).collect::<Float64Array>());
            let indices: Vec<usize> = chunk.iter().map(|r| r.0).collect();
            acc.update_batch(&[values], &indices, None, groups)?;
        }
        Ok(())
    }

    fn summary(kind: FrequencyKind) -> FrequencyGroups {
        FrequencyGroups::new(kind, DataType::Float64, KeyCodec::Float)
    }

    /// Checks a `frequency_summary` result row by row against `expected`.
    fn check(out: &ArrayRef, expected: &[Vec<(f64, i64)>]) -> Result<()> {
        let out = out.as_struct();
        assert_eq!(out.len(), expected.len());
        let most = out.column(0).as_primitive::<Float64Type>();
        let least = out.column(1).as_primitive::<Float64Type>();
        let maps = out.column(2).as_map();
        for (g, want) in expected.iter().enumerate() {
            let by_count = |most_first: bool| {
                let mut best: Option<(f64, i64)> = None;
                for &(v, c) in want {
                    let better = best.is_none_or(|(_, b)| if most_first { c > b } else { c < b });
                    if better {
                        best = Some((v, c));
                    }
                }
                best.map(|b| b.0.to_bits())
            };
            let bits = |a: &PrimitiveArrayRef| a.is_valid(g).then(|| a.value(g).to_bits());
            assert_eq!(bits(most), by_count(true), "most_often of group {g}");
            assert_eq!(bits(least), by_count(false), "least_often of group {g}");
            if want.is_empty() {
                assert!(maps.is_null(g), "an empty group's map is null");
                continue;
            }
            let entries = maps.value(g);
            let keys = entries.column(0).as_primitive::<Float64Type>();
            let counts = entries.column(1).as_primitive::<Int64Type>();
            let got: Vec<(u64, i64)> = (0..keys.len())
                .map(|i| (keys.value(i).to_bits(), counts.value(i)))
                .collect();
            let want: Vec<(u64, i64)> = want.iter().map(|&(v, c)| (v.to_bits(), c)).collect();
            assert_eq!(got, want, "frequencies of group {g}");
        }
        Ok(())
    }

    type PrimitiveArrayRef = datafusion::arrow::array::PrimitiveArray<Float64Type>;

    #[test]
    fn one_phase_counts_match_a_reference() -> Result<()> {
        let rows = rows();
        let mut acc = summary(FrequencyKind::Summary);
        feed(&mut acc, &rows, 4)?;
        // 5,000 values of 7 kinds compact as they come: the group holds at most the pending
        // threshold, not every value.
        assert!(
            acc.groups[0].pending() <= COMPACT_AT,
            "{}",
            acc.groups[0].pending()
        );
        assert!(
            acc.size() >= 3000 * 8,
            "size counts group 1's 3,000 distinct values"
        );
        check(&acc.evaluate(EmitTo::All)?, &expected(&rows, 4))?;
        assert_eq!(acc.size(), 0, "evaluating all groups releases them");
        Ok(())
    }

    #[test]
    fn partial_states_merge_and_emit_in_parts() -> Result<()> {
        let rows = rows();
        // Two partitions, each seeing every group under other local group numbers.
        let (a, b): (Vec<_>, Vec<_>) = rows.iter().enumerate().partition(|(i, _)| i % 3 == 0);
        let local = |part: Vec<(usize, &(usize, Option<f64>))>, map: [usize; 4]| {
            part.into_iter()
                .map(|(_, &(g, v))| (map[g], v))
                .collect::<Vec<_>>()
        };
        let parts = [
            (local(a, [2, 0, 3, 1]), [2, 0, 3, 1]),
            (local(b, [0, 1, 2, 3]), [0, 1, 2, 3]),
        ];
        let mut last = summary(FrequencyKind::Summary);
        for (part, map) in parts {
            let mut acc = summary(FrequencyKind::Summary);
            feed(&mut acc, &part, 4)?;
            let state = acc.state(EmitTo::All)?;
            // Final group of local group l is the original group g with map[g] == l.
            let to_final: Vec<usize> = (0..4)
                .map(|l| map.iter().position(|&m| m == l).unwrap_or(0))
                .collect();
            last.merge_batch(&state, &to_final, 4)?;
        }
        let want = expected(&rows, 4);
        check(&last.evaluate(EmitTo::First(2))?, &want[..2])?;
        check(&last.evaluate(EmitTo::All)?, &want[2..])?;
        Ok(())
    }

    #[test]
    fn converted_rows_filters_and_integer_keys() -> Result<()> {
        // Integers (and so timestamps) through the signed codec, one row per group.
        let values: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(-5),
            None,
            Some(i64::MIN),
            Some(7),
        ]));
        let filter = BooleanArray::from(vec![Some(true), Some(true), Some(true), Some(false)]);
        let acc = FrequencyGroups::new(FrequencyKind::MostOften, DataType::Int64, KeyCodec::Signed);
        let state = acc.convert_to_state(std::slice::from_ref(&values), Some(&filter))?;
        let mut last =
            FrequencyGroups::new(FrequencyKind::MostOften, DataType::Int64, KeyCodec::Signed);
        // Rows 0 and 2 land in group 0, rows 1 and 3 in group 1.
        last.merge_batch(&state, &[0, 1, 0, 1], 2)?;
        last.update_batch(&[values], &[0, 0, 1, 1], Some(&filter), 2)?;
        let out = last.evaluate(EmitTo::All)?;
        let out = out.as_primitive::<Int64Type>();
        // Group 0: -5 twice, i64::MIN once; group 1: i64::MIN once (7 filtered out).
        assert_eq!(out.value(0), -5);
        assert_eq!(out.value(1), i64::MIN);
        Ok(())
    }
}
