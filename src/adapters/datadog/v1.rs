//! Datadog v1 metrics query (`GET /api/v1/query`).
//!
//! One request asks for every selected aggregation of the metric at once, as comma-separated
//! sub-queries with matching time rollups (`avg:M.rollup(avg,G),min:M.rollup(min,G),...`), so
//! min/max/sum are true time aggregates. Series are mapped back by `query_index` (scopes contain
//! commas, so strings are never split) and zipped by timestamp into rows.

use std::sync::Arc;

use super::f64_column::F64Column;
use super::json_scan::{ScanError, Scanner};
use super::labels::RunStrings;
use super::{malformed, not_this_shape, scan_error, Credentials};
use crate::engine::{
    ApiRequest, ApiResponse, Cursor, ErrorClass, ParsedResponse, TimeWindow, VendorAdapter,
};
use crate::{Error, Result};
use datafusion::arrow::array::{ArrayRef, Int64Builder, TimestampMillisecondBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use http::{HeaderMap, HeaderValue, Method};

const ADAPTER: &str = "datadog_v1";

type ScanResult<T> = std::result::Result<T, ScanError>;

/// A time/space aggregation the v1 table exposes as a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregation {
    /// Mean.
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Sum.
    Sum,
}

impl Aggregation {
    /// All four, in column order.
    pub const ALL: [Aggregation; 4] = [
        Aggregation::Avg,
        Aggregation::Min,
        Aggregation::Max,
        Aggregation::Sum,
    ];

    /// The name used in queries and as the column name.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Sum => "sum",
        }
    }

    fn column(self) -> usize {
        COL_AVG + self as usize
    }
}

/// Column positions in [`v1_schema`].
pub const COL_QUERY: usize = 0;
/// `metric` column.
pub const COL_METRIC: usize = 1;
/// `scope` column.
pub const COL_SCOPE: usize = 2;
/// `ts` column.
pub const COL_TS: usize = 3;
/// `avg` column.
pub const COL_AVG: usize = 4;
/// `min` column.
pub const COL_MIN: usize = 5;
/// `max` column.
pub const COL_MAX: usize = 6;
/// `sum` column.
pub const COL_SUM: usize = 7;
/// `interval` column.
pub const COL_INTERVAL: usize = 8;

/// The v1 table's schema: `query, metric, scope, ts, avg, min, max, sum, interval`.
pub fn v1_schema() -> SchemaRef {
    let value = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("query", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("scope", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        value("avg"),
        value("min"),
        value("max"),
        value("sum"),
        Field::new("interval", DataType::Int64, false),
    ]))
}

/// What one v1 adapter fetches.
#[derive(Debug, Clone)]
pub struct DatadogV1Options {
    /// The metric query without space aggregator or rollup, e.g. `system.cpu.user{*} by {host}`.
    pub query: String,
    /// Rollup granularity in seconds.
    pub granularity_s: i64,
    /// Aggregations to request (columns not requested come back null).
    pub aggregations: Vec<Aggregation>,
    /// API base URL, e.g. `https://api.datadoghq.com`.
    pub base_url: url::Url,
    /// Keys.
    pub credentials: Credentials,
}

/// The v1 adapter: one query, one granularity, a subset of the four aggregations.
#[derive(Debug, Clone)]
pub struct DatadogV1Adapter {
    options: DatadogV1Options,
    /// The query as the user wrote it: the `query` column, so `WHERE query = '...'` matches.
    written_query: String,
    /// The `query=` parameter, built once.
    wire_query: String,
    schema: SchemaRef,
}

impl DatadogV1Adapter {
    /// Validates the options and builds the adapter.
    pub fn new(mut options: DatadogV1Options) -> Result<Self> {
        let written_query = options.query.clone();
        options.query = normalize_query(&options.query)?;
        if options.granularity_s <= 0 {
            return Err(Error::config(format!(
                "granularity must be at least 1 second, got {} s",
                options.granularity_s
            )));
        }
        options.aggregations.sort();
        options.aggregations.dedup();
        if options.aggregations.is_empty() {
            // Some aggregation must be asked for to learn which timestamps exist.
            options.aggregations.push(Aggregation::Avg);
        }
        let wire_query = options
            .aggregations
            .iter()
            .map(|a| {
                format!(
                    "{agg}:{q}.rollup({agg},{g})",
                    agg = a.as_str(),
                    q = options.query,
                    g = options.granularity_s
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        Ok(Self {
            options,
            written_query,
            wire_query,
            schema: v1_schema(),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &DatadogV1Options {
        &self.options
    }

    /// The `query=` parameter sent on every request.
    pub fn wire_query(&self) -> &str {
        &self.wire_query
    }

    /// A request for `GET /api/v1/validate` (checks the API key).
    pub fn validate_request(&self) -> Result<ApiRequest> {
        let url = self
            .options
            .base_url
            .join("/api/v1/validate")
            .map_err(|e| Error::config(format!("cannot build the validate URL: {e}")))?;
        Ok(ApiRequest {
            method: Method::GET,
            url,
            headers: self.headers()?,
            body: None,
        })
    }

    fn headers(&self) -> Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        self.options.credentials.apply(&mut headers)?;
        Ok(headers)
    }
}

/// Strips a leading space aggregator (`avg:`), which the table sets per column, and refuses a
/// `.rollup(...)`, which the table sets from its granularity.
fn normalize_query(raw: &str) -> Result<String> {
    let q = raw.trim();
    if q.is_empty() {
        return Err(Error::config(
            "the metric query is empty; give one like 'system.cpu.user{*}' or 'system.cpu.user{env:prod} by {host}'",
        ));
    }
    if q.contains(".rollup(") {
        return Err(Error::config(format!(
            "query '{q}' has a .rollup(); remove it: the table rolls up by its granularity option with each aggregation (avg, min, max, sum)"
        )));
    }
    if has_top_level_comma(q) {
        return Err(Error::config(format!(
            "query '{q}' holds several queries separated by commas; give one metric query per table, or several with WHERE query IN ('...', '...')"
        )));
    }
    if !q.contains('{') {
        return Err(Error::config(format!(
            "query '{q}' has no scope; write it as 'metric{{scope}}', e.g. '{q}{{*}}'"
        )));
    }
    let stripped = match q.split_once(':') {
        Some((agg, rest))
            if !agg.contains('{') && ["avg", "min", "max", "sum"].contains(&agg.trim()) =>
        {
            rest.trim()
        }
        _ => q,
    };
    Ok(stripped.to_string())
}

/// A comma outside `{}`/`()` separates sub-queries (scopes like `{a:b,c:d}` contain commas).
fn has_top_level_comma(q: &str) -> bool {
    let mut depth = 0i32;
    q.chars().any(|c| {
        match c {
            '{' | '(' => depth += 1,
            '}' | ')' => depth -= 1,
            _ => {}
        }
        c == ',' && depth == 0
    })
}

impl VendorAdapter for DatadogV1Adapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn build_request(&self, cursor: &Cursor) -> Result<ApiRequest> {
        let window = super::window_of(ADAPTER, cursor)?;
        let mut url = self
            .options
            .base_url
            .join("/api/v1/query")
            .map_err(|e| Error::config(format!("cannot build the query URL: {e}")))?;
        // `to` is rounded up to the granularity, so a last bucket cut by the window is computed
        // from all its data (the rows are trimmed to the window afterwards).
        let to_ms = crate::engine::cursor::ceil_to(window.end_ms, self.alignment_ms());
        url.query_pairs_mut()
            .append_pair("from", &window.start_ms.div_euclid(1000).to_string())
            .append_pair("to", &to_ms.div_euclid(1000).to_string())
            .append_pair("query", &self.wire_query);
        Ok(ApiRequest {
            method: Method::GET,
            url,
            headers: self.headers()?,
            body: None,
        })
    }

    fn parse(&self, cursor: &Cursor, response: &ApiResponse) -> Result<ParsedResponse> {
        // Body only: no header carries anything these APIs page by.
        let body: &[u8] = &response.body;
        let window = super::window_of(ADAPTER, cursor)?;
        let parsed = read_body(body).map_err(|e| {
            let (message, truncated) = scan_error(e, body);
            malformed(ADAPTER, cursor, message, truncated)
        })?;
        if let Some(status) = parsed.status.as_deref().filter(|s| *s != "ok") {
            return Err(Error::Api {
                adapter: ADAPTER,
                cursor: cursor.to_string(),
                status: 200,
                message: format!(
                    "status '{status}': {}",
                    parsed.error.as_deref().unwrap_or("no error message")
                ),
                hint: None,
            });
        }
        let Some(series) = parsed.series else {
            return Err(not_this_shape(ADAPTER, cursor, "'series' list", body));
        };
        if let Some(coarse) = series
            .iter()
            .filter_map(|s| s.interval)
            .find(|i| *i > self.options.granularity_s)
        {
            return Ok(ParsedResponse::WindowTooLarge(format!(
                "the API rolled up to {coarse} s instead of the {} s granularity asked for",
                self.options.granularity_s
            )));
        }
        let batch = self
            .rows(&series, window)
            .map_err(|message| Error::MalformedResponse {
                adapter: ADAPTER,
                cursor: cursor.to_string(),
                message,
                truncated: false,
            })?;
        Ok(ParsedResponse::window_rows(batch))
    }

    fn classify_error(&self, status: u16, body: &[u8]) -> ErrorClass {
        super::classify_error(status, body)
    }

    fn error_hint(&self, status: u16) -> Option<&'static str> {
        super::error_hint(status)
    }

    fn alignment_ms(&self) -> i64 {
        // Saturating: the granularity is the caller's, and any value above 1 s is valid.
        self.options.granularity_s.saturating_mul(1000)
    }
}

/// The parts of a v1 response the table uses. Unknown fields are skipped without being built.
#[derive(Default)]
struct V1Body {
    status: Option<String>,
    error: Option<String>,
    /// Absent in a body of another shape (an error page, a proxy's JSON): that is an error,
    /// not an empty result.
    series: Option<Vec<V1Series>>,
}

#[derive(Default)]
struct V1Series {
    metric: String,
    scope: String,
    query_index: Option<i64>,
    /// Seconds, whatever the spec says (every recording shows seconds).
    interval: Option<i64>,
    /// `[[ts_ms, value], ...]`; timestamps may be floats (`1623846300000.0`), values null.
    pointlist: Vec<(Option<f64>, Option<f64>)>,
}

/// Reads a v1 body: the scanner walks the body and each series and reads `pointlist` itself;
/// serde reads the other fields (`status`, `error`, `metric`, `scope`, `query_index`,
/// `interval`) and skips the rest. As with serde's derive, every field may be missing and none
/// may appear twice.
fn read_body(body: &[u8]) -> ScanResult<V1Body> {
    let mut s = Scanner::new(body);
    let mut out = V1Body::default();
    s.begin_object("a v1 query response object", false)?;
    let mut seen = [false; 3];
    let mut first = true;
    while let Some(key) = s.next_key(&mut first)? {
        match key.as_ref() {
            "status" => {
                s.once(&mut seen[0], "status")?;
                out.status = s.value()?;
            }
            "error" => {
                s.once(&mut seen[1], "error")?;
                out.error = s.value()?;
            }
            "series" => {
                s.once(&mut seen[2], "series")?;
                out.series = read_series_list(&mut s)?;
            }
            _ => s.skip()?,
        }
    }
    s.end()?;
    Ok(out)
}

fn read_series_list(s: &mut Scanner<'_>) -> ScanResult<Option<Vec<V1Series>>> {
    if !s.begin_array("a list of series", true)? {
        return Ok(None);
    }
    let mut list = Vec::new();
    let mut first = true;
    while s.next_element(&mut first)? {
        list.push(read_series(s)?);
    }
    Ok(Some(list))
}

fn read_series(s: &mut Scanner<'_>) -> ScanResult<V1Series> {
    let mut out = V1Series::default();
    s.begin_object("a series object", false)?;
    let mut seen = [false; 5];
    let mut first = true;
    while let Some(key) = s.next_key(&mut first)? {
        match key.as_ref() {
            "metric" => {
                s.once(&mut seen[0], "metric")?;
                out.metric = s.value()?;
            }
            "scope" => {
                s.once(&mut seen[1], "scope")?;
                out.scope = s.value()?;
            }
            "query_index" => {
                s.once(&mut seen[2], "query_index")?;
                out.query_index = s.value()?;
            }
            "interval" => {
                s.once(&mut seen[3], "interval")?;
                out.interval = s.value()?;
            }
            "pointlist" => {
                s.once(&mut seen[4], "pointlist")?;
                read_pointlist(s, &mut out.pointlist)?;
            }
            _ => s.skip()?,
        }
    }
    Ok(out)
}

/// `[[ts, value], ...]` or `null` (no points); each point exactly two numbers or nulls.
fn read_pointlist(
    s: &mut Scanner<'_>,
    points: &mut Vec<(Option<f64>, Option<f64>)>,
) -> ScanResult<()> {
    if !s.begin_array("a list of points", true)? {
        return Ok(());
    }
    let mut first = true;
    let push = |(ts, value)| points.push((Some(ts), Some(value)));
    if s.compact_elements(Scanner::compact_pair, push, &mut first) {
        return Ok(());
    }
    while s.next_element(&mut first)? {
        if let Some((ts, value)) = s.compact_pair() {
            points.push((Some(ts), Some(value)));
            continue;
        }
        s.begin_array(PAIR, false)?;
        let mut first_value = true;
        if !s.next_element(&mut first_value)? {
            return Err(s.invalid_length(PAIR));
        }
        let ts = s.f64_or_null()?;
        if !s.next_element(&mut first_value)? {
            return Err(s.invalid_length(PAIR));
        }
        let value = s.f64_or_null()?;
        if s.next_element(&mut first_value)? {
            return Err(s.invalid_length(PAIR));
        }
        points.push((ts, value));
    }
    Ok(())
}

const PAIR: &str = "a [timestamp, value] pair";

impl DatadogV1Adapter {
    /// Zips the series of each scope by timestamp into rows inside `window`.
    fn rows(
        &self,
        series: &[V1Series],
        window: &TimeWindow,
    ) -> std::result::Result<RecordBatch, String> {
        // Group the series by scope, in order of first appearance; slot = aggregation column.
        let mut groups: Vec<(&str, &str, [Option<&V1Series>; 4])> = Vec::new();
        for s in series {
            let index = s.query_index.unwrap_or(0);
            let agg = usize::try_from(index)
                .ok()
                .and_then(|i| self.options.aggregations.get(i))
                .ok_or_else(|| {
                    format!(
                        "series '{}' has query_index {index}, but only {} sub-queries were sent",
                        s.scope,
                        self.options.aggregations.len()
                    )
                })?;
            let slot = *agg as usize;
            match groups.iter_mut().find(|(scope, _, _)| *scope == s.scope) {
                Some((_, _, slots)) if slots[slot].is_none() => slots[slot] = Some(s),
                Some(_) => {
                    return Err(format!(
                        "two series for scope '{}' and aggregation {}",
                        s.scope,
                        agg.as_str()
                    ))
                }
                None => {
                    let mut slots = [None; 4];
                    slots[slot] = Some(s);
                    groups.push((&s.scope, &s.metric, slots));
                }
            }
        }

        let capacity: usize = groups
            .iter()
            .filter_map(|(_, _, slots)| slots.iter().flatten().map(|s| s.pointlist.len()).max())
            .sum();
        let mut b = RowBuilders::new(capacity);
        for (scope, metric, slots) in &groups {
            let interval = slots.iter().flatten().filter_map(|s| s.interval).max();
            let interval = interval.unwrap_or(self.options.granularity_s);
            let present: Vec<(usize, &V1Series)> = slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (i, s)))
                .collect();
            // Points out of time order (or repeated) take the merge path, which orders them.
            let ordered = present.iter().all(|(_, s)| {
                s.pointlist
                    .windows(2)
                    .all(|w| matches!((w[0].0, w[1].0), (Some(a), Some(b)) if a < b))
            });
            let same_axis = ordered
                && present.windows(2).all(|pair| {
                    let (a, b) = (&pair[0].1.pointlist, &pair[1].1.pointlist);
                    a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.0 == y.0)
                });
            let mut rows = 0;
            let mut push_row = |ts: i64, values: [Option<f64>; 4]| {
                if window.contains(ts) {
                    b.push(ts, values);
                    rows += 1;
                }
            };
            if same_axis {
                // The common case: every aggregation has the same buckets.
                let (_, first) = present[0];
                for (row, (ts, _)) in first.pointlist.iter().enumerate() {
                    let Some(ts) = ts.and_then(to_ms) else {
                        continue;
                    };
                    let mut values = [None; 4];
                    for (slot, s) in &present {
                        values[*slot] = s.pointlist[row].1;
                    }
                    push_row(ts, values);
                }
            } else {
                // Different buckets per aggregation: merge by timestamp.
                let mut merged: std::collections::BTreeMap<i64, [Option<f64>; 4]> =
                    Default::default();
                for (slot, s) in &present {
                    for (ts, v) in &s.pointlist {
                        if let Some(ts) = ts.and_then(to_ms) {
                            merged.entry(ts).or_default()[*slot] = *v;
                        }
                    }
                }
                for (ts, values) in merged {
                    push_row(ts, values);
                }
            }
            b.labels(&self.written_query, metric, scope, interval, rows);
        }
        b.finish(&self.schema)
    }
}

/// Point timestamps are ms, as integers or floats; anything not finite is dropped.
fn to_ms(ts: f64) -> Option<i64> {
    (ts.is_finite() && ts.abs() < 9.0e15).then(|| ts.round() as i64)
}

/// Column builders for one response. A scope's rows are contiguous, so its labels are
/// appended as one run after its rows.
struct RowBuilders {
    query: RunStrings,
    metric: RunStrings,
    scope: RunStrings,
    ts: TimestampMillisecondBuilder,
    values: [F64Column; 4],
    interval: Int64Builder,
}

impl RowBuilders {
    fn new(capacity: usize) -> Self {
        Self {
            query: RunStrings::with_capacity(capacity, capacity * 16),
            metric: RunStrings::with_capacity(capacity, capacity * 16),
            scope: RunStrings::with_capacity(capacity, capacity * 8),
            ts: TimestampMillisecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            values: std::array::from_fn(|_| F64Column::with_capacity(capacity)),
            interval: Int64Builder::with_capacity(capacity),
        }
    }

    /// One row's time and values.
    fn push(&mut self, ts: i64, values: [Option<f64>; 4]) {
        self.ts.append_value(ts);
        for (builder, v) in self.values.iter_mut().zip(values) {
            builder.push(v);
        }
    }

    /// The labels of the `rows` rows pushed since the last call.
    fn labels(&mut self, query: &str, metric: &str, scope: &str, interval: i64, rows: usize) {
        self.query.push_n(query, rows);
        self.metric.push_n(metric, rows);
        self.scope.push_n(scope, rows);
        self.interval.append_value_n(interval, rows);
    }

    fn finish(mut self, schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.query.finish()?),
            Arc::new(self.metric.finish()?),
            Arc::new(self.scope.finish()?),
            Arc::new(self.ts.finish()),
        ];
        for column in self.values {
            columns.push(Arc::new(column.finish()));
        }
        columns.push(Arc::new(self.interval.finish()));
        debug_assert_eq!(columns.len(), COL_INTERVAL + 1);
        debug_assert_eq!(Aggregation::Sum.column(), COL_AVG + 3);
        RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests;
