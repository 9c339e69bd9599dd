//! The generic REST vendor: `page_api` and `token_api`, their typed config ([`config`]), spec
//! ([`spec`]) and registry entry ([`RestVendor`]).

pub mod config;
pub mod spec;

use std::sync::Arc;

use datafusion::arrow::datatypes::FieldRef;

pub use config::{column_from_field, RestConfig, RestConfigKey, RestKind};
pub use spec::RestSpec;

use crate::engine::Transport;
use crate::sql::config::{KeyDoc, OptionValue, Options};
use crate::sql::origin::TableOrigin;
use crate::sql::registry::{TableDefaults, Vendor};
use crate::sql::table::ApiTable;
use crate::{Error, Result};

/// One REST paging style in the vendor registry.
#[derive(Debug, Clone, Copy)]
pub struct RestVendor(pub RestKind);

impl Vendor for RestVendor {
    fn name(&self) -> &'static str {
        self.0.adapter_name()
    }

    fn docs(&self) -> Vec<KeyDoc> {
        self.0.docs()
    }

    fn accepts(&self, key: &str) -> bool {
        key.parse::<RestConfigKey>()
            .is_ok_and(|k| self.0.accepts(&k))
    }

    fn location(&self) -> (&'static str, &'static str) {
        ("url", "the endpoint URL")
    }

    fn build(
        &self,
        defaults: &TableDefaults,
        options: Options,
        declared: &[FieldRef],
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<ApiTable> {
        let mut config = RestConfig::new(self.0);
        if !declared.is_empty() {
            config.columns = declared
                .iter()
                .map(|f| column_from_field(f))
                .collect::<Result<_>>()?;
        }
        defaults.apply_with(self, options, |k, v| config.apply(k, v))?;
        config.into_table(transport)
    }

    /// The options with `params`/`headers` objects flattened to `params.<name>` entries, each
    /// checked: `${ENV}` references travel as written (each worker expands its own), and a
    /// literal value of a credential-like name (or URL parameter) is refused, so no key is ever
    /// sent to a worker.
    fn portable_options(&self, origin: &TableOrigin) -> Result<Options> {
        let mut out: Options = Vec::new();
        for (key, value) in &origin.options {
            let lower = key.trim().to_ascii_lowercase();
            let family = ["params", "headers"].into_iter().find(|f| *f == lower);
            match (family, value) {
                (Some(family), OptionValue::Json(serde_json::Value::Object(entries))) => {
                    for (name, v) in entries {
                        let entry = format!("{family}.{name}");
                        let text = OptionValue::Json(v.clone()).into_text(&entry)?;
                        check_portable(self.name(), &entry, name, &text)?;
                        out.push((entry, OptionValue::Text(text)));
                    }
                }
                _ => {
                    match key.parse::<RestConfigKey>() {
                        Ok(RestConfigKey::Param(name)) | Ok(RestConfigKey::Header(name)) => {
                            let text = value.clone().into_text(key)?;
                            check_portable(self.name(), key, &name, &text)?;
                        }
                        Ok(RestConfigKey::Url) => {
                            let text = value.clone().into_text(key)?;
                            check_url(self.name(), &text)?;
                        }
                        _ => {}
                    }
                    out.push((key.clone(), value.clone()));
                }
            }
        }
        Ok(out)
    }
}

/// Whether a parameter or header called `name` likely carries a credential.
fn looks_like_credential(name: &str) -> bool {
    const WORDS: [&str; 9] = [
        "auth",
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "cookie",
        "signature",
        "credential",
    ];
    let name = name.to_ascii_lowercase();
    WORDS.iter().any(|w| name.contains(w))
}

fn check_portable(vendor: &str, option: &str, name: &str, value: &str) -> Result<()> {
    if value.contains("${") || !looks_like_credential(name) {
        return Ok(());
    }
    Err(Error::config(format!(
        "{vendor}: '{option}' holds a literal value that looks like a credential, which a distributed plan would send to every worker; write it as '${{ENV_VAR}}' and set ENV_VAR on every worker"
    )))
}

fn check_url(vendor: &str, url: &str) -> Result<()> {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return Ok(());
    };
    match parsed
        .query_pairs()
        .find(|(name, _)| looks_like_credential(name))
    {
        Some((name, _)) => Err(Error::config(format!(
            "{vendor}: the URL carries the parameter '{name}', which looks like a credential and a distributed plan would send to every worker; move it to 'params.{name}' = '${{ENV_VAR}}' and set ENV_VAR on every worker"
        ))),
        None => Ok(()),
    }
}

impl RestConfig {
    /// The table these settings make; a new HTTP client unless `transport` is given.
    pub fn into_table(self, transport: Option<Arc<dyn Transport>>) -> Result<ApiTable> {
        ApiTable::new(Arc::new(RestSpec::new(self)?), transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(options: Options) -> TableOrigin {
        TableOrigin {
            vendor: "page_api",
            options,
            declared: vec![],
            from_env: true,
        }
    }

    fn text(k: &str, v: &str) -> (String, OptionValue) {
        (k.to_string(), OptionValue::Text(v.to_string()))
    }

    #[test]
    fn references_travel_and_literal_credentials_are_refused() {
        let vendor = RestVendor(RestKind::Page);
        let ok = origin(vec![
            text("url", "https://api.example.com/v1/items?status=open"),
            text("headers.Authorization", "Bearer ${ITEMS_TOKEN}"),
            text("params.per_page", "50"),
            (
                "headers".into(),
                OptionValue::Json(
                    serde_json::json!({"X-Api-Key": "${ITEMS_KEY}", "Accept": "application/json"}),
                ),
            ),
        ]);
        let out = vendor.portable_options(&ok).unwrap();
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "url",
                "headers.Authorization",
                "params.per_page",
                "headers.Accept",
                "headers.X-Api-Key"
            ]
        );
        for (options, named) in [
            (
                vec![text("headers.Authorization", "Bearer abc123")],
                "'headers.Authorization'",
            ),
            (vec![text("params.api_key", "abc123")], "'params.api_key'"),
            (
                vec![(
                    "params".into(),
                    OptionValue::Json(serde_json::json!({"access_token": "abc123"})),
                )],
                "'params.access_token'",
            ),
            (
                vec![text("url", "https://api.example.com/items?api_key=abc123")],
                "'api_key'",
            ),
        ] {
            let err = vendor
                .portable_options(&origin(options))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named) && err.contains("${ENV_VAR}"), "{err}");
            assert!(!err.contains("abc123"), "{err}");
        }
    }
}
