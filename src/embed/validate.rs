//! [`validate`]: a stream config checked without streaming, and the Datadog keys checked with
//! `GET /api/v1/validate` where the adapter has keys.

use super::time::{split_config, Range};
use super::{block_on, known_vendor, EmbedError};
use crate::sql::registry::table_from_json;
use crate::sql::{validate_credentials, DatadogConfig, DatadogKind};

/// Checks `config_json` for `adapter` as [`Stream::create`](super::Stream::create) would, then,
/// for Datadog adapters, the API key against the API (`GET /api/v1/validate`).
pub fn validate(adapter: &str, config_json: &str) -> Result<(), EmbedError> {
    let vendor = known_vendor(adapter)?;
    let (table_json, start, end) = split_config(config_json)?;
    Range::new(start.as_ref(), end.as_ref())?;
    table_from_json(vendor.name(), &table_json)?;
    if let Some(kind) = DatadogKind::from_name(vendor.name()) {
        // The same settings the table was built from: environment first, then the config.
        let mut config = DatadogConfig::from_env().with_kind(kind);
        config.apply_json(&table_json)?;
        block_on(validate_credentials(&config, None))??;
    }
    Ok(())
}
