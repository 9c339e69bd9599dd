//! Generic JSON REST APIs that page by page number (`page_api`) or by an opaque token
//! (`token_api`): any such API becomes a table from a config, with no code. The request is
//! built from a URL, static parameters and headers, an optional JSON body template, the paging
//! parameter and optionally a time range; the records are read from a JSON pointer into typed
//! columns ([`columns`]) in one pass over the body ([`walker`]).

pub mod columns;
mod link;
pub mod walker;

use std::sync::Arc;

use datafusion::arrow::compute::{sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use self::columns::{schema_of, Cell, ColumnSpec, ColumnType, Pointer, RowBuilders, TimeFormat};
use self::walker::{walk, WalkPlan};
use super::Secret;
use crate::engine::{ApiRequest, ApiResponse};
use crate::engine::{Cursor, ParsedResponse, VendorAdapter};
use crate::{Error, Result};

/// A parameter or header value: plain text, or a secret (it came from `${ENV}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Shown in EXPLAIN and errors.
    Plain(String),
    /// Never shown.
    Secret(Secret),
}

impl Value {
    /// The value to send.
    pub fn expose(&self) -> &str {
        match self {
            Value::Plain(s) => s,
            Value::Secret(s) => s.expose(),
        }
    }
}

/// Where the paging and time parameters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    /// The query string.
    Query,
    /// Top-level fields of the JSON body (POST).
    Body,
}

/// How the next page is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// `?page=N`, counting from `first`.
    PageNumber {
        /// The page parameter.
        param: String,
        /// The first page's number (0 or 1).
        first: u64,
        /// The page-size parameter, if the API takes one.
        size_param: Option<String>,
        /// Records per page asked for (and expected on every page but the last).
        size: u64,
        /// Pointer to the total number of records, if the API tells it.
        total: Option<Pointer>,
        /// Response header with the total number of records (`X-Total-Count`), if any.
        total_header: Option<String>,
        /// Pointer to the total number of pages, if the API tells it.
        total_pages: Option<Pointer>,
        /// A page shorter than `size` is the last.
        stop_on_short_page: bool,
    },
    /// `?cursor=T`, the token taken from the previous response.
    Token {
        /// The token parameter.
        param: String,
        /// Where the next token is.
        next: TokenSource,
        /// Records per page: (parameter, size), if the API takes one.
        size: Option<(String, u64)>,
    },
}

/// Where a token API puts the next token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// At a pointer in the body (`/next_cursor`, `/meta/next`).
    Pointer(Pointer),
    /// At a pointer inside the last record (Stripe's `starting_after` = last id).
    LastRecord(Pointer),
    /// The `Link: <url>; rel="next"` header (GitHub); the token is the URL.
    LinkHeader,
}

/// A time range sent as two parameters, and the column it filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeRange {
    /// The column holding each record's time (rows outside the range are dropped).
    pub column: usize,
    /// `[start, end)` in epoch ms.
    pub start_ms: i64,
    /// Exclusive end.
    pub end_ms: i64,
    /// The parameter carrying the start, if the API takes one.
    pub start_param: Option<String>,
    /// The parameter carrying the end.
    pub end_param: Option<String>,
    /// How the parameters are written.
    pub format: TimeFormat,
}

/// Everything a REST adapter needs.
#[derive(Debug, Clone)]
pub struct RestOptions {
    /// `page_api` or `token_api` (errors and EXPLAIN).
    pub name: &'static str,
    /// GET or POST.
    pub method: Method,
    /// The endpoint, without the static parameters.
    pub url: url::Url,
    /// Static query parameters.
    pub params: Vec<(String, Value)>,
    /// Static headers.
    pub headers: Vec<(String, Value)>,
    /// JSON body template for POST (an object).
    pub body: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where paging and time parameters go.
    pub params_in: ParamLocation,
    /// Where the records array is.
    pub records: Pointer,
    /// Paging.
    pub paging: Paging,
    /// A pointer to a boolean saying whether more pages exist (`has_more`).
    pub has_more: Option<Pointer>,
    /// Columns.
    pub columns: Vec<ColumnSpec>,
    /// A time range pushed down, if any.
    pub time: Option<TimeRange>,
    /// A value of the wrong type becomes null (with a warning) instead of an error.
    pub lenient_types: bool,
}

/// The generic REST adapter.
#[derive(Debug, Clone)]
pub struct RestAdapter {
    options: RestOptions,
    schema: SchemaRef,
    plan: WalkPlan,
}

impl RestAdapter {
    /// Checks the options and builds the adapter.
    pub fn new(options: RestOptions) -> Result<Self> {
        if options.columns.is_empty() {
            return Err(Error::config(format!(
                "{}: no columns; declare them, e.g. CREATE EXTERNAL TABLE t (id BIGINT, name VARCHAR) STORED AS {} ...",
                options.name,
                options.name.to_ascii_uppercase()
            )));
        }
        if let Some(t) = &options.time {
            if t.column >= options.columns.len() {
                return Err(Error::config(format!(
                    "{}: the time column is column {} (counting from 0), but only {} columns are declared; point it at one of them",
                    options.name,
                    t.column,
                    options.columns.len()
                )));
            }
        }
        let mut metas = Vec::new();
        match &options.paging {
            Paging::PageNumber {
                total, total_pages, ..
            } => metas.extend(total.iter().chain(total_pages).cloned()),
            Paging::Token {
                next: TokenSource::Pointer(p),
                ..
            } => metas.push(p.clone()),
            Paging::Token { .. } => {}
        }
        metas.extend(options.has_more.iter().cloned());
        let mut fields: Vec<Pointer> = options.columns.iter().map(|c| c.pointer.clone()).collect();
        if let Paging::Token {
            next: TokenSource::LastRecord(p),
            ..
        } = &options.paging
        {
            fields.push(p.clone());
        }
        Ok(Self {
            schema: schema_of(&options.columns),
            plan: WalkPlan {
                records: options.records.clone(),
                metas,
                fields,
            },
            options,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &RestOptions {
        &self.options
    }

    /// The cursor of the first request.
    pub fn first_cursor(&self) -> Cursor {
        match &self.options.paging {
            Paging::PageNumber { first, size, .. } => Cursor::Page {
                number: *first,
                size: *size,
            },
            Paging::Token { .. } => Cursor::Token(None),
        }
    }

    fn time_param(&self, ms: i64) -> serde_json::Value {
        let format = self
            .options
            .time
            .as_ref()
            .map_or(TimeFormat::Auto, |t| t.format);
        match format {
            TimeFormat::EpochSeconds => ms.div_euclid(1000).into(),
            TimeFormat::EpochMillis => ms.into(),
            TimeFormat::Auto | TimeFormat::Rfc3339 => chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_default()
                .into(),
        }
    }

    fn fail(&self, cursor: &Cursor, message: String, truncated: bool) -> Error {
        Error::MalformedResponse {
            adapter: self.options.name,
            cursor: cursor.to_string(),
            message,
            truncated,
        }
    }

    fn next_cursor(
        &self,
        cursor: &Cursor,
        response: &ApiResponse,
        walked: &walker::Walked,
        last_record_token: Option<Cell>,
    ) -> Result<(Option<Cursor>, Option<u64>)> {
        let meta = |p: &Pointer| walked.metas.get(p).filter(|v| !v.is_null());
        if let Some(flag) = self.options.has_more.as_ref() {
            if meta(flag).and_then(serde_json::Value::as_bool) == Some(false) {
                return Ok((None, None));
            }
        }
        match (&self.options.paging, cursor) {
            (
                Paging::PageNumber {
                    first,
                    size,
                    total,
                    total_header,
                    total_pages,
                    stop_on_short_page,
                    ..
                },
                Cursor::Page { number, .. },
            ) => {
                let count = |p: &Option<Pointer>| p.as_ref().and_then(meta).and_then(as_count);
                let header_total = total_header
                    .as_deref()
                    .and_then(|h| response.headers.get(h))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let pages = count(total_pages).or_else(|| {
                    count(total)
                        .or(header_total)
                        .map(|t| t.div_ceil((*size).max(1)))
                });
                // Saturating: the totals are the API's word and the numbers the caller's.
                let last_page = pages
                    .map(|p| match p.checked_sub(1) {
                        Some(after_first) => first.saturating_add(after_first),
                        None => first.saturating_sub(1),
                    })
                    // Else a `Link: <...?page=N>; rel="last"` names the last page itself.
                    .or_else(|| self.last_linked_page(response));
                let ended = walked.records == 0
                    || (*stop_on_short_page && (walked.records as u64) < *size)
                    || last_page.is_some_and(|l| *number >= l);
                let next = number
                    .checked_add(1)
                    .filter(|_| !ended)
                    .map(|number| Cursor::Page {
                        number,
                        size: *size,
                    });
                Ok((next, last_page))
            }
            (Paging::Token { next, size, .. }, _) => {
                let token = match next {
                    TokenSource::Pointer(p) => meta(p).and_then(token_text),
                    TokenSource::LastRecord(_) => match last_record_token {
                        Some(Cell::Str(s)) => Some(s),
                        Some(Cell::Int(i)) => Some(i.to_string()),
                        Some(Cell::UInt(u)) => Some(u.to_string()),
                        _ => None,
                    },
                    TokenSource::LinkHeader => link::next_link(&response.headers)
                        .map(|url| self.checked_link(cursor, &url))
                        .transpose()?,
                };
                let token = token.filter(|t| !t.is_empty());
                // An empty page cannot hold the last record: it ends the sequence.
                let token = if matches!(next, TokenSource::LastRecord(_)) && walked.records == 0 {
                    None
                } else {
                    token
                };
                // A full page is rarely the last: an end without a next token there may mean
                // the API pages some other way (a Link header, a cursor elsewhere in the body).
                if let (None, Some((_, size))) = (&token, size) {
                    if *size > 0 && walked.records as u64 >= *size {
                        tracing::warn!(
                            "{}: {cursor} was a full page ({} records = page_size) but gave no next {}; ending here. If rows are missing, check where the API puts its next page",
                            self.options.name,
                            walked.records,
                            match next {
                                TokenSource::LinkHeader => "Link header (rel=\"next\")",
                                _ => "token",
                            }
                        );
                    }
                }
                Ok((token.map(|t| Cursor::Token(Some(t))), None))
            }
            (_, other) => Err(Error::Internal(format!(
                "{} cannot page with {other}",
                self.options.name
            ))),
        }
    }

    /// The page number in the `page_param` of a `Link: <url>; rel="last"` header, if any.
    fn last_linked_page(&self, response: &ApiResponse) -> Option<u64> {
        let Paging::PageNumber { param, .. } = &self.options.paging else {
            return None;
        };
        let url = self
            .options
            .url
            .join(&link::last_link(&response.headers)?)
            .ok()?;
        url.query_pairs()
            .find(|(k, _)| k == param.as_str())
            .and_then(|(_, v)| v.trim().parse().ok())
    }

    /// A `Link` URL is followed only to the same origin (the headers carry credentials), and
    /// without the secret parameters, which `build_request` adds back: cursors show in errors.
    fn checked_link(&self, cursor: &Cursor, link: &str) -> Result<String> {
        let mut url = self.options.url.join(link).map_err(|e| {
            self.fail(
                cursor,
                format!("the Link header's next URL is not a URL ({e})"),
                false,
            )
        })?;
        if url.origin() != self.options.url.origin() {
            return Err(Error::Api {
                adapter: self.options.name,
                cursor: cursor.to_string(),
                status: 200,
                message: format!(
                    "the Link header points to another origin ({}); not following it with this table's headers",
                    url.origin().ascii_serialization()
                ),
                hint: None,
            });
        }
        let secret: Vec<&str> = self
            .options
            .params
            .iter()
            .filter(|(_, v)| matches!(v, Value::Secret(_)))
            .map(|(k, _)| k.as_str())
            .collect();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !secret.contains(&k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(kept);
        Ok(url.to_string())
    }
}

fn as_count(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn token_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl VendorAdapter for RestAdapter {
    fn name(&self) -> &'static str {
        self.options.name
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn build_request(&self, cursor: &Cursor) -> Result<ApiRequest> {
        let o = &self.options;
        // The paging and time parameters of this request.
        let mut dynamic: Vec<(String, serde_json::Value)> = Vec::new();
        let mut url = o.url.clone();
        match (&o.paging, cursor) {
            (
                Paging::PageNumber {
                    param, size_param, ..
                },
                Cursor::Page { number, size },
            ) => {
                dynamic.push((param.clone(), (*number).into()));
                if let Some(p) = size_param {
                    dynamic.push((p.clone(), (*size).into()));
                }
            }
            (Paging::Token { param, next, size }, Cursor::Token(token)) => {
                if let Some((p, n)) = size {
                    dynamic.push((p.clone(), (*n).into()));
                }
                match (next, token) {
                    (TokenSource::LinkHeader, Some(link)) => {
                        // The next URL carries every parameter the API wants.
                        url = url::Url::parse(link).map_err(|e| {
                            Error::Internal(format!("stored link is not a URL: {e}"))
                        })?;
                        dynamic.clear();
                    }
                    (_, Some(t)) => dynamic.push((param.clone(), t.clone().into())),
                    (_, None) => {}
                }
            }
            (_, other) => {
                return Err(Error::Internal(format!(
                    "{} cannot page with {other}",
                    o.name
                )))
            }
        }
        let following_link = url != o.url;
        if let (Some(t), false) = (&o.time, following_link) {
            // Unbounded ends (i64::MIN / i64::MAX) are not sent.
            if let (Some(p), true) = (&t.start_param, t.start_ms != i64::MIN) {
                dynamic.push((p.clone(), self.time_param(t.start_ms)));
            }
            if let (Some(p), true) = (&t.end_param, t.end_ms != i64::MAX) {
                dynamic.push((p.clone(), self.time_param(t.end_ms)));
            }
        }

        // Static parameters (again on a followed link: its secret ones were removed).
        {
            let existing: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &o.params {
                if !following_link || !existing.contains(k) {
                    pairs.append_pair(k, v.expose());
                }
            }
        }
        let body = match o.params_in {
            ParamLocation::Body => {
                let mut body = o.body.clone().unwrap_or_default();
                for (k, v) in dynamic {
                    body.insert(k, v);
                }
                Some(body)
            }
            ParamLocation::Query => {
                {
                    let mut pairs = url.query_pairs_mut();
                    for (k, v) in &dynamic {
                        let text = match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        pairs.append_pair(k, &text);
                    }
                }
                o.body.clone()
            }
        };
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        for (k, v) in &o.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Error::config(format!("'{k}' is not a valid header name")))?;
            let mut value = HeaderValue::from_str(v.expose()).map_err(|_| {
                Error::config(format!(
                    "the value of header '{k}' holds characters a header cannot carry"
                ))
            })?;
            if matches!(v, Value::Secret(_)) {
                value.set_sensitive(true);
            }
            headers.insert(name, value);
        }
        let body = match (&o.method, body) {
            (&Method::GET, _) | (_, None) => None,
            (_, Some(body)) => {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Some(
                    serde_json::to_vec(&body)
                        .map_err(|e| Error::Internal(format!("cannot encode the body: {e}")))?
                        .into(),
                )
            }
        };
        Ok(ApiRequest {
            method: o.method.clone(),
            url,
            headers,
            body,
        })
    }

    fn parse(&self, cursor: &Cursor, response: &ApiResponse) -> Result<ParsedResponse> {
        let o = &self.options;
        let n_columns = o.columns.len();
        let mut builders = RowBuilders::new(&o.columns, 64);
        let mut times: Vec<i64> = Vec::new();
        let mut last_record_token = None;
        let time = o.time.as_ref();
        let time_format = time.map(|t| match o.columns[t.column].kind {
            ColumnType::Timestamp(f) => f,
            _ => TimeFormat::Auto,
        });
        let mut record_index = 0usize;
        let walked = walk(&response.body, &self.plan, &mut |mut cells| {
            record_index += 1;
            if cells.len() > n_columns {
                last_record_token = cells.pop();
            }
            if let (Some(t), Some(format)) = (time, time_format) {
                // Records outside the range asked for are dropped (some APIs round it).
                match cells[t.column].to_epoch_ms(format) {
                    Some(ms) if ms < t.start_ms || ms >= t.end_ms => return Ok(()),
                    Some(ms) => times.push(ms),
                    None => times.push(i64::MIN),
                }
            }
            builders
                .append(&cells, o.lenient_types)
                .map_err(|e| format!("record {record_index}: {e}"))
        })
        .map_err(|(message, truncated)| self.fail(cursor, message, truncated))?;
        if !walked.found_records {
            return Err(self.fail(
                cursor,
                format!(
                    "no records array at '{}' in the response; check the 'records' option (body starts with {:?})",
                    o.records.text(),
                    String::from_utf8_lossy(&response.body[..response.body.len().min(80)])
                ),
                false,
            ));
        }
        let mut batch = RecordBatch::try_new(Arc::clone(&self.schema), builders.finish())
            .map_err(|e| Error::Internal(e.to_string()))?;
        // Out-of-order records of a page are put in time order.
        if let Some(t) = time {
            if times.windows(2).any(|w| w[0] > w[1]) {
                let indices = sort_to_indices(batch.column(t.column), None, None)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                batch = take_record_batch(&batch, &indices)
                    .map_err(|e| Error::Internal(e.to_string()))?;
            }
        }
        let (next, last_page) = self.next_cursor(cursor, response, &walked, last_record_token)?;
        Ok(ParsedResponse::Rows {
            batch,
            next,
            last_page,
        })
    }
}

#[cfg(test)]
mod tests;
