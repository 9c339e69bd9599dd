//! Derived streams: the operators `sum`, `derivative`, `counter_reset` and `counter_derivative`,
//! their argument checks (upstream `get_parameters`), and the feeding of derived streams from
//! every point a source stores (an append at its highest granularity, or a downsampled point at a
//! descriptor's granularity). The rate maths is the SQL window functions' own state machines
//! ([`crate::sql::functions::derive`]); `sum` has no SQL twin (it is a `GROUP BY`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::sql::functions::derive::{
    CounterDerivativeState, CounterResetState, DerivativeState, DeriveStep,
};

use super::append;
use super::downsamplers::Bucket;
use super::error::StoreError;
use super::granularity::Granularity;
use super::meta::StreamRow;
use super::txn::Txn;
use super::value::{RawValue, ValueType};

/// Most pending `sum` buckets kept in a derived stream's state (upstream: 50).
const MAX_SUM_BUCKETS: usize = 50;

/// A derive operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeriveOp {
    /// Sum of several streams, bucket by bucket at the derived stream's highest granularity.
    Sum,
    /// Per-second rate of one stream.
    Derivative,
    /// 1 where a counter dropped (a nominal stream).
    CounterReset,
    /// Rate of a counter, with a `reset` source and an optional `max_value` wrap.
    CounterDerivative,
}

impl DeriveOp {
    /// The upstream name.
    pub fn name(self) -> &'static str {
        match self {
            DeriveOp::Sum => "sum",
            DeriveOp::Derivative => "derivative",
            DeriveOp::CounterReset => "counter_reset",
            DeriveOp::CounterDerivative => "counter_derivative",
        }
    }

    /// Parses an operator name; anything else is `UnsupportedDeriveOperator`.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "sum" => Ok(DeriveOp::Sum),
            "derivative" => Ok(DeriveOp::Derivative),
            "counter_reset" => Ok(DeriveOp::CounterReset),
            "counter_derivative" => Ok(DeriveOp::CounterDerivative),
            other => Err(StoreError::UnsupportedDeriveOperator(format!(
                "unknown derive operator '{other}'; use sum, derivative, counter_reset or counter_derivative"
            ))),
        }
    }

    /// The value type the derived stream must have.
    fn produces(self) -> ValueType {
        match self {
            DeriveOp::CounterReset => ValueType::Nominal,
            _ => ValueType::Numeric,
        }
    }

    /// `UnsupportedDeriveOperator` unless the derived stream's `value_type` is what the operator
    /// produces.
    pub(crate) fn check_value_type(self, value_type: ValueType) -> Result<(), StoreError> {
        if value_type == self.produces() {
            return Ok(());
        }
        Err(StoreError::UnsupportedDeriveOperator(format!(
            "derive operator '{}' does not support value type '{value_type}'; create the derived stream with value_type '{}'",
            self.name(),
            self.produces()
        )))
    }

    /// Upstream's `get_parameters`: the sources' number, names, types and granularities, and the
    /// arguments. `sources` are (stream, name, granularity used).
    pub(crate) fn check_sources(
        self,
        sources: &[(&StreamRow, Option<&str>, Granularity)],
        highest: Granularity,
        args: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        let op = self.name();
        let numeric = |(s, _, _): &(&StreamRow, Option<&str>, Granularity)| {
            if s.value_type == ValueType::Numeric {
                Ok(())
            } else {
                Err(StoreError::IncompatibleTypes(format!(
                    "source stream '{}' of '{op}' is {}; '{op}' needs numeric sources",
                    s.id, s.value_type
                )))
            }
        };
        let same_granularity = |(s, _, g): &(&StreamRow, Option<&str>, Granularity)| {
            if *g == highest {
                Ok(())
            } else {
                Err(StoreError::IncompatibleGranularities(format!(
                    "source stream '{}' of '{op}' gives {g} datapoints but the derived stream's highest granularity is {highest}; give the source's granularity as {highest} or create the derived stream with highest granularity {g}",
                    s.id
                )))
            }
        };
        let one_source = || match sources {
            [only] => Ok(only),
            _ => Err(StoreError::InvalidOperatorArguments(format!(
                "'{op}' takes exactly one source stream; got {}",
                sources.len()
            ))),
        };
        match self {
            DeriveOp::Sum => {
                for s in sources {
                    numeric(s)?;
                    same_granularity(s)?;
                }
            }
            DeriveOp::Derivative => {
                let only = one_source()?;
                numeric(only)?;
                same_granularity(only)?;
            }
            DeriveOp::CounterReset => {
                numeric(one_source()?)?;
            }
            DeriveOp::CounterDerivative => {
                let [reset, data] = sources else {
                    return Err(StoreError::InvalidOperatorArguments(format!(
                        "'counter_derivative' takes exactly two source streams, [{{\"name\": \"reset\", \"stream\": RESET_ID}}, {{\"stream\": DATA_ID}}]; got {}",
                        sources.len()
                    )));
                };
                if reset.1 != Some("reset") {
                    return Err(StoreError::InvalidOperatorArguments(
                        "'counter_derivative' needs the reset stream first, named 'reset'".into(),
                    ));
                }
                if data.1.is_some() {
                    return Err(StoreError::InvalidOperatorArguments(
                        "'counter_derivative' needs the data stream second, without a name".into(),
                    ));
                }
                numeric(data)?;
                if let Some(m) = args.get("max_value") {
                    if !m.is_null() && !m.is_number() {
                        return Err(StoreError::InvalidOperatorArguments(format!(
                            "'counter_derivative' argument max_value must be a number; got {m}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A point a source stored, as fed to its derived streams.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Feed<'a> {
    /// An appended point.
    Raw { ts: i64, value: &'a RawValue },
    /// A downsampled point.
    Bucket(&'a Bucket),
}

impl Feed<'_> {
    /// The point's time: a downsampled point's is its last time (`t['z']`).
    pub(crate) fn time(&self) -> i64 {
        match self {
            Feed::Raw { ts, .. } => *ts,
            Feed::Bucket(b) => b.time_last,
        }
    }
}

/// An operator's numeric view of a point.
enum Input {
    Value(f64),
    Null,
    NotNumeric,
}

/// Numbers are numbers; a downsampled point (or a pre-downsampled dict) is its mean `s / c`, null
/// when it holds no value (upstream reads dicts so only in `sum`, and fails elsewhere).
fn input(feed: Feed<'_>) -> Input {
    let mean = |c: Option<f64>, s: Option<f64>| match (c, s) {
        (Some(c), Some(s)) if c > 0.0 => Input::Value(s / c),
        (Some(_) | None, None) | (Some(_), Some(_)) => Input::Null,
        (None, Some(_)) => Input::NotNumeric,
    };
    match feed {
        Feed::Raw {
            value: RawValue::Null,
            ..
        } => Input::Null,
        Feed::Raw {
            value: RawValue::Num(x),
            ..
        } => Input::Value(*x),
        Feed::Raw {
            value: RawValue::Json(Value::Number(n)),
            ..
        } => n.as_f64().map_or(Input::NotNumeric, Input::Value),
        Feed::Raw {
            value: RawValue::Json(Value::Object(d)),
            ..
        } if d.contains_key("s") => mean(
            d.get("c").map(|c| c.as_f64().unwrap_or(0.0)),
            d.get("s").and_then(Value::as_f64),
        ),
        Feed::Raw { .. } => Input::NotNumeric,
        Feed::Bucket(b) if b.sum.is_some() || b.count == Some(0) => {
            mean(b.count.map(|c| c as f64), b.sum)
        }
        Feed::Bucket(_) => Input::NotNumeric,
    }
}

fn warn(stream: &str, op: DeriveOp, message: &str) {
    tracing::warn!(
        target: "ddstream::store",
        warning = "InvalidValueWarning",
        stream = %stream,
        "derive operator '{}': {message}",
        op.name()
    );
}

/// Feeds the derived streams of `src` whose descriptor granularity is `granularity` with `feed`
/// (upstream `_process_contributes_to`).
pub(crate) fn process_contributions(
    txn: &mut Txn<'_>,
    src: i64,
    granularity: Granularity,
    feed: Feed<'_>,
) -> Result<(), StoreError> {
    let contributions: Vec<(i64, Option<String>, DeriveOp)> = txn
        .row(src)?
        .contributes_to
        .iter()
        .filter(|(_, c)| c.granularity == granularity.index())
        .map(|(dst, c)| (*dst, c.name.clone(), c.op))
        .collect();
    for (dst, name, op) in contributions {
        if !txn.exists(dst)? {
            let id = txn.row(src)?.id.clone();
            tracing::warn!(
                target: "ddstream::store",
                warning = "InternalInconsistencyWarning",
                stream = %id,
                "contributes_to names a stream (#{dst}) that no longer exists"
            );
            continue;
        }
        if txn.row(dst)?.pending_backprocess {
            continue;
        }
        let appended = update(txn, dst, src, feed, name.as_deref())?;
        if !appended && op != DeriveOp::Sum {
            // So the derived stream's downsampling moves on even without new points.
            update_last_timestamp(txn, dst, feed.time())?;
        }
    }
    Ok(())
}

/// Moves `latest` to `ts` unless that would go backwards (upstream `update_last_timestamp`).
fn update_last_timestamp(txn: &mut Txn<'_>, dst: i64, ts: i64) -> Result<(), StoreError> {
    let row = txn.row_mut(dst)?;
    if row.latest.is_none_or(|l| ts >= l) {
        row.latest = Some(ts);
        row.earliest.get_or_insert(ts);
    }
    Ok(())
}

fn state_pair(state: &Value) -> Option<(f64, f64)> {
    Some((state.get("v")?.as_f64()?, state.get("t")?.as_f64()?))
}

fn pair_state(prev: Option<(f64, f64)>) -> Value {
    prev.map_or(Value::Null, |(v, t)| json!({"v": v, "t": t}))
}

/// Applies one source point to derived stream `dst`; true when the operator tried to append.
pub(crate) fn update(
    txn: &mut Txn<'_>,
    dst: i64,
    src: i64,
    feed: Feed<'_>,
    name: Option<&str>,
) -> Result<bool, StoreError> {
    let (op, args, sources, highest, state, dst_id) = {
        let row = txn.row(dst)?;
        let Some(derived) = &row.derived_from else {
            return Ok(false);
        };
        (
            derived.op,
            derived.args.clone(),
            derived.sources.clone(),
            row.highest,
            row.derive_state.clone(),
            row.id.clone(),
        )
    };
    let ts = feed.time();
    let value = match input(feed) {
        Input::NotNumeric => {
            warn(&dst_id, op, "skipped a value that is not a number");
            return Ok(false);
        }
        Input::Null => None,
        Input::Value(v) => Some(v),
    };
    let mut outputs: Vec<(RawValue, i64)> = Vec::new();
    let new_state = match op {
        DeriveOp::Sum => {
            let mut buckets: BTreeMap<i64, Map<String, Value>> = match state {
                Value::Object(m) => m
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_object()?.clone())))
                    .collect(),
                _ => BTreeMap::new(),
            };
            let bucket = highest.round(ts);
            let slot = buckets.entry(bucket).or_default();
            slot.insert(
                src.to_string(),
                value.map_or(Value::Null, super::value::number),
            );
            let mut distinct = sources.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if slot.len() == distinct.len() {
                let values: Vec<f64> = slot.values().filter_map(Value::as_f64).collect();
                let total = if values.is_empty() {
                    RawValue::Null
                } else {
                    RawValue::Num(values.iter().sum())
                };
                outputs.push((total, bucket));
                buckets.retain(|k, _| *k > bucket);
            } else if buckets.len() > MAX_SUM_BUCKETS {
                if let Some(oldest) = buckets.keys().next().copied() {
                    buckets.remove(&oldest);
                }
            }
            Value::Object(
                buckets
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Value::Object(v)))
                    .collect(),
            )
        }
        DeriveOp::Derivative => {
            let mut s = DerivativeState {
                prev: state_pair(&state),
            };
            match s.step(value, ts as f64) {
                DeriveStep::Value(rate) => outputs.push((RawValue::Num(rate), ts)),
                DeriveStep::Null => outputs.push((RawValue::Null, ts)),
                DeriveStep::ZeroDelta => warn(&dst_id, op, "zero time delta; no derivative"),
                DeriveStep::Primed | DeriveStep::WrapWithoutMax => {}
            }
            pair_state(s.prev)
        }
        DeriveOp::CounterReset => {
            let mut s = CounterResetState {
                prev: state.get("v").and_then(Value::as_f64),
            };
            if s.step(value) {
                outputs.push((RawValue::Json(Value::from(1)), ts));
            }
            s.prev.map_or(Value::Null, |v| json!({"v": v}))
        }
        DeriveOp::CounterDerivative => {
            let mut s = CounterDerivativeState {
                prev: state_pair(&state),
            };
            if value.is_none() {
                // A null from either source is carried on and resets the state.
                s.reset();
                outputs.push((RawValue::Null, ts));
            } else if name == Some("reset") {
                if value.is_some_and(|v| v != 0.0) {
                    s.reset();
                }
            } else {
                let max = args.get("max_value").and_then(Value::as_f64);
                match s.step(value, ts as f64, max) {
                    DeriveStep::Value(rate) => outputs.push((RawValue::Num(rate), ts)),
                    DeriveStep::ZeroDelta => warn(&dst_id, op, "zero time delta; no derivative"),
                    DeriveStep::WrapWithoutMax => warn(
                        &dst_id,
                        op,
                        "the counter dropped without a reset and max_value is not set; assuming a reset",
                    ),
                    DeriveStep::Null | DeriveStep::Primed => {}
                }
            }
            pair_state(s.prev)
        }
    };
    txn.row_mut(dst)?.derive_state = new_state;
    let attempted = !outputs.is_empty();
    for (value, at) in outputs {
        match append::append_raw(txn, dst, value, at, true) {
            Ok(()) => {}
            // Upstream's sum swallows this; for the other operators the store does too (an
            // error here would fail the source's append, which did succeed).
            Err(StoreError::InvalidTimestamp(message)) => {
                if op != DeriveOp::Sum {
                    warn(
                        &dst_id,
                        op,
                        &format!("derived datapoint not appended: {message}"),
                    );
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(attempted)
}
