//! Datadog v2 scalar query (`POST /api/v2/query/scalar`): one aggregate per query (or formula)
//! and group over the whole request window. The table asks for one window per chunk of its
//! granularity, so each response is one chunk's aggregates:
//! `chunk_start, chunk_end, name, query, scope, group_tags, value, unit`.
//!
//! Scalar bodies are small (one number per group), so they are deserialized into typed structs
//! and then turned into Arrow.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use serde::Deserialize;

use super::v2::{
    build_v2_request, label_fields, unit_text, ErrorsField, LabelBuilders, Unit, V2Endpoint,
    V2Queries,
};
use super::{json_error, malformed, not_this_shape, Credentials};
use crate::engine::{
    ApiRequest, ApiResponse, Cursor, ErrorClass, ParsedResponse, TimeWindow, VendorAdapter,
};
use crate::{Error, Result};

const ADAPTER: &str = "datadog_v2_scalar";

const ENDPOINT: V2Endpoint = V2Endpoint {
    path: "/api/v2/query/scalar",
    request_type: "scalar_request",
};

/// Position of `chunk_start` in [`v2_scalar_schema`].
pub const COL_CHUNK_START: usize = 0;

/// `chunk_start, chunk_end, name, query, scope, group_tags, value, unit`.
pub fn v2_scalar_schema() -> SchemaRef {
    let ts = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        )
    };
    let mut fields = vec![ts("chunk_start"), ts("chunk_end")];
    fields.extend(label_fields());
    fields.push(Field::new("value", DataType::Float64, true));
    fields.push(Field::new("unit", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// How the API reduces each query's points to one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarAggregator {
    /// Mean of the points.
    Avg,
    /// Smallest point.
    Min,
    /// Largest point.
    Max,
    /// Sum of the points.
    Sum,
    /// Last point.
    Last,
    /// Percentile (as the API defines it).
    Percentile,
    /// Mean (the API's alias of avg).
    Mean,
    /// L2 norm.
    L2norm,
    /// Area under the curve.
    Area,
}

impl ScalarAggregator {
    /// Every aggregator the API documents.
    pub const ALL: [ScalarAggregator; 9] = [
        ScalarAggregator::Avg,
        ScalarAggregator::Min,
        ScalarAggregator::Max,
        ScalarAggregator::Sum,
        ScalarAggregator::Last,
        ScalarAggregator::Percentile,
        ScalarAggregator::Mean,
        ScalarAggregator::L2norm,
        ScalarAggregator::Area,
    ];

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScalarAggregator::Avg => "avg",
            ScalarAggregator::Min => "min",
            ScalarAggregator::Max => "max",
            ScalarAggregator::Sum => "sum",
            ScalarAggregator::Last => "last",
            ScalarAggregator::Percentile => "percentile",
            ScalarAggregator::Mean => "mean",
            ScalarAggregator::L2norm => "l2norm",
            ScalarAggregator::Area => "area",
        }
    }

    /// Parses a name; the error lists the valid ones.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == t)
            .ok_or_else(|| {
                Error::config(format!(
                    "aggregator '{text}' is not one of {}",
                    Self::ALL.map(|a| a.as_str()).join(", ")
                ))
            })
    }
}

/// What one v2 scalar adapter fetches.
#[derive(Debug, Clone)]
pub struct DatadogV2ScalarOptions {
    /// Queries and formulas.
    pub queries: V2Queries,
    /// The reduction of every query.
    pub aggregator: ScalarAggregator,
    /// Chunk length in ms (the window alignment).
    pub chunk_ms: i64,
    /// API base URL.
    pub base_url: url::Url,
    /// Keys.
    pub credentials: Credentials,
}

/// The v2 scalar adapter.
#[derive(Debug, Clone)]
pub struct DatadogV2ScalarAdapter {
    options: DatadogV2ScalarOptions,
    outputs: Vec<(String, String)>,
    schema: SchemaRef,
}

impl DatadogV2ScalarAdapter {
    /// Validates the options and builds the adapter.
    pub fn new(options: DatadogV2ScalarOptions) -> Result<Self> {
        options.queries.validate(ADAPTER)?;
        if options.chunk_ms < 1000 {
            return Err(Error::config(format!(
                "{ADAPTER}: the chunk (granularity) must be at least 1 s, got {} ms",
                options.chunk_ms
            )));
        }
        Ok(Self {
            outputs: options.queries.outputs(),
            options,
            schema: v2_scalar_schema(),
        })
    }
}

impl VendorAdapter for DatadogV2ScalarAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn build_request(&self, cursor: &Cursor) -> Result<ApiRequest> {
        let window = window_of(cursor)?;
        if window.len_ms() > self.options.chunk_ms {
            // One aggregate per request: a longer window would merge chunks.
            return Err(Error::Internal(format!(
                "{ADAPTER}: window {window} is longer than the {} ms chunk; the policy must not grow scalar windows",
                self.options.chunk_ms
            )));
        }
        build_v2_request(
            &ENDPOINT,
            &self.options.base_url,
            &self.options.credentials,
            &self.options.queries,
            (window.start_ms, window.end_ms),
            None,
            Some(self.options.aggregator.as_str()),
        )
    }

    fn parse(&self, cursor: &Cursor, response: &ApiResponse) -> Result<ParsedResponse> {
        // Body only: no header carries anything these APIs page by.
        let body: &[u8] = &response.body;
        let window = window_of(cursor)?;
        let parsed: ScalarBody = serde_json::from_slice(body).map_err(|e| {
            let (message, truncated) = json_error(&e, body);
            malformed(ADAPTER, cursor, message, truncated)
        })?;
        if let Some(errors) = &parsed.errors {
            errors.check(ADAPTER, cursor)?;
        }
        let Some(columns) = parsed.data.and_then(|d| d.attributes).map(|a| a.columns) else {
            return Err(not_this_shape(
                ADAPTER,
                cursor,
                "'data.attributes' object",
                body,
            ));
        };
        let batch = self
            .rows(columns, window)
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
        self.options.chunk_ms
    }
}

fn window_of(cursor: &Cursor) -> Result<&TimeWindow> {
    super::window_of(ADAPTER, cursor)
}

impl DatadogV2ScalarAdapter {
    /// One row per number column and group row; group columns give the row's tags.
    fn rows(
        &self,
        columns: Vec<Column>,
        window: &TimeWindow,
    ) -> std::result::Result<RecordBatch, String> {
        let mut groups: Vec<(String, Vec<Option<GroupCell>>)> = Vec::new();
        let mut numbers: Vec<(Vec<Option<f64>>, Option<String>)> = Vec::new();
        for c in columns {
            match (c.kind.as_str(), c.values) {
                ("group", ColumnValues::Groups(v)) => groups.push((c.name, v)),
                ("number", ColumnValues::Numbers(v)) => {
                    let unit = c.meta.and_then(|m| m.unit);
                    numbers.push((v, unit_text(unit.as_deref())));
                }
                // An empty column parses as numbers whatever its type.
                ("group", ColumnValues::Numbers(v)) if v.is_empty() => {
                    groups.push((c.name, Vec::new()))
                }
                (kind, _) => {
                    return Err(format!(
                        "column '{}' of type '{kind}' has values of another type",
                        c.name
                    ))
                }
            }
        }
        let n_rows = numbers
            .first()
            .map(|(v, _)| v.len())
            .or_else(|| groups.first().map(|(_, v)| v.len()))
            .unwrap_or(0);
        if let Some(len) = numbers
            .iter()
            .map(|(v, _)| v.len())
            .chain(groups.iter().map(|(_, v)| v.len()))
            .find(|len| *len != n_rows)
        {
            return Err(format!(
                "the columns have different lengths ({len} and {n_rows})"
            ));
        }
        if numbers.len() > self.outputs.len() {
            return Err(format!(
                "{} number columns for {} requested outputs",
                numbers.len(),
                self.outputs.len()
            ));
        }
        let tags_of_row = |r: usize| -> Vec<String> {
            let mut tags = Vec::new();
            for (key, cells) in &groups {
                match &cells[r] {
                    Some(GroupCell::Many(values)) => {
                        tags.extend(values.iter().map(|v| format!("{key}:{v}")))
                    }
                    Some(GroupCell::One(v)) => tags.push(format!("{key}:{v}")),
                    None => {}
                }
            }
            tags
        };
        let row_tags: Vec<Vec<String>> = (0..n_rows).map(tags_of_row).collect();

        let total = n_rows * numbers.len();
        let mut start = TimestampMillisecondBuilder::with_capacity(total).with_timezone("UTC");
        let mut end = TimestampMillisecondBuilder::with_capacity(total).with_timezone("UTC");
        let mut labels = LabelBuilders::with_capacity(total);
        let mut value = Float64Builder::with_capacity(total);
        let mut unit = StringBuilder::with_capacity(total, total * 4);
        // Number columns come in the order of the formulas (or queries) asked for.
        for ((values, unit_text), (name, query)) in numbers.iter().zip(&self.outputs) {
            for (r, v) in values.iter().enumerate() {
                start.append_value(window.start_ms);
                end.append_value(window.end_ms);
                labels.append_n((name, query), &row_tags[r], 1);
                value.append_option(*v);
                unit.append_option(unit_text.as_deref());
            }
        }
        let [name, query, scope, group_tags] = labels.finish()?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(start.finish()),
            Arc::new(end.finish()),
            name,
            query,
            scope,
            group_tags,
            Arc::new(value.finish()),
            Arc::new(unit.finish()),
        ];
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| e.to_string())
    }
}

#[derive(Deserialize)]
struct ScalarBody {
    #[serde(default)]
    data: Option<ScalarData>,
    #[serde(default)]
    errors: Option<ErrorsField>,
}

#[derive(Deserialize)]
struct ScalarData {
    #[serde(default)]
    attributes: Option<ScalarAttributes>,
}

#[derive(Deserialize)]
struct ScalarAttributes {
    #[serde(default)]
    columns: Vec<Column>,
}

#[derive(Deserialize)]
struct Column {
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
    values: ColumnValues,
    #[serde(default)]
    meta: Option<ColumnMeta>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ColumnValues {
    Numbers(Vec<Option<f64>>),
    Groups(Vec<Option<GroupCell>>),
}

/// A group column cell: the tag values of the row (one per group-by key value).
#[derive(Deserialize)]
#[serde(untagged)]
enum GroupCell {
    Many(Vec<String>),
    One(String),
}

#[derive(Deserialize)]
struct ColumnMeta {
    #[serde(default)]
    unit: Option<Vec<Option<Unit>>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::datadog::{NamedFormula, NamedQuery, ParseBytes};
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;

    fn adapter(formulas: &[&str]) -> DatadogV2ScalarAdapter {
        DatadogV2ScalarAdapter::new(DatadogV2ScalarOptions {
            queries: V2Queries {
                queries: vec![NamedQuery {
                    name: "a".into(),
                    query: "avg:system.cpu.user{*}".into(),
                }],
                formulas: formulas
                    .iter()
                    .map(|f| NamedFormula {
                        name: f.to_string(),
                        formula: f.to_string(),
                    })
                    .collect(),
            },
            aggregator: ScalarAggregator::Avg,
            chunk_ms: 3_600_000,
            base_url: url::Url::parse("http://127.0.0.1:1").unwrap(),
            credentials: Credentials::default(),
        })
        .unwrap()
    }

    fn window() -> Cursor {
        Cursor::Window(TimeWindow::new(1_711_391_280_000, 1_711_394_880_000))
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/datadog/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn batch(outcome: ParsedResponse) -> RecordBatch {
        match outcome {
            ParsedResponse::Rows {
                batch, next: None, ..
            } => batch,
            other => panic!("expected rows, got {other:?}"),
        }
    }

    #[test]
    fn recorded_responses_parse_to_their_rows() {
        for (file, expected) in [
            ("v2_scalar_ok.json", 6.368151928283307),
            ("v2_scalar_ok_2022.json", 5.173633659114822),
        ] {
            let b = batch(
                adapter(&["a"])
                    .parse_bytes(&window(), &fixture(file))
                    .unwrap(),
            );
            assert_eq!(b.num_rows(), 1, "{file}");
            assert_eq!(b.column(6).as_primitive::<Float64Type>().value(0), expected);
            assert_eq!(b.column(7).as_string::<i32>().value(0), "percent");
            assert_eq!(b.column(2).as_string::<i32>().value(0), "a");
            assert_eq!(b.column(4).as_string::<i32>().value(0), "*");
            let start = b
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
            assert_eq!(start.value(0), 1_711_391_280_000);
        }
    }

    #[test]
    fn the_request_matches_the_recorded_one() {
        let request = adapter(&["a"]).build_request(&window()).unwrap();
        let sent: serde_json::Value =
            serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
        let mut recorded: serde_json::Value =
            serde_json::from_slice(&fixture("v2_scalar_request.json")).unwrap();
        // The table sends no formula limit.
        recorded["data"]["attributes"]["formulas"][0]
            .as_object_mut()
            .unwrap()
            .remove("limit");
        assert_eq!(sent, recorded);
    }

    #[test]
    fn group_columns_become_tags() {
        let body = br#"{"data":{"type":"scalar_response","attributes":{"columns":[
            {"name":"host","type":"group","values":[["web-1"],["web-2"]]},
            {"name":"env","type":"group","values":[["prod"],["prod"]]},
            {"name":"a","type":"number","values":[1.5,null],"meta":{"unit":null}}]}}}"#;
        let b = batch(adapter(&[]).parse_bytes(&window(), body).unwrap());
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            b.column(4).as_string::<i32>().value(0),
            "host:web-1,env:prod"
        );
        let tags = b.column(5).as_list::<i32>().value(1);
        assert_eq!(tags.as_string::<i32>().value(0), "host:web-2");
        let v = b.column(6).as_primitive::<Float64Type>();
        assert!(v.is_valid(0) && v.is_null(1));
        assert!(b.column(7).is_null(0));
    }

    #[test]
    fn bad_bodies_are_clear_errors() {
        let a = adapter(&[]);
        let err = a
            .parse_bytes(
                &window(),
                br#"{"data":{"attributes":{"columns":[
            {"name":"a","type":"number","values":[1,2]},
            {"name":"host","type":"group","values":[["x"]]}]}}}"#,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("different lengths"), "{err}");
        let err = a
            .parse_bytes(
                &window(),
                br#"{"errors": "Queries ending outside the retention date are invalid"}"#,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("retention date"), "{err}");
        let err = a
            .parse_bytes(&window(), br#"{"data":{"attributes":{"columns":[{"na"#)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::MalformedResponse {
                    truncated: true,
                    ..
                }
            ),
            "{err}"
        );
        let err = ScalarAggregator::parse("P50").unwrap_err().to_string();
        assert!(err.contains("avg, min"), "{err}");
        let empty = batch(
            a.parse_bytes(&window(), br#"{"data":{"attributes":{"columns":[]}}}"#)
                .unwrap(),
        );
        assert_eq!(empty.num_rows(), 0);
    }
}
