//! What the two v2 query adapters (`POST /api/v2/query/timeseries` and `/scalar`) share: named
//! queries and formulas, the request body, how a response's `query_index` maps to the row
//! labels (`name`, `query`), units, group tags, and the label columns of their schemas.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field};
use http::{HeaderMap, HeaderValue, Method};
use serde::{Deserialize, Serialize};

use super::labels::{RunStrings, RunTags};
use super::Credentials;
use crate::engine::ApiRequest;
use crate::{Error, Result};

/// One named metric query of a v2 request (`{"data_source": "metrics", "name": "a", ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    /// The variable formulas use, and the `name` of its rows.
    pub name: String,
    /// A classic metric query, e.g. `avg:system.cpu.user{*} by {host}`.
    pub query: String,
}

/// One formula over the named queries, e.g. `a / b`; its rows are labelled `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFormula {
    /// The label of its rows (the formula text unless an alias was given).
    pub name: String,
    /// The expression sent to the API.
    pub formula: String,
}

/// What a v2 request asks for: queries, and optionally formulas over them. With formulas the
/// API returns the formulas only, so the outputs are the formulas; without, the queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Queries {
    /// The queries (at least one).
    pub queries: Vec<NamedQuery>,
    /// The formulas (may be empty).
    pub formulas: Vec<NamedFormula>,
}

impl V2Queries {
    /// Checks names and texts.
    pub fn validate(&self, adapter: &str) -> Result<()> {
        if self.queries.is_empty() {
            return Err(Error::config(format!(
                "{adapter}: no query given; set option 'query' (or 'query.<name>' for several), e.g. 'avg:system.cpu.user{{*}} by {{host}}'"
            )));
        }
        for q in &self.queries {
            if !is_variable_name(&q.name) {
                return Err(Error::config(format!(
                    "{adapter}: query name '{}' must start with a letter and hold only letters, digits and '_' (it is the variable formulas use)",
                    q.name
                )));
            }
            if q.query.trim().is_empty() {
                return Err(Error::config(format!(
                    "{adapter}: query '{}' is empty; give a metric query such as 'avg:system.cpu.user{{*}}'",
                    q.name
                )));
            }
            if self.queries.iter().filter(|o| o.name == q.name).count() > 1 {
                return Err(Error::config(format!(
                    "{adapter}: two queries are named '{}'",
                    q.name
                )));
            }
        }
        for f in &self.formulas {
            if f.formula.trim().is_empty() {
                return Err(Error::config(format!(
                    "{adapter}: formula '{}' is empty",
                    f.name
                )));
            }
        }
        Ok(())
    }

    /// The (name, query text) labels of the API's `query_index` values, in order.
    pub fn outputs(&self) -> Vec<(String, String)> {
        if self.formulas.is_empty() {
            self.queries
                .iter()
                .map(|q| (q.name.clone(), q.query.clone()))
                .collect()
        } else {
            self.formulas
                .iter()
                .map(|f| (f.name.clone(), f.formula.clone()))
                .collect()
        }
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `{"data": {"type": ..., "attributes": {...}}}`, the envelope of both v2 requests.
#[derive(Serialize)]
struct Envelope<'a> {
    data: EnvelopeData<'a>,
}

#[derive(Serialize)]
struct EnvelopeData<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    attributes: Attributes<'a>,
}

#[derive(Serialize)]
struct Attributes<'a> {
    from: i64,
    to: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<i64>,
    queries: Vec<WireQuery<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    formulas: Vec<WireFormula<'a>>,
}

#[derive(Serialize)]
struct WireQuery<'a> {
    data_source: &'static str,
    name: &'a str,
    query: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregator: Option<&'a str>,
}

#[derive(Serialize)]
struct WireFormula<'a> {
    formula: &'a str,
}

/// Where and how to send a v2 request.
#[derive(Debug, Clone)]
pub(super) struct V2Endpoint {
    /// `/api/v2/query/timeseries` or `/api/v2/query/scalar`.
    pub path: &'static str,
    /// `timeseries_request` or `scalar_request`.
    pub request_type: &'static str,
}

/// Builds the POST request of one window. `aggregator` is set on every query (scalar only).
pub(super) fn build_v2_request(
    endpoint: &V2Endpoint,
    base_url: &url::Url,
    credentials: &Credentials,
    queries: &V2Queries,
    (from_ms, to_ms): (i64, i64),
    interval_ms: Option<i64>,
    aggregator: Option<&str>,
) -> Result<ApiRequest> {
    let url = base_url
        .join(endpoint.path)
        .map_err(|e| Error::config(format!("cannot build the {} URL: {e}", endpoint.path)))?;
    let body = Envelope {
        data: EnvelopeData {
            kind: endpoint.request_type,
            attributes: Attributes {
                from: from_ms,
                to: to_ms,
                interval: interval_ms,
                queries: queries
                    .queries
                    .iter()
                    .map(|q| WireQuery {
                        data_source: "metrics",
                        name: &q.name,
                        query: &q.query,
                        aggregator,
                    })
                    .collect(),
                formulas: queries
                    .formulas
                    .iter()
                    .map(|f| WireFormula {
                        formula: &f.formula,
                    })
                    .collect(),
            },
        },
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| Error::Internal(format!("cannot encode the request body: {e}")))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    credentials.apply(&mut headers)?;
    Ok(ApiRequest {
        method: Method::POST,
        url,
        headers,
        body: Some(body.into()),
    })
}

/// A Datadog unit object; only the names are used.
#[derive(Debug, Deserialize)]
pub(super) struct Unit {
    #[serde(default)]
    name: Option<String>,
}

/// `unit: [unit|null, per_unit|null] | null` as text: `percent`, `byte/second`, or null.
pub(super) fn unit_text(unit: Option<&[Option<Unit>]>) -> Option<String> {
    let unit = unit?;
    let name = |i: usize| unit.get(i)?.as_ref()?.name.clone();
    match (name(0), name(1)) {
        (Some(u), Some(per)) => Some(format!("{u}/{per}")),
        (Some(u), None) => Some(u),
        (None, Some(per)) => Some(format!("1/{per}")),
        (None, None) => None,
    }
}

/// `group_tags` as the `scope` string: `host:web-1,env:prod`, or `*` when ungrouped.
pub(super) fn scope_of(group_tags: &[String]) -> String {
    if group_tags.is_empty() {
        "*".to_string()
    } else {
        group_tags.join(",")
    }
}

/// The `group_tags` column type: a list of strings.
pub(super) fn group_tags_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// The label columns both v2 tables share, after their time columns.
pub(super) fn label_fields() -> Vec<Field> {
    vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("scope", DataType::Utf8, false),
        Field::new("group_tags", group_tags_type(), false),
    ]
}

/// Builders of the label columns (`name`, `query`, `scope`, `group_tags`).
pub(super) struct LabelBuilders {
    name: RunStrings,
    query: RunStrings,
    scope: RunStrings,
    group_tags: RunTags,
}

impl LabelBuilders {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            name: RunStrings::with_capacity(rows, rows * 4),
            query: RunStrings::with_capacity(rows, rows * 32),
            scope: RunStrings::with_capacity(rows, rows * 16),
            group_tags: RunTags::with_capacity(
                Arc::new(Field::new("item", DataType::Utf8, true)),
                rows,
            ),
        }
    }

    /// Appends `rows` rows with the same labels, as runs (a series' labels repeat on each of
    /// its rows; per-row appends of four columns were a third of the parse time).
    pub fn append_n(&mut self, (name, query): (&str, &str), group_tags: &[String], rows: usize) {
        self.name.push_n(name, rows);
        self.query.push_n(query, rows);
        self.scope.push_n(&scope_of(group_tags), rows);
        self.group_tags.push_n(group_tags, rows);
    }

    /// The four columns, in schema order.
    pub fn finish(self) -> std::result::Result<[ArrayRef; 4], String> {
        Ok([
            Arc::new(self.name.finish()?),
            Arc::new(self.query.finish()?),
            Arc::new(self.scope.finish()?),
            Arc::new(self.group_tags.finish()?),
        ])
    }
}

/// The top-level `errors` field of a 200 body: a string per the spec, a list in practice.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ErrorsField {
    One(String),
    Many(Vec<String>),
}

impl ErrorsField {
    /// A 200 answer that carries errors is the API's error, verbatim.
    pub fn check(&self, adapter: &'static str, cursor: &crate::engine::Cursor) -> Result<()> {
        match self.message() {
            Some(message) => Err(Error::Api {
                adapter,
                cursor: cursor.to_string(),
                status: 200,
                message,
                hint: None,
            }),
            None => Ok(()),
        }
    }

    /// The message, if not empty.
    pub fn message(&self) -> Option<String> {
        let text = match self {
            ErrorsField::One(s) => s.clone(),
            ErrorsField::Many(list) => list.join("; "),
        };
        (!text.trim().is_empty()).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queries() -> V2Queries {
        V2Queries {
            queries: vec![
                NamedQuery {
                    name: "a".into(),
                    query: "avg:m{*}".into(),
                },
                NamedQuery {
                    name: "b".into(),
                    query: "sum:n{*}".into(),
                },
            ],
            formulas: vec![],
        }
    }

    #[test]
    fn request_body_matches_the_recorded_shape() {
        let mut q = queries();
        q.formulas.push(NamedFormula {
            name: "ratio".into(),
            formula: "a / b".into(),
        });
        let request = build_v2_request(
            &V2Endpoint {
                path: "/api/v2/query/timeseries",
                request_type: "timeseries_request",
            },
            &url::Url::parse("http://127.0.0.1:1").unwrap(),
            &Credentials::default(),
            &q,
            (1000, 2000),
            Some(60_000),
            None,
        )
        .unwrap();
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.url.path(), "/api/v2/query/timeseries");
        let body: serde_json::Value =
            serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"data": {"type": "timeseries_request", "attributes": {
                "from": 1000, "to": 2000, "interval": 60000,
                "queries": [
                    {"data_source": "metrics", "name": "a", "query": "avg:m{*}"},
                    {"data_source": "metrics", "name": "b", "query": "sum:n{*}"}],
                "formulas": [{"formula": "a / b"}]}}})
        );
        assert_eq!(
            q.outputs(),
            vec![("ratio".to_string(), "a / b".to_string())]
        );
        assert_eq!(queries().outputs()[1], ("b".into(), "sum:n{*}".into()));
    }

    #[test]
    fn names_are_checked() {
        let mut q = queries();
        q.queries[1].name = "a".into();
        let err = q.validate("datadog_v2_timeseries").unwrap_err().to_string();
        assert!(err.contains("two queries are named 'a'"), "{err}");
        q.queries[1].name = "1x".into();
        let err = q.validate("datadog_v2_timeseries").unwrap_err().to_string();
        assert!(err.contains("must start with a letter"), "{err}");
        let empty = V2Queries {
            queries: vec![],
            formulas: vec![],
        };
        assert!(empty
            .validate("x")
            .unwrap_err()
            .to_string()
            .contains("'query'"));
    }

    #[test]
    fn units_as_text() {
        let unit = |n: &str| {
            Some(Unit {
                name: Some(n.into()),
            })
        };
        assert_eq!(unit_text(None), None);
        assert_eq!(
            unit_text(Some(&[unit("percent"), None])).as_deref(),
            Some("percent")
        );
        assert_eq!(
            unit_text(Some(&[unit("byte"), unit("second")])).as_deref(),
            Some("byte/second")
        );
        assert_eq!(scope_of(&[]), "*");
        assert_eq!(scope_of(&["a:1".into(), "b:2".into()]), "a:1,b:2");
    }
}
