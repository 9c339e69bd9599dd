//! The `Link` header's `rel="next"` and `rel="last"` targets (RFC 8288), as GitHub and
//! json-server page their lists.

use http::HeaderMap;

/// The URL of the `rel="next"` link, if any `Link` header has one.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    link_with_rel(headers, "next")
}

/// The URL of the `rel="last"` link, if any `Link` header has one.
pub fn last_link(headers: &HeaderMap) -> Option<String> {
    link_with_rel(headers, "last")
}

fn link_with_rel(headers: &HeaderMap, rel: &str) -> Option<String> {
    headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            let has_rel = params.split(';').any(|p| {
                let Some((k, v)) = p.split_once('=') else {
                    return false;
                };
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case(rel))
            });
            has_rel.then(|| target.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::LINK, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn finds_the_next_link() {
        let h = headers(&[
            r#"<https://api.github.com/x?page=3>; rel="next", <https://api.github.com/x?page=9>; rel="last""#,
        ]);
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/x?page=3")
        );
        let h = headers(&[r#"<a?page=1>; rel="prev""#, r#"<a?page=3>; rel=next"#]);
        assert_eq!(next_link(&h).as_deref(), Some("a?page=3"));
        assert_eq!(next_link(&headers(&[r#"<a?page=1>; rel="first""#])), None);
        assert_eq!(
            last_link(&h).as_deref(),
            None,
            "no rel=last in these headers"
        );
        let h = headers(&[
            r#"<http://h/x?_page=1>; rel="first", <http://h/x?_page=2>; rel="next", <http://h/x?_page=7>; rel="last""#,
        ]);
        assert_eq!(last_link(&h).as_deref(), Some("http://h/x?_page=7"));
        assert_eq!(next_link(&h).as_deref(), Some("http://h/x?_page=2"));
        assert_eq!(next_link(&HeaderMap::new()), None);
        assert_eq!(next_link(&headers(&["garbage"])), None);
    }
}
