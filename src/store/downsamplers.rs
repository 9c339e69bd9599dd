//! Value and time downsamplers: their names and keys, the stored set of a stream (with `count`
//! and the dependencies added), and the accumulator that turns the points of one bucket into a
//! downsampled datapoint ([`Bucket`]) with datastream's maths (mongodb.py:175-565). The
//! variance and the most/least-often pick are the SQL aggregates' own code
//! ([`crate::sql::functions::value_downsamplers`]).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::sql::functions::value_downsamplers::{pick_by_count, population_variance};

use super::error::StoreError;
use super::granularity::Granularity;
use super::value::{number, RawValue, ValueType};

/// A value downsampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueDownsampler {
    /// `count` (`c`): non-null values.
    Count,
    /// `sum` (`s`).
    Sum,
    /// `sum_squares` (`q`).
    SumSquares,
    /// `min` (`l`).
    Min,
    /// `max` (`u`).
    Max,
    /// `mean` (`m`), from sum and count.
    Mean,
    /// `std_dev` (`d`), population σ from count, sum and sum of squares.
    StdDev,
    /// `most_often` (`o`), from the frequencies (ties: the smallest value).
    MostOften,
    /// `least_often` (`r`), from the frequencies (ties: the smallest value).
    LeastOften,
    /// `frequencies` (`f`): value → count.
    Frequencies,
}

impl ValueDownsampler {
    /// Every implemented value downsampler, in key order of the output.
    pub const ALL: [ValueDownsampler; 10] = [
        ValueDownsampler::Count,
        ValueDownsampler::Sum,
        ValueDownsampler::SumSquares,
        ValueDownsampler::Min,
        ValueDownsampler::Max,
        ValueDownsampler::Mean,
        ValueDownsampler::StdDev,
        ValueDownsampler::MostOften,
        ValueDownsampler::LeastOften,
        ValueDownsampler::Frequencies,
    ];

    /// Upstream's seven (its MongoDB backend's set): the first seven of [`Self::ALL`].
    pub fn upstream_seven() -> impl Iterator<Item = &'static str> {
        Self::ALL[..7].iter().map(|d| d.name())
    }

    /// The upstream name.
    pub fn name(self) -> &'static str {
        match self {
            ValueDownsampler::Count => "count",
            ValueDownsampler::Sum => "sum",
            ValueDownsampler::SumSquares => "sum_squares",
            ValueDownsampler::Min => "min",
            ValueDownsampler::Max => "max",
            ValueDownsampler::Mean => "mean",
            ValueDownsampler::StdDev => "std_dev",
            ValueDownsampler::MostOften => "most_often",
            ValueDownsampler::LeastOften => "least_often",
            ValueDownsampler::Frequencies => "frequencies",
        }
    }

    /// The one-letter key of downsampled datapoints.
    pub fn key(self) -> &'static str {
        match self {
            ValueDownsampler::Count => "c",
            ValueDownsampler::Sum => "s",
            ValueDownsampler::SumSquares => "q",
            ValueDownsampler::Min => "l",
            ValueDownsampler::Max => "u",
            ValueDownsampler::Mean => "m",
            ValueDownsampler::StdDev => "d",
            ValueDownsampler::MostOften => "o",
            ValueDownsampler::LeastOften => "r",
            ValueDownsampler::Frequencies => "f",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// Which value types it accepts: count all; most_often, least_often, frequencies numeric and
    /// nominal (an extension: upstream names them but never implemented them); the rest numeric.
    fn supports(self, value_type: ValueType) -> bool {
        match self {
            ValueDownsampler::Count => true,
            ValueDownsampler::MostOften
            | ValueDownsampler::LeastOften
            | ValueDownsampler::Frequencies => value_type != ValueType::Graph,
            _ => value_type == ValueType::Numeric,
        }
    }

    /// What must be stored along with it.
    fn dependencies(self) -> &'static [ValueDownsampler] {
        match self {
            ValueDownsampler::Mean => &[ValueDownsampler::Sum, ValueDownsampler::Count],
            ValueDownsampler::StdDev => &[
                ValueDownsampler::Sum,
                ValueDownsampler::Count,
                ValueDownsampler::SumSquares,
            ],
            // The frequencies are what cascades to coarser buckets.
            ValueDownsampler::MostOften | ValueDownsampler::LeastOften => {
                &[ValueDownsampler::Frequencies]
            }
            _ => &[],
        }
    }

    /// Looks a name up; `median` (named upstream, implemented nowhere) and unknown names are
    /// `UnsupportedDownsampler`.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        if let Some(d) = Self::ALL.iter().find(|d| d.name() == name) {
            return Ok(*d);
        }
        let names = Self::ALL.map(|d| d.name()).join(", ");
        Err(StoreError::UnsupportedDownsampler(if name == "median" {
            format!("value downsampler 'median' is not implemented (datastream names it but no backend computes it); use one of {names}")
        } else {
            format!("unknown value downsampler '{name}'; use one of {names}")
        }))
    }
}

/// A set of value downsamplers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DownsamplerSet(u16);

impl DownsamplerSet {
    /// Whether `d` is in the set.
    pub fn contains(self, d: ValueDownsampler) -> bool {
        self.0 & d.bit() != 0
    }

    /// Whether the set is empty (the stream is never downsampled).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn insert(&mut self, d: ValueDownsampler) {
        self.0 |= d.bit();
    }

    /// The members in output order.
    pub fn iter(self) -> impl Iterator<Item = ValueDownsampler> {
        ValueDownsampler::ALL
            .into_iter()
            .filter(move |d| self.contains(d.to_owned()))
    }

    /// The names of the members.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(ValueDownsampler::name).collect()
    }

    /// The set a new stream stores for `requested`: `count` whenever it is not empty, plus the
    /// dependencies (`mean` → sum, count; `std_dev` → sum, count, sum_squares; most/least often
    /// → frequencies); each must support `value_type`.
    pub(crate) fn stored(requested: &[String], value_type: ValueType) -> Result<Self, StoreError> {
        let mut set = DownsamplerSet::default();
        for name in requested {
            set.insert(ValueDownsampler::parse(name)?);
        }
        if !set.is_empty() {
            set.insert(ValueDownsampler::Count);
        }
        for d in set.iter().collect::<Vec<_>>() {
            for dep in d.dependencies() {
                set.insert(*dep);
            }
        }
        if let Some(d) = set.iter().find(|d| !d.supports(value_type)) {
            return Err(StoreError::UnsupportedDownsampler(format!(
                "value downsampler '{}' does not support value type '{value_type}'; {} streams can use {}",
                d.name(),
                value_type,
                ValueDownsampler::ALL
                    .iter()
                    .filter(|x| x.supports(value_type))
                    .map(|x| x.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(set)
    }

    /// Parses names of a `get_data` selection; unknown names are `UnsupportedDownsampler`.
    pub(crate) fn parse_selection(names: &[String]) -> Result<Self, StoreError> {
        let mut set = DownsamplerSet::default();
        for name in names {
            set.insert(ValueDownsampler::parse(name)?);
        }
        Ok(set)
    }

    /// Members of both sets.
    pub(crate) fn intersect(self, other: DownsamplerSet) -> DownsamplerSet {
        DownsamplerSet(self.0 & other.0)
    }

    /// The raw bits, for storage.
    pub(crate) fn bits(self) -> u16 {
        self.0
    }

    /// From stored bits.
    pub(crate) fn from_bits(bits: u16) -> Self {
        DownsamplerSet(bits & ((1 << ValueDownsampler::ALL.len()) - 1))
    }

    /// Checks a pre-downsampled dict appended to a numeric stream: every stored key present, no
    /// other key, numbers or nulls (frequencies: a list of `[value, count]` pairs).
    pub(crate) fn check_downsampled_dict(
        self,
        dict: &Map<String, Value>,
        stream: &str,
    ) -> Result<(), StoreError> {
        for d in self.iter() {
            let Some(v) = dict.get(d.key()) else {
                return Err(StoreError::InvalidArgument(format!(
                    "stream '{stream}': the downsampled datapoint lacks key '{}' for downsampler '{}'; give every stored downsampler ({})",
                    d.key(),
                    d.name(),
                    self.iter().map(|d| d.key()).collect::<Vec<_>>().join(", ")
                )));
            };
            let ok = match d {
                ValueDownsampler::Frequencies => v.is_null() || parse_frequencies(v).is_some(),
                _ => v.is_null() || v.is_number(),
            };
            if !ok {
                return Err(StoreError::InvalidArgument(format!(
                    "stream '{stream}': downsampled key '{}' must be {}",
                    d.key(),
                    if d == ValueDownsampler::Frequencies {
                        "a list of [value, count] pairs or null"
                    } else {
                        "a number or null"
                    }
                )));
            }
        }
        if let Some(k) = dict
            .keys()
            .find(|k| !self.iter().any(|d| d.key() == k.as_str()))
        {
            return Err(StoreError::InvalidArgument(format!(
                "stream '{stream}': unknown downsampled datapoint key '{k}'; the stream stores {}",
                self.iter().map(|d| d.key()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(())
    }
}

/// A time downsampler: all three are always computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeDownsampler {
    /// `mean` (`m`).
    Mean,
    /// `first` (`a`).
    First,
    /// `last` (`z`).
    Last,
}

impl TimeDownsampler {
    /// All three, in the order `get_tags` reports them.
    pub const ALL: [TimeDownsampler; 3] = [
        TimeDownsampler::Mean,
        TimeDownsampler::First,
        TimeDownsampler::Last,
    ];

    /// The upstream name.
    pub fn name(self) -> &'static str {
        match self {
            TimeDownsampler::Mean => "mean",
            TimeDownsampler::First => "first",
            TimeDownsampler::Last => "last",
        }
    }

    /// The one-letter key.
    pub fn key(self) -> &'static str {
        match self {
            TimeDownsampler::Mean => "m",
            TimeDownsampler::First => "a",
            TimeDownsampler::Last => "z",
        }
    }

    /// Looks a name up; the `intervals_*` names (never implemented upstream) and unknown ones are
    /// `UnsupportedDownsampler`.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        Self::ALL
            .iter()
            .copied()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                StoreError::UnsupportedDownsampler(format!(
                    "time downsampler '{name}' is not supported; use mean, first or last"
                ))
            })
    }
}

/// A downsampled datapoint: the bucket start and every key (unstored keys stay `None`).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Bucket {
    pub ts: i64,
    pub count: Option<i64>,
    pub sum: Option<f64>,
    pub sum_squares: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub std_dev: Option<f64>,
    pub most_often: Option<Value>,
    pub least_often: Option<Value>,
    pub frequencies: Option<Vec<(Value, i64)>>,
    pub time_first: i64,
    pub time_mean: i64,
    pub time_last: i64,
}

impl Bucket {
    /// The `v` dict of the keys in `keys`.
    pub(crate) fn values_json(&self, keys: DownsamplerSet) -> Map<String, Value> {
        let mut v = Map::new();
        let opt = |x: Option<f64>| x.map_or(Value::Null, number);
        for d in keys.iter() {
            let value = match d {
                ValueDownsampler::Count => self.count.map_or(Value::Null, Value::from),
                ValueDownsampler::Sum => opt(self.sum),
                ValueDownsampler::SumSquares => opt(self.sum_squares),
                ValueDownsampler::Min => opt(self.min),
                ValueDownsampler::Max => opt(self.max),
                ValueDownsampler::Mean => opt(self.mean),
                ValueDownsampler::StdDev => opt(self.std_dev),
                ValueDownsampler::MostOften => self.most_often.clone().unwrap_or(Value::Null),
                ValueDownsampler::LeastOften => self.least_often.clone().unwrap_or(Value::Null),
                ValueDownsampler::Frequencies => self
                    .frequencies
                    .as_ref()
                    .map_or(Value::Null, |f| frequencies_json(f)),
            };
            v.insert(d.key().to_string(), value);
        }
        v
    }
}

/// Frequencies as JSON: a list of `[value, count]` pairs sorted by value.
pub(crate) fn frequencies_json(f: &[(Value, i64)]) -> Value {
    Value::Array(
        f.iter()
            .map(|(v, c)| Value::Array(vec![v.clone(), Value::from(*c)]))
            .collect(),
    )
}

/// Reads `[[value, count], ...]`.
pub(crate) fn parse_frequencies(v: &Value) -> Option<Vec<(Value, i64)>> {
    v.as_array()?
        .iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([value, count]) => Some((value.clone(), count.as_i64()?)),
            _ => None,
        })
        .collect()
}

/// A frequency table key: numbers by value (total order), then strings, then other JSON by its
/// text. Equal numbers (1 and 1.0) are one key.
#[derive(Debug, Clone)]
struct FreqKey(Value);

impl FreqKey {
    fn rank(&self) -> (u8, Option<f64>, String) {
        match &self.0 {
            Value::Number(n) => (0, n.as_f64(), String::new()),
            Value::String(s) => (1, None, s.clone()),
            other => (2, None, other.to_string()),
        }
    }
}

impl Ord for FreqKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let (ra, na, sa) = self.rank();
        let (rb, nb, sb) = other.rank();
        ra.cmp(&rb)
            .then_with(|| match (na, nb) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                _ => Ordering::Equal,
            })
            .then_with(|| sa.cmp(&sb))
    }
}

impl PartialOrd for FreqKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for FreqKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for FreqKey {}

/// Accumulates the points of one bucket. Inputs are raw points of the highest granularity
/// ([`Accumulator::add_raw`]), downsampled points of the next finer granularity
/// ([`Accumulator::add_bucket`]), or the null feed of an empty bucket ([`Accumulator::add_null`]).
#[derive(Debug)]
pub(crate) struct Accumulator {
    set: DownsamplerSet,
    count: i64,
    sum: Option<f64>,
    sum_squares: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    freq: BTreeMap<FreqKey, i64>,
    first: Option<i64>,
    last: Option<i64>,
    time_sum: i128,
    time_count: i128,
    /// Dicts appended to numeric streams are pre-downsampled; other streams' dicts are values.
    numeric: bool,
    /// The stream id, for warnings.
    stream: String,
}

impl Accumulator {
    /// An empty accumulator for a stream storing `set`.
    pub(crate) fn new(set: DownsamplerSet, value_type: ValueType, stream: &str) -> Self {
        Accumulator {
            numeric: value_type == ValueType::Numeric,
            set,
            count: 0,
            sum: None,
            sum_squares: None,
            min: None,
            max: None,
            freq: BTreeMap::new(),
            first: None,
            last: None,
            time_sum: 0,
            time_count: 0,
            stream: stream.to_string(),
        }
    }

    fn time(&mut self, first: i64, last: i64) {
        self.first.get_or_insert(first);
        self.last = Some(last);
    }

    fn number(&mut self, x: f64, squared: f64) {
        self.sum = Some(self.sum.unwrap_or(0.0) + x);
        self.sum_squares = Some(self.sum_squares.unwrap_or(0.0) + squared);
        self.min = Some(self.min.map_or(x, |m| m.min(x)));
        self.max = Some(self.max.map_or(x, |m| m.max(x)));
    }

    fn frequency(&mut self, key: Value, n: i64) {
        if self.set.contains(ValueDownsampler::Frequencies) {
            *self.freq.entry(FreqKey(key)).or_insert(0) += n;
        }
    }

    /// A raw point at `ts`. A null counts for the first/last time only; a pre-downsampled dict is
    /// read key by key (its `q` is not squared again).
    pub(crate) fn add_raw(&mut self, ts: i64, value: &RawValue) {
        self.time(ts, ts);
        match value {
            RawValue::Null => return,
            RawValue::Num(x) => {
                self.count += 1;
                self.number(*x, x * x);
                self.frequency(number(*x), 1);
            }
            RawValue::Json(Value::Object(dict)) if self.numeric => {
                self.count += dict.get("c").and_then(Value::as_i64).unwrap_or(0);
                let get = |k: &str| dict.get(k).and_then(Value::as_f64);
                if let Some(s) = get("s") {
                    self.sum = Some(self.sum.unwrap_or(0.0) + s);
                }
                if let Some(q) = get("q") {
                    self.sum_squares = Some(self.sum_squares.unwrap_or(0.0) + q);
                }
                if let Some(l) = get("l") {
                    self.min = Some(self.min.map_or(l, |m| m.min(l)));
                }
                if let Some(u) = get("u") {
                    self.max = Some(self.max.map_or(u, |m| m.max(u)));
                }
                for (k, n) in dict
                    .get("f")
                    .and_then(parse_frequencies)
                    .unwrap_or_default()
                {
                    self.frequency(k, n);
                }
            }
            RawValue::Json(v) => {
                self.count += 1;
                self.frequency(v.clone(), 1);
            }
        }
        // The time mean counts every non-null raw point once (not weighted by a dict's count).
        self.time_sum += i128::from(ts);
        self.time_count += 1;
    }

    /// A downsampled point of the next finer granularity.
    pub(crate) fn add_bucket(&mut self, b: &Bucket) {
        self.time(b.time_first, b.time_last);
        let c = b.count.unwrap_or(0);
        self.count += c;
        if let Some(s) = b.sum {
            self.sum = Some(self.sum.unwrap_or(0.0) + s);
        }
        if let Some(q) = b.sum_squares {
            self.sum_squares = Some(self.sum_squares.unwrap_or(0.0) + q);
        }
        if let Some(l) = b.min {
            self.min = Some(self.min.map_or(l, |m| m.min(l)));
        }
        if let Some(u) = b.max {
            self.max = Some(self.max.map_or(u, |m| m.max(u)));
        }
        for (k, n) in b.frequencies.iter().flatten() {
            self.frequency(k.clone(), *n);
        }
        self.time_sum += i128::from(b.time_mean) * i128::from(c);
        self.time_count += i128::from(c);
    }

    /// The null feed of an empty bucket: its middle becomes the first/last time.
    pub(crate) fn add_null(&mut self, middle: i64) {
        self.time(middle, middle);
    }

    /// The downsampled datapoint of the bucket starting at `start`; the accumulator is reset.
    pub(crate) fn finish(&mut self, start: i64, granularity: Granularity) -> Bucket {
        let set = self.set;
        let has = |d| set.contains(d);
        let middle = granularity.middle(start);
        let count = self.count;
        let sum = self.sum.take();
        let sum_squares = self.sum_squares.take();
        let freq = std::mem::take(&mut self.freq);
        let mean = (count > 0)
            .then_some(sum)
            .flatten()
            .map(|s| s / count as f64);
        let std_dev = match (count, sum, sum_squares) {
            (0, _, _) => None,
            (1, _, _) => Some(0.0),
            (n, Some(s), Some(q)) => {
                let mut e = population_variance(n as f64, s, q);
                // datastream's rule: a variance within 1e-6 of zero is zero.
                if e.abs() < 10e-7 {
                    e = 0.0;
                }
                if e < 0.0 {
                    tracing::warn!(
                        target: "ddstream::store",
                        warning = "InvalidValueWarning",
                        stream = %self.stream,
                        "failed to compute the standard deviation (negative variance {e}), setting it to zero"
                    );
                    Some(0.0)
                } else {
                    Some(e.sqrt())
                }
            }
            _ => None,
        };
        let entries: Vec<(Value, i64)> = freq.into_iter().map(|(k, c)| (k.0, c)).collect();
        let pick = |most| pick_by_count(entries.iter().map(|(k, c)| (k, *c)), most).cloned();
        let bucket = Bucket {
            ts: start,
            count: has(ValueDownsampler::Count).then_some(count),
            sum: if has(ValueDownsampler::Sum) {
                sum
            } else {
                None
            },
            sum_squares: if has(ValueDownsampler::SumSquares) {
                sum_squares
            } else {
                None
            },
            min: if has(ValueDownsampler::Min) {
                self.min
            } else {
                None
            },
            max: if has(ValueDownsampler::Max) {
                self.max
            } else {
                None
            },
            mean: if has(ValueDownsampler::Mean) {
                mean
            } else {
                None
            },
            std_dev: if has(ValueDownsampler::StdDev) {
                std_dev
            } else {
                None
            },
            most_often: if has(ValueDownsampler::MostOften) {
                pick(true)
            } else {
                None
            },
            least_often: if has(ValueDownsampler::LeastOften) {
                pick(false)
            } else {
                None
            },
            frequencies: (has(ValueDownsampler::Frequencies) && !entries.is_empty())
                .then_some(entries.clone()),
            time_first: self.first.unwrap_or(middle),
            time_last: self.last.unwrap_or(middle),
            time_mean: if self.time_count > 0 {
                // Truncated to a whole second, as datastream's int(Σts / n).
                i64::try_from(self.time_sum / self.time_count).unwrap_or(middle)
            } else {
                middle
            },
        };
        let stream = std::mem::take(&mut self.stream);
        let value_type = if self.numeric {
            ValueType::Numeric
        } else {
            ValueType::Nominal
        };
        *self = Accumulator::new(set, value_type, &stream);
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stored_sets_add_count_and_dependencies() {
        let set = DownsamplerSet::stored(&names(&["mean"]), ValueType::Numeric).unwrap_or_default();
        assert_eq!(set.names(), vec!["count", "sum", "mean"]);
        let set =
            DownsamplerSet::stored(&names(&["most_often"]), ValueType::Nominal).unwrap_or_default();
        assert_eq!(set.names(), vec!["count", "most_often", "frequencies"]);
        assert!(DownsamplerSet::stored(&[], ValueType::Numeric).is_ok_and(|s| s.is_empty()));
        for (list, vt) in [
            (vec!["median"], ValueType::Numeric),
            (vec!["mean"], ValueType::Graph),
            (vec!["sum"], ValueType::Nominal),
        ] {
            assert!(matches!(
                DownsamplerSet::stored(&names(&list), vt),
                Err(StoreError::UnsupportedDownsampler(_))
            ));
        }
    }

    #[test]
    fn five_values_at_one_second() {
        // test_monotonicity_multiple: 1..5 at one timestamp → c 5, s 15, q 55, m 3, σ √2.
        let all = names(&[
            "count",
            "sum",
            "sum_squares",
            "min",
            "max",
            "mean",
            "std_dev",
            "most_often",
            "least_often",
            "frequencies",
        ]);
        let set = DownsamplerSet::stored(&all, ValueType::Numeric).unwrap_or_default();
        let mut acc = Accumulator::new(set, ValueType::Numeric, "s");
        for v in [1.0, 2.0, 3.0, 4.0, 5.0, 5.0] {
            acc.add_raw(100, &RawValue::Num(v));
        }
        acc.add_raw(103, &RawValue::Null);
        let b = acc.finish(100, Granularity::Seconds10);
        assert_eq!(b.count, Some(6));
        assert_eq!(b.sum, Some(20.0));
        assert_eq!(b.sum_squares, Some(80.0));
        assert_eq!((b.min, b.max), (Some(1.0), Some(5.0)));
        // Values 1,2,3,4,5,5: mean 20/6, variance 80/6 − (20/6)² = 2.2222…
        let var: f64 = 80.0 / 6.0 - (20.0f64 / 6.0).powi(2);
        assert_eq!(b.std_dev, Some(var.sqrt()));
        assert_eq!(b.most_often, Some(json!(5.0)));
        assert_eq!(b.least_often, Some(json!(1.0)));
        assert_eq!(b.time_first, 100);
        assert_eq!(b.time_last, 103);
        assert_eq!(b.time_mean, 100);
        let empty = acc.finish(110, Granularity::Seconds10);
        assert_eq!(empty.count, Some(0));
        assert_eq!(empty.time_mean, 115);
    }
}
