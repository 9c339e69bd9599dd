//! The Datadog vendor: `datadog_v1`, `datadog_v2_timeseries` and `datadog_v2_scalar`, their
//! typed config ([`config`]), spec ([`spec`]), pure pushdown rules ([`pushdown`]), the
//! registry entry ([`DatadogVendor`]) and the Rust builder ([`DatadogBuilder`]).

pub mod catalog;
pub mod config;
mod pushdown;
pub mod spec;

use std::sync::Arc;

use datafusion::arrow::datatypes::FieldRef;

pub use config::{DatadogConfig, DatadogConfigKey, DatadogKind};
pub use spec::DatadogSpec;

use crate::adapters::datadog::{DatadogV1Adapter, DatadogV1Options};
use crate::engine::Transport;
use crate::sql::config::{KeyDoc, OptionValue, Options};
use crate::sql::origin::TableOrigin;
use crate::sql::registry::{TableDefaults, TableFunction, Vendor};
use crate::sql::table::ApiTable;
use crate::{Error, Result};

/// One Datadog API in the vendor registry.
#[derive(Debug, Clone, Copy)]
pub struct DatadogVendor(pub DatadogKind);

impl Vendor for DatadogVendor {
    fn name(&self) -> &'static str {
        self.0.adapter_name()
    }

    fn docs(&self) -> Vec<KeyDoc> {
        self.0.docs()
    }

    fn accepts(&self, key: &str) -> bool {
        key.parse::<DatadogConfigKey>()
            .is_ok_and(|k| self.0.accepts(&k))
    }

    fn location(&self) -> (&'static str, &'static str) {
        (
            "query",
            "the metric query, e.g. LOCATION 'system.cpu.user{*}'",
        )
    }

    fn table_function(&self) -> Option<TableFunction> {
        Some(TableFunction {
            args: &[
                ("query", "'metric{scope}'"),
                ("granularity", "'granularity'"),
            ],
            required: 1,
        })
    }

    fn build(
        &self,
        defaults: &TableDefaults,
        options: Options,
        declared: &[FieldRef],
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<ApiTable> {
        if !declared.is_empty() {
            return Err(Error::config(format!(
                "{} tables have a fixed schema; remove the column list from CREATE EXTERNAL TABLE",
                self.name()
            )));
        }
        let start = if defaults.from_env {
            DatadogConfig::from_env()
        } else {
            DatadogConfig::default()
        };
        let mut config = start.with_kind(self.0);
        defaults.apply_with(self, options, |k, v| config.apply(k, v))?;
        config.into_table(transport)
    }

    /// Every option but the keys (a worker takes its own from `DD_API_KEY`, `DD_APP_KEY` or its
    /// config); the site the coordinator read from `DD_SITE`, as the `site` option.
    fn portable_options(&self, origin: &TableOrigin) -> Result<Options> {
        use DatadogConfigKey as K;
        let key_of = |k: &str| k.parse::<K>().ok();
        let mut out: Options = Vec::new();
        let has_site = origin
            .options
            .iter()
            .any(|(k, _)| key_of(k) == Some(K::Site));
        if origin.from_env && !has_site {
            if let Ok(site) = std::env::var("DD_SITE") {
                if !site.trim().is_empty() {
                    out.push((
                        "site".to_string(),
                        OptionValue::Text(site.trim().to_string()),
                    ));
                }
            }
        }
        out.extend(
            origin
                .options
                .iter()
                .filter(|(k, _)| !matches!(key_of(k), Some(K::ApiKey | K::AppKey)))
                .cloned(),
        );
        Ok(out)
    }
}

impl DatadogConfig {
    /// The table these settings make; a new HTTP client unless `transport` is given.
    pub fn into_table(self, transport: Option<Arc<dyn Transport>>) -> Result<ApiTable> {
        ApiTable::new(Arc::new(DatadogSpec::new(self)?), transport)
    }
}

/// Builds a Datadog table from Rust:
/// `DatadogBuilder::new(DatadogKind::V1).from_env().query("...").build()?`.
#[derive(Debug, Default)]
pub struct DatadogBuilder {
    config: DatadogConfig,
    options: Vec<(String, String)>,
    transport: Option<Arc<dyn Transport>>,
}

impl DatadogBuilder {
    /// A builder of a table of `kind` with default settings.
    pub fn new(kind: DatadogKind) -> Self {
        Self {
            config: DatadogConfig::default().with_kind(kind),
            ..Self::default()
        }
    }

    /// Takes `DD_SITE`, `DD_API_KEY` and `DD_APP_KEY` from the environment.
    pub fn from_env(mut self) -> Self {
        let env = DatadogConfig::from_env();
        self.config.site = env.site;
        self.config.credentials = env.credentials;
        self
    }

    /// Starts from a whole config (its kind included).
    pub fn config(mut self, config: DatadogConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets a typed option; checked in `build()`.
    pub fn with_config(self, key: DatadogConfigKey, value: impl Into<String>) -> Self {
        let name = match &key {
            DatadogConfigKey::NamedQuery(n) => format!("query.{n}"),
            DatadogConfigKey::NamedFormula(a) => format!("formula.{a}"),
            k => k.as_ref().to_string(),
        };
        self.option(name, value)
    }

    /// The default metric query (v2: the query named `a`).
    pub fn query(self, query: impl Into<String>) -> Self {
        self.with_config(DatadogConfigKey::Query, query)
    }

    /// Row granularity, e.g. `"60s"`.
    pub fn granularity(self, granularity: impl Into<String>) -> Self {
        self.with_config(DatadogConfigKey::Granularity, granularity)
    }

    /// API base URL (a proxy, or the simulator).
    pub fn base_url(self, url: impl Into<String>) -> Self {
        self.with_config(DatadogConfigKey::BaseUrl, url)
    }

    /// Any option by name (see [`DatadogKind::docs`]); checked in `build()`.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Uses this transport instead of a new reqwest client (tests, shared pools).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Validates everything and builds the table.
    pub fn build(self) -> Result<ApiTable> {
        let mut config = self.config;
        for (k, v) in self.options {
            config.apply(&k, OptionValue::Text(v))?;
        }
        config.into_table(self.transport)
    }
}

/// Checks the API key with `GET /api/v1/validate` (the same for every kind).
pub async fn validate_credentials(
    config: &DatadogConfig,
    transport: Option<Arc<dyn Transport>>,
) -> Result<()> {
    let base_url = config.resolved_base_url()?;
    let transport = config.fetch.transport(transport)?;
    let adapter = DatadogV1Adapter::new(DatadogV1Options {
        query: "system.cpu.user{*}".into(),
        granularity_s: 60,
        aggregations: vec![],
        base_url: base_url.clone(),
        credentials: config.credentials.clone(),
    })?;
    let request = adapter.validate_request()?;
    const CHECK: &str = "credential check (GET /api/v1/validate)";
    let response = transport
        .send(&request)
        .await
        .map_err(|source| Error::Network {
            adapter: config.kind.adapter_name(),
            // The URL, as the old "cannot reach <base_url>" said which host did not answer.
            cursor: format!("credential check (GET {})", request.url),
            source,
        })?;
    if response.status == 200 {
        return Ok(());
    }
    Err(Error::Api {
        adapter: config.kind.adapter_name(),
        cursor: CHECK.into(),
        status: response.status,
        message: crate::engine::default_error_message(&response.body),
        hint: Some("check DD_API_KEY, and DD_SITE or base_url"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_travel_and_the_rest_does() {
        let origin = TableOrigin {
            vendor: "datadog_v1",
            options: vec![
                (
                    "query".into(),
                    OptionValue::Text("system.cpu.user{*}".into()),
                ),
                ("API_KEY".into(), OptionValue::Text("k-123".into())),
                ("format.app_key".into(), OptionValue::Text("a-456".into())),
                ("granularity".into(), OptionValue::Text("60s".into())),
            ],
            declared: vec![],
            // No site is added without DD_SITE in the options or the environment of a test.
            from_env: false,
        };
        let out = DatadogVendor(DatadogKind::V1)
            .portable_options(&origin)
            .unwrap();
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["query", "granularity"]);
    }
}
