//! Small JSON writing helpers and the fixed error bodies, shared by the endpoints.
//!
//! Responses are written straight into a `String` (a series can hold 1500 points), so this
//! module has the two primitives that need care: string escaping and float formatting.

use std::fmt::Write as _;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue, StatusCode};

/// The 403 body Datadog sends for a bad or missing key (recorded, byte for byte).
pub(super) const FORBIDDEN_BODY: &str = r#"{"status":"error","code":403,"errors":["Forbidden"],"statuspage":"http://status.datadoghq.com","twitter":"http://twitter.com/datadogops","email":"support@datadoghq.com"}"#;

/// The shorter 403 body of `/api/v1/validate`.
pub(super) const VALIDATE_FORBIDDEN_BODY: &str = r#"{"errors":["Forbidden"]}"#;

/// The unit Datadog reports for `system.cpu.*` metrics (a `[unit, per_unit]` pair).
const PERCENT_UNIT: &str = r#"[{"family":"percentage","scale_factor":1.0,"name":"percent","short_name":"%","plural":"percent","id":17},null]"#;

/// The `unit` JSON of `metric` (percent for `system.cpu.*`), `None` where Datadog writes `null`.
pub(super) fn metric_unit(metric: &str) -> Option<&'static str> {
    metric.starts_with("system.cpu").then_some(PERCENT_UNIT)
}

/// Appends a unit as [`metric_unit`] gives it, or `null`.
pub(super) fn push_unit(buf: &mut String, unit: Option<&str>) {
    buf.push_str(unit.unwrap_or("null"));
}

/// Appends `s` as a JSON string literal.
pub(super) fn push_str(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", u32::from(c));
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

/// Appends a float the way Datadog writes values: shortest round-trip form, always with a
/// fraction or exponent (`11.0`, not `11`); non-finite values become `null`.
pub(super) fn push_f64(buf: &mut String, v: f64) {
    if !v.is_finite() {
        buf.push_str("null");
        return;
    }
    let start = buf.len();
    let _ = write!(buf, "{v}");
    if !buf[start..].contains(['.', 'e', 'E']) {
        buf.push_str(".0");
    }
}

/// Appends `["a","b"]`.
pub(super) fn push_str_array<S: AsRef<str>>(buf: &mut String, items: &[S]) {
    buf.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        push_str(buf, s.as_ref());
    }
    buf.push(']');
}

/// `{"errors":["<message>"]}`, the body of every simulated 4xx/5xx except 403.
pub(super) fn error_body(message: &str) -> String {
    let mut buf = String::with_capacity(message.len() + 16);
    buf.push_str("{\"errors\":");
    push_str_array(&mut buf, &[message]);
    buf.push('}');
    buf
}

/// `{"message":"<message>"}`, the error body of the generic REST endpoints (GitHub style).
pub(super) fn message_body(message: &str) -> String {
    let mut buf = String::with_capacity(message.len() + 16);
    buf.push_str("{\"message\":");
    push_str(&mut buf, message);
    buf.push('}');
    buf
}

/// A response with a JSON body.
pub(super) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A `{"errors":[...]}` response.
pub(super) fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(status, error_body(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut buf = String::new();
        push_str(&mut buf, "a\"b\\c\nd\u{1}é");
        assert_eq!(buf, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&buf).expect("valid JSON");
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn floats_keep_a_fraction_and_round_trip() {
        let mut buf = String::new();
        for v in [11.0, 10.5, 0.1 + 0.2, -3.0, 1e21, f64::NAN] {
            push_f64(&mut buf, v);
            buf.push(' ');
        }
        assert_eq!(
            buf,
            "11.0 10.5 0.30000000000000004 -3.0 1000000000000000000000.0 null "
        );
    }

    #[test]
    fn forbidden_body_is_the_recorded_one() {
        let v: serde_json::Value = serde_json::from_str(FORBIDDEN_BODY).expect("valid JSON");
        assert_eq!(v["code"], 403);
        assert_eq!(v["errors"][0], "Forbidden");
        assert_eq!(error_body("x\"y"), r#"{"errors":["x\"y"]}"#);
        assert_eq!(message_body("x\"y"), r#"{"message":"x\"y"}"#);
    }
}
