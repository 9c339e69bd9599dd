//! Datadog's metric query APIs: site and credential handling shared by the v1 and v2 adapters.

mod credentials;
mod f64_column;
mod json_scan;
mod labels;
pub mod v1;
pub mod v2;
pub mod v2_scalar;
pub mod v2_timeseries;

pub use credentials::{Credentials, Secret};
pub use v1::{Aggregation, DatadogV1Adapter, DatadogV1Options};
pub use v2::{NamedFormula, NamedQuery, V2Queries};
pub use v2_scalar::{DatadogV2ScalarAdapter, DatadogV2ScalarOptions, ScalarAggregator};
pub use v2_timeseries::{DatadogV2TimeseriesAdapter, DatadogV2TimeseriesOptions};

use crate::engine::{Cursor, ErrorClass, TimeWindow};
use crate::{Error, Result};

/// Parses a bare body through [`VendorAdapter::parse`](crate::engine::VendorAdapter::parse), as
/// the parser tests feed recorded and hand-made bodies.
#[cfg(test)]
pub(crate) trait ParseBytes {
    fn parse_bytes(&self, cursor: &Cursor, body: &[u8]) -> Result<crate::engine::ParsedResponse>;
}

#[cfg(test)]
impl<T: crate::engine::VendorAdapter> ParseBytes for T {
    fn parse_bytes(&self, cursor: &Cursor, body: &[u8]) -> Result<crate::engine::ParsedResponse> {
        let response = crate::engine::ApiResponse::new(200, bytes::Bytes::copy_from_slice(body));
        self.parse(cursor, &response)
    }
}

/// The window of a cursor: the Datadog query APIs page by time only.
pub(crate) fn window_of<'c>(adapter: &'static str, cursor: &'c Cursor) -> Result<&'c TimeWindow> {
    match cursor {
        Cursor::Window(w) => Ok(w),
        other => Err(Error::Internal(format!(
            "{adapter} only pages by time window, got {other}"
        ))),
    }
}

/// A malformed-body error; `truncated` when the JSON ended early (the engine retries those).
pub(crate) fn malformed(
    adapter: &'static str,
    cursor: &Cursor,
    message: String,
    truncated: bool,
) -> Error {
    Error::MalformedResponse {
        adapter,
        cursor: cursor.to_string(),
        message,
        truncated,
    }
}

/// Describes a serde_json error with the start of the body; `true` when the body was cut short.
pub(crate) fn json_error(e: &serde_json::Error, body: &[u8]) -> (String, bool) {
    (
        format!("{e} (body starts with {:?})", body_start(body, 120)),
        e.is_eof(),
    )
}

/// Describes a [`json_scan`] error like [`json_error`]: the message with the start of the body.
fn scan_error(e: json_scan::ScanError, body: &[u8]) -> (String, bool) {
    (
        format!(
            "{} (body starts with {:?})",
            e.message,
            body_start(body, 120)
        ),
        e.eof,
    )
}

/// A 2xx body that is JSON but lacks what every answer of this API has.
pub(crate) fn not_this_shape(
    adapter: &'static str,
    cursor: &Cursor,
    missing: &str,
    body: &[u8],
) -> Error {
    malformed(
        adapter,
        cursor,
        format!(
            "the response has no {missing}; not an answer of this API (body starts with {:?})",
            body_start(body, 80)
        ),
        false,
    )
}

fn body_start(body: &[u8], n: usize) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(&body[..body.len().min(n)])
}

/// How every Datadog query API's non-2xx answers are treated: 413 and a 400 saying the request
/// covered too many points split the window; 408, 429 and 5xx are retried; the rest are fatal.
pub(crate) fn classify_error(status: u16, body: &[u8]) -> ErrorClass {
    match status {
        413 => ErrorClass::TooLarge,
        400 if says_too_large(body) => ErrorClass::TooLarge,
        408 | 429 | 500..=599 => ErrorClass::Retry,
        _ => ErrorClass::Fatal,
    }
}

/// What to check after a permanent error of this status.
pub(crate) fn error_hint(status: u16) -> Option<&'static str> {
    match status {
        401 | 403 => Some(
            "check DD_API_KEY and DD_APP_KEY, and that they belong to the Datadog site queried",
        ),
        400 => Some("check the metric query syntax"),
        404 => Some("check the site or base_url"),
        _ => None,
    }
}

/// A 400 whose message says the request covered too many points.
fn says_too_large(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    [
        "too many points",
        "too large",
        "reduce the time window",
        "too much data",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The largest window Datadog answers at `granularity_s` without rolling up further, from the
/// API's documented auto-rollup (≤ 1 h → 20 s, ≤ 4 h → 60 s, ≤ 1 day → 300 s, …) and its limit
/// of 1500 points per series. The engine corrects it if the API disagrees.
pub fn max_window_at(granularity_s: i64) -> std::time::Duration {
    const ROLLUPS: [(i64, i64); 7] = [
        (1_800, 10),
        (3_600, 20),
        (4 * 3_600, 60),
        (86_400, 300),
        (2 * 86_400, 600),
        (7 * 86_400, 3_600),
        (31 * 86_400, 14_400),
    ];
    let by_table = ROLLUPS
        .iter()
        .filter(|(_, interval)| *interval <= granularity_s)
        .map(|(window, _)| *window)
        .max()
        .unwrap_or(15 * 60);
    let by_points = granularity_s.saturating_mul(1_500);
    std::time::Duration::from_secs(by_table.min(by_points).max(granularity_s) as u64)
}

/// Default Datadog site (`DD_SITE`).
pub const DEFAULT_SITE: &str = "datadoghq.com";

/// Sites Datadog documents; others are accepted with a warning (new regions appear).
pub const KNOWN_SITES: &[&str] = &[
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "uk1.datadoghq.com",
    "datadoghq.eu",
    "ddog-gov.com",
    "us2.ddog-gov.com",
];

/// The API base URL for a site: `https://api.{site}`.
pub fn site_url(site: &str) -> Result<url::Url> {
    let site = site.trim().trim_end_matches('/');
    if site.is_empty() || site.contains('/') || site.contains(':') {
        return Err(Error::config(format!(
            "site '{site}' is not a Datadog site name; use one of {} (or set base_url for a proxy)",
            KNOWN_SITES.join(", ")
        )));
    }
    if !KNOWN_SITES.contains(&site) {
        tracing::warn!(site, "not a documented Datadog site; using it anyway");
    }
    // https always passes the transport's URL policy; only the host can be malformed.
    url::Url::parse(&format!("https://api.{site}")).map_err(|e| {
        Error::config(format!(
            "site '{site}' does not make a valid URL ({e}); use one of {} (or set base_url for a proxy)",
            KNOWN_SITES.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_windows_follow_the_rollup_table() {
        use std::time::Duration;
        assert_eq!(max_window_at(60), Duration::from_secs(4 * 3600));
        assert_eq!(max_window_at(10), Duration::from_secs(1800));
        assert_eq!(max_window_at(300), Duration::from_secs(86_400));
        assert_eq!(max_window_at(3600), Duration::from_secs(7 * 86_400));
        assert_eq!(max_window_at(1), Duration::from_secs(900));
    }

    #[test]
    fn site_urls() {
        assert_eq!(
            site_url("datadoghq.eu").unwrap().as_str(),
            "https://api.datadoghq.eu/"
        );
        assert!(site_url("https://x").is_err());
        let err = site_url("data dog.com").unwrap_err().to_string();
        assert!(err.contains("site 'data dog.com'"), "{err}");
    }
}
