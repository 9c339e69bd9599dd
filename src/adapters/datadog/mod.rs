//! Datadog's metric query APIs: site and credential handling shared by the v1 and v2 adapters.

mod credentials;
pub mod v1;

pub use credentials::{Credentials, Secret};
pub use v1::{Aggregation, DatadogV1Adapter, DatadogV1Options};

use crate::{Error, Result};

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
    parse_base_url(&format!("https://api.{site}"), false)
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
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if !loopback && !allow_http {
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
    fn base_urls() {
        assert_eq!(
            site_url("datadoghq.eu").unwrap().as_str(),
            "https://api.datadoghq.eu/"
        );
        assert!(site_url("https://x").is_err());
        assert!(parse_base_url("http://127.0.0.1:8080", false).is_ok());
        assert!(parse_base_url("http://localhost:1", false).is_ok());
        let err = parse_base_url("http://example.com", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow_http"), "{err}");
        assert!(parse_base_url("http://example.com", true).is_ok());
        assert!(parse_base_url("ftp://example.com", true).is_err());
        assert!(parse_base_url("not a url", true).is_err());
    }
}
