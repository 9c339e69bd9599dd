//! Value types (`numeric`, `nominal`, `graph`) and the checks an appended value passes: numbers,
//! nulls or pre-downsampled dicts for numeric streams, anything for nominal ones, a graph of
//! vertices and edges for graph ones.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

use super::downsamplers::DownsamplerSet;
use super::error::StoreError;
use super::tags::json_kind;

/// A stream's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Numbers (the default).
    Numeric,
    /// Any JSON value, stored as is.
    Nominal,
    /// `{"v": [{"i": id, ...}], "e": [{"f": id, "t": id, ...}]}`.
    Graph,
}

impl ValueType {
    /// The upstream name.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Numeric => "numeric",
            ValueType::Nominal => "nominal",
            ValueType::Graph => "graph",
        }
    }

    /// Parses `numeric`, `nominal` or `graph`; anything else is `UnsupportedValueType`.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "numeric" => Ok(ValueType::Numeric),
            "nominal" => Ok(ValueType::Nominal),
            "graph" => Ok(ValueType::Graph),
            other => Err(StoreError::UnsupportedValueType(format!(
                "value type '{other}' is not supported; use numeric, nominal or graph"
            ))),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An appended value as stored: numeric scalars as f64, everything else (pre-downsampled dicts,
/// nominal and graph values) as JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    /// `None`.
    Null,
    /// A number of a numeric stream.
    Num(f64),
    /// A pre-downsampled dict, or a nominal or graph value.
    Json(Value),
}

impl RawValue {
    /// The value as JSON, as `get_data` returns it.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            RawValue::Null => Value::Null,
            RawValue::Num(x) => number(*x),
            RawValue::Json(v) => v.clone(),
        }
    }
}

/// An f64 as a JSON number (null for a non-finite value, which JSON cannot hold).
pub(crate) fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Checks `value` for a stream of `value_type` storing `downsamplers`, as upstream's `_append`.
pub(crate) fn validate(
    value: &Value,
    value_type: ValueType,
    downsamplers: DownsamplerSet,
    stream: &str,
) -> Result<RawValue, StoreError> {
    match (value_type, value) {
        (_, Value::Null) => Ok(RawValue::Null),
        (ValueType::Numeric, Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => Ok(RawValue::Num(x)),
            _ => Err(StoreError::InvalidArgument(format!(
                "stream '{stream}': {n} is not a finite number"
            ))),
        },
        (ValueType::Numeric, Value::Object(dict)) => {
            downsamplers.check_downsampled_dict(dict, stream)?;
            Ok(RawValue::Json(value.clone()))
        }
        (ValueType::Numeric, other) => Err(StoreError::InvalidArgument(format!(
            "stream '{stream}' is numeric: append a number, null or a downsampled datapoint (a dict of downsampler keys), not {}",
            json_kind(other)
        ))),
        (ValueType::Nominal, v) => Ok(RawValue::Json(v.clone())),
        (ValueType::Graph, Value::Object(graph)) => {
            check_graph(graph, stream)?;
            Ok(RawValue::Json(value.clone()))
        }
        (ValueType::Graph, other) => Err(StoreError::InvalidArgument(format!(
            "stream '{stream}' is of type graph: append a dict {{\"v\": [vertices], \"e\": [edges]}} or null, not {}",
            json_kind(other)
        ))),
    }
}

fn check_graph(graph: &Map<String, Value>, stream: &str) -> Result<(), StoreError> {
    let bad = |what: String| StoreError::InvalidArgument(format!("stream '{stream}': {what}"));
    let list = |key: &str, what: &str| match graph.get(key) {
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(bad(format!("the graph's '{key}' must be a list of {what}"))),
        None => Err(bad(format!(
            "a graph must hold its {what} as a list under key '{key}'"
        ))),
    };
    let vertices = list("v", "vertices")?;
    let edges = list("e", "edges")?;
    let mut ids = HashSet::new();
    for vertex in vertices {
        let Some(id) = vertex.get("i") else {
            return Err(bad(
                "every graph vertex needs a unique id under key 'i'".into()
            ));
        };
        if !ids.insert(id.to_string()) {
            return Err(bad(format!("duplicate vertex id {id} in the graph")));
        }
    }
    for edge in edges {
        for (key, end) in [("f", "source"), ("t", "destination")] {
            let Some(id) = edge.get(key) else {
                return Err(bad(format!(
                    "every graph edge needs its {end} vertex id under key '{key}'"
                )));
            };
            if !ids.contains(&id.to_string()) {
                return Err(bad(format!(
                    "edge {end} vertex {id} is not a vertex of the graph"
                )));
            }
        }
    }
    Ok(())
}
