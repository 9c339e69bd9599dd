//! Configuration of a `datadog_v1` table: typed fields, the option names SQL and JSON use, and
//! validation. One parser serves the builder, `register()` (JSON), `CREATE EXTERNAL TABLE ...
//! OPTIONS` and the CLI's config file.

use std::collections::BTreeMap;
use std::time::Duration;

use super::options::{parse_bool, parse_count, parse_duration};
use crate::adapters::datadog::{parse_base_url, site_url, Credentials, Secret, DEFAULT_SITE};
use crate::{Error, Result};

/// Every option a `datadog_v1` table accepts, with what it means (used in errors and docs).
pub const V1_OPTIONS: &[(&str, &str)] = &[
    (
        "query",
        "metric query, e.g. 'system.cpu.user{*}' or 'system.cpu.user{env:prod} by {host}'",
    ),
    (
        "granularity",
        "rollup interval of the rows, e.g. '60s' (default 60s)",
    ),
    (
        "chunk",
        "initial window per request (default: the largest the API serves at the granularity)",
    ),
    (
        "min_chunk",
        "smallest window the engine may split down to (default: the granularity)",
    ),
    (
        "site",
        "Datadog site, e.g. 'datadoghq.eu' (default $DD_SITE or datadoghq.com)",
    ),
    (
        "base_url",
        "API base URL overriding site, e.g. a proxy or the simulator",
    ),
    (
        "allow_http",
        "allow plain http to non-loopback hosts (default false)",
    ),
    (
        "api_key",
        "API key (prefer the DD_API_KEY environment variable)",
    ),
    (
        "app_key",
        "application key (prefer the DD_APP_KEY environment variable)",
    ),
    (
        "default_range",
        "time range scanned when the query has no ts filter (default 1h)",
    ),
    (
        "max_range",
        "largest time range one query may scan (default 31d)",
    ),
    (
        "max_concurrency",
        "most partitions (parallel request streams) per scan (default 4)",
    ),
    (
        "prefetch_depth",
        "requests kept in flight per partition (default 2)",
    ),
    (
        "max_retries",
        "retries per request before failing (default 8)",
    ),
    (
        "request_timeout",
        "time allowed for one request (default 60s)",
    ),
    ("connect_timeout", "time allowed to connect (default 10s)"),
];

/// A `datadog_v1` table's settings.
#[derive(Debug, Clone)]
pub struct DatadogV1Config {
    /// The default metric query.
    pub query: String,
    /// Row granularity (whole seconds).
    pub granularity: Duration,
    /// Initial window; `None` derives it from the granularity.
    pub chunk: Option<Duration>,
    /// Smallest window; `None` = the granularity.
    pub min_chunk: Option<Duration>,
    /// Datadog site.
    pub site: String,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Allow http to non-loopback hosts.
    pub allow_http: bool,
    /// Keys (never printed).
    pub credentials: Credentials,
    /// Range used without a ts filter.
    pub default_range: Duration,
    /// Largest range a query may cover.
    pub max_range: Duration,
    /// Most partitions per scan.
    pub max_concurrency: usize,
    /// Prefetch depth per partition.
    pub prefetch_depth: usize,
    /// Retries per request.
    pub max_retries: u32,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl Default for DatadogV1Config {
    fn default() -> Self {
        Self {
            query: String::new(),
            granularity: Duration::from_secs(60),
            chunk: None,
            min_chunk: None,
            site: DEFAULT_SITE.to_string(),
            base_url: None,
            allow_http: false,
            credentials: Credentials::default(),
            default_range: Duration::from_secs(3_600),
            max_range: Duration::from_secs(31 * 86_400),
            max_concurrency: 4,
            prefetch_depth: 2,
            max_retries: 8,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl DatadogV1Config {
    /// Defaults plus `DD_SITE`, `DD_API_KEY` and `DD_APP_KEY` from the environment.
    pub fn from_env() -> Self {
        let mut config = Self {
            credentials: Credentials::from_env(),
            ..Self::default()
        };
        if let Ok(site) = std::env::var("DD_SITE") {
            if !site.trim().is_empty() {
                config.site = site.trim().to_string();
            }
        }
        config
    }

    /// Sets one option by name. Unknown names are an error listing the valid ones.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = key.trim().to_ascii_lowercase();
        let key = key.strip_prefix("format.").unwrap_or(&key);
        match key {
            "query" => self.query = value.trim().to_string(),
            "granularity" => {
                let g = parse_duration(key, value)?;
                if g.as_secs() == 0 || g.subsec_nanos() != 0 {
                    return Err(Error::config(format!(
                        "option 'granularity': '{value}' must be a whole number of seconds, at least 1s"
                    )));
                }
                self.granularity = g;
            }
            "chunk" => self.chunk = Some(parse_duration(key, value)?),
            "min_chunk" => self.min_chunk = Some(parse_duration(key, value)?),
            "site" => self.site = value.trim().to_string(),
            "base_url" => self.base_url = Some(value.trim().to_string()),
            "allow_http" => self.allow_http = parse_bool(key, value)?,
            "api_key" => self.credentials.api_key = Some(Secret::new(value.trim())),
            "app_key" => self.credentials.app_key = Some(Secret::new(value.trim())),
            "default_range" => self.default_range = parse_duration(key, value)?,
            "max_range" => self.max_range = parse_duration(key, value)?,
            "max_concurrency" => self.max_concurrency = parse_count(key, value, 64)? as usize,
            "prefetch_depth" => self.prefetch_depth = parse_count(key, value, 64)? as usize,
            "max_retries" => self.max_retries = parse_count(key, value, 100)? as u32,
            "request_timeout" => self.request_timeout = parse_duration(key, value)?,
            "connect_timeout" => self.connect_timeout = parse_duration(key, value)?,
            other => {
                return Err(Error::UnknownOption {
                    adapter: "datadog_v1",
                    key: other.to_string(),
                    accepted: V1_OPTIONS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
        Ok(())
    }

    /// Applies a JSON object of options (`{"query": "...", "granularity": "60s", ...}`); numbers
    /// and booleans are accepted where they make sense.
    pub fn apply_json(&mut self, json: &str) -> Result<()> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).map_err(|e| {
            Error::config(format!(
                "the table config is not a JSON object of options ({e}); expected e.g. {{\"query\": \"system.cpu.user{{*}}\", \"granularity\": \"60s\"}}"
            ))
        })?;
        for (key, value) in map {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    // Name the type only: the value may be a key.
                    let kind = if other.is_array() {
                        "an array"
                    } else if other.is_object() {
                        "an object"
                    } else {
                        "null"
                    };
                    return Err(Error::config(format!(
                        "option '{key}': expected a string, number or boolean, got {kind}"
                    )));
                }
            };
            self.set(&key, &text)?;
        }
        Ok(())
    }

    /// The API base URL: `base_url` if set, else `https://api.{site}`.
    pub fn resolved_base_url(&self) -> Result<url::Url> {
        match &self.base_url {
            Some(raw) => parse_base_url(raw, self.allow_http),
            None => site_url(&self.site),
        }
    }

    /// Granularity in whole seconds.
    pub fn granularity_s(&self) -> i64 {
        self.granularity.as_secs() as i64
    }

    /// Checks the settings that do not depend on a query.
    pub fn validate(&self) -> Result<()> {
        self.resolved_base_url()?;
        if self.query.trim().is_empty() {
            return Err(Error::config(
                "option 'query' is required, e.g. 'system.cpu.user{*}'",
            ));
        }
        if self.max_range < self.granularity {
            return Err(Error::config(format!(
                "option 'max_range' ({:?}) is shorter than the granularity ({:?})",
                self.max_range, self.granularity
            )));
        }
        if self.default_range.is_zero() {
            return Err(Error::config(
                "option 'default_range' must be longer than 0",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_by_name_and_json() {
        let mut c = DatadogV1Config::default();
        c.set("format.granularity", "5m").unwrap();
        c.set("MAX_RANGE", "90d").unwrap();
        assert_eq!(c.granularity_s(), 300);
        assert_eq!(c.max_range, Duration::from_secs(90 * 86_400));
        c.apply_json(r#"{"query": "m{*}", "prefetch_depth": 4, "allow_http": true}"#)
            .unwrap();
        assert_eq!(
            (c.query.as_str(), c.prefetch_depth, c.allow_http),
            ("m{*}", 4, true)
        );
        c.validate().unwrap();
    }

    #[test]
    fn bad_options_name_the_option() {
        let mut c = DatadogV1Config::default();
        let err = c.set("granularty", "60s").unwrap_err().to_string();
        assert!(
            err.contains("granularty") && err.contains("granularity, chunk"),
            "{err}"
        );
        let err = c.set("granularity", "1500ms").unwrap_err().to_string();
        assert!(err.contains("whole number of seconds"), "{err}");
        let err = c.apply_json("[1,2]").unwrap_err().to_string();
        assert!(err.contains("JSON object"), "{err}");
        let err = c.apply_json(r#"{"query": ["a"]}"#).unwrap_err().to_string();
        assert!(err.contains("option 'query'"), "{err}");
        let err = DatadogV1Config::default()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("'query' is required"), "{err}");
    }

    #[test]
    fn keys_do_not_show_in_debug() {
        let mut c = DatadogV1Config::default();
        c.set("api_key", "topsecretkey").unwrap();
        assert!(!format!("{c:?}").contains("topsecretkey"));
    }
}
