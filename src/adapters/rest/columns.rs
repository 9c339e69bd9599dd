//! The columns of a generic REST table: where each value sits in a record (a JSON pointer),
//! its Arrow type, and the conversion of one JSON value (a [`Cell`]) into that type.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::{Error, Result};

/// How a timestamp is written in the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// RFC 3339 strings; numbers as epoch seconds (< 1e11), ms (< 1e14), µs (< 1e17) or ns.
    Auto,
    /// RFC 3339 / ISO 8601 strings, e.g. `2026-01-01T00:00:00Z`.
    Rfc3339,
    /// Seconds since the epoch (integer or fractional).
    EpochSeconds,
    /// Milliseconds since the epoch.
    EpochMillis,
}

impl TimeFormat {
    /// Parses `auto`, `rfc3339`, `epoch_s`, `epoch_ms`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(TimeFormat::Auto),
            "rfc3339" | "iso8601" => Ok(TimeFormat::Rfc3339),
            "epoch_s" | "s" | "seconds" => Ok(TimeFormat::EpochSeconds),
            "epoch_ms" | "ms" | "milliseconds" => Ok(TimeFormat::EpochMillis),
            other => Err(Error::config(format!(
                "time format '{other}' is not one of auto, rfc3339, epoch_s, epoch_ms"
            ))),
        }
    }
}

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Strings (numbers and booleans are kept as their text).
    Utf8,
    /// 64-bit integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// Booleans.
    Bool,
    /// Timestamp(ms, UTC), read in the given format.
    Timestamp(TimeFormat),
    /// Any JSON value (objects, lists) as its JSON text.
    Json,
}

impl ColumnType {
    /// Parses `utf8`/`string`, `int64`, `float64`, `bool`, `timestamp`, `json`.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "utf8" | "string" | "text" | "varchar" => ColumnType::Utf8,
            "int64" | "int" | "bigint" | "integer" => ColumnType::Int64,
            "float64" | "float" | "double" => ColumnType::Float64,
            "bool" | "boolean" => ColumnType::Bool,
            "timestamp" => ColumnType::Timestamp(TimeFormat::Auto),
            "json" | "list" | "struct" | "object" => ColumnType::Json,
            other => {
                return Err(Error::config(format!(
                "column type '{other}' is not one of utf8, int64, float64, bool, timestamp, json"
            )))
            }
        })
    }

    /// The Arrow type of the column.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Utf8 | ColumnType::Json => DataType::Utf8,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Timestamp(_) => {
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ColumnType::Utf8 => "a string",
            ColumnType::Int64 => "an integer",
            ColumnType::Float64 => "a number",
            ColumnType::Bool => "a boolean",
            ColumnType::Timestamp(TimeFormat::Rfc3339) => "an RFC 3339 timestamp string",
            ColumnType::Timestamp(_) => "a timestamp",
            ColumnType::Json => "any JSON value",
        }
    }
}

/// A JSON pointer (RFC 6901), split into unescaped segments; empty = the whole value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Pointer(pub Vec<String>);

impl Pointer {
    /// Parses `/a/b~1c` (and, leniently, `a.b` without a leading slash).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Pointer(vec![]));
        }
        let segments: Vec<String> = match text.strip_prefix('/') {
            Some(rest) => rest
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect(),
            None => text.split('.').map(str::to_string).collect(),
        };
        if segments.iter().any(String::is_empty) {
            return Err(Error::config(format!(
                "'{text}' is not a JSON pointer; write it like '/data/items' (or '' for the whole body)"
            )));
        }
        Ok(Pointer(segments))
    }

    /// The pointer as text.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
            .collect()
    }

    /// Whether `self` starts with `prefix`.
    pub fn starts_with(&self, prefix: &[String]) -> bool {
        self.0.len() >= prefix.len() && self.0[..prefix.len()] == *prefix
    }
}

/// One column: name, where its value is in a record, its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// Where the value is inside a record.
    pub pointer: Pointer,
    /// Type.
    pub kind: ColumnType,
}

/// The Arrow schema of `columns` (every column nullable: missing fields are nulls).
pub fn schema_of(columns: &[ColumnSpec]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.kind.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

/// One JSON value as read from a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Missing or null.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// An integer above i64::MAX.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// An object or array.
    Json(serde_json::Value),
}

impl Cell {
    /// The cell of a parsed value.
    pub fn from_value(value: &serde_json::Value) -> Cell {
        use serde_json::Value;
        match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => n
                .as_i64()
                .map(Cell::Int)
                .or_else(|| n.as_u64().map(Cell::UInt))
                .unwrap_or_else(|| Cell::Float(n.as_f64().unwrap_or(f64::NAN))),
            Value::String(s) => Cell::Str(s.clone()),
            other => Cell::Json(other.clone()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Bool(b) => format!("boolean {b}"),
            Cell::Int(i) => format!("number {i}"),
            Cell::UInt(u) => format!("number {u}"),
            Cell::Float(f) => format!("number {f}"),
            Cell::Str(s) => format!("string {:?}", s.chars().take(40).collect::<String>()),
            Cell::Json(v) if v.is_array() => "an array".into(),
            Cell::Json(_) => "an object".into(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::UInt(u) => Some(*u as f64),
            Cell::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// This cell as epoch ms in `format`, if it is one.
    pub fn to_epoch_ms(&self, format: TimeFormat) -> Option<i64> {
        let from_number = |v: f64, scale: f64| {
            let ms = (v * scale).round();
            (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64)
        };
        match (format, self) {
            (TimeFormat::Auto | TimeFormat::Rfc3339, Cell::Str(s)) => {
                chrono::DateTime::parse_from_rfc3339(s.trim())
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
            (TimeFormat::Auto, c) => {
                let v = c.as_f64()?;
                let scale = match v.abs() {
                    a if a < 1e11 => 1000.0,
                    a if a < 1e14 => 1.0,
                    a if a < 1e17 => 1e-3,
                    _ => 1e-6,
                };
                from_number(v, scale)
            }
            (TimeFormat::EpochSeconds, c) => from_number(c.as_f64()?, 1000.0),
            (TimeFormat::EpochMillis, c) => from_number(c.as_f64()?, 1.0),
            (TimeFormat::Rfc3339, _) => None,
        }
    }
}

/// A column's builder.
enum Builder {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMillisecondBuilder, TimeFormat),
}

/// Builders for every column of a page.
pub(crate) struct RowBuilders {
    specs: Vec<ColumnSpec>,
    builders: Vec<Builder>,
}

impl RowBuilders {
    /// Empty builders for `specs`.
    pub fn new(specs: &[ColumnSpec], capacity: usize) -> Self {
        let builders = specs
            .iter()
            .map(|c| match c.kind {
                ColumnType::Utf8 | ColumnType::Json => {
                    Builder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16))
                }
                ColumnType::Int64 => Builder::Int64(Int64Builder::with_capacity(capacity)),
                ColumnType::Float64 => Builder::Float64(Float64Builder::with_capacity(capacity)),
                ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
                ColumnType::Timestamp(f) => Builder::Timestamp(
                    TimestampMillisecondBuilder::with_capacity(capacity).with_timezone("UTC"),
                    f,
                ),
            })
            .collect();
        Self {
            specs: specs.to_vec(),
            builders,
        }
    }

    /// Appends one record's cells (one per column). A value of the wrong type is an error
    /// naming the column, or a null when `lenient`.
    pub fn append(&mut self, cells: &[Cell], lenient: bool) -> std::result::Result<(), String> {
        for ((builder, spec), cell) in self.builders.iter_mut().zip(&self.specs).zip(cells) {
            let ok = append_cell(builder, spec.kind, cell);
            if !ok {
                let message = format!(
                    "column '{}' (JSON pointer '{}') expects {}, got {}",
                    spec.name,
                    spec.pointer.text(),
                    spec.kind.describe(),
                    cell.describe()
                );
                if !lenient {
                    return Err(message);
                }
                tracing::warn!("{message}; stored as null (on_type_error = null)");
                append_cell(builder, spec.kind, &Cell::Null);
            }
        }
        Ok(())
    }

    /// The columns.
    pub fn finish(self) -> Vec<ArrayRef> {
        self.builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Utf8(mut b) => Arc::new(b.finish()),
                    Builder::Int64(mut b) => Arc::new(b.finish()),
                    Builder::Float64(mut b) => Arc::new(b.finish()),
                    Builder::Bool(mut b) => Arc::new(b.finish()),
                    Builder::Timestamp(mut b, _) => Arc::new(b.finish()),
                }
            })
            .collect()
    }
}

/// Appends `cell` converted to `kind`; false when it has another type (nothing appended).
fn append_cell(builder: &mut Builder, kind: ColumnType, cell: &Cell) -> bool {
    match (builder, cell) {
        (Builder::Utf8(b), Cell::Null) => b.append_null(),
        (Builder::Int64(b), Cell::Null) => b.append_null(),
        (Builder::Float64(b), Cell::Null) => b.append_null(),
        (Builder::Bool(b), Cell::Null) => b.append_null(),
        (Builder::Timestamp(b, _), Cell::Null) => b.append_null(),
        (Builder::Utf8(b), cell) if kind == ColumnType::Json => {
            let text = match cell {
                Cell::Json(v) => v.to_string(),
                Cell::Str(s) => serde_json::Value::String(s.clone()).to_string(),
                Cell::Bool(v) => v.to_string(),
                Cell::Int(v) => v.to_string(),
                Cell::UInt(v) => v.to_string(),
                Cell::Float(v) => v.to_string(),
                // Matched by the arms above (a null is SQL NULL); its JSON text otherwise.
                Cell::Null => "null".to_string(),
            };
            b.append_value(text);
        }
        (Builder::Utf8(b), Cell::Str(s)) => b.append_value(s),
        // Nested values in a string column arrive as their JSON text.
        (Builder::Utf8(b), Cell::Json(v)) => b.append_value(v.to_string()),
        (Builder::Utf8(b), Cell::Int(v)) => b.append_value(v.to_string()),
        (Builder::Utf8(b), Cell::UInt(v)) => b.append_value(v.to_string()),
        (Builder::Utf8(b), Cell::Float(v)) => b.append_value(v.to_string()),
        (Builder::Utf8(b), Cell::Bool(v)) => b.append_value(v.to_string()),
        (Builder::Int64(b), Cell::Int(v)) => b.append_value(*v),
        (Builder::Int64(b), Cell::Float(v)) if v.fract() == 0.0 && v.abs() < 9.2e18 => {
            b.append_value(*v as i64)
        }
        (Builder::Float64(b), cell) if cell.as_f64().is_some() => b.append_option(cell.as_f64()),
        (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
        (Builder::Timestamp(b, format), cell) => match cell.to_epoch_ms(*format) {
            Some(ms) => b.append_value(ms),
            None => return false,
        },
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};

    fn spec(name: &str, kind: ColumnType) -> ColumnSpec {
        ColumnSpec {
            name: name.into(),
            pointer: Pointer::parse(&format!("/{name}")).unwrap(),
            kind,
        }
    }

    #[test]
    fn pointers_parse_and_print() {
        assert_eq!(Pointer::parse("").unwrap().0.len(), 0);
        assert_eq!(Pointer::parse("/a/b~1c").unwrap().0, ["a", "b/c"]);
        assert_eq!(Pointer::parse("meta.next").unwrap().0, ["meta", "next"]);
        assert_eq!(Pointer::parse("/a/b~1c").unwrap().text(), "/a/b~1c");
        assert!(Pointer::parse("/a//b").is_err());
    }

    #[test]
    fn timestamps_in_every_format() {
        let ms = 1_767_225_600_000;
        assert_eq!(
            Cell::Str("2026-01-01T00:00:00Z".into()).to_epoch_ms(TimeFormat::Auto),
            Some(ms)
        );
        assert_eq!(
            Cell::Str("2026-01-01T01:00:00+01:00".into()).to_epoch_ms(TimeFormat::Rfc3339),
            Some(ms)
        );
        assert_eq!(Cell::Int(ms / 1000).to_epoch_ms(TimeFormat::Auto), Some(ms));
        assert_eq!(Cell::Int(ms).to_epoch_ms(TimeFormat::Auto), Some(ms));
        assert_eq!(
            Cell::Float(1.5).to_epoch_ms(TimeFormat::EpochSeconds),
            Some(1500)
        );
        assert_eq!(Cell::Int(ms).to_epoch_ms(TimeFormat::EpochMillis), Some(ms));
        assert_eq!(Cell::Int(5).to_epoch_ms(TimeFormat::Rfc3339), None);
        assert_eq!(
            Cell::Str("yesterday".into()).to_epoch_ms(TimeFormat::Auto),
            None
        );
    }

    #[test]
    fn wrong_types_are_errors_or_nulls() {
        let specs = [
            spec("n", ColumnType::Int64),
            spec("t", ColumnType::Timestamp(TimeFormat::Auto)),
            spec("j", ColumnType::Json),
            spec("s", ColumnType::Utf8),
        ];
        let mut b = RowBuilders::new(&specs, 4);
        b.append(
            &[
                Cell::Int(1),
                Cell::Int(1_767_225_600),
                Cell::Json(serde_json::json!({"a": [1]})),
                Cell::Int(7),
            ],
            false,
        )
        .unwrap();
        let err = b
            .append(
                &[Cell::Str("oops".into()), Cell::Null, Cell::Null, Cell::Null],
                false,
            )
            .unwrap_err();
        assert!(
            err.contains("column 'n'") && err.contains("expects an integer, got string \"oops\""),
            "{err}"
        );
        let mut b = RowBuilders::new(&specs, 4);
        b.append(
            &[
                Cell::Str("oops".into()),
                Cell::Null,
                Cell::Str("x".into()),
                Cell::Null,
            ],
            true,
        )
        .unwrap();
        let cols = b.finish();
        assert!(cols[0].is_null(0));
        assert_eq!(cols[2].as_string::<i32>().value(0), "\"x\"");
        let _ = cols[0].as_primitive::<Int64Type>();
        let _ = cols[1].as_primitive::<TimestampMillisecondType>();
        let err = RowBuilders::new(&specs[..1], 1)
            .append(&[Cell::Json(serde_json::json!([1]))], false)
            .unwrap_err();
        assert!(err.contains("got an array"), "{err}");
        let mut text = RowBuilders::new(&specs[3..], 1);
        text.append(&[Cell::Json(serde_json::json!({"a": 1}))], false)
            .unwrap();
        assert_eq!(text.finish()[0].as_string::<i32>().value(0), r#"{"a":1}"#);
    }
}
