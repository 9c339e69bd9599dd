//! datastream's derive operators as window functions, evaluated per series in timestamp order:
//! `OVER (PARTITION BY scope ORDER BY ts)`.
//!
//! - `derivative(value, ts)`: (v − v_prev) / (t − t_prev) per second.
//! - `counter_reset(value)`: 1 where the value is lower than the previous non-null value.
//! - `counter_derivative(value, ts [, max_value [, reset]])`: derivative of a monotonically
//!   increasing counter that may wrap at `max_value` or be reset.
//!
//! Each evaluator sees the whole ordered partition (`evaluate_all`), like `lag`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{PartitionEvaluator, Signature, Volatility, WindowUDFImpl};

use super::bucket::units_per_second;

/// Which derive operator a [`Derive`] window function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeriveKind {
    /// `derivative(value, ts)`.
    Derivative,
    /// `counter_reset(value)`.
    CounterReset,
    /// `counter_derivative(value, ts [, max_value [, reset]])`.
    CounterDerivative,
}

/// The window functions `derivative`, `counter_reset`, `counter_derivative`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Derive {
    kind: DeriveKind,
    signature: Signature,
}

impl Derive {
    /// The window function computing `kind`.
    pub fn new(kind: DeriveKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn usage(&self) -> &'static str {
        match self.kind {
            DeriveKind::Derivative => "derivative(value, ts)",
            DeriveKind::CounterReset => "counter_reset(value)",
            DeriveKind::CounterDerivative => {
                "counter_derivative(value, ts [, max_value [, reset]])"
            }
        }
    }
}

fn numeric(t: &DataType) -> bool {
    t.is_numeric() || t == &DataType::Null
}

impl WindowUDFImpl for Derive {
    fn name(&self) -> &str {
        match self.kind {
            DeriveKind::Derivative => "derivative",
            DeriveKind::CounterReset => "counter_reset",
            DeriveKind::CounterDerivative => "counter_derivative",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let f = DataType::Float64;
        let ok = match (self.kind, arg_types) {
            (DeriveKind::CounterReset, [v]) if numeric(v) => Some(vec![f]),
            (DeriveKind::Derivative, [v, t @ DataType::Timestamp(_, _)]) if numeric(v) => {
                Some(vec![f, t.clone()])
            }
            (DeriveKind::CounterDerivative, [v, t @ DataType::Timestamp(_, _), rest @ ..])
                if numeric(v) && rest.len() <= 2 =>
            {
                let mut out = vec![f.clone(), t.clone()];
                if let Some(m) = rest.first() {
                    if !numeric(m) {
                        return plan_err!("{}: max_value must be numeric; got {m}", self.usage());
                    }
                    out.push(f);
                }
                if let Some(r) = rest.get(1) {
                    if !(numeric(r) || r == &DataType::Boolean) {
                        return plan_err!(
                            "{}: reset must be a boolean or 0/1; got {r}",
                            self.usage()
                        );
                    }
                    out.push(DataType::Boolean);
                }
                Some(out)
            }
            _ => None,
        };
        match ok {
            Some(types) => Ok(types),
            None => plan_err!(
                "{} takes a numeric value{}; got ({})",
                self.usage(),
                if self.kind == DeriveKind::CounterReset {
                    ""
                } else {
                    " and a timestamp"
                },
                arg_types
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let t = match self.kind {
            DeriveKind::CounterReset => DataType::Int64,
            _ => DataType::Float64,
        };
        Ok(Arc::new(Field::new(field_args.name(), t, true)))
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(DeriveEvaluator { kind: self.kind }))
    }
}

#[derive(Debug)]
struct DeriveEvaluator {
    kind: DeriveKind,
}

/// The timestamps as (fractional) epoch seconds.
fn seconds(ts: &ArrayRef) -> Result<Vec<Option<f64>>> {
    let DataType::Timestamp(unit, _) = ts.data_type() else {
        return exec_err!("expected a timestamp, got {}", ts.data_type());
    };
    let per_second = units_per_second(unit) as f64;
    let raw = cast(ts, &DataType::Int64)?;
    Ok(raw
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.map(|v| v as f64 / per_second))
        .collect())
}

fn floats(values: &ArrayRef) -> Result<Vec<Option<f64>>> {
    let values = cast(values, &DataType::Float64)?;
    Ok(values.as_primitive::<Float64Type>().iter().collect())
}

impl PartitionEvaluator for DeriveEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let Some(value) = values.first() else {
            return exec_err!("{:?}: no value argument", self.kind);
        };
        let value = floats(value)?;
        if self.kind == DeriveKind::CounterReset {
            return Ok(Arc::new(counter_reset(&value)));
        }
        let Some(ts) = values.get(1) else {
            return exec_err!("{:?}: no ts argument", self.kind);
        };
        let ts = seconds(ts)?;
        let out = match self.kind {
            DeriveKind::Derivative => derivative(&value, &ts),
            _ => {
                let max_value = match values.get(2) {
                    Some(m) => floats(m)?,
                    None => vec![None; num_rows],
                };
                let reset: Vec<bool> = match values.get(3) {
                    Some(r) => {
                        let r = cast(r, &DataType::Boolean)?;
                        r.as_boolean().iter().map(|b| b.unwrap_or(false)).collect()
                    }
                    None => vec![false; num_rows],
                };
                counter_derivative(&value, &ts, &max_value, &reset)
            }
        };
        Ok(Arc::new(out))
    }
}

/// What one step of a derive operator produced. The SQL window functions turn everything but
/// `Value` into a null row; the datastream store appends `Value`, appends a null for `Null`, and
/// warns about `ZeroDelta` and `WrapWithoutMax`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DeriveStep {
    /// A rate (per second).
    Value(f64),
    /// The input was null: the state was reset and the null is carried on.
    Null,
    /// The first value since a reset: it only primes the state.
    Primed,
    /// Two points at the same time: no rate.
    ZeroDelta,
    /// A counter dropped and no `max_value` says where it wraps: no rate.
    WrapWithoutMax,
}

impl DeriveStep {
    /// The rate, if this step produced one.
    pub(crate) fn value(self) -> Option<f64> {
        match self {
            DeriveStep::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// datastream's `derivative`: (v − v_prev) / (t − t_prev) per second between consecutive points.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct DerivativeState {
    /// The previous (value, time in seconds).
    pub(crate) prev: Option<(f64, f64)>,
}

impl DerivativeState {
    /// Feeds one point; a null value resets the state.
    pub(crate) fn step(&mut self, value: Option<f64>, t: f64) -> DeriveStep {
        let Some(v) = value else {
            self.prev = None;
            return DeriveStep::Null;
        };
        match self.prev.replace((v, t)) {
            None => DeriveStep::Primed,
            Some((pv, pt)) => rate(v - pv, t - pt),
        }
    }
}

/// Δv / Δt, or `ZeroDelta` when Δt is zero.
fn rate(dv: f64, dt: f64) -> DeriveStep {
    if dt != 0.0 {
        DeriveStep::Value(dv / dt)
    } else {
        DeriveStep::ZeroDelta
    }
}

/// datastream's `counter_reset`: a reset where the value drops below the previous non-null one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CounterResetState {
    /// The previous non-null value.
    pub(crate) prev: Option<f64>,
}

impl CounterResetState {
    /// Feeds one value; true when it is a reset. Nulls keep the state.
    pub(crate) fn step(&mut self, value: Option<f64>) -> bool {
        let Some(v) = value else {
            return false;
        };
        let reset = self.prev.is_some_and(|p| v < p);
        self.prev = Some(v);
        reset
    }
}

/// datastream's `counter_derivative`: the rate of a monotonically increasing counter that may
/// wrap at `max_value` (delta = max − prev + v) or be reset.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CounterDerivativeState {
    /// The previous (value, time in seconds).
    pub(crate) prev: Option<(f64, f64)>,
}

impl CounterDerivativeState {
    /// A reset: the next data point only primes the state.
    pub(crate) fn reset(&mut self) {
        self.prev = None;
    }

    /// Feeds one counter value; a null value resets the state.
    pub(crate) fn step(
        &mut self,
        value: Option<f64>,
        t: f64,
        max_value: Option<f64>,
    ) -> DeriveStep {
        let Some(v) = value else {
            self.prev = None;
            return DeriveStep::Null;
        };
        let Some((pv, pt)) = self.prev.replace((v, t)) else {
            return DeriveStep::Primed;
        };
        let delta = if v >= pv {
            v - pv
        } else {
            match max_value {
                Some(max) => max - pv + v,
                None => return DeriveStep::WrapWithoutMax,
            }
        };
        rate(delta, t - pt)
    }
}

/// Per-second rate between consecutive points; a null value or time resets the state.
fn derivative(value: &[Option<f64>], ts: &[Option<f64>]) -> Float64Array {
    let mut state = DerivativeState::default();
    value
        .iter()
        .zip(ts)
        .map(|(v, t)| match t {
            Some(t) => state.step(*v, *t).value(),
            None => state.step(None, 0.0).value(),
        })
        .collect()
}

/// 1 where the value drops below the previous non-null value; nulls keep the state.
fn counter_reset(value: &[Option<f64>]) -> Int64Array {
    let mut state = CounterResetState::default();
    value.iter().map(|v| state.step(*v).then_some(1)).collect()
}

/// The rate of a counter: a drop wraps at `max_value` (delta = max − prev + v) or, without one,
/// is a reset (null); a `reset` row yields null and starts over from its value.
fn counter_derivative(
    value: &[Option<f64>],
    ts: &[Option<f64>],
    max_value: &[Option<f64>],
    reset: &[bool],
) -> Float64Array {
    let mut state = CounterDerivativeState::default();
    (0..value.len())
        .map(|i| {
            let (Some(v), Some(t)) = (value[i], ts[i]) else {
                return state.step(None, 0.0, None).value();
            };
            if reset.get(i).copied().unwrap_or(false) {
                state.reset();
            }
            state
                .step(Some(v), t, max_value.get(i).copied().flatten())
                .value()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: usize) -> Vec<Option<f64>> {
        (0..n).map(|i| Some(i as f64)).collect()
    }

    #[test]
    fn derivative_resets_on_null_and_skips_zero_dt() {
        let v = [Some(1.0), Some(3.0), None, Some(5.0), Some(9.0), Some(10.0)];
        let t = [
            Some(0.0),
            Some(2.0),
            Some(3.0),
            Some(4.0),
            Some(6.0),
            Some(6.0),
        ];
        let out: Vec<_> = derivative(&v, &t).iter().collect();
        assert_eq!(out, vec![None, Some(1.0), None, None, Some(2.0), None]);
    }

    #[test]
    fn counter_reset_ignores_nulls() {
        let v = [Some(5.0), None, Some(3.0), Some(4.0), Some(1.0)];
        let out: Vec<_> = counter_reset(&v).iter().collect();
        assert_eq!(out, vec![None, None, Some(1), None, Some(1)]);
    }

    #[test]
    fn counter_derivative_wraps_and_resets() {
        let v: Vec<_> = [5.0, 12.0, 7.0, 25.0, 7.0, 18.0, 33.0, 40.0, 5.0]
            .iter()
            .map(|v| Some(*v))
            .collect();
        let uptime: Vec<_> = [10.0, 23.0, 28.0, 44.0, 2.0, 17.0, 90.0, 30.0, 2.0]
            .iter()
            .map(|v| Some(*v))
            .collect();
        let reset: Vec<bool> = counter_reset(&uptime)
            .iter()
            .map(|r| r == Some(1))
            .collect();
        let out = counter_derivative(&v, &secs(9), &[Some(256.0); 9], &reset);
        let non_null: Vec<f64> = out.iter().flatten().collect();
        assert_eq!(non_null, vec![7.0, 251.0, 18.0, 11.0, 15.0]);
        // Without max_value a drop is a reset.
        let out = counter_derivative(&v, &secs(9), &[None; 9], &[false; 9]);
        assert_eq!(out.iter().nth(2), Some(None));
    }
}
