//! The `Link` header's `rel="next"` target (RFC 8288), as GitHub pages its lists.

use http::HeaderMap;

/// The URL of the `rel="next"` link, if any `Link` header has one.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            let is_next = params.split(';').any(|p| {
                let Some((k, v)) = p.split_once('=') else {
                    return false;
                };
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            is_next.then(|| target.to_string())
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
        assert_eq!(next_link(&HeaderMap::new()), None);
        assert_eq!(next_link(&headers(&["garbage"])), None);
    }
}
