//! Datadog v2 timeseries query (`POST /api/v2/query/timeseries`), in long format: one row per
//! (series, timestamp) with `name, query, scope, group_tags, ts, value, unit`.
//!
//! The columnar body (`series[]`, one shared `times[]`, `values[series][time]`) is read with serde
//! seeds straight into Arrow: `values` is series-major, exactly the row order of the long format,
//! so every number goes from the parser into one `Float64Builder` without an intermediate tree.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Builder, StringBuilder, TimestampMillisecondBuilder, UInt32Array,
};
use datafusion::arrow::compute::{filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::v2::{
    build_v2_request, label_fields, unit_text, ErrorsField, LabelBuilders, Unit, V2Endpoint,
    V2Queries,
};
use super::{json_error, malformed, not_this_shape, Credentials};
use crate::engine::{ApiRequest, ApiResponse};
use crate::engine::{Cursor, ErrorClass, ParsedResponse, TimeWindow, VendorAdapter};
use crate::{Error, Result};

const ADAPTER: &str = "datadog_v2_timeseries";

const ENDPOINT: V2Endpoint = V2Endpoint {
    path: "/api/v2/query/timeseries",
    request_type: "timeseries_request",
};

/// Position of `ts` in [`v2_timeseries_schema`].
pub const COL_TS: usize = 4;

/// `name, query, scope, group_tags, ts, value, unit`.
pub fn v2_timeseries_schema() -> SchemaRef {
    let mut fields = label_fields();
    fields.push(Field::new(
        "ts",
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        false,
    ));
    fields.push(Field::new("value", DataType::Float64, true));
    fields.push(Field::new("unit", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// What one v2 timeseries adapter fetches.
#[derive(Debug, Clone)]
pub struct DatadogV2TimeseriesOptions {
    /// Queries and formulas.
    pub queries: V2Queries,
    /// The `interval` asked for, in ms (also the window alignment).
    pub interval_ms: i64,
    /// API base URL.
    pub base_url: url::Url,
    /// Keys.
    pub credentials: Credentials,
}

/// The v2 timeseries adapter.
#[derive(Debug, Clone)]
pub struct DatadogV2TimeseriesAdapter {
    options: DatadogV2TimeseriesOptions,
    outputs: Vec<(String, String)>,
    schema: SchemaRef,
}

impl DatadogV2TimeseriesAdapter {
    /// Validates the options and builds the adapter.
    pub fn new(options: DatadogV2TimeseriesOptions) -> Result<Self> {
        options.queries.validate(ADAPTER)?;
        if options.interval_ms < 1000 {
            return Err(Error::config(format!(
                "{ADAPTER}: the interval must be at least 1 s, got {} ms",
                options.interval_ms
            )));
        }
        Ok(Self {
            outputs: options.queries.outputs(),
            options,
            schema: v2_timeseries_schema(),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &DatadogV2TimeseriesOptions {
        &self.options
    }
}

impl VendorAdapter for DatadogV2TimeseriesAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn build_request(&self, cursor: &Cursor) -> Result<ApiRequest> {
        let window = window_of(cursor)?;
        // As in v1, the last bucket is asked for whole; rows are trimmed to the window.
        let to = crate::engine::cursor::ceil_to(window.end_ms, self.alignment_ms());
        build_v2_request(
            &ENDPOINT,
            &self.options.base_url,
            &self.options.credentials,
            &self.options.queries,
            (window.start_ms, to),
            Some(self.options.interval_ms),
            None,
        )
    }

    fn parse(&self, cursor: &Cursor, response: &ApiResponse) -> Result<ParsedResponse> {
        self.parse_body(cursor, &response.body)
    }

    fn classify_error(&self, status: u16, body: &[u8]) -> ErrorClass {
        super::classify_error(status, body)
    }

    fn error_hint(&self, status: u16) -> Option<&'static str> {
        super::error_hint(status)
    }

    fn alignment_ms(&self) -> i64 {
        self.options.interval_ms
    }
}

impl DatadogV2TimeseriesAdapter {
    /// Parses a 2xx body (the headers carry nothing this API pages by).
    fn parse_body(&self, cursor: &Cursor, body: &[u8]) -> Result<ParsedResponse> {
        let window = window_of(cursor)?;
        let parsed = parse_body(body)
            .map_err(|(message, truncated)| malformed(ADAPTER, cursor, message, truncated))?;
        if let Some(errors) = &parsed.errors {
            errors.check(ADAPTER, cursor)?;
        }
        if !parsed.found_attributes {
            return Err(not_this_shape(
                ADAPTER,
                cursor,
                "'data.attributes' object",
                body,
            ));
        }
        let batch = self
            .rows(parsed, window)
            .map_err(|message| malformed(ADAPTER, cursor, message, false))?;
        Ok(ParsedResponse::window_rows(batch))
    }
}

fn window_of(cursor: &Cursor) -> Result<&TimeWindow> {
    super::window_of(ADAPTER, cursor)
}

impl DatadogV2TimeseriesAdapter {
    fn rows(&self, p: Parsed, window: &TimeWindow) -> std::result::Result<RecordBatch, String> {
        let n_times = p.times.len();
        if p.value_lens.len() != p.series.len() {
            return Err(format!(
                "'values' holds {} arrays for {} series",
                p.value_lens.len(),
                p.series.len()
            ));
        }
        if let Some((i, len)) = p
            .value_lens
            .iter()
            .enumerate()
            .find(|(_, len)| **len != n_times)
        {
            return Err(format!(
                "values[{i}] holds {len} values for {n_times} times"
            ));
        }
        let rows = n_times * p.series.len();
        let mut labels = LabelBuilders::with_capacity(rows);
        let mut ts = TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC");
        let mut unit = StringBuilder::with_capacity(rows, rows * 4);
        for (i, s) in p.series.iter().enumerate() {
            let index = s.query_index.unwrap_or(i as i64);
            let (name, query) = usize::try_from(index)
                .ok()
                .and_then(|k| self.outputs.get(k))
                .ok_or_else(|| {
                    format!(
                        "series {i} has query_index {index}, but the request had {} {}",
                        self.outputs.len(),
                        if self.options.queries.formulas.is_empty() {
                            "queries"
                        } else {
                            "formulas"
                        }
                    )
                })?;
            let tags = s.group_tags.as_deref().unwrap_or_default();
            labels.append_n((name, query), tags, n_times);
            ts.append_slice(&p.times);
            match unit_text(s.unit.as_deref()) {
                Some(text) => unit.append_value_n(text, n_times),
                None => unit.append_nulls(n_times),
            }
        }
        let mut values = p.values;
        let [name, query, scope, group_tags] = labels.finish();
        let columns: Vec<ArrayRef> = vec![
            name,
            query,
            scope,
            group_tags,
            Arc::new(ts.finish()),
            Arc::new(values.finish()),
            Arc::new(unit.finish()),
        ];
        let mut batch =
            RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| e.to_string())?;
        // A time axis out of order is put in order (rows stay grouped by series).
        let mut times = p.times;
        if times.windows(2).any(|w| w[0] > w[1]) {
            let mut order: Vec<usize> = (0..n_times).collect();
            order.sort_by_key(|&j| times[j]);
            let indices: UInt32Array = (0..p.series.len())
                .flat_map(|s| order.iter().map(move |&j| (s * n_times + j) as u32))
                .collect();
            batch = take_record_batch(&batch, &indices).map_err(|e| e.to_string())?;
            times = order.iter().map(|&j| times[j]).collect();
        }
        // Trim to the window (the API may start at the bucket before `from`, and the last
        // bucket was asked for whole).
        let keep: Vec<bool> = times.iter().map(|t| window.contains(*t)).collect();
        if keep.iter().all(|k| *k) {
            return Ok(batch);
        }
        let mask: BooleanArray = (0..p.series.len())
            .flat_map(|_| keep.iter().map(|k| Some(*k)))
            .collect();
        filter_record_batch(&batch, &mask).map_err(|e| e.to_string())
    }
}

/// A parsed body: labels per series, the shared time axis, and every value in row order.
struct Parsed {
    series: Vec<SeriesMeta>,
    times: Vec<i64>,
    values: Float64Builder,
    /// Length of each `values[i]`, to check it against `times`.
    value_lens: Vec<usize>,
    errors: Option<ErrorsField>,
    /// Whether `data.attributes` was there (a body of another shape is an error).
    found_attributes: bool,
}

#[derive(Deserialize)]
struct SeriesMeta {
    #[serde(default)]
    group_tags: Option<Vec<String>>,
    #[serde(default)]
    query_index: Option<i64>,
    #[serde(default)]
    unit: Option<Vec<Option<Unit>>>,
}

fn parse_body(body: &[u8]) -> std::result::Result<Parsed, (String, bool)> {
    let mut parsed = Parsed {
        series: Vec::new(),
        times: Vec::new(),
        values: Float64Builder::new(),
        value_lens: Vec::new(),
        errors: None,
        found_attributes: false,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    Level::Top
        .seed(&mut parsed)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| json_error(&e, body))?;
    Ok(parsed)
}

/// The nesting levels of `{"data": {"attributes": {...}}, "errors": ...}`.
#[derive(Clone, Copy)]
enum Level {
    Top,
    Data,
    Attributes,
}

impl Level {
    fn seed(self, parsed: &mut Parsed) -> LevelSeed<'_> {
        LevelSeed {
            level: self,
            parsed,
        }
    }
}

/// Reads one object level, descending into `data` and `attributes` and skipping the rest.
struct LevelSeed<'a> {
    level: Level,
    parsed: &'a mut Parsed,
}

impl<'de> DeserializeSeed<'de> for LevelSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LevelSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.level {
            Level::Top => "a timeseries response object",
            Level::Data => "the 'data' object",
            Level::Attributes => "the 'attributes' object",
        })
    }

    // `"data": null` or `"attributes": null` mean no series.
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let parsed = self.parsed;
        if matches!(self.level, Level::Attributes) {
            parsed.found_attributes = true;
        }
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match (self.level, key.as_ref()) {
                (Level::Top, "data") => map.next_value_seed(Level::Data.seed(parsed))?,
                (Level::Top, "errors") => parsed.errors = map.next_value()?,
                (Level::Data, "attributes") => {
                    map.next_value_seed(Level::Attributes.seed(parsed))?
                }
                (Level::Attributes, "series") => {
                    parsed.series = map.next_value::<Option<_>>()?.unwrap_or_default()
                }
                (Level::Attributes, "times") => {
                    let times: Option<Vec<Millis>> = map.next_value()?;
                    parsed.times = times.unwrap_or_default().into_iter().map(|m| m.0).collect();
                }
                (Level::Attributes, "values") => map.next_value_seed(ValuesSeed {
                    values: &mut parsed.values,
                    lens: &mut parsed.value_lens,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A timestamp in ms, written as an integer or a float.
struct Millis(i64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a timestamp in milliseconds")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Millis, E> {
                Ok(Millis(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Millis, E> {
                i64::try_from(v)
                    .map(Millis)
                    .map_err(|_| E::custom(format!("timestamp {v} is out of range")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Millis, E> {
                if v.is_finite() && v.abs() < 9.0e15 {
                    Ok(Millis(v.round() as i64))
                } else {
                    Err(E::custom(format!("timestamp {v} is out of range")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `values: [[v, null, ...], ...]` appended in order into one builder.
struct ValuesSeed<'a> {
    values: &'a mut Float64Builder,
    lens: &'a mut Vec<usize>,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of value arrays")
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(len) = seq.next_element_seed(RowSeed {
            values: &mut *self.values,
        })? {
            self.lens.push(len);
        }
        Ok(())
    }
}

/// One `values[i]`; yields its length.
struct RowSeed<'a> {
    values: &'a mut Float64Builder,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = usize;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers or nulls")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<usize, A::Error> {
        let mut n = 0;
        while let Some(v) = seq.next_element::<Option<f64>>()? {
            self.values.append_option(v);
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
