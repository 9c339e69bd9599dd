//! Which base URLs a table may send requests to: `https://` anywhere, plain `http://` only to
//! this machine unless the table allows it, so keys are never sent in clear text by accident.

use crate::{Error, Result};

/// Whether `url` points at this machine (127.0.0.0/8, ::1, localhost).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Parses a base URL. Plain `http://` is allowed only to loopback unless `allow_http` is set, so
/// keys are never sent in clear text by accident.
pub fn parse_base_url(raw: &str, allow_http: bool) -> Result<url::Url> {
    let url = url::Url::parse(raw.trim()).map_err(|e| {
        Error::config(format!(
            "base_url '{raw}' is not a valid URL ({e}); expected e.g. https://api.datadoghq.com"
        ))
    })?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback(&url) && !allow_http {
                return Err(Error::config(format!(
                    "base_url '{raw}' uses plain http to a non-loopback host, which would send API keys unencrypted; use https or set allow_http = true"
                )));
            }
        }
        other => {
            return Err(Error::config(format!(
            "base_url '{raw}' has scheme '{other}'; only https (or http to loopback) is supported"
        )))
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_to_loopback_unless_allowed() {
        assert!(parse_base_url("http://127.0.0.1:8080", false).is_ok());
        assert!(parse_base_url("http://localhost:1", false).is_ok());
        assert!(parse_base_url("http://[::1]:1", false).is_ok());
        let err = parse_base_url("http://example.com", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow_http"), "{err}");
        assert!(parse_base_url("http://example.com", true).is_ok());
        assert!(parse_base_url("https://example.com", false).is_ok());
        assert!(parse_base_url("ftp://example.com", true).is_err());
        assert!(parse_base_url("not a url", true).is_err());
    }

    #[test]
    fn loopback_hosts() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(is_loopback(&url("http://127.3.2.1/")));
        assert!(!is_loopback(&url("http://10.0.0.1/")));
        assert!(!is_loopback(&url("http://localhost.example.com/")));
    }
}
