//! Configuration of the generic REST tables (`page_api`, `token_api`): option names for SQL
//! `OPTIONS` and JSON, `${ENV}` references for secrets, and the typed adapter options they
//! make. Values holding a `${...}` reference are secrets: never shown in Debug, EXPLAIN or
//! errors.

use std::collections::BTreeMap;
use std::str::FromStr;

use http::Method;

use crate::adapters::rest::columns::{ColumnSpec, ColumnType, Pointer, TimeFormat};
use crate::adapters::rest::{Paging, ParamLocation, RestOptions, TokenSource, Value};
use crate::adapters::Secret;
use crate::sql::config::values::{parse_bool, parse_count};
use crate::sql::config::{
    names, normalized_key, suffix_after, CommonConfigKey, FetchSettings, KeyDoc, OptionValue,
};
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

    /// The keys a table of this kind accepts, in documentation order; families such as
    /// `params.<name>` appear once, with an empty name.
    pub fn keys(self) -> Vec<RestConfigKey> {
        use RestConfigKey as K;
        let mut keys = vec![
            K::Url,
            K::Method,
            K::Param(String::new()),
            K::Header(String::new()),
            K::Body,
            K::ParamsIn,
            K::Records,
            K::Columns,
            K::ColumnPointer(String::new()),
            K::ColumnFormat(String::new()),
            K::HasMore,
            K::TimeColumn,
            K::StartParam,
            K::EndParam,
            K::TimeFormat,
            K::OnTypeError,
            K::PageSizeParam,
            K::PageSize,
            K::MaxPages,
        ];
        keys.extend(CommonConfigKey::ALL.into_iter().map(K::Common));
        match self {
            RestKind::Page => keys.extend([
                K::PageParam,
                K::FirstPage,
                K::Total,
                K::TotalHeader,
                K::TotalPages,
                K::StopOnShortPage,
            ]),
            RestKind::Token => keys.extend([
                K::TokenParam,
                K::NextToken,
                K::NextTokenFromLastRecord,
                K::NextLink,
            ]),
        }
        keys
    }

    /// Whether a table of this kind takes `key`.
    pub fn accepts(self, key: &RestConfigKey) -> bool {
        self.keys().contains(&key.family())
    }

    /// Every option of this kind with what it means.
    pub fn docs(self) -> Vec<KeyDoc> {
        self.keys().iter().map(RestConfigKey::doc).collect()
    }
}

/// A REST table option.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RestConfigKey {
    /// `url` (alias `location`).
    Url,
    /// `method`.
    Method,
    /// `params.<name>`: a static query parameter.
    Param(String),
    /// `headers.<name>`: a static header.
    Header(String),
    /// `body`: the POST body template.
    Body,
    /// `params_in`: where paging and time parameters go.
    ParamsIn,
    /// `records`: the records array.
    Records,
    /// `columns`: the column list (JSON configs).
    Columns,
    /// `column.<name>`: a column's pointer.
    ColumnPointer(String),
    /// `column.<name>.format`: a timestamp column's format.
    ColumnFormat(String),
    /// `has_more`.
    HasMore,
    /// `time_column`.
    TimeColumn,
    /// `start_param`.
    StartParam,
    /// `end_param`.
    EndParam,
    /// `time_format`.
    TimeFormat,
    /// `on_type_error`.
    OnTypeError,
    /// `page_size_param`.
    PageSizeParam,
    /// `page_size`.
    PageSize,
    /// `max_pages`.
    MaxPages,
    /// `page_param` (page_api).
    PageParam,
    /// `first_page` (page_api).
    FirstPage,
    /// `total` (page_api).
    Total,
    /// `total_header` (page_api).
    TotalHeader,
    /// `total_pages` (page_api).
    TotalPages,
    /// `stop_on_short_page` (page_api).
    StopOnShortPage,
    /// `token_param` (token_api).
    TokenParam,
    /// `next_token` (token_api).
    NextToken,
    /// `next_token_from_last_record` (token_api).
    NextTokenFromLastRecord,
    /// `next_link` (token_api).
    NextLink,
    /// A fetch key every vendor has.
    Common(CommonConfigKey),
}

/// The keys without a name inside, with their names.
const PLAIN_KEYS: &[(&str, RestConfigKey)] = &[
    ("url", RestConfigKey::Url),
    ("method", RestConfigKey::Method),
    ("body", RestConfigKey::Body),
    ("params_in", RestConfigKey::ParamsIn),
    ("records", RestConfigKey::Records),
    ("columns", RestConfigKey::Columns),
    ("has_more", RestConfigKey::HasMore),
    ("time_column", RestConfigKey::TimeColumn),
    ("start_param", RestConfigKey::StartParam),
    ("end_param", RestConfigKey::EndParam),
    ("time_format", RestConfigKey::TimeFormat),
    ("on_type_error", RestConfigKey::OnTypeError),
    ("page_size_param", RestConfigKey::PageSizeParam),
    ("page_size", RestConfigKey::PageSize),
    ("max_pages", RestConfigKey::MaxPages),
    ("page_param", RestConfigKey::PageParam),
    ("first_page", RestConfigKey::FirstPage),
    ("total", RestConfigKey::Total),
    ("total_header", RestConfigKey::TotalHeader),
    ("total_pages", RestConfigKey::TotalPages),
    ("stop_on_short_page", RestConfigKey::StopOnShortPage),
    ("token_param", RestConfigKey::TokenParam),
    ("next_token", RestConfigKey::NextToken),
    (
        "next_token_from_last_record",
        RestConfigKey::NextTokenFromLastRecord,
    ),
    ("next_link", RestConfigKey::NextLink),
];

impl RestConfigKey {
    /// The key with any name inside it removed: `params.x` -> `params.<name>`.
    fn family(&self) -> RestConfigKey {
        use RestConfigKey as K;
        match self {
            K::Param(_) => K::Param(String::new()),
            K::Header(_) => K::Header(String::new()),
            K::ColumnPointer(_) => K::ColumnPointer(String::new()),
            K::ColumnFormat(_) => K::ColumnFormat(String::new()),
            other => other.clone(),
        }
    }

    /// What the key means, with its default.
    pub fn doc(&self) -> KeyDoc {
        use RestConfigKey as K;
        let doc = match self {
            K::Url => "the endpoint (LOCATION), e.g. 'https://api.example.com/v1/events'",
            K::Method => "GET (default) or POST",
            K::Param(_) => "a static query parameter; '${ENV_VAR}' values are secrets",
            K::Header(_) => "a static header, e.g. 'headers.authorization' = 'Bearer ${TOKEN}'",
            K::Body => "JSON object sent with POST; paging fields are added to it",
            K::ParamsIn => {
                "where paging and time parameters go: query (GET default) or body (POST default)"
            }
            K::Records => {
                "JSON pointer to the records array, e.g. '/data' ('' = the body is the array)"
            }
            K::Columns => {
                "JSON configs: the columns, [{\"name\", \"type\", \"pointer\", \"format\"}] (SQL: the column list)"
            }
            K::ColumnPointer(_) => "JSON pointer of a column inside a record (default '/<name>')",
            K::ColumnFormat(_) => "timestamp column format: auto, rfc3339, epoch_s, epoch_ms",
            K::HasMore => "JSON pointer to a boolean that is false on the last page",
            K::TimeColumn => "the column the API can filter by time (enables its pushdown)",
            K::StartParam => "parameter carrying the start of the time range",
            K::EndParam => "parameter carrying the end of the time range",
            K::TimeFormat => {
                "format of start/end parameters: rfc3339, epoch_s, epoch_ms (default: the time column's format; rfc3339 for auto)"
            }
            K::OnTypeError => "error (default) or null: what a value of the wrong type becomes",
            K::PageSizeParam => "parameter carrying the page size",
            K::PageSize => "records per page asked for (default 100)",
            K::MaxPages => "most pages one query may fetch (default 100000)",
            K::PageParam => "the page-number parameter (default 'page')",
            K::FirstPage => "number of the first page, 0 or 1 (default 1)",
            K::Total => "JSON pointer to the total number of records (enables parallel prefetch)",
            K::TotalHeader => {
                "response header holding the total number of records, e.g. 'X-Total-Count' (json-server)"
            }
            K::TotalPages => "JSON pointer to the total number of pages",
            K::StopOnShortPage => {
                "a page shorter than page_size is the last (default true when page_size_param is set)"
            }
            K::TokenParam => "the token parameter (default 'cursor')",
            K::NextToken => "JSON pointer to the next token, e.g. '/meta/next'",
            K::NextTokenFromLastRecord => {
                "JSON pointer inside the last record giving the next token (Stripe: '/id')"
            }
            K::NextLink => "true: follow the Link header's rel=\"next\" URL (GitHub)",
            K::Common(c) => return c.doc(),
        };
        KeyDoc {
            name: self.name(),
            doc,
        }
    }
}

impl RestConfigKey {
    /// The key's name; a family's pattern (`params.<name>`) for a named key.
    pub fn name(&self) -> &'static str {
        use RestConfigKey as K;
        match self {
            K::Param(_) => "params.<name>",
            K::Header(_) => "headers.<name>",
            K::ColumnPointer(_) => "column.<name>",
            K::ColumnFormat(_) => "column.<name>.format",
            K::Common(c) => c.name(),
            plain => PLAIN_KEYS
                .iter()
                .find(|(_, k)| k == plain)
                .map_or("", |(name, _)| name),
        }
    }
}

impl AsRef<str> for RestConfigKey {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl FromStr for RestConfigKey {
    type Err = ();

    /// Accepts the names (case-insensitively, with DataFusion's `format.` prefix), `location`
    /// for `url`, and `params.<name>`, `headers.<name>`, `column.<name>[.format]`, whose names
    /// keep their case.
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        use RestConfigKey as K;
        let key = normalized_key(s);
        if key == "location" {
            return Ok(K::Url);
        }
        if let Some((_, k)) = PLAIN_KEYS.iter().find(|(name, _)| *name == key) {
            return Ok(k.clone());
        }
        if let Some(name) = suffix_after(s, "params.") {
            return Ok(K::Param(name.to_string()));
        }
        if let Some(name) = suffix_after(s, "headers.") {
            return Ok(K::Header(name.to_string()));
        }
        if let Some(name) = suffix_after(s, "column.") {
            return Ok(
                match name.strip_suffix(".format").filter(|n| !n.is_empty()) {
                    Some(column) => K::ColumnFormat(column.to_string()),
                    None => K::ColumnPointer(name.to_string()),
                },
            );
        }
        Ok(K::Common(key.parse()?))
    }
}

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
    /// Format of the time parameters; `None` = the time column's format.
    pub time_format: Option<TimeFormat>,
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
    /// Total records header.
    pub total_header: Option<String>,
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
    /// Prefetch, retries, timeouts, http policy.
    pub fetch: FetchSettings,
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
            time_format: None,
            lenient_types: false,
            page_param: "page".into(),
            first_page: 1,
            page_size_param: None,
            page_size: 100,
            total: None,
            total_header: None,
            total_pages: None,
            stop_on_short_page: None,
            token_param: "cursor".into(),
            next_token: None,
            next_token_from_last_record: None,
            next_link: false,
            max_pages: 100_000,
            fetch: FetchSettings::default(),
        }
    }

    fn name(&self) -> &'static str {
        self.kind.adapter_name()
    }

    /// The key `raw` names, if this kind takes it; else an error listing the valid ones.
    pub fn key(&self, raw: &str) -> Result<RestConfigKey> {
        raw.parse::<RestConfigKey>()
            .ok()
            .filter(|k| self.kind.accepts(k))
            .ok_or_else(|| Error::UnknownOption {
                adapter: self.name(),
                key: normalized_key(raw),
                accepted: names(&self.kind.docs()),
            })
    }

    /// Sets one option by name. Unknown names are an error listing the valid ones.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = self.key(key)?;
        self.set_key(key, value)
    }

    /// Sets one typed option.
    pub fn set_key(&mut self, key: RestConfigKey, value: &str) -> Result<()> {
        use RestConfigKey as K;
        let name = key.as_ref();
        let pointer =
            |v: &str| Pointer::parse(v).map_err(|e| Error::config(format!("option '{name}': {e}")));
        let text = || value.trim().to_string();
        match &key {
            K::Url => self.url = text(),
            K::Method => {
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
            K::Body => {
                let parsed: serde_json::Value = serde_json::from_str(value)
                    .map_err(|e| Error::config(format!("option 'body' is not JSON ({e})")))?;
                self.set_body(parsed)?;
            }
            K::Columns => {
                let parsed: serde_json::Value = serde_json::from_str(value)
                    .map_err(|e| Error::config(format!("option 'columns' is not JSON ({e})")))?;
                self.set_columns(parsed)?;
            }
            K::ParamsIn => {
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
            K::Records => self.records = pointer(value)?,
            K::HasMore => self.has_more = Some(pointer(value)?),
            K::TimeColumn => self.time_column = Some(text()),
            K::StartParam => self.start_param = Some(text()),
            K::EndParam => self.end_param = Some(text()),
            K::TimeFormat => self.time_format = Some(TimeFormat::parse(value)?),
            K::OnTypeError => {
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
            K::PageSizeParam => self.page_size_param = Some(text()),
            K::PageSize => self.page_size = parse_count(name, value, 1_000_000)?,
            K::MaxPages => self.max_pages = parse_count(name, value, u32::MAX as u64)?,
            K::PageParam => self.page_param = text(),
            K::FirstPage => {
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
            K::Total => self.total = Some(pointer(value)?),
            K::TotalHeader => {
                let header = text();
                if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                    return Err(Error::config(format!(
                        "option 'total_header': '{header}' is not a header name; write one such as X-Total-Count"
                    )));
                }
                self.total_header = Some(header);
            }
            K::TotalPages => self.total_pages = Some(pointer(value)?),
            K::StopOnShortPage => self.stop_on_short_page = Some(parse_bool(name, value)?),
            K::TokenParam => self.token_param = text(),
            K::NextToken => self.next_token = Some(pointer(value)?),
            K::NextTokenFromLastRecord => self.next_token_from_last_record = Some(pointer(value)?),
            K::NextLink => self.next_link = parse_bool(name, value)?,
            K::Param(param) => {
                let v = expand_env(&format!("params.{param}"), value)?;
                self.params.retain(|(k, _)| k != param);
                self.params.push((param.clone(), v));
            }
            K::Header(header) => {
                let v = expand_env(&format!("headers.{header}"), value)?;
                self.headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case(header));
                self.headers.push((header.clone(), v));
            }
            K::ColumnPointer(column) => {
                self.column_pointers.insert(column.clone(), pointer(value)?);
            }
            K::ColumnFormat(column) => {
                self.column_formats
                    .insert(column.clone(), TimeFormat::parse(value)?);
            }
            K::Common(c) => self.fetch.set(*c, value)?,
        }
        Ok(())
    }

    fn set_body(&mut self, body: serde_json::Value) -> Result<()> {
        match body {
            serde_json::Value::Object(map) => {
                self.body = Some(map);
                Ok(())
            }
            _ => Err(Error::config(
                "option 'body' must be a JSON object, e.g. '{\"filter\": {}}'",
            )),
        }
    }

    fn set_columns(&mut self, columns: serde_json::Value) -> Result<()> {
        match columns {
            serde_json::Value::Array(list) => {
                self.columns = list
                    .into_iter()
                    .map(column_from_json)
                    .collect::<Result<_>>()?;
                Ok(())
            }
            _ => Err(Error::config(
                "option 'columns' must be a list like [{\"name\": \"id\", \"type\": \"int64\", \"pointer\": \"/id\"}]",
            )),
        }
    }

    /// Applies one option as given: text, or (from JSON) `"params"`/`"headers"` objects,
    /// a `"body"` object and a `"columns"` list.
    pub fn apply(&mut self, key: &str, value: OptionValue) -> Result<()> {
        use serde_json::Value as J;
        let group = normalized_key(key);
        match (group.as_str(), value) {
            ("params" | "headers", OptionValue::Json(J::Object(entries))) => {
                for (name, v) in entries {
                    let text = OptionValue::Json(v).into_text(key)?;
                    self.set(&format!("{group}.{name}"), &text)?;
                }
                Ok(())
            }
            ("body", OptionValue::Json(body)) if !body.is_string() => self.set_body(body),
            ("columns", OptionValue::Json(columns)) if !columns.is_string() => {
                self.set_columns(columns)
            }
            (_, value) => {
                let typed = self.key(key)?;
                let text = value.into_text(typed.as_ref())?;
                self.set_key(typed, &text)
            }
        }
    }

    /// Applies a JSON object of options. `params` and `headers` may be objects, `body` an
    /// object, and `columns` a list of `{"name", "type", "pointer", "format"}`.
    pub fn apply_json(&mut self, json: &str) -> Result<()> {
        let options = crate::sql::config::options_from_json(
            json,
            "{\"url\": \"https://...\", \"records\": \"/data\", \"columns\": [...]}",
        )?;
        for (key, value) in options {
            self.apply(&key, value)?;
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
        let mut url = parse_base_url(&self.url, self.fetch.allow_http)?;
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
                total_header: self.total_header.clone(),
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
