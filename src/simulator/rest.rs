//! What the generic REST endpoints ([`rest_page`](super::rest_page),
//! [`rest_token`](super::rest_token)) share: their parameters (query string, plus the JSON
//! body of a POST), the record selection (`total`, `start`/`end`, `shuffle`, `leak`,
//! `corrupt`), page assembly, the bearer-token check and `{"message": ...}` errors.
//!
//! Every REST request goes through [`serve`], i.e. [`pipeline::data_request`] under the REST
//! rate limiter, so rate limits and the fault schedule apply as on `/api/v1/query`.

use std::ops::Range;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use chrono::DateTime;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::data::splitmix64;
use super::json;
use super::pipeline::{self, Answer};
use super::records::{self, push_record, DEFAULT_TOTAL, MAX_INDEX, MAX_TOTAL};
use super::state::{RequestCtx, SimState};

/// Page size when the request names none (`per_page`, `limit`).
pub(super) const DEFAULT_PAGE_SIZE: u64 = 50;

/// Largest accepted page size; above it the request is a 400.
pub(super) const MAX_PAGE_SIZE: u64 = 500;

/// Integers below this are epoch seconds, at or above it epoch milliseconds.
const MS_THRESHOLD: i64 = 100_000_000_000;

/// The 401 body when `SimulatorConfig::bearer_token` is set and not presented.
const BAD_CREDENTIALS: &str = "Bad credentials";

/// Runs `compute` as a data request under the REST rate limiter; an `Err` is a 400 with
/// `{"message": ...}`.
pub(super) async fn serve<F>(state: &Arc<SimState>, req: Request, compute: F) -> Response
where
    F: FnOnce() -> Result<Answer, String> + Send + 'static,
{
    pipeline::data_request(state, req, &state.rest_limiter, move || match compute() {
        Ok(answer) => answer,
        Err(message) => Answer::new(StatusCode::BAD_REQUEST, json::message_body(&message)),
    })
    .await
}

/// A 200 answer with a JSON body.
pub(super) fn ok(body: String) -> Answer {
    Answer::new(StatusCode::OK, body)
}

/// The 401 to answer when a bearer token is configured and the request does not carry
/// `Authorization: Bearer <token>` (the scheme is case-insensitive).
pub(super) fn check_bearer(state: &SimState, headers: &HeaderMap) -> Option<Response> {
    let want = state.bearer_token.as_deref()?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if presented == Some(want) {
        return None;
    }
    let mut resp = json::json_response(
        StatusCode::UNAUTHORIZED,
        json::message_body(BAD_CREDENTIALS),
    );
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(resp)
}

/// A request's parameters as strings: for a POST, the JSON body's fields first (they win),
/// then the query string.
pub(super) struct Params {
    /// The query string alone, in order (for links that repeat it).
    pub query: Vec<(String, String)>,
    /// Body fields (`null` ones left out; numbers and booleans as text), then `query`.
    all: Vec<(String, String)>,
}

impl Params {
    /// The query parameters of `req`; with `with_body`, also its body, which must then be a
    /// JSON object (else the 400 message).
    pub fn of(req: &Request, with_body: bool) -> Result<Params, String> {
        let ctx = req.extensions().get::<RequestCtx>();
        let query = ctx.map(|c| c.query.clone()).unwrap_or_default();
        let mut all = Vec::new();
        if with_body {
            let body = ctx.and_then(|c| c.body.as_deref()).unwrap_or("");
            let value: serde_json::Value =
                serde_json::from_str(body).map_err(|e| format!("the body is not JSON: {e}"))?;
            let serde_json::Value::Object(fields) = value else {
                return Err("the body must be a JSON object".to_string());
            };
            for (k, v) in fields {
                let text = match v {
                    serde_json::Value::Null => continue,
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    other => return Err(format!("invalid {k}: {other} is not a scalar")),
                };
                all.push((k, text));
            }
        }
        all.extend(query.iter().cloned());
        Ok(Params { query, all })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.all
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-negative integer parameter, if present.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|raw| {
                raw.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("invalid {name}: '{raw}' is not a non-negative integer"))
            })
            .transpose()
    }

    /// `true`/`1` or `false`/`0`; absent is false.
    pub fn flag(&self, name: &str) -> Result<bool, String> {
        match self.get(name).map(str::trim) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(raw) => Err(format!("invalid {name}: '{raw}' is not true or false")),
        }
    }

    /// A page size (`per_page`, `limit`): 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] if absent.
    pub fn page_size(&self, name: &str) -> Result<u64, String> {
        match self.u64(name)?.unwrap_or(DEFAULT_PAGE_SIZE) {
            0 => Err(format!("{name} must be at least 1")),
            n if n > MAX_PAGE_SIZE => Err(format!("{name} must be at most {MAX_PAGE_SIZE}")),
            n => Ok(n),
        }
    }

    /// A time bound in epoch milliseconds, if present (see [`parse_time_ms`]).
    pub fn time_ms(&self, name: &str) -> Result<Option<i64>, String> {
        self.get(name)
            .map(|raw| {
                parse_time_ms(raw).ok_or_else(|| {
                    format!(
                        "invalid {name}: '{raw}' is not epoch seconds, epoch milliseconds or an RFC 3339 timestamp"
                    )
                })
            })
            .transpose()
    }
}

/// A time as epoch milliseconds: an integer below 1e11 is epoch seconds, one at or above it
/// epoch milliseconds; anything else must be RFC 3339. Sub-millisecond fractions round up
/// (records are on whole milliseconds, so `start ≤ created` and `created < end` keep their
/// meaning).
pub(super) fn parse_time_ms(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<i64>() {
        return if n < MS_THRESHOLD {
            n.checked_mul(1000)
        } else {
            Some(n)
        };
    }
    let t = DateTime::parse_from_rfc3339(raw).ok()?;
    let ms = t.timestamp_millis();
    Some(ms + i64::from(t.timestamp_subsec_nanos() % 1_000_000 != 0))
}

/// Which records a request selects, and how pages of them are dressed.
#[derive(Debug, Clone)]
pub(super) struct Selection {
    /// Records `0..total` exist (`MAX_INDEX` for the endless endpoints).
    pub total: u64,
    /// The indices within `[start, end)`, in id order.
    pub window: Range<u64>,
    shuffle: bool,
    leak: bool,
    /// The id whose `count` is written as `"oops"`.
    corrupt: Option<u64>,
}

impl Selection {
    /// `total` (default 1000, at most 1,000,000), `start`, `end`, `shuffle`, `leak`, `corrupt`.
    pub fn parse(p: &Params) -> Result<Selection, String> {
        let total = p.u64("total")?.unwrap_or(DEFAULT_TOTAL);
        if total > MAX_TOTAL {
            return Err(format!("total must be at most {MAX_TOTAL}"));
        }
        let start = p.time_ms("start")?;
        let end = p.time_ms("end")?;
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err("start must not be after end".to_string());
            }
        }
        Selection::with(p, total, records::window(total, start, end))
    }

    /// A collection that never ends: `total` and `end` are ignored, `start` is honoured.
    pub fn parse_endless(p: &Params) -> Result<Selection, String> {
        let start = p.time_ms("start")?;
        Selection::with(p, MAX_INDEX, records::window(MAX_INDEX, start, None))
    }

    fn with(p: &Params, total: u64, window: Range<u64>) -> Result<Selection, String> {
        Ok(Selection {
            total,
            window,
            shuffle: p.flag("shuffle")?,
            leak: p.flag("leak")?,
            corrupt: p.u64("corrupt")?,
        })
    }

    /// How many records the window holds.
    pub fn len(&self) -> u64 {
        self.window.end - self.window.start
    }

    /// Whether records remain after a page of `size` at `offset` (within the window).
    pub fn more_after(&self, offset: u64, size: u64) -> bool {
        offset.saturating_add(size) < self.len()
    }

    /// The indices of the page of at most `size` records at `offset` within the window. A
    /// non-empty page gets, with `leak`, one record from just outside the window (the one
    /// before it on even pages, after it on odd ones, else the other; pages counted
    /// `offset / size`), at the matching end; with `shuffle`, it is then put in a
    /// deterministic order that is never ascending.
    pub fn page(&self, offset: u64, size: u64) -> Vec<u64> {
        let w = &self.window;
        let first = w.start.saturating_add(offset).min(w.end);
        let last = first.saturating_add(size).min(w.end);
        let mut page: Vec<u64> = (first..last).collect();
        if page.is_empty() {
            return page;
        }
        if self.leak {
            let before = w.start.checked_sub(1);
            let after = (w.end < self.total).then_some(w.end);
            let pick = if (offset / size.max(1)).is_multiple_of(2) {
                before.or(after)
            } else {
                after.or(before)
            };
            match pick {
                Some(i) if i < first => page.insert(0, i),
                Some(i) => page.push(i),
                None => {}
            }
        }
        if self.shuffle {
            shuffle(&mut page, offset);
        }
        page
    }

    /// Appends `[record, ...]` for `indices`.
    pub fn push_array(&self, buf: &mut String, indices: &[u64]) {
        buf.push('[');
        for (n, &i) in indices.iter().enumerate() {
            if n > 0 {
                buf.push(',');
            }
            push_record(buf, i, self.corrupt == Some(i + 1));
        }
        buf.push(']');
    }

    /// `[record, ...]` for `indices`, as a new string with room for what follows.
    pub fn array(&self, indices: &[u64]) -> String {
        let mut buf = String::with_capacity(256 * indices.len() + 128);
        self.push_array(&mut buf, indices);
        buf
    }
}

/// A deterministic Fisher-Yates shuffle seeded by `seed`; an ascending result is reversed,
/// so a page of two or more records never comes out in id order.
fn shuffle(items: &mut [u64], seed: u64) {
    let mut state = splitmix64(seed ^ 0x5348_5546_464c_4521);
    for i in (1..items.len()).rev() {
        state = splitmix64(state);
        let j = (state % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    if items.windows(2).all(|w| w[0] < w[1]) {
        items.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let query: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params {
            all: query.clone(),
            query,
        }
    }

    #[test]
    fn times_in_three_formats() {
        let t0 = records::T0_S;
        assert_eq!(parse_time_ms(&t0.to_string()), Some(t0 * 1000));
        assert_eq!(parse_time_ms(&(t0 * 1000).to_string()), Some(t0 * 1000));
        assert_eq!(parse_time_ms("99999999999"), Some(99_999_999_999_000));
        assert_eq!(parse_time_ms("100000000000"), Some(100_000_000_000));
        assert_eq!(parse_time_ms("2026-01-01T00:00:00Z"), Some(t0 * 1000));
        assert_eq!(parse_time_ms("2026-01-01T01:00:00+01:00"), Some(t0 * 1000));
        assert_eq!(
            parse_time_ms("2026-01-01T00:00:00.25Z"),
            Some(t0 * 1000 + 250)
        );
        assert_eq!(
            parse_time_ms("2026-01-01T00:00:00.0001Z"),
            Some(t0 * 1000 + 1)
        );
        for bad in ["", "yesterday", "1.5", "2026-01-01", "-99999999999999999"] {
            assert_eq!(parse_time_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn parameters_are_checked() {
        let p = params(&[("a", "12"), ("b", "-1"), ("f", "true"), ("g", "yes")]);
        assert_eq!(p.u64("a"), Ok(Some(12)));
        assert_eq!(p.u64("missing"), Ok(None));
        assert!(p.u64("b").is_err());
        assert_eq!(p.flag("f"), Ok(true));
        assert_eq!(p.flag("missing"), Ok(false));
        assert!(p.flag("g").is_err());
        assert_eq!(p.page_size("missing"), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(
            params(&[("n", "0")]).page_size("n"),
            Err("n must be at least 1".to_string())
        );
        assert_eq!(params(&[("n", "500")]).page_size("n"), Ok(500));
        assert_eq!(
            params(&[("n", "501")]).page_size("n"),
            Err("n must be at most 500".to_string())
        );
    }

    #[test]
    fn pages_leak_and_shuffle() {
        let ms = records::created_ms;
        let p = params(&[("total", "100"), ("leak", "true")]);
        let s = Selection::parse(&p).expect("valid");
        // Nothing exists outside the whole collection: no leak.
        assert_eq!(s.page(0, 3), [0, 1, 2]);
        assert_eq!(s.page(99, 3), [99]);
        assert_eq!(s.page(100, 3), Vec::<u64>::new());

        let (start, end) = (ms(10).to_string(), ms(20).to_string());
        let p = params(&[("leak", "1"), ("start", &start), ("end", &end)]);
        let s = Selection::parse(&p).expect("valid");
        assert_eq!(s.len(), 10);
        assert_eq!(s.page(0, 4), [9, 10, 11, 12, 13]);
        assert_eq!(s.page(4, 4), [14, 15, 16, 17, 20]);
        assert_eq!(s.page(8, 4), [9, 18, 19]);
        assert_eq!(s.page(10, 4), Vec::<u64>::new());
        assert!(s.more_after(4, 4) && !s.more_after(8, 4));

        let p = params(&[("shuffle", "true"), ("total", "20")]);
        let s = Selection::parse(&p).expect("valid");
        for (offset, size) in [(0, 2), (0, 10), (10, 10), (5, 7)] {
            let page = s.page(offset, size);
            assert_eq!(page, s.page(offset, size), "deterministic");
            assert!(page.windows(2).any(|w| w[0] > w[1]), "{page:?}");
            let mut sorted = page.clone();
            sorted.sort();
            let want: Vec<u64> = (offset..(offset + size).min(20)).collect();
            assert_eq!(sorted, want);
        }
    }

    #[test]
    fn selection_errors() {
        let err = |pairs: &[(&str, &str)]| Selection::parse(&params(pairs)).unwrap_err();
        assert_eq!(
            err(&[("total", "1000001")]),
            "total must be at most 1000000"
        );
        assert!(err(&[("start", "x")]).starts_with("invalid start: 'x'"));
        assert!(err(&[("end", "2026-13-01T00:00:00Z")]).starts_with("invalid end:"));
        assert_eq!(
            err(&[("start", "20"), ("end", "10")]),
            "start must not be after end"
        );
        assert!(err(&[("corrupt", "x")]).starts_with("invalid corrupt:"));
        let ok = Selection::parse(&params(&[
            ("total", "1000000"),
            ("start", "5"),
            ("end", "5"),
        ]));
        assert_eq!(ok.expect("equal bounds are fine").len(), 0);
    }
}
