//! Configuration of the Datadog tables (`datadog_v1`, `datadog_v2_timeseries`,
//! `datadog_v2_scalar`): typed fields, the option names SQL and JSON use, and validation. One
//! parser serves the builder, `register()` (JSON), `CREATE EXTERNAL TABLE ... OPTIONS` and the
//! CLI's config file.

use std::collections::BTreeMap;
use std::time::Duration;

use super::options::{json_scalar_text, parse_bool, parse_count, parse_duration};
use crate::adapters::datadog::{
    site_url, Credentials, NamedFormula, NamedQuery, ScalarAggregator, Secret, V2Queries,
    DEFAULT_SITE,
};
use crate::transport::{is_loopback, parse_base_url};
use crate::{Error, Result};

/// Which Datadog API a table queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum DatadogKind {
    /// `GET /api/v1/query`: avg/min/max/sum of one metric query per point.
    #[default]
    V1,
    /// `POST /api/v2/query/timeseries`: named queries and formulas, one value per point.
    V2Timeseries,
    /// `POST /api/v2/query/scalar`: one aggregate per query, group and chunk.
    V2Scalar,
}

impl DatadogKind {
    /// Every kind.
    pub const ALL: [DatadogKind; 3] = [
        DatadogKind::V1,
        DatadogKind::V2Timeseries,
        DatadogKind::V2Scalar,
    ];

    /// The adapter name (`register()`, errors, EXPLAIN, the table function).
    pub fn adapter_name(self) -> &'static str {
        match self {
            DatadogKind::V1 => "datadog_v1",
            DatadogKind::V2Timeseries => "datadog_v2_timeseries",
            DatadogKind::V2Scalar => "datadog_v2_scalar",
        }
    }

    /// The `STORED AS` name.
    pub fn stored_as(self) -> &'static str {
        match self {
            DatadogKind::V1 => "DATADOG_V1",
            DatadogKind::V2Timeseries => "DATADOG_V2_TIMESERIES",
            DatadogKind::V2Scalar => "DATADOG_V2_SCALAR",
        }
    }

    /// The kind of an adapter name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|k| k.adapter_name() == name)
    }

    /// The row granularity when none is set.
    pub fn default_granularity(self) -> Duration {
        match self {
            DatadogKind::V2Scalar => Duration::from_secs(3_600),
            _ => Duration::from_secs(60),
        }
    }

    /// Every option a table of this kind accepts, with what it means.
    pub fn options(self) -> Vec<(&'static str, &'static str)> {
        let specific: &[(&str, &str)] = match self {
            DatadogKind::V1 => V1_ONLY_OPTIONS,
            DatadogKind::V2Timeseries => V2_OPTIONS,
            DatadogKind::V2Scalar => SCALAR_OPTIONS,
        };
        let common = COMMON_OPTIONS.iter().filter(|(k, _)| {
            // A scalar table's chunk is its granularity.
            self != DatadogKind::V2Scalar || !matches!(*k, "chunk" | "min_chunk")
        });
        specific.iter().chain(common).copied().collect()
    }

    /// The option names, for error messages.
    pub fn option_names(self) -> String {
        self.options()
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Options only `datadog_v1` tables take.
const V1_ONLY_OPTIONS: &[(&str, &str)] = &[
    (
        "query",
        "metric query, e.g. 'system.cpu.user{*}' or 'system.cpu.user{env:prod} by {host}'",
    ),
    (
        "granularity",
        "rollup interval of the rows, e.g. '60s' (default 60s)",
    ),
];

/// Options of `datadog_v2_timeseries` tables.
const V2_OPTIONS: &[(&str, &str)] = &[
    (
        "query",
        "the metric query named 'a', e.g. 'avg:system.cpu.user{*} by {host}'",
    ),
    (
        "query.<name>",
        "a named query, e.g. 'query.b' = 'avg:system.cpu.system{*}' (names are formula variables)",
    ),
    (
        "formula",
        "a formula over the query names, e.g. 'a / b' (its rows are named by its text)",
    ),
    (
        "formula.<alias>",
        "a formula whose rows are named <alias>, e.g. 'formula.ratio' = 'a / b'",
    ),
    (
        "granularity",
        "interval of the points, e.g. '60s' (default 60s)",
    ),
];

/// Options of `datadog_v2_scalar` tables.
const SCALAR_OPTIONS: &[(&str, &str)] = &[
    (
        "query",
        "the metric query named 'a', e.g. 'avg:system.cpu.user{*} by {host}'",
    ),
    ("query.<name>", "a named query (a formula variable)"),
    ("formula", "a formula over the query names, e.g. 'a / b'"),
    ("formula.<alias>", "a formula whose rows are named <alias>"),
    (
        "aggregator",
        "how each chunk is reduced: avg, min, max, sum, last, percentile, mean, l2norm, area (default avg)",
    ),
    (
        "granularity",
        "length of each aggregated chunk, e.g. '1h' (default 1h)",
    ),
];

/// Options every Datadog table takes.
const COMMON_OPTIONS: &[(&str, &str)] = &[
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

/// A Datadog table's settings.
#[derive(Debug, Clone)]
pub struct DatadogConfig {
    /// Which API the table queries.
    pub kind: DatadogKind,
    /// The default metric query (v2: the query named `a`).
    pub query: String,
    /// More named queries (v2 only).
    pub queries: Vec<NamedQuery>,
    /// Formulas over the named queries (v2 only).
    pub formulas: Vec<NamedFormula>,
    /// Reduction of each chunk (v2 scalar only).
    pub aggregator: ScalarAggregator,
    /// Row granularity (whole seconds); `None` = the kind's default.
    pub granularity: Option<Duration>,
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
    /// Range used without a time filter.
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

/// The v1 name of [`DatadogConfig`], kept for callers of the first release.
pub type DatadogV1Config = DatadogConfig;

impl Default for DatadogConfig {
    fn default() -> Self {
        Self {
            kind: DatadogKind::V1,
            query: String::new(),
            queries: Vec::new(),
            formulas: Vec::new(),
            aggregator: ScalarAggregator::Avg,
            granularity: None,
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

impl DatadogConfig {
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

    /// The same settings for a table of `kind`.
    pub fn with_kind(mut self, kind: DatadogKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets one option by name. Unknown names are an error listing the valid ones.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = key.trim().to_ascii_lowercase();
        let key = key.strip_prefix("format.").unwrap_or(&key);
        let v2 = self.kind != DatadogKind::V1;
        let scalar = self.kind == DatadogKind::V2Scalar;
        match key {
            "query" => self.query = value.trim().to_string(),
            "formula" if v2 => self.formulas.push(NamedFormula {
                name: value.trim().to_string(),
                formula: value.trim().to_string(),
            }),
            "aggregator" if scalar => self.aggregator = ScalarAggregator::parse(value)?,
            "granularity" | "interval" => {
                let g = parse_duration(key, value)?;
                if g.as_secs() == 0 || g.subsec_nanos() != 0 {
                    return Err(Error::config(format!(
                        "option 'granularity': '{value}' must be a whole number of seconds, at least 1s"
                    )));
                }
                self.granularity = Some(g);
            }
            "chunk" if !scalar => self.chunk = Some(parse_duration(key, value)?),
            "min_chunk" if !scalar => self.min_chunk = Some(parse_duration(key, value)?),
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
                if let (true, Some(name)) = (v2, other.strip_prefix("query.")) {
                    self.queries.retain(|q| q.name != name);
                    self.queries.push(NamedQuery {
                        name: name.to_string(),
                        query: value.trim().to_string(),
                    });
                } else if let (true, Some(alias)) = (v2, other.strip_prefix("formula.")) {
                    self.formulas.retain(|f| f.name != alias);
                    self.formulas.push(NamedFormula {
                        name: alias.to_string(),
                        formula: value.trim().to_string(),
                    });
                } else {
                    return Err(Error::UnknownOption {
                        adapter: self.kind.adapter_name(),
                        key: other.to_string(),
                        accepted: self.kind.option_names(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Applies a JSON object of options (`{"query": "...", "granularity": "60s", ...}`); numbers
    /// and booleans are accepted where they make sense. For v2 tables, `"queries"` may be an
    /// object of named queries and `"formulas"` a list of formulas or an object of aliases.
    pub fn apply_json(&mut self, json: &str) -> Result<()> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).map_err(|e| {
            Error::config(format!(
                "the table config is not a JSON object of options ({e}); expected e.g. {{\"query\": \"system.cpu.user{{*}}\", \"granularity\": \"60s\"}}"
            ))
        })?;
        for (key, value) in map {
            match (key.as_str(), value) {
                ("queries", serde_json::Value::Object(named)) => {
                    for (name, query) in named {
                        self.set(&format!("query.{name}"), &json_scalar_text(&key, query)?)?;
                    }
                }
                ("formulas", serde_json::Value::Object(named)) => {
                    for (alias, formula) in named {
                        self.set(
                            &format!("formula.{alias}"),
                            &json_scalar_text(&key, formula)?,
                        )?;
                    }
                }
                ("formulas", serde_json::Value::Array(list)) => {
                    for formula in list {
                        self.set("formula", &json_scalar_text(&key, formula)?)?;
                    }
                }
                (_, value) => {
                    let text = json_scalar_text(&key, value)?;
                    self.set(&key, &text)?;
                }
            }
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

    /// The row granularity in force.
    pub fn granularity(&self) -> Duration {
        self.granularity
            .unwrap_or_else(|| self.kind.default_granularity())
    }

    /// Granularity in whole seconds.
    pub fn granularity_s(&self) -> i64 {
        self.granularity().as_secs() as i64
    }

    /// The v2 queries and formulas: `query` is named `a`, then the `query.<name>` ones.
    pub fn v2_queries(&self) -> V2Queries {
        let mut queries = Vec::new();
        if !self.query.trim().is_empty() {
            queries.push(NamedQuery {
                name: "a".into(),
                query: self.query.trim().to_string(),
            });
        }
        queries.extend(self.queries.iter().cloned());
        V2Queries {
            queries,
            formulas: self.formulas.clone(),
        }
    }

    /// Checks the settings that do not depend on a query.
    pub fn validate(&self) -> Result<()> {
        let url = self.resolved_base_url()?;
        if self.kind == DatadogKind::V1 {
            if self.query.trim().is_empty() {
                return Err(Error::config(
                    "option 'query' is required, e.g. 'system.cpu.user{*}'",
                ));
            }
        } else {
            self.v2_queries().validate(self.kind.adapter_name())?;
        }
        if self.max_range < self.granularity() {
            return Err(Error::config(format!(
                "option 'max_range' ({:?}) is shorter than the granularity ({:?})",
                self.max_range,
                self.granularity()
            )));
        }
        if self.default_range.is_zero() {
            return Err(Error::config(
                "option 'default_range' must be longer than 0",
            ));
        }
        // Datadog answers 403 without both keys; say which is missing before any request. A
        // loopback URL (the simulator, a local proxy that adds keys) may go without.
        if !is_loopback(&url) {
            for (present, env, option) in [
                (self.credentials.api_key.is_some(), "DD_API_KEY", "api_key"),
                (self.credentials.app_key.is_some(), "DD_APP_KEY", "app_key"),
            ] {
                if !present {
                    return Err(Error::config(format!(
                        "{}: no {env} for {}; export {env}=... (or set the table option '{option}')",
                        self.kind.adapter_name(),
                        url.host_str().unwrap_or("the API")
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_by_name_and_json() {
        let mut c = DatadogConfig::default();
        c.set("format.granularity", "5m").unwrap();
        c.set("MAX_RANGE", "90d").unwrap();
        assert_eq!(c.granularity_s(), 300);
        assert_eq!(c.max_range, Duration::from_secs(90 * 86_400));
        c.apply_json(r#"{"query": "m{*}", "prefetch_depth": 4, "allow_http": true, "api_key": "a", "app_key": "b"}"#)
            .unwrap();
        assert_eq!(
            (c.query.as_str(), c.prefetch_depth, c.allow_http),
            ("m{*}", 4, true)
        );
        c.validate().unwrap();
    }

    #[test]
    fn bad_options_name_the_option() {
        let mut c = DatadogConfig::default();
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
        let err = DatadogConfig::default().validate().unwrap_err().to_string();
        assert!(err.contains("'query' is required"), "{err}");
    }

    #[test]
    fn v2_named_queries_and_formulas() {
        let mut c = DatadogConfig::default().with_kind(DatadogKind::V2Timeseries);
        c.apply_json(
            r#"{"query": "avg:m{*}", "queries": {"b": "avg:n{*}"}, "formulas": {"ratio": "a / b"}}"#,
        )
        .unwrap();
        c.set("formula", "a * 2").unwrap();
        c.set("base_url", "http://localhost:1").unwrap();
        let q = c.v2_queries();
        assert_eq!(
            q.queries
                .iter()
                .map(|q| q.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(
            q.outputs(),
            vec![
                ("ratio".to_string(), "a / b".to_string()),
                ("a * 2".to_string(), "a * 2".to_string())
            ]
        );
        c.validate().unwrap();
        // SQL OPTIONS spell them with dots.
        c.set("format.query.c", "sum:x{*}").unwrap();
        assert_eq!(c.v2_queries().queries[2].query, "sum:x{*}");
        c.apply_json(r#"{"formulas": ["c"]}"#).unwrap();
        assert_eq!(c.formulas.len(), 3);
        c.set("query.a", "avg:dup{*}").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("two queries are named 'a'"), "{err}");
    }

    #[test]
    fn options_depend_on_the_kind() {
        let mut v1 = DatadogConfig::default();
        let err = v1.set("formula", "a").unwrap_err().to_string();
        assert!(
            err.contains("datadog_v1") && err.contains("'formula'"),
            "{err}"
        );
        let mut scalar = DatadogConfig::default().with_kind(DatadogKind::V2Scalar);
        assert_eq!(scalar.granularity(), Duration::from_secs(3600));
        scalar.set("aggregator", "max").unwrap();
        assert_eq!(scalar.aggregator, ScalarAggregator::Max);
        let err = scalar.set("aggregator", "median").unwrap_err().to_string();
        assert!(err.contains("avg, min, max, sum, last"), "{err}");
        let err = scalar.set("chunk", "1h").unwrap_err().to_string();
        assert!(
            err.contains("datadog_v2_scalar") && err.contains("aggregator"),
            "{err}"
        );
        let mut ts = DatadogConfig::default().with_kind(DatadogKind::V2Timeseries);
        let err = ts.set("aggregator", "avg").unwrap_err().to_string();
        assert!(err.contains("query.<name>"), "{err}");
        let err = ts.validate().unwrap_err().to_string();
        assert!(err.contains("no query given"), "{err}");
        assert_eq!(
            DatadogKind::from_name(" DATADOG_V2_SCALAR "),
            Some(DatadogKind::V2Scalar)
        );
        assert_eq!(DatadogKind::from_name("datadog_v3"), None);
    }

    #[test]
    fn missing_keys_name_the_variable_except_on_loopback() {
        let mut c = DatadogConfig {
            query: "m{*}".into(),
            site: "datadoghq.eu".into(),
            ..DatadogConfig::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("no DD_API_KEY for api.datadoghq.eu; export DD_API_KEY="),
            "{err}"
        );
        c.set("api_key", "k").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("no DD_APP_KEY"), "{err}");
        c.set("app_key", "k").unwrap();
        c.validate().unwrap();
        let local = DatadogConfig {
            query: "m{*}".into(),
            base_url: Some("http://127.0.0.1:8080".into()),
            ..DatadogConfig::default()
        };
        local.validate().unwrap();
    }

    #[test]
    fn keys_do_not_show_in_debug() {
        let mut c = DatadogConfig::default();
        c.set("api_key", "topsecretkey").unwrap();
        assert!(!format!("{c:?}").contains("topsecretkey"));
    }
}
