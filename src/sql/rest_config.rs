//! Configuration of the generic REST tables (`page_api`, `token_api`): option names for SQL
//! `OPTIONS` and JSON, `${ENV}` references for secrets, and the typed adapter options they
//! make. Values holding a `${...}` reference are secrets: never shown in Debug, EXPLAIN or
//! errors.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;

use super::options::{json_scalar_text, parse_bool, parse_count, parse_duration};
use crate::adapters::rest::columns::{ColumnSpec, ColumnType, Pointer, TimeFormat};
use crate::adapters::rest::{Paging, ParamLocation, RestOptions, TokenSource, Value};
use crate::adapters::Secret;
use crate::transport::parse_base_url;
use crate::{Error, Result};

/// Which paging a REST table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestKind {
    /// `page_api`: page numbers.
    Page,
    /// `token_api`: opaque tokens.
    Token,
}

impl RestKind {
    /// Both kinds.
    pub const ALL: [RestKind; 2] = [RestKind::Page, RestKind::Token];

    /// `page_api` / `token_api`.
    pub fn adapter_name(self) -> &'static str {
        match self {
            RestKind::Page => "page_api",
            RestKind::Token => "token_api",
        }
    }

    /// `PAGE_API` / `TOKEN_API`.
    pub fn stored_as(self) -> &'static str {
        match self {
            RestKind::Page => "PAGE_API",
            RestKind::Token => "TOKEN_API",
        }
    }

    /// The kind of an adapter name.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|k| k.adapter_name() == name)
    }

    /// The options this kind accepts, with what they mean.
    pub fn options(self) -> Vec<(&'static str, &'static str)> {
        let specific: &[(&str, &str)] = match self {
            RestKind::Page => PAGE_OPTIONS,
            RestKind::Token => TOKEN_OPTIONS,
        };
        COMMON_OPTIONS.iter().chain(specific).copied().collect()
    }

    fn option_names(self) -> String {
        self.options()
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

const COMMON_OPTIONS: &[(&str, &str)] = &[
    (
        "url",
        "the endpoint (LOCATION), e.g. 'https://api.example.com/v1/events'",
    ),
    ("method", "GET (default) or POST"),
    (
        "params.<name>",
        "a static query parameter; '${ENV_VAR}' values are secrets",
    ),
    (
        "headers.<name>",
        "a static header, e.g. 'headers.authorization' = 'Bearer ${TOKEN}'",
    ),
    (
        "body",
        "JSON object sent with POST; paging fields are added to it",
    ),
    (
        "params_in",
        "where paging and time parameters go: query (GET default) or body (POST default)",
    ),
    (
        "records",
        "JSON pointer to the records array, e.g. '/data' ('' = the body is the array)",
    ),
    (
        "column.<name>",
        "JSON pointer of a column inside a record (default '/<name>')",
    ),
    (
        "column.<name>.format",
        "timestamp column format: auto, rfc3339, epoch_s, epoch_ms",
    ),
    (
        "has_more",
        "JSON pointer to a boolean that is false on the last page",
    ),
    (
        "time_column",
        "the column the API can filter by time (enables ts pushdown)",
    ),
    (
        "start_param",
        "parameter carrying the start of the time range",
    ),
    ("end_param", "parameter carrying the end of the time range"),
    (
        "time_format",
        "format of start/end parameters: rfc3339 (default), epoch_s, epoch_ms",
    ),
    (
        "on_type_error",
        "error (default) or null: what a value of the wrong type becomes",
    ),
    ("page_size_param", "parameter carrying the page size"),
    ("page_size", "records per page asked for (default 100)"),
    (
        "max_pages",
        "most pages one query may fetch (default 100000)",
    ),
    ("prefetch_depth", "requests in flight (default 2)"),
    ("max_retries", "retries per request (default 8)"),
    (
        "request_timeout",
        "time allowed for one request (default 60s)",
    ),
    ("connect_timeout", "time allowed to connect (default 10s)"),
    (
        "allow_http",
        "allow plain http to non-loopback hosts (default false)",
    ),
];

const PAGE_OPTIONS: &[(&str, &str)] = &[
    ("page_param", "the page-number parameter (default 'page')"),
    ("first_page", "number of the first page, 0 or 1 (default 1)"),
    (
        "total",
        "JSON pointer to the total number of records (enables parallel prefetch)",
    ),
    ("total_pages", "JSON pointer to the total number of pages"),
    (
        "stop_on_short_page",
        "a page shorter than page_size is the last (default true when page_size_param is set)",
    ),
];

const TOKEN_OPTIONS: &[(&str, &str)] = &[
    ("token_param", "the token parameter (default 'cursor')"),
    (
        "next_token",
        "JSON pointer to the next token, e.g. '/meta/next'",
    ),
    (
        "next_token_from_last_record",
        "JSON pointer inside the last record giving the next token (Stripe: '/id')",
    ),
    (
        "next_link",
        "true: follow the Link header's rel=\"next\" URL (GitHub)",
    ),
];

/// A REST table's settings, as given.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// Page or token paging.
    pub kind: RestKind,
    /// The endpoint.
    pub url: String,
    /// GET or POST.
    pub method: Method,
    /// Static query parameters (after `${ENV}` expansion).
    pub params: Vec<(String, Value)>,
    /// Static headers.
    pub headers: Vec<(String, Value)>,
    /// Body template.
    pub body: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where paging and time parameters go; `None` = by method.
    pub params_in: Option<ParamLocation>,
    /// The records pointer.
    pub records: Pointer,
    /// Columns, in order.
    pub columns: Vec<ColumnSpec>,
    /// `column.<name>` pointer overrides (applied to SQL column lists).
    pub column_pointers: BTreeMap<String, Pointer>,
    /// `column.<name>.format` overrides.
    pub column_formats: BTreeMap<String, TimeFormat>,
    /// `has_more` pointer.
    pub has_more: Option<Pointer>,
    /// Time pushdown column.
    pub time_column: Option<String>,
    /// Start parameter.
    pub start_param: Option<String>,
    /// End parameter.
    pub end_param: Option<String>,
    /// Format of the time parameters.
    pub time_format: TimeFormat,
    /// Wrong types become nulls.
    pub lenient_types: bool,
    /// Page-number parameter.
    pub page_param: String,
    /// First page number.
    pub first_page: u64,
    /// Page-size parameter.
    pub page_size_param: Option<String>,
    /// Page size.
    pub page_size: u64,
    /// Total records pointer.
    pub total: Option<Pointer>,
    /// Total pages pointer.
    pub total_pages: Option<Pointer>,
    /// Short page ends; `None` = when a page size parameter is set.
    pub stop_on_short_page: Option<bool>,
    /// Token parameter.
    pub token_param: String,
    /// Next token pointer.
    pub next_token: Option<Pointer>,
    /// Next token inside the last record.
    pub next_token_from_last_record: Option<Pointer>,
    /// Follow Link headers.
    pub next_link: bool,
    /// Most pages per query.
    pub max_pages: u64,
    /// Prefetch depth.
    pub prefetch_depth: usize,
    /// Retries per request.
    pub max_retries: u32,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Allow http to non-loopback hosts.
    pub allow_http: bool,
}

impl RestConfig {
    /// Defaults for `kind`.
    pub fn new(kind: RestKind) -> Self {
        Self {
            kind,
            url: String::new(),
            method: Method::GET,
            params: Vec::new(),
            headers: Vec::new(),
            body: None,
            params_in: None,
            records: Pointer::default(),
            columns: Vec::new(),
            column_pointers: BTreeMap::new(),
            column_formats: BTreeMap::new(),
            has_more: None,
            time_column: None,
            start_param: None,
            end_param: None,
            time_format: TimeFormat::Rfc3339,
            lenient_types: false,
            page_param: "page".into(),
            first_page: 1,
            page_size_param: None,
            page_size: 100,
            total: None,
            total_pages: None,
            stop_on_short_page: None,
            token_param: "cursor".into(),
            next_token: None,
            next_token_from_last_record: None,
            next_link: false,
            max_pages: 100_000,
            prefetch_depth: 2,
            max_retries: 8,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            allow_http: false,
        }
    }

    fn name(&self) -> &'static str {
        self.kind.adapter_name()
    }

    /// Sets one option by name. Unknown names are an error listing the valid ones.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let raw_key = key.trim();
        let lower = raw_key.to_ascii_lowercase();
        let key = lower.strip_prefix("format.").unwrap_or(&lower);
        let page = self.kind == RestKind::Page;
        let pointer =
            |v: &str| Pointer::parse(v).map_err(|e| Error::config(format!("option '{key}': {e}")));
        match key {
            "url" | "location" => self.url = value.trim().to_string(),
            "method" => {
                self.method = match value.trim().to_ascii_uppercase().as_str() {
                    "GET" => Method::GET,
                    "POST" => Method::POST,
                    other => {
                        return Err(Error::config(format!(
                            "option 'method': '{other}' is not GET or POST"
                        )))
                    }
                }
            }
            "body" => {
                let parsed: serde_json::Value = serde_json::from_str(value)
                    .map_err(|e| Error::config(format!("option 'body' is not JSON ({e})")))?;
                match parsed {
                    serde_json::Value::Object(map) => self.body = Some(map),
                    _ => {
                        return Err(Error::config(
                            "option 'body' must be a JSON object, e.g. '{\"filter\": {}}'",
                        ))
                    }
                }
            }
            "params_in" => {
                self.params_in = Some(match value.trim().to_ascii_lowercase().as_str() {
                    "query" => ParamLocation::Query,
                    "body" => ParamLocation::Body,
                    other => {
                        return Err(Error::config(format!(
                            "option 'params_in': '{other}' is not query or body"
                        )))
                    }
                })
            }
            "records" => self.records = pointer(value)?,
            "has_more" => self.has_more = Some(pointer(value)?),
            "time_column" => self.time_column = Some(value.trim().to_string()),
            "start_param" => self.start_param = Some(value.trim().to_string()),
            "end_param" => self.end_param = Some(value.trim().to_string()),
            "time_format" => self.time_format = TimeFormat::parse(value)?,
            "on_type_error" => {
                self.lenient_types = match value.trim().to_ascii_lowercase().as_str() {
                    "error" => false,
                    "null" => true,
                    other => {
                        return Err(Error::config(format!(
                            "option 'on_type_error': '{other}' is not error or null"
                        )))
                    }
                }
            }
            "page_size_param" => self.page_size_param = Some(value.trim().to_string()),
            "page_size" => self.page_size = parse_count(key, value, 1_000_000)? as u64,
            "max_pages" => self.max_pages = parse_count(key, value, u32::MAX as u64)? as u64,
            "prefetch_depth" => self.prefetch_depth = parse_count(key, value, 64)? as usize,
            "max_retries" => self.max_retries = parse_count(key, value, 100)? as u32,
            "request_timeout" => self.request_timeout = parse_duration(key, value)?,
            "connect_timeout" => self.connect_timeout = parse_duration(key, value)?,
            "allow_http" => self.allow_http = parse_bool(key, value)?,
            "page_param" if page => self.page_param = value.trim().to_string(),
            "first_page" if page => {
                self.first_page = match value.trim() {
                    "0" => 0,
                    "1" => 1,
                    other => {
                        return Err(Error::config(format!(
                            "option 'first_page': '{other}' is not 0 or 1"
                        )))
                    }
                }
            }
            "total" if page => self.total = Some(pointer(value)?),
            "total_pages" if page => self.total_pages = Some(pointer(value)?),
            "stop_on_short_page" if page => self.stop_on_short_page = Some(parse_bool(key, value)?),
            "token_param" if !page => self.token_param = value.trim().to_string(),
            "next_token" if !page => self.next_token = Some(pointer(value)?),
            "next_token_from_last_record" if !page => {
                self.next_token_from_last_record = Some(pointer(value)?)
            }
            "next_link" if !page => self.next_link = parse_bool(key, value)?,
            _ => {
                // Names after `params.` / `headers.` / `column.` keep their case.
                let rest = &raw_key[raw_key.len() - key.len()..];
                if let Some(name) = rest.split_once('.').map(|(_, n)| n) {
                    if key.starts_with("params.") {
                        let v = expand_env(key, value)?;
                        self.params.retain(|(k, _)| k != name);
                        self.params.push((name.to_string(), v));
                        return Ok(());
                    }
                    if key.starts_with("headers.") {
                        let v = expand_env(key, value)?;
                        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
                        self.headers.push((name.to_string(), v));
                        return Ok(());
                    }
                    if key.starts_with("column.") {
                        if let Some(column) = name.strip_suffix(".format") {
                            self.column_formats
                                .insert(column.to_string(), TimeFormat::parse(value)?);
                        } else {
                            self.column_pointers
                                .insert(name.to_string(), pointer(value)?);
                        }
                        return Ok(());
                    }
                }
                return Err(Error::UnknownOption {
                    adapter: self.name(),
                    key: key.to_string(),
                    accepted: self.kind.option_names(),
                });
            }
        }
        Ok(())
    }

    /// Applies a JSON object of options. `params` and `headers` may be objects, `body` an
    /// object, and `columns` a list of `{"name", "type", "pointer", "format"}`.
    pub fn apply_json(&mut self, json: &str) -> Result<()> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).map_err(|e| {
            Error::config(format!(
                "the table config is not a JSON object of options ({e}); expected e.g. {{\"url\": \"https://...\", \"records\": \"/data\", \"columns\": [...]}}"
            ))
        })?;
        for (key, value) in map {
            use serde_json::Value as J;
            match (key.as_str(), value) {
                ("params" | "headers", J::Object(entries)) => {
                    for (name, v) in entries {
                        self.set(&format!("{key}.{name}"), &json_scalar_text(&key, v)?)?;
                    }
                }
                ("body", J::Object(body)) => self.body = Some(body),
                ("columns", J::Array(list)) => {
                    self.columns = list
                        .into_iter()
                        .map(column_from_json)
                        .collect::<Result<_>>()?;
                }
                ("columns", _) => {
                    return Err(Error::config(
                        "option 'columns' must be a list like [{\"name\": \"id\", \"type\": \"int64\", \"pointer\": \"/id\"}]",
                    ))
                }
                (_, value) => {
                    let text = json_scalar_text(&key, value)?;
                    self.set(&key, &text)?;
                }
            }
        }
        Ok(())
    }

    /// The columns with `column.<name>` overrides applied.
    fn resolved_columns(&self) -> Result<Vec<ColumnSpec>> {
        for name in self
            .column_pointers
            .keys()
            .chain(self.column_formats.keys())
        {
            if !self.columns.iter().any(|c| &c.name == name) {
                return Err(Error::config(format!(
                    "{}: option 'column.{name}' names no column; the columns are {}",
                    self.name(),
                    self.columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        self.columns
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if let Some(p) = self.column_pointers.get(&c.name) {
                    c.pointer = p.clone();
                }
                if let Some(f) = self.column_formats.get(&c.name) {
                    match c.kind {
                        ColumnType::Timestamp(_) => c.kind = ColumnType::Timestamp(*f),
                        _ => {
                            return Err(Error::config(format!(
                                "{}: option 'column.{}.format' applies to timestamp columns only",
                                self.name(),
                                c.name
                            )))
                        }
                    }
                }
                Ok(c)
            })
            .collect()
    }

    /// The endpoint, checked; query parameters written in it become static parameters.
    fn endpoint(&self) -> Result<(url::Url, Vec<(String, Value)>)> {
        if self.url.trim().is_empty() {
            return Err(Error::config(format!(
                "{}: no URL; give LOCATION 'https://...' or option 'url'",
                self.name()
            )));
        }
        // `${...}` in the URL itself would end up in EXPLAIN: secrets belong in params/headers.
        if self.url.contains("${") {
            return Err(Error::config(format!(
                "{}: the URL holds a ${{...}} reference; put secrets in 'params.<name>' or 'headers.<name>' so they are never shown",
                self.name()
            )));
        }
        let mut url = parse_base_url(&self.url, self.allow_http)?;
        let inline: Vec<(String, Value)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), Value::Plain(v.into_owned())))
            .collect();
        url.set_query(None);
        Ok((url, inline))
    }

    /// Checks everything and builds the adapter options (without a time range).
    pub fn to_options(&self) -> Result<RestOptions> {
        let (url, mut params) = self.endpoint()?;
        params.extend(self.params.iter().cloned());
        let columns = self.resolved_columns()?;
        if columns.is_empty() {
            return Err(Error::config(format!(
                "{}: no columns; declare them: CREATE EXTERNAL TABLE t (id BIGINT, name VARCHAR, created_at TIMESTAMP) STORED AS {} LOCATION '...', or \"columns\": [{{\"name\": \"id\", \"type\": \"int64\"}}] in JSON",
                self.name(),
                self.kind.stored_as()
            )));
        }
        if let Some(t) = &self.time_column {
            let Some(c) = columns.iter().find(|c| &c.name == t) else {
                return Err(Error::config(format!(
                    "{}: time_column '{t}' is not a column",
                    self.name()
                )));
            };
            if !matches!(c.kind, ColumnType::Timestamp(_)) {
                return Err(Error::config(format!(
                    "{}: time_column '{t}' must be a timestamp column",
                    self.name()
                )));
            }
            if self.start_param.is_none() && self.end_param.is_none() {
                return Err(Error::config(format!(
                    "{}: time_column needs start_param and/or end_param (the parameters the API filters by)",
                    self.name()
                )));
            }
        }
        let paging = match self.kind {
            RestKind::Page => Paging::PageNumber {
                param: self.page_param.clone(),
                first: self.first_page,
                size_param: self.page_size_param.clone(),
                size: self.page_size,
                total: self.total.clone(),
                total_pages: self.total_pages.clone(),
                stop_on_short_page: self
                    .stop_on_short_page
                    .unwrap_or(self.page_size_param.is_some()),
            },
            RestKind::Token => {
                let sources = [
                    self.next_token.clone().map(TokenSource::Pointer),
                    self.next_token_from_last_record
                        .clone()
                        .map(TokenSource::LastRecord),
                    self.next_link.then_some(TokenSource::LinkHeader),
                ];
                let mut given = sources.into_iter().flatten();
                let next = match (given.next(), given.next()) {
                    (Some(one), None) => one,
                    (None, _) => {
                        return Err(Error::config(
                            "token_api: say where the next token is: option 'next_token' (a JSON pointer such as '/next_cursor'), 'next_token_from_last_record' (e.g. '/id'), or 'next_link' = true",
                        ))
                    }
                    (Some(_), Some(_)) => {
                        return Err(Error::config(
                            "token_api: give only one of next_token, next_token_from_last_record and next_link",
                        ))
                    }
                };
                Paging::Token {
                    param: self.token_param.clone(),
                    next,
                    size: self.page_size_param.clone().map(|p| (p, self.page_size)),
                }
            }
        };
        Ok(RestOptions {
            name: self.name(),
            method: self.method.clone(),
            url,
            params,
            headers: self.headers.clone(),
            body: self.body.clone(),
            params_in: self.params_in.unwrap_or(if self.method == Method::POST {
                ParamLocation::Body
            } else {
                ParamLocation::Query
            }),
            records: self.records.clone(),
            paging,
            has_more: self.has_more.clone(),
            columns,
            time: None,
            lenient_types: self.lenient_types,
        })
    }
}

/// Expands `${NAME}` references from the environment; a value with one is a secret.
fn expand_env(option: &str, value: &str) -> Result<Value> {
    if !value.contains("${") {
        return Ok(Value::Plain(value.to_string()));
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(Error::config(format!(
                "option '{option}': an unclosed ${{ in its value; write ${{ENV_VAR}}"
            )));
        };
        let name = &after[..end];
        let resolved = std::env::var(name).map_err(|_| {
            Error::config(format!(
                "option '{option}' refers to the environment variable {name}, which is not set; export {name}=..."
            ))
        })?;
        out.push_str(&resolved);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::Secret(Secret::new(out)))
}

fn column_from_json(value: serde_json::Value) -> Result<ColumnSpec> {
    #[derive(serde::Deserialize)]
    struct Column {
        name: String,
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        pointer: Option<String>,
        #[serde(default)]
        format: Option<String>,
    }
    let c: Column = serde_json::from_value(value).map_err(|e| {
        Error::config(format!(
            "a column must look like {{\"name\": \"id\", \"type\": \"int64\", \"pointer\": \"/id\"}} ({e})"
        ))
    })?;
    let mut kind = ColumnType::parse(c.kind.as_deref().unwrap_or("utf8"))?;
    if let Some(f) = c.format {
        match kind {
            ColumnType::Timestamp(_) => kind = ColumnType::Timestamp(TimeFormat::parse(&f)?),
            _ => {
                return Err(Error::config(format!(
                    "column '{}': 'format' applies to timestamp columns only",
                    c.name
                )))
            }
        }
    }
    let pointer = match c.pointer {
        Some(p) => Pointer::parse(&p)?,
        None => Pointer(vec![c.name.clone()]),
    };
    Ok(ColumnSpec {
        name: c.name,
        pointer,
        kind,
    })
}

/// The column of a SQL column definition (`id BIGINT`), its pointer `/<name>`.
pub fn column_from_field(field: &datafusion::arrow::datatypes::Field) -> Result<ColumnSpec> {
    use datafusion::arrow::datatypes::DataType;
    let kind = match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::Utf8,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => ColumnType::Int64,
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => ColumnType::Float64,
        DataType::Boolean => ColumnType::Bool,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
            ColumnType::Timestamp(TimeFormat::Auto)
        }
        other => {
            return Err(Error::config(format!(
                "column '{}' has type {other}; REST columns are VARCHAR (objects and lists arrive as JSON text), BIGINT, DOUBLE, BOOLEAN or TIMESTAMP",
                field.name()
            )))
        }
    };
    Ok(ColumnSpec {
        name: field.name().clone(),
        pointer: Pointer(vec![field.name().clone()]),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_make_adapter_options() {
        let mut c = RestConfig::new(RestKind::Token);
        c.apply_json(
            r#"{"url": "http://127.0.0.1:1/api/token/events?total=10", "records": "/records",
                "next_token": "/next_cursor", "token_param": "cursor",
                "page_size_param": "limit", "page_size": 25,
                "params": {"x": "1"}, "headers": {"X-Trace": "abc"},
                "columns": [{"name": "id", "type": "int64"},
                            {"name": "created", "type": "timestamp", "pointer": "/created_s", "format": "epoch_s"},
                            {"name": "login", "pointer": "/owner/login"}]}"#,
        )
        .unwrap();
        let o = c.to_options().unwrap();
        assert_eq!(o.url.as_str(), "http://127.0.0.1:1/api/token/events");
        assert_eq!(o.params.len(), 2);
        assert_eq!(o.params[0].0, "total");
        assert_eq!(o.headers[0].0, "X-Trace");
        assert_eq!(
            o.columns[1].kind,
            ColumnType::Timestamp(TimeFormat::EpochSeconds)
        );
        assert_eq!(o.columns[2].pointer.0, ["owner", "login"]);
        assert_eq!(
            o.paging,
            Paging::Token {
                param: "cursor".into(),
                next: TokenSource::Pointer(Pointer::parse("/next_cursor").unwrap()),
                size: Some(("limit".into(), 25)),
            }
        );
        assert_eq!(o.params_in, ParamLocation::Query);
    }

    #[test]
    fn env_references_are_secrets_and_missing_ones_name_the_variable() {
        std::env::set_var("DDSTREAM_TEST_REST_TOKEN", "hunter2");
        let mut c = RestConfig::new(RestKind::Page);
        c.set(
            "headers.Authorization",
            "Bearer ${DDSTREAM_TEST_REST_TOKEN}",
        )
        .unwrap();
        assert_eq!(c.headers[0].1.expose(), "Bearer hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        let err = c
            .set("params.key", "${DDSTREAM_TEST_NOT_SET_ANYWHERE}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DDSTREAM_TEST_NOT_SET_ANYWHERE") && err.contains("params.key"),
            "{err}"
        );
        let err = c.set("params.key", "${OPEN").unwrap_err().to_string();
        assert!(err.contains("unclosed"), "{err}");
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        let mut c = RestConfig::new(RestKind::Token);
        let err = c.set("page_param", "p").unwrap_err().to_string();
        assert!(
            err.contains("token_api") && err.contains("next_token"),
            "{err}"
        );
        c.url = "http://127.0.0.1:1/x".into();
        c.columns = vec![ColumnSpec {
            name: "id".into(),
            pointer: Pointer(vec!["id".into()]),
            kind: ColumnType::Int64,
        }];
        let err = c.to_options().unwrap_err().to_string();
        assert!(err.contains("say where the next token is"), "{err}");
        c.next_link = true;
        c.next_token = Some(Pointer::parse("/n").unwrap());
        let err = c.to_options().unwrap_err().to_string();
        assert!(err.contains("only one of"), "{err}");
        c.next_token = None;
        c.url = "http://example.com/x".into();
        let err = c.to_options().unwrap_err().to_string();
        assert!(err.contains("allow_http"), "{err}");
        c.url = "https://example.com/x?key=${K}".into();
        let err = c.to_options().unwrap_err().to_string();
        assert!(err.contains("params.<name>"), "{err}");
        c.url = "https://example.com/x".into();
        c.set("column.nope", "/x").unwrap();
        let err = c.to_options().unwrap_err().to_string();
        assert!(err.contains("'column.nope' names no column"), "{err}");
        c.column_pointers.clear();
        c.time_column = Some("id".into());
        let err = c.to_options().unwrap_err().to_string();
        assert!(err.contains("must be a timestamp column"), "{err}");
        let mut p = RestConfig::new(RestKind::Page);
        assert!(p.set("first_page", "2").is_err());
        assert!(p.set("method", "PUT").is_err());
        assert!(p
            .set("body", "[1]")
            .unwrap_err()
            .to_string()
            .contains("JSON object"));
        assert!(p.set("records", "/a//b").is_err());
    }
}
