//! Page-number REST endpoints over the [`records`](super::records) collection:
//!
//! - `GET /api/page/events?page=N&per_page=M` and `POST /api/page/events/search` (the same
//!   parameters in a JSON body) answer
//!   `{"data":[...],"page":N,"per_page":M,"total":T,"has_more":bool}`;
//! - `GET /api/github/events?page=N&per_page=M` answers a bare JSON array with a GitHub
//!   `Link` header (`next`, `last`, `first`, `prev`);
//! - `GET /api/jsonserver/events?_page=N&_limit=M` answers a bare array like json-server:
//!   `X-Total-Count` and a `Link` header (`first`, `prev`, `next`, `last`; none with
//!   `link=false`);
//! - `GET /api/page/endless?page=N&per_page=M` never runs out:
//!   `{"data":[...],"page":N,"per_page":M}`.
//!
//! Pages start at 1 (`page_base=0` makes them start at 0, except on the GitHub endpoint); a
//! missing `page` is the first page and a page past the end is empty. `per_page` defaults to
//! 50, at most 500.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::{header, HeaderName, HeaderValue};

use super::records::MAX_INDEX;
use super::rest::{self, Params, Selection};
use super::state::SimState;

/// A validated page request.
struct PageReq {
    /// The page number as asked (or the first page).
    page: u64,
    per_page: u64,
    /// Offset of the page's first record within the selection (saturating).
    offset: u64,
}

impl PageReq {
    /// `page` (≥ `base`) and `per_page`; `page_base` (0 or 1, default 1) when `base` is None.
    fn parse(p: &Params, base: Option<u64>) -> Result<PageReq, String> {
        let base = match base {
            Some(b) => b,
            None => match p.u64("page_base")?.unwrap_or(1) {
                b @ (0 | 1) => b,
                _ => return Err("page_base must be 0 or 1".to_string()),
            },
        };
        let per_page = p.page_size("per_page")?;
        let page = p.u64("page")?.unwrap_or(base);
        if page < base {
            return Err(format!("page must be at least {base}"));
        }
        Ok(PageReq {
            page,
            per_page,
            offset: (page - base).saturating_mul(per_page),
        })
    }
}

/// `GET /api/page/events`
pub(super) async fn events(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, false);
    rest::serve(&state, req, move || numbered(&params?)).await
}

/// `POST /api/page/events/search` with `{"page":N,"per_page":M,"start":..,"end":..}`.
pub(super) async fn search(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, true);
    rest::serve(&state, req, move || numbered(&params?)).await
}

fn numbered(p: &Params) -> Result<super::pipeline::Answer, String> {
    let sel = Selection::parse(p)?;
    let pr = PageReq::parse(p, None)?;
    let mut buf = String::from(r#"{"data":"#);
    sel.push_array(&mut buf, &sel.page(pr.offset, pr.per_page));
    let _ = write!(
        buf,
        r#","page":{},"per_page":{},"total":{},"has_more":{}}}"#,
        pr.page,
        pr.per_page,
        sel.len(),
        sel.more_after(pr.offset, pr.per_page)
    );
    Ok(rest::ok(buf))
}

/// The request's `Host` header, for absolute links back to this server.
fn host_of(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
}

/// `GET /api/github/events?page=N&per_page=M`
pub(super) async fn github(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, false);
    let host = host_of(&req);
    let path = req.uri().path().to_string();
    rest::serve(&state, req, move || {
        let p = params?;
        let sel = Selection::parse(&p)?;
        let pr = PageReq::parse(&p, Some(1))?;
        let body = sel.array(&sel.page(pr.offset, pr.per_page));
        let mut answer = rest::ok(body);
        let last = sel.len().div_ceil(pr.per_page).max(1);
        let link = github_link(host.as_deref(), &path, &p.query, pr.page, last, pr.per_page);
        if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            answer.headers.push((header::LINK, link));
        }
        Ok(answer)
    })
    .await
}

/// The `Link` header GitHub would send for `page` of `last`: `next` and `last` before the
/// last page, `first` and `prev` after the first; None when there is nothing to link.
/// Links are absolute (from `Host`) and keep the other query parameters.
fn github_link(
    host: Option<&str>,
    path: &str,
    query: &[(String, String)],
    page: u64,
    last: u64,
    per_page: u64,
) -> Option<String> {
    let url = |n: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("page", &n.to_string());
        q.append_pair("per_page", &per_page.to_string());
        for (k, v) in query.iter().filter(|(k, _)| k != "page" && k != "per_page") {
            q.append_pair(k, v);
        }
        match host {
            Some(host) => format!("http://{host}{path}?{}", q.finish()),
            None => format!("{path}?{}", q.finish()),
        }
    };
    let mut rels = Vec::new();
    if page < last {
        rels.push((page + 1, "next"));
        rels.push((last, "last"));
    }
    if page > 1 {
        rels.push((1, "first"));
        rels.push((page - 1, "prev"));
    }
    let links: Vec<String> = rels
        .into_iter()
        .map(|(n, rel)| format!("<{}>; rel=\"{rel}\"", url(n)))
        .collect();
    (!links.is_empty()).then(|| links.join(", "))
}

/// `GET /api/jsonserver/events?_page=N&_limit=M`, as json-server pages a collection: a bare
/// array, the collection's size in `X-Total-Count`, and a `Link` header with `first`, `prev`
/// (after the first page), `next` (before the last) and `last`; `link=false` sends no `Link`.
pub(super) async fn json_server(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, false);
    let host = host_of(&req);
    let path = req.uri().path().to_string();
    rest::serve(&state, req, move || {
        let p = params?;
        let sel = Selection::parse(&p)?;
        let per_page = p.page_size("_limit")?;
        let page = p.u64("_page")?.unwrap_or(1);
        if page < 1 {
            return Err("_page must be at least 1".to_string());
        }
        let offset = (page - 1).saturating_mul(per_page);
        let mut answer = rest::ok(sel.array(&sel.page(offset, per_page)));
        answer.headers.push((
            HeaderName::from_static("x-total-count"),
            HeaderValue::from(sel.len()),
        ));
        if !p.flag("link")? && p.get("link").is_some() {
            return Ok(answer);
        }
        let last = sel.len().div_ceil(per_page).max(1);
        let url = |n: u64| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("_page", &n.to_string());
            q.append_pair("_limit", &per_page.to_string());
            for (k, v) in p
                .query
                .iter()
                .filter(|(k, _)| k != "_page" && k != "_limit")
            {
                q.append_pair(k, v);
            }
            match &host {
                Some(host) => format!("http://{host}{path}?{}", q.finish()),
                None => format!("{path}?{}", q.finish()),
            }
        };
        let mut rels = vec![(1, "first")];
        if page > 1 {
            rels.push((page - 1, "prev"));
        }
        if page < last {
            rels.push((page + 1, "next"));
        }
        rels.push((last, "last"));
        let link: Vec<String> = rels
            .into_iter()
            .map(|(n, rel)| format!("<{}>; rel=\"{rel}\"", url(n)))
            .collect();
        if let Ok(link) = HeaderValue::from_str(&link.join(", ")) {
            answer.headers.push((header::LINK, link));
        }
        Ok(answer)
    })
    .await
}

/// `GET /api/page/endless?page=N&per_page=M`: every page is full; `total` and `end` are
/// ignored (pages stop only at the simulator's index limit, a 400).
pub(super) async fn endless(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = Params::of(&req, false);
    rest::serve(&state, req, move || {
        let p = params?;
        let sel = Selection::parse_endless(&p)?;
        let pr = PageReq::parse(&p, None)?;
        if pr.offset.saturating_add(pr.per_page) > MAX_INDEX - sel.window.start {
            return Err("page out of range".to_string());
        }
        let mut buf = String::from(r#"{"data":"#);
        sel.push_array(&mut buf, &sel.page(pr.offset, pr.per_page));
        let _ = write!(buf, r#","page":{},"per_page":{}}}"#, pr.page, pr.per_page);
        Ok(rest::ok(buf))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_like_github() {
        let q = vec![
            ("per_page".to_string(), "10".to_string()),
            ("start".to_string(), "2026-01-01T00:00:00+00:00".to_string()),
            ("page".to_string(), "2".to_string()),
        ];
        let link = github_link(Some("h:1"), "/p", &q, 2, 5, 10).expect("links");
        assert_eq!(
            link,
            "<http://h:1/p?page=3&per_page=10&start=2026-01-01T00%3A00%3A00%2B00%3A00>; rel=\"next\", \
             <http://h:1/p?page=5&per_page=10&start=2026-01-01T00%3A00%3A00%2B00%3A00>; rel=\"last\", \
             <http://h:1/p?page=1&per_page=10&start=2026-01-01T00%3A00%3A00%2B00%3A00>; rel=\"first\", \
             <http://h:1/p?page=1&per_page=10&start=2026-01-01T00%3A00%3A00%2B00%3A00>; rel=\"prev\""
        );
        assert_eq!(
            github_link(None, "/p", &[], 5, 5, 7).as_deref(),
            Some("</p?page=1&per_page=7>; rel=\"first\", </p?page=4&per_page=7>; rel=\"prev\"")
        );
        assert_eq!(github_link(Some("h"), "/p", &[], 1, 1, 7), None);
    }
}
