//! Datadog v2 timeseries query (`POST /api/v2/query/timeseries`), in long format: one row per
//! (series, timestamp) with `name, query, scope, group_tags, ts, value, unit`.
//!
//! The columnar body (`series[]`, one shared `times[]`, `values[series][time]`) is read straight
//! into Arrow by the [`json_scan`](super::json_scan) reader: `values` is series-major, exactly the
//! row order of the long format, so every number goes from its text into one `F64Column`
//! without an intermediate tree; serde reads the series' labels and units.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, TimestampMillisecondBuilder, UInt32Array};
use datafusion::arrow::compute::{filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use serde::Deserialize;

use super::f64_column::F64Column;
use super::labels::RunStrings;
use super::v2::{
    build_v2_request, label_fields, unit_text, ErrorsField, LabelBuilders, Unit, V2Endpoint,
    V2Queries,
};

type ScanResult<T> = std::result::Result<T, ScanError>;
use super::json_scan::{ScanError, Scanner};
use super::{malformed, not_this_shape, scan_error, Credentials};
use crate::engine::{
    ApiRequest, ApiResponse, Cursor, ErrorClass, ParsedResponse, TimeWindow, VendorAdapter,
};
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
        // Body only: no header carries anything these APIs page by.
        let body: &[u8] = &response.body;
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
        let mut unit = RunStrings::with_capacity(rows, rows * 8);
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
            unit.push_option_n(unit_text(s.unit.as_deref()).as_deref(), n_times);
        }
        let [name, query, scope, group_tags] = labels.finish()?;
        let columns: Vec<ArrayRef> = vec![
            name,
            query,
            scope,
            group_tags,
            Arc::new(ts.finish()),
            Arc::new(p.values.finish()),
            Arc::new(unit.finish()?),
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
    values: F64Column,
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

/// Reads `{"data": {"attributes": {...}}, "errors": ...}`: the scanner walks the three object
/// levels and reads `times` and `values` itself; serde reads `series`, `errors` and skips the
/// rest. `null` for the body, `data` or `attributes` means no series.
fn parse_body(body: &[u8]) -> std::result::Result<Parsed, (String, bool)> {
    let mut parsed = Parsed {
        series: Vec::new(),
        times: Vec::new(),
        values: F64Column::with_capacity(0),
        value_lens: Vec::new(),
        errors: None,
        found_attributes: false,
    };
    let mut s = Scanner::new(body);
    read_body(&mut s, &mut parsed)
        .and_then(|()| s.end())
        .map_err(|e| scan_error(e, body))?;
    Ok(parsed)
}

fn read_body(s: &mut Scanner<'_>, parsed: &mut Parsed) -> ScanResult<()> {
    if !s.begin_object("a timeseries response object", true)? {
        return Ok(());
    }
    let mut first = true;
    while let Some(key) = s.next_key(&mut first)? {
        match key.as_ref() {
            "data" => read_data(s, parsed)?,
            "errors" => parsed.errors = s.value()?,
            _ => s.skip()?,
        }
    }
    Ok(())
}

fn read_data(s: &mut Scanner<'_>, parsed: &mut Parsed) -> ScanResult<()> {
    if !s.begin_object("the 'data' object", true)? {
        return Ok(());
    }
    let mut first = true;
    while let Some(key) = s.next_key(&mut first)? {
        match key.as_ref() {
            "attributes" => read_attributes(s, parsed)?,
            _ => s.skip()?,
        }
    }
    Ok(())
}

fn read_attributes(s: &mut Scanner<'_>, parsed: &mut Parsed) -> ScanResult<()> {
    if !s.begin_object("the 'attributes' object", true)? {
        return Ok(());
    }
    parsed.found_attributes = true;
    let mut first = true;
    while let Some(key) = s.next_key(&mut first)? {
        match key.as_ref() {
            "series" => parsed.series = s.value::<Option<_>>()?.unwrap_or_default(),
            "times" => {
                parsed.times.clear();
                // A timestamp in ms takes 14 bytes with its comma; the values take more room.
                parsed.times.reserve((s.remaining() / 16).min(1 << 12));
                if s.begin_array("an array of timestamps", true)? {
                    let mut first = true;
                    let times = &mut parsed.times;
                    if !s.compact_elements(Scanner::compact_millis, |t| times.push(t), &mut first) {
                        while s.next_element(&mut first)? {
                            times.push(s.millis()?);
                        }
                    }
                }
            }
            "values" => {
                // Datadog sends `series` and `times` first: then the size is known.
                let rows = parsed.times.len().saturating_mul(parsed.series.len());
                parsed.values.reserve(rows.min(s.remaining() / 2));
                read_values(s, &mut parsed.values, &mut parsed.value_lens)?
            }
            _ => s.skip()?,
        }
    }
    Ok(())
}

/// `values: [[v, null, ...], ...]` appended in order into one builder (`null` is no arrays).
fn read_values(
    s: &mut Scanner<'_>,
    values: &mut F64Column,
    lens: &mut Vec<usize>,
) -> ScanResult<()> {
    if !s.begin_array("an array of value arrays", true)? {
        return Ok(());
    }
    let mut first = true;
    while s.next_element(&mut first)? {
        s.begin_array("an array of numbers or nulls", false)?;
        let before = values.len();
        let mut first_value = true;
        let push = |v| values.push(v);
        if !s.compact_elements(Scanner::compact_f64_or_null, push, &mut first_value) {
            while s.next_element(&mut first_value)? {
                values.push(s.f64_or_null()?);
            }
        }
        lens.push(values.len() - before);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
