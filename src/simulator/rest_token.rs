//! Token (cursor) REST endpoints over the [`records`](super::records) collection:
//!
//! - `GET /api/token/events?limit=M[&cursor=C]` answers
//!   `{"records":[...],"next_cursor":"<opaque>"|null}`;
//! - `POST /api/token/events/search` with `{"limit":M,"cursor":C|null,"start":..,"end":..}`
//!   answers `{"results":{"items":[...]},"meta":{"next":"<opaque>"|""}}` (the last page's
//!   `next` is the empty string);
//! - `GET /api/stripe/events?limit=M[&starting_after=ID]` answers
//!   `{"object":"list","url":"/v1/events","has_more":bool,"data":[...]}`, the page starting
//!   after the record with id `ID`;
//! - `GET /api/token/stuck?mode=repeat|cycle&limit=M[&cursor=C]` misbehaves: `repeat` always
//!   answers the same page with `next_cursor` `"same"`; `cycle` answers full pages of new
//!   records while the cursor goes `a`, `b`, `a`, `b`, ...
//!
//! `limit` defaults to 50, at most 500. Cursors are opaque: `c`, the offset in hex, and a
//! check letter, so a garbled cursor is a 400 `{"message":"invalid cursor"}`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;

use super::data::splitmix64;
use super::json::push_str;
use super::pipeline::Answer;
use super::rest::{self, Params, Selection};
use super::state::SimState;

/// The letters of the check character (no hex digits among them).
const CHECK: &[u8; 16] = b"ghjkmnpqrstvwxyz";

const INVALID_CURSOR: &str = "invalid cursor";

fn check_char(offset: u64) -> char {
    char::from(CHECK[(splitmix64(offset ^ 0xc0de_c0de) % 16) as usize])
}

/// The cursor of the page at `offset`: `c<hex offset><check letter>`.
pub(super) fn encode_cursor(offset: u64) -> String {
    format!("c{offset:x}{}", check_char(offset))
}

/// The offset a cursor of [`encode_cursor`] stands for; None for anything else.
pub(super) fn decode_cursor(cursor: &str) -> Option<u64> {
    let hex = cursor.strip_prefix('c').filter(|h| h.is_ascii())?;
    let (hex, check) = hex.split_at(hex.len().checked_sub(1)?);
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    let offset = u64::from_str_radix(hex, 16).ok()?;
    // Only the canonical spelling: lowercase, no leading zeros, no sign.
    (format!("{offset:x}") == hex && check.starts_with(check_char(offset))).then_some(offset)
}

/// The offset named by the `cursor` parameter: absent is the first page.
fn cursor_offset(p: &Params) -> Result<u64, String> {
    match p.get("cursor") {
        None => Ok(0),
        Some(c) => decode_cursor(c).ok_or_else(|| INVALID_CURSOR.to_string()),
    }
}

/// One page of a cursor walk: the records and the next page's cursor, if any.
fn token_page(p: &Params) -> Result<(Selection, Vec<u64>, Option<String>), String> {
    let sel = Selection::parse(p)?;
    let limit = p.page_size("limit")?;
    let offset = cursor_offset(p)?;
    let page = sel.page(offset, limit);
    let next = sel
        .more_after(offset, limit)
        .then(|| encode_cursor(offset + limit));
    Ok((sel, page, next))
}

fn push_opt_str(buf: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_str(buf, s),
        None => buf.push_str("null"),
    }
}

/// `GET /api/token/events?limit=M[&cursor=C]`
pub(super) async fn events(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, false);
    rest::serve(&state, req, move || {
        let (sel, page, next) = token_page(&params?)?;
        Ok(records_answer(&sel, &page, next.as_deref()))
    })
    .await
}

/// `{"records":[...],"next_cursor":C|null}`
fn records_answer(sel: &Selection, page: &[u64], next: Option<&str>) -> Answer {
    let mut buf = String::from(r#"{"records":"#);
    sel.push_array(&mut buf, page);
    buf.push_str(r#","next_cursor":"#);
    push_opt_str(&mut buf, next);
    buf.push('}');
    rest::ok(buf)
}

/// `POST /api/token/events/search` with `{"limit":M,"cursor":C|null,"start":..,"end":..}`.
pub(super) async fn search(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, true);
    rest::serve(&state, req, move || {
        let (sel, page, next) = token_page(&params?)?;
        let mut buf = String::from(r#"{"results":{"items":"#);
        sel.push_array(&mut buf, &page);
        buf.push_str(r#"},"meta":{"next":"#);
        push_str(&mut buf, next.as_deref().unwrap_or(""));
        buf.push_str("}}");
        Ok(rest::ok(buf))
    })
    .await
}

/// `GET /api/stripe/events?limit=M[&starting_after=ID]`
pub(super) async fn stripe(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, false);
    rest::serve(&state, req, move || {
        let p = params?;
        let sel = Selection::parse(&p)?;
        let limit = p.page_size("limit")?;
        // Record `id` has index `id - 1`: the page starts at index `id`.
        let offset = match p.u64("starting_after")? {
            None => 0,
            Some(0) => return Err("invalid starting_after: ids start at 1".to_string()),
            Some(id) => id.saturating_sub(sel.window.start),
        };
        let mut buf = String::from(r#"{"object":"list","url":"/v1/events","has_more":"#);
        buf.push_str(if sel.more_after(offset, limit) {
            "true"
        } else {
            "false"
        });
        buf.push_str(r#","data":"#);
        sel.push_array(&mut buf, &sel.page(offset, limit));
        buf.push('}');
        Ok(rest::ok(buf))
    })
    .await
}

/// `GET /api/token/stuck?mode=repeat|cycle&limit=M[&cursor=C]`
pub(super) async fn stuck(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, false);
    let shared = state.clone();
    rest::serve(&state, req, move || {
        let p = params?;
        let limit = p.page_size("limit")?;
        match p.get("mode").unwrap_or("repeat") {
            "repeat" => {
                // Whatever the cursor, the first page again.
                let sel = Selection::parse(&p)?;
                Ok(records_answer(&sel, &sel.page(0, limit), Some("same")))
            }
            "cycle" => {
                let next = match p.get("cursor") {
                    None | Some("b") => "a",
                    Some("a") => "b",
                    Some(_) => return Err(INVALID_CURSOR.to_string()),
                };
                // New records on every page, whatever the cursor says.
                let sel = Selection::parse_endless(&p)?;
                let offset = shared.stuck_served.fetch_add(limit, Ordering::Relaxed);
                Ok(records_answer(&sel, &sel.page(offset, limit), Some(next)))
            }
            other => Err(format!("invalid mode: '{other}' is not repeat or cycle")),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for offset in [0, 1, 49, 50, 255, 1_000_000, u64::MAX] {
            let c = encode_cursor(offset);
            assert!(c.starts_with('c'), "{c}");
            assert_eq!(decode_cursor(&c), Some(offset), "{c}");
        }
        let good = encode_cursor(50);
        let wrong_check = {
            let mut c = good.clone();
            let last = c.pop().expect("non-empty");
            let other = CHECK.iter().map(|&b| char::from(b)).find(|&b| b != last);
            c.push(other.expect("another letter"));
            c
        };
        let bad = [
            "",
            "c",
            "cg",
            "same",
            "x32g",
            "C32g",
            &wrong_check,
            &format!("c0{}", &good[1..]),
            &good.to_uppercase(),
            &format!("{good}x"),
            "c12345678901234567g",
            "cé",
            "c3é",
        ];
        for c in bad {
            assert_eq!(decode_cursor(c), None, "{c}");
        }
    }
}
