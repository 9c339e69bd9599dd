//! The [`VendorAdapter`] trait: what differs between APIs. An adapter builds requests as values and
//! parses response bytes into Arrow; it knows no HTTP client and no retry logic.

use std::fmt;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use http::HeaderMap;

use super::cursor::Cursor;
use super::http::{ApiRequest, ApiResponse};
use crate::Result;

/// What one successful (2xx) response of any cursor kind gave: rows, or a window to split.
#[derive(Debug)]
pub enum ParsedResponse {
    /// Rows, and for page/token cursors the cursor of the next page (`None` = last page).
    Rows {
        /// The rows, in the adapter's full schema.
        batch: RecordBatch,
        /// Next page or token; always `None` for time windows.
        next: Option<Cursor>,
        /// For page numbers: the last page, when the response tells (a total count). The engine
        /// then requests the following pages ahead in parallel instead of one after another.
        last_page: Option<u64>,
    },
    /// The API answered, but the window was too large for what was asked (for example it rolled
    /// up to a coarser interval than the requested granularity): split and refetch.
    WindowTooLarge(String),
}

impl ParsedResponse {
    /// The rows of a time window (no next cursor).
    pub fn window_rows(batch: RecordBatch) -> Self {
        ParsedResponse::Rows {
            batch,
            next: None,
            last_page: None,
        }
    }
}

/// How the engine should treat a non-2xx response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: retry with backoff.
    Retry,
    /// The request was too large: split the window (or fail if it cannot be split).
    TooLarge,
    /// Permanent: fail the query with the API's message.
    Fatal,
}

/// One API style. Implementations live in `crate::adapters`.
pub trait VendorAdapter: Send + Sync + fmt::Debug + 'static {
    /// Short name used in errors and EXPLAIN, e.g. `datadog_v1`.
    fn name(&self) -> &'static str;

    /// Schema of the batches [`VendorAdapter::parse`] returns.
    fn schema(&self) -> SchemaRef;

    /// Builds the request for one cursor.
    fn build_request(&self, cursor: &Cursor) -> Result<ApiRequest>;

    /// Parses a 2xx response: its body, and its headers for APIs that page by one (e.g.
    /// `Link: <...>; rel="next"`). Rows outside a window cursor must be trimmed away here.
    fn parse(&self, cursor: &Cursor, response: &ApiResponse) -> Result<ParsedResponse>;

    /// Classifies a non-2xx response. The default follows HTTP: 413 is too large; 408, 429 and
    /// 5xx are transient; everything else is permanent.
    fn classify_error(&self, status: u16, _body: &[u8]) -> ErrorClass {
        match status {
            413 => ErrorClass::TooLarge,
            408 | 429 | 500..=599 => ErrorClass::Retry,
            _ => ErrorClass::Fatal,
        }
    }

    /// Extracts the API's own message from an error body.
    fn error_message(&self, body: &[u8]) -> String {
        default_error_message(body)
    }

    /// A suggestion shown with permanent errors of this status (e.g. which key to check).
    fn error_hint(&self, _status: u16) -> Option<&'static str> {
        None
    }

    /// How long the server asks us to wait before retrying (Retry-After, X-RateLimit-Reset).
    fn retry_after(&self, status: u16, headers: &HeaderMap) -> Option<Duration> {
        super::rate_gate::retry_hint(status, headers)
    }

    /// Window boundaries are placed on multiples of this (the granularity), so that no rollup
    /// bucket straddles two windows.
    fn alignment_ms(&self) -> i64 {
        1
    }
}

/// Reads `{"errors": ["a", "b"]}` (Datadog's and many APIs' error shape) or a string `error`
/// field; falls back to the start of the body as text.
pub fn default_error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        errors: Option<ErrorList>,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum ErrorList {
        Many(Vec<String>),
        One(String),
    }
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        match (parsed.errors, parsed.error, parsed.message) {
            (Some(ErrorList::Many(list)), _, _) if !list.is_empty() => return list.join("; "),
            (Some(ErrorList::One(one)), _, _) if !one.is_empty() => return one,
            (_, Some(e), _) if !e.is_empty() => return e,
            (_, _, Some(m)) if !m.is_empty() => return m,
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        text.chars().take(300).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_common_shapes() {
        assert_eq!(
            default_error_message(br#"{"status":"error","code":403,"errors":["Forbidden"]}"#),
            "Forbidden"
        );
        assert_eq!(default_error_message(br#"{"errors":["a","b"]}"#), "a; b");
        assert_eq!(default_error_message(br#"{"error":"bad"}"#), "bad");
        assert_eq!(
            default_error_message(b"<html>oops</html>"),
            "<html>oops</html>"
        );
        assert_eq!(default_error_message(b""), "(empty body)");
    }
}
