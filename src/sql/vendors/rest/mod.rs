//! The generic REST vendor: `page_api` and `token_api`, their typed config ([`config`]), spec
//! ([`spec`]) and registry entry ([`RestVendor`]).

pub mod config;
pub mod spec;

use std::sync::Arc;

use datafusion::arrow::datatypes::FieldRef;

pub use config::{column_from_field, RestConfig, RestConfigKey, RestKind};
pub use spec::RestSpec;

use crate::engine::Transport;
use crate::sql::config::{KeyDoc, Options};
use crate::sql::registry::{TableDefaults, Vendor};
use crate::sql::table::ApiTable;
use crate::Result;

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
}

impl RestConfig {
    /// The table these settings make; a new HTTP client unless `transport` is given.
    pub fn into_table(self, transport: Option<Arc<dyn Transport>>) -> Result<ApiTable> {
        ApiTable::new(Arc::new(RestSpec::new(self)?), transport)
    }
}
