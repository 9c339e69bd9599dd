//! Configuration of the Datadog tables (`datadog_v1`, `datadog_v2_timeseries`,
//! `datadog_v2_scalar`): the typed keys ([`DatadogConfigKey`]), which kind accepts which, and
//! the settings they make ([`DatadogConfig`]). One parser serves the builder, `register()`
//! (JSON), `CREATE EXTERNAL TABLE ... OPTIONS`, the table functions and the CLI's config file.

use std::str::FromStr;
use std::time::Duration;

use crate::adapters::datadog::{
    site_url, Credentials, NamedFormula, NamedQuery, ScalarAggregator, Secret, V2Queries,
    DEFAULT_SITE,
};
use crate::sql::config::values::parse_duration;
use crate::sql::config::{
    names, normalized_key, CommonConfigKey, FetchSettings, KeyDoc, OptionValue, WindowConfigKey,
    WindowSettings,
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

    /// The keys a table of this kind accepts, in documentation order; families such as
    /// `query.<name>` appear once, with an empty name.
    pub fn keys(self) -> Vec<DatadogConfigKey> {
        use DatadogConfigKey as K;
        let mut keys = vec![K::Query];
        if self != DatadogKind::V1 {
            keys.extend([
                K::NamedQuery(String::new()),
                K::Formula,
                K::NamedFormula(String::new()),
            ]);
        }
        if self == DatadogKind::V2Scalar {
            keys.push(K::Aggregator);
        }
        keys.push(K::Granularity);
        keys.extend(
            WindowConfigKey::ALL
                .into_iter()
                // A scalar table's chunk is its granularity.
                .filter(|w| {
                    self != DatadogKind::V2Scalar
                        || !matches!(w, WindowConfigKey::Chunk | WindowConfigKey::MinChunk)
                })
                .map(K::Window),
        );
        keys.extend([K::Site, K::BaseUrl, K::ApiKey, K::AppKey]);
        keys.extend(CommonConfigKey::ALL.into_iter().map(K::Common));
        keys
    }

    /// Whether a table of this kind takes `key`.
    pub fn accepts(self, key: &DatadogConfigKey) -> bool {
        let family = key.family();
        self.keys().contains(&family)
    }

    /// Every option of this kind with what it means.
    pub fn docs(self) -> Vec<KeyDoc> {
        self.keys().iter().map(|k| k.doc(self)).collect()
    }
}

/// A Datadog table option.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DatadogConfigKey {
    /// `query`: the metric query (v2: the query named `a`).
    Query,
    /// `query.<name>`: a named v2 query (a formula variable).
    NamedQuery(String),
    /// `formula`: a v2 formula named by its text.
    Formula,
    /// `formula.<alias>`: a v2 formula named `alias`.
    NamedFormula(String),
    /// `aggregator`: how a scalar chunk is reduced.
    Aggregator,
    /// `granularity` (alias `interval`): the rows' bucket size; a scalar chunk's length.
    Granularity,
    /// `site`: the Datadog site.
    Site,
    /// `base_url`: an explicit API URL (proxy, simulator).
    BaseUrl,
    /// `api_key`: the API key.
    ApiKey,
    /// `app_key`: the application key.
    AppKey,
    /// A time-window key.
    Window(WindowConfigKey),
    /// A fetch key every vendor has.
    Common(CommonConfigKey),
}

impl DatadogConfigKey {
    /// The key with any name inside it removed: `query.b` -> `query.<name>`.
    fn family(&self) -> DatadogConfigKey {
        match self {
            DatadogConfigKey::NamedQuery(_) => DatadogConfigKey::NamedQuery(String::new()),
            DatadogConfigKey::NamedFormula(_) => DatadogConfigKey::NamedFormula(String::new()),
            other => other.clone(),
        }
    }

    /// What the key means for a table of `kind`, with its default.
    pub fn doc(&self, kind: DatadogKind) -> KeyDoc {
        use DatadogConfigKey as K;
        let v1 = kind == DatadogKind::V1;
        let scalar = kind == DatadogKind::V2Scalar;
        let doc = match self {
            K::Query if v1 => {
                "metric query, e.g. 'system.cpu.user{*}' or 'system.cpu.user{env:prod} by {host}'"
            }
            K::Query => "the metric query named 'a', e.g. 'avg:system.cpu.user{*} by {host}'",
            K::NamedQuery(_) => {
                "a named query, e.g. 'query.b' = 'avg:system.cpu.system{*}' (names are formula variables)"
            }
            K::Formula => {
                "a formula over the query names, e.g. 'a / b' (its rows are named by its text)"
            }
            K::NamedFormula(_) => {
                "a formula whose rows are named <alias>, e.g. 'formula.ratio' = 'a / b'"
            }
            K::Aggregator => {
                "how each chunk is reduced: avg, min, max, sum, last, percentile, mean, l2norm, area (default avg)"
            }
            K::Granularity if scalar => "length of each aggregated chunk, e.g. '1h' (default 1h)",
            K::Granularity => "bucket size of the rows, e.g. '60s' (default 60s)",
            K::Site => "Datadog site, e.g. 'datadoghq.eu' (default $DD_SITE or datadoghq.com)",
            K::BaseUrl => "API base URL overriding site, e.g. a proxy or the simulator",
            K::ApiKey => "API key (prefer the DD_API_KEY environment variable)",
            K::AppKey => "application key (prefer the DD_APP_KEY environment variable)",
            K::Window(w) => return w.doc(),
            K::Common(c) => return c.doc(),
        };
        KeyDoc {
            name: self.name(),
            doc,
        }
    }
}

impl DatadogConfigKey {
    /// The key's name; a family's pattern (`query.<name>`) for a named key.
    pub fn name(&self) -> &'static str {
        use DatadogConfigKey as K;
        match self {
            K::Query => "query",
            K::NamedQuery(_) => "query.<name>",
            K::Formula => "formula",
            K::NamedFormula(_) => "formula.<alias>",
            K::Aggregator => "aggregator",
            K::Granularity => "granularity",
            K::Site => "site",
            K::BaseUrl => "base_url",
            K::ApiKey => "api_key",
            K::AppKey => "app_key",
            K::Window(w) => w.name(),
            K::Common(c) => c.name(),
        }
    }
}

impl AsRef<str> for DatadogConfigKey {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl FromStr for DatadogConfigKey {
    type Err = ();

    /// Accepts the names (case-insensitively, with DataFusion's `format.` prefix), `interval`
    /// for `granularity`, and `query.<name>` / `formula.<alias>`.
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        use DatadogConfigKey as K;
        let key = normalized_key(s);
        Ok(match key.as_str() {
            "query" => K::Query,
            "formula" => K::Formula,
            "aggregator" => K::Aggregator,
            "granularity" | "interval" => K::Granularity,
            "site" => K::Site,
            "base_url" => K::BaseUrl,
            "api_key" => K::ApiKey,
            "app_key" => K::AppKey,
            other => {
                if let Some(name) = other.strip_prefix("query.").filter(|n| !n.is_empty()) {
                    K::NamedQuery(name.to_string())
                } else if let Some(alias) = other.strip_prefix("formula.").filter(|n| !n.is_empty())
                {
                    K::NamedFormula(alias.to_string())
                } else if let Ok(w) = other.parse() {
                    K::Window(w)
                } else {
                    K::Common(other.parse()?)
                }
            }
        })
    }
}

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
    /// Datadog site.
    pub site: String,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Keys (never printed).
    pub credentials: Credentials,
    /// Windows, ranges and partitions.
    pub window: WindowSettings,
    /// Prefetch, retries, timeouts, http policy.
    pub fetch: FetchSettings,
}

impl Default for DatadogConfig {
    fn default() -> Self {
        Self {
            kind: DatadogKind::V1,
            query: String::new(),
            queries: Vec::new(),
            formulas: Vec::new(),
            aggregator: ScalarAggregator::Avg,
            granularity: None,
            site: DEFAULT_SITE.to_string(),
            base_url: None,
            credentials: Credentials::default(),
            window: WindowSettings::default(),
            fetch: FetchSettings::default(),
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

    /// The key `raw` names, if this kind takes it; else an error listing the valid ones.
    pub fn key(&self, raw: &str) -> Result<DatadogConfigKey> {
        raw.parse::<DatadogConfigKey>()
            .ok()
            .filter(|k| self.kind.accepts(k))
            .ok_or_else(|| Error::UnknownOption {
                adapter: self.kind.adapter_name(),
                key: normalized_key(raw),
                accepted: names(&self.kind.docs()),
            })
    }

    /// Sets one option by name. Unknown names are an error listing the valid ones.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = self.key(key)?;
        self.set_key(key, value)
    }

    /// Sets one typed option.
    pub fn set_key(&mut self, key: DatadogConfigKey, value: &str) -> Result<()> {
        use DatadogConfigKey as K;
        match key {
            K::Query => self.query = value.trim().to_string(),
            K::NamedQuery(name) => {
                self.queries.retain(|q| q.name != name);
                self.queries.push(NamedQuery {
                    name,
                    query: value.trim().to_string(),
                });
            }
            K::Formula => self.formulas.push(NamedFormula {
                name: value.trim().to_string(),
                formula: value.trim().to_string(),
            }),
            K::NamedFormula(name) => {
                self.formulas.retain(|f| f.name != name);
                self.formulas.push(NamedFormula {
                    name,
                    formula: value.trim().to_string(),
                });
            }
            K::Aggregator => self.aggregator = ScalarAggregator::parse(value)?,
            K::Granularity => {
                let g = parse_duration("granularity", value)?;
                if g.as_secs() == 0 || g.subsec_nanos() != 0 {
                    return Err(Error::config(format!(
                        "option 'granularity': '{value}' must be a whole number of seconds, at least 1s"
                    )));
                }
                self.granularity = Some(g);
            }
            K::Site => self.site = value.trim().to_string(),
            K::BaseUrl => self.base_url = Some(value.trim().to_string()),
            K::ApiKey => self.credentials.api_key = Some(Secret::new(value.trim())),
            K::AppKey => self.credentials.app_key = Some(Secret::new(value.trim())),
            K::Window(w) => self.window.set(w, value)?,
            K::Common(c) => self.fetch.set(c, value)?,
        }
        Ok(())
    }

    /// Applies one option as given: text, or (from JSON) `"queries": {...}` for named queries
    /// and `"formulas": [...]` or `{...}` for formulas.
    pub fn apply(&mut self, key: &str, value: OptionValue) -> Result<()> {
        use serde_json::Value as J;
        let group = normalized_key(key);
        match (group.as_str(), value) {
            ("queries", OptionValue::Json(J::Object(named))) => {
                for (name, query) in named {
                    let text = OptionValue::Json(query).into_text(key)?;
                    self.set(&format!("query.{name}"), &text)?;
                }
            }
            ("formulas", OptionValue::Json(J::Object(named))) => {
                for (alias, formula) in named {
                    let text = OptionValue::Json(formula).into_text(key)?;
                    self.set(&format!("formula.{alias}"), &text)?;
                }
            }
            ("formulas", OptionValue::Json(J::Array(list))) => {
                for formula in list {
                    let text = OptionValue::Json(formula).into_text(key)?;
                    self.set("formula", &text)?;
                }
            }
            (_, value) => {
                let typed = self.key(key)?;
                let text = value.into_text(typed.as_ref())?;
                self.set_key(typed, &text)?;
            }
        }
        Ok(())
    }

    /// Applies a JSON object of options (`{"query": "...", "granularity": "60s", ...}`).
    pub fn apply_json(&mut self, json: &str) -> Result<()> {
        let options = crate::sql::config::options_from_json(
            json,
            "{\"query\": \"system.cpu.user{*}\", \"granularity\": \"60s\"}",
        )?;
        for (key, value) in options {
            self.apply(&key, value)?;
        }
        Ok(())
    }

    /// The API base URL: `base_url` if set, else `https://api.{site}`.
    pub fn resolved_base_url(&self) -> Result<url::Url> {
        match &self.base_url {
            Some(raw) => parse_base_url(raw, self.fetch.allow_http),
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
        self.window.validate(self.granularity())?;
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
        assert_eq!(c.window.max_range, Duration::from_secs(90 * 86_400));
        c.apply_json(r#"{"query": "m{*}", "prefetch_depth": 4, "allow_http": true, "api_key": "a", "app_key": "b"}"#)
            .unwrap();
        assert_eq!(
            (c.query.as_str(), c.fetch.prefetch_depth, c.fetch.allow_http),
            ("m{*}", 4, true)
        );
        c.validate().unwrap();
    }

    #[test]
    fn every_documented_key_parses_back_to_itself() {
        for kind in DatadogKind::ALL {
            for key in kind.keys() {
                let written = match &key {
                    DatadogConfigKey::NamedQuery(_) => "query.b".to_string(),
                    DatadogConfigKey::NamedFormula(_) => "formula.r".to_string(),
                    k => k.as_ref().to_string(),
                };
                let parsed: DatadogConfigKey = written.parse().unwrap();
                assert_eq!(parsed.family(), key, "{written}");
                assert!(kind.accepts(&parsed), "{written}");
                assert_eq!(key.doc(kind).name, key.as_ref());
            }
        }
        assert_eq!(
            "query.B".parse::<DatadogConfigKey>(),
            Ok(DatadogConfigKey::NamedQuery("b".into()))
        );
        assert_eq!("interval".parse(), Ok(DatadogConfigKey::Granularity));
        assert!("query.".parse::<DatadogConfigKey>().is_err());
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
