//! `--config FILE`: tables to register, in JSON or TOML, one entry per table:
//!
//! ```toml
//! [tables.cpu]
//! adapter = "datadog_v1"
//! query = "system.cpu.user{*}"
//! granularity = "60s"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::prelude::SessionContext;

use crate::sql::TableDefaults;
use crate::{Error, Result};

/// Reads `path` and registers every table in it.
pub fn register_from_file(
    ctx: &SessionContext,
    path: &Path,
    defaults: &TableDefaults,
) -> Result<Vec<String>> {
    let root = read_document(path)?;
    register_tables(ctx, path, &root, defaults)
}

/// `worker --credentials FILE`: a flat JSON or TOML object of options (`api_key`, `app_key`,
/// `site`, ...) every table rebuilt on the worker starts from.
pub fn read_options(path: &Path) -> Result<crate::sql::config::Options> {
    let root = read_document(path)?;
    let serde_json::Value::Object(entries) = root else {
        return Err(Error::config(format!(
            "{} must be an object of options, e.g. api_key = \"...\"",
            path.display()
        )));
    };
    entries
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(_)
            | serde_json::Value::Number(_)
            | serde_json::Value::Bool(_) => Ok((key, crate::sql::config::OptionValue::Json(value))),
            // The value is not shown: it may be a key.
            _ => Err(Error::config(format!(
                "option '{key}' in {} must be a string, number or boolean",
                path.display()
            ))),
        })
        .collect()
}

/// The JSON or TOML document at `path` (TOML when the name ends in `.toml`).
fn read_document(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read config file {}: {e}", path.display())))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let root: serde_json::Value = if is_toml {
        let value: toml::Value = toml::from_str(&text).map_err(|e| {
            // toml's Display quotes the offending line, which may hold a key: report only the
            // position and the message.
            let line = e.span().map_or(0, |span| {
                text[..span.start.min(text.len())].lines().count().max(1)
            });
            Error::config(format!(
                "config file {} is not valid TOML at line {line}: {}",
                path.display(),
                e.message()
            ))
        })?;
        serde_json::to_value(value).map_err(|e| Error::config(e.to_string()))?
    } else {
        serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "config file {} is not valid JSON: {e}",
                path.display()
            ))
        })?
    };
    Ok(root)
}

fn register_tables(
    ctx: &SessionContext,
    path: &Path,
    root: &serde_json::Value,
    defaults: &TableDefaults,
) -> Result<Vec<String>> {
    let tables: BTreeMap<String, serde_json::Map<String, serde_json::Value>> = root
        .get("tables")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|_| {
            // serde's message would quote the value, which may hold a key.
            Error::config(format!(
                "config file {}: 'tables' must map table names to objects of options",
                path.display()
            ))
        })?
        .ok_or_else(|| {
            Error::config(format!(
                "config file {} has no 'tables' section",
                path.display()
            ))
        })?;
    let mut names = Vec::new();
    for (name, mut options) in tables {
        let adapter = match options.remove("adapter") {
            Some(serde_json::Value::String(a)) => a,
            _ => {
                return Err(Error::config(format!(
                "table '{name}' in {} needs an adapter, e.g. adapter = \"datadog_v1\" (one of {})",
                path.display(),
                crate::sql::registry::vendor_names()
            )))
            }
        };
        let json = serde_json::Value::Object(options).to_string();
        crate::sql::register_with(ctx, &adapter, &name, &json, defaults)
            .map_err(|e| Error::config(format!("table '{name}' in {}: {e}", path.display())))?;
        names.push(name);
    }
    Ok(names)
}
