//! The one list of vendors ([`VENDORS`]) and the ways to get their tables into a session:
//! [`register`] with a JSON config (the seed's `stream_create(adapter_name, config_json)`),
//! `CREATE EXTERNAL TABLE ... STORED AS <VENDOR>` and the table functions
//! ([`register_sql_surface`]). Everything that lists vendors (`STORED AS`, the table
//! functions, `--config`, the fuzz target, the docs' option tables) iterates [`VENDORS`].

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::FieldRef;
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;

use super::config::{options_from_json, KeyDoc, OptionValue, Options};
use super::factory::{ApiTableFactory, ApiTableFunction};
use super::origin::TableOrigin;
use super::table::ApiTable;
use super::vendors::datadog::{DatadogKind, DatadogVendor};
use super::vendors::rest::{RestKind, RestVendor};
use crate::engine::Transport;
use crate::{Error, Result};

/// A table function's positional arguments: `(option, how it is written)`, the first
/// `required` of them required.
#[derive(Debug, Clone, Copy)]
pub struct TableFunction {
    /// The option each argument sets, with a placeholder for the usage line.
    pub args: &'static [(&'static str, &'static str)],
    /// How many arguments are required.
    pub required: usize,
}

/// One API family as SQL sees it: its name, its options and how its tables are built.
pub trait Vendor: Send + Sync + fmt::Debug + 'static {
    /// The adapter name: `register()`, errors, EXPLAIN and the table function.
    fn name(&self) -> &'static str;

    /// The `STORED AS` name.
    fn stored_as(&self) -> String {
        self.name().to_ascii_uppercase()
    }

    /// Every option, with what it means.
    fn docs(&self) -> Vec<KeyDoc>;

    /// Whether `key` is one of its options.
    fn accepts(&self, key: &str) -> bool;

    /// The option `LOCATION` sets, and what to write there (for the error without one).
    fn location(&self) -> (&'static str, &'static str);

    /// The table function's arguments; `None` when the vendor has no table function.
    fn table_function(&self) -> Option<TableFunction> {
        None
    }

    /// A table from `defaults` (those of its keys the vendor takes), then `options` in order;
    /// `declared` is the column list of `CREATE EXTERNAL TABLE` (empty elsewhere).
    fn build(
        &self,
        defaults: &TableDefaults,
        options: Options,
        declared: &[FieldRef],
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<ApiTable>;

    /// The options of a table of this vendor that may leave the process (for a distributed
    /// plan's workers, which rebuild the table with them and their own credentials): never a
    /// key. The default refuses: a vendor must say what its secrets are before its tables can
    /// be distributed.
    fn portable_options(&self, origin: &TableOrigin) -> Result<Options> {
        let _ = origin;
        Err(Error::config(format!(
            "{} tables cannot run on workers: the vendor does not say which of its options are secrets",
            self.name()
        )))
    }
}

/// `vendor.build(...)`, remembering how the table was built (so that its scans can be made
/// again in a worker); every table made from SQL, JSON or a config file comes through here.
pub fn build_table(
    vendor: &'static dyn Vendor,
    defaults: &TableDefaults,
    options: Options,
    declared: &[FieldRef],
    transport: Option<Arc<dyn Transport>>,
) -> Result<ApiTable> {
    let mut applied: Options = defaults
        .options_for(vendor)
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    applied.extend(options.iter().cloned());
    let table = vendor.build(defaults, options, declared, transport)?;
    Ok(table.with_origin(TableOrigin {
        vendor: vendor.name(),
        options: applied,
        declared: declared.to_vec(),
        from_env: defaults.from_env,
    }))
}

/// Every vendor, in the order the docs list them.
pub static VENDORS: &[&dyn Vendor] = &[
    &DatadogVendor(DatadogKind::V1),
    &DatadogVendor(DatadogKind::V2Timeseries),
    &DatadogVendor(DatadogKind::V2Scalar),
    &RestVendor(RestKind::Page),
    &RestVendor(RestKind::Token),
];

/// The vendor named `name` (adapter or `STORED AS` name, any case).
pub fn vendor(name: &str) -> Option<&'static dyn Vendor> {
    let name = name.trim();
    VENDORS
        .iter()
        .copied()
        .find(|v| v.name().eq_ignore_ascii_case(name))
}

/// The adapter names, comma-separated, for errors.
pub fn vendor_names() -> String {
    VENDORS
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_adapter(name: &str) -> Error {
    Error::config(format!(
        "unknown adapter '{}'; available adapters: {}",
        name.trim(),
        vendor_names()
    ))
}

/// What every table made in a session starts from: options applied before the table's own
/// (each vendor takes those it knows: `base_url`, `prefetch_depth`, ...), and whether Datadog
/// keys and site come from `DD_API_KEY`, `DD_APP_KEY` and `DD_SITE`.
#[derive(Debug, Clone)]
pub struct TableDefaults {
    /// Options applied first, in order.
    pub options: Options,
    /// Read credentials and site from the environment.
    pub from_env: bool,
}

impl Default for TableDefaults {
    fn default() -> Self {
        Self {
            options: Vec::new(),
            from_env: true,
        }
    }
}

impl TableDefaults {
    /// Defaults that ignore the environment (tests, the simulator).
    pub fn without_env() -> Self {
        Self {
            options: Vec::new(),
            from_env: false,
        }
    }

    /// Adds an option.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.options
            .push((key.to_string(), OptionValue::Text(value.into())));
        self
    }

    /// Applies the defaults `vendor` takes, then `options`, in order, through `apply`.
    pub fn apply_with(
        &self,
        vendor: &dyn Vendor,
        options: Options,
        mut apply: impl FnMut(&str, OptionValue) -> Result<()>,
    ) -> Result<()> {
        for (key, value) in self.options_for(vendor) {
            apply(key, value.clone())?;
        }
        for (key, value) in options {
            apply(&key, value)?;
        }
        Ok(())
    }

    /// These defaults followed by the session's `SET ddstream.*` options.
    pub fn with_session(&self, session: &dyn datafusion::catalog::Session) -> TableDefaults {
        let mut defaults = self.clone();
        if let Some(set) = session
            .config_options()
            .extensions
            .get::<super::config::DdstreamOptions>()
        {
            defaults.options.extend(set.options());
        }
        defaults
    }

    /// The options `vendor` takes.
    pub fn options_for<'a>(
        &'a self,
        vendor: &'a dyn Vendor,
    ) -> impl Iterator<Item = (&'a str, &'a OptionValue)> + 'a {
        self.options
            .iter()
            .filter(move |(k, _)| vendor.accepts(k))
            .map(|(k, v)| (k.as_str(), v))
    }
}

/// Builds a table of kind `adapter` from a JSON config; site and keys default to `DD_SITE`,
/// `DD_API_KEY`, `DD_APP_KEY`.
pub fn table_from_json(adapter: &str, config_json: &str) -> Result<Arc<dyn TableProvider>> {
    table_from_json_with(adapter, config_json, &TableDefaults::default())
}

/// [`table_from_json`] over session `defaults`.
pub fn table_from_json_with(
    adapter: &str,
    config_json: &str,
    defaults: &TableDefaults,
) -> Result<Arc<dyn TableProvider>> {
    let vendor = vendor(adapter).ok_or_else(|| unknown_adapter(adapter))?;
    let example = format!("{{\"{}\": \"...\"}}", vendor.location().0);
    let options = options_from_json(config_json, &example)?;
    Ok(Arc::new(build_table(vendor, defaults, options, &[], None)?))
}

/// Registers table `name` of kind `adapter` (e.g. `"datadog_v1"`) configured by a JSON object of
/// options; site and keys default to `DD_SITE`, `DD_API_KEY`, `DD_APP_KEY`.
pub fn register(ctx: &SessionContext, adapter: &str, name: &str, config_json: &str) -> Result<()> {
    register_with(ctx, adapter, name, config_json, &TableDefaults::default())
}

/// [`register`] over session `defaults` (the CLI's `--base-url` and `--simulate`).
pub fn register_with(
    ctx: &SessionContext,
    adapter: &str,
    name: &str,
    config_json: &str,
    defaults: &TableDefaults,
) -> Result<()> {
    let table = table_from_json_with(adapter, config_json, defaults)?;
    ctx.register_table(name, table)
        .map_err(|e| Error::config(format!("cannot register table '{name}': {e}")))?;
    crate::sql::functions::register_functions(ctx);
    Ok(())
}

/// Adds `STORED AS <VENDOR>` for every vendor, the table functions of those that have one
/// (`datadog_v1('query')`, ...), and the downsampling functions to `ctx`. `defaults` is what
/// every table made that way starts from (base URL, keys, fetch knobs). It also adds the rollup
/// pushdown rule ([`RollupPushdown`](super::rollup::RollupPushdown)), which applies to every API
/// table in the session, however it was registered.
pub fn register_sql_surface(ctx: &SessionContext, defaults: TableDefaults) {
    super::config::DdstreamOptions::install(ctx);
    super::rollup::register_rollup_pushdown(ctx);
    let defaults = Arc::new(defaults);
    for &vendor in VENDORS {
        register_vendor(ctx, vendor, Arc::clone(&defaults));
    }
    crate::sql::functions::register_functions(ctx);
}

/// Adds `STORED AS <VENDOR>` and, if it has one, the table function of one vendor (one of
/// [`VENDORS`], or a vendor of the caller's own).
pub fn register_vendor(
    ctx: &SessionContext,
    vendor: &'static dyn Vendor,
    defaults: Arc<TableDefaults>,
) {
    ctx.state_ref().write().table_factories_mut().insert(
        vendor.stored_as(),
        Arc::new(ApiTableFactory::new(vendor, Arc::clone(&defaults))),
    );
    if vendor.table_function().is_some() {
        ctx.register_udtf(
            vendor.name(),
            Arc::new(ApiTableFunction::new(vendor, defaults)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_is_found_by_its_names_and_documents_what_it_accepts() {
        for &v in VENDORS {
            assert_eq!(vendor(v.name()).map(|f| f.name()), Some(v.name()));
            assert_eq!(vendor(&v.stored_as()).map(|f| f.name()), Some(v.name()));
            for doc in v.docs() {
                let written = doc.name.replace("<name>", "x").replace("<alias>", "x");
                assert!(
                    v.accepts(&written),
                    "{} does not accept {written}",
                    v.name()
                );
            }
            assert!(!v.accepts("no_such_option"));
        }
        assert!(vendor("datadog_v3").is_none());
        let err = table_from_json("datadog_v3", "{}").unwrap_err().to_string();
        assert!(err.contains("available adapters: datadog_v1, "), "{err}");
    }

    #[test]
    fn defaults_apply_only_where_the_vendor_takes_them() {
        let defaults = TableDefaults::without_env()
            .with("base_url", "http://127.0.0.1:9")
            .with("prefetch_depth", "3");
        let page = vendor("page_api").unwrap();
        let keys: Vec<&str> = defaults.options_for(page).map(|(k, _)| k).collect();
        assert_eq!(keys, ["prefetch_depth"]);
        let v1 = vendor("datadog_v1").unwrap();
        assert_eq!(defaults.options_for(v1).count(), 2);
    }

    /// The backticked names in the Markdown table that follows `heading`: those of its first
    /// column, and those anywhere in it.
    fn option_table(readme: &str, heading: &str) -> (Vec<String>, String) {
        let start = readme
            .find(heading)
            .unwrap_or_else(|| panic!("README has no {heading}"));
        let rows: Vec<&str> = readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .collect();
        let ticked = |text: &str| -> Vec<String> {
            text.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        let first: Vec<String> = rows
            .iter()
            .flat_map(|r| ticked(r.split('|').nth(1).unwrap_or("")))
            .collect();
        (first, rows.join("\n"))
    }

    #[test]
    fn the_readme_option_tables_match_the_config_keys() {
        let readme = include_str!("../../README.md");
        for (heading, family) in [
            ("### Options (Datadog tables)", "datadog_"),
            ("### Generic REST APIs", "_api"),
        ] {
            let vendors: Vec<&dyn Vendor> = VENDORS
                .iter()
                .copied()
                .filter(|v| v.name().contains(family))
                .collect();
            let (first_column, table) = option_table(readme, heading);
            for name in &first_column {
                let written = name.replace("<name>", "x").replace("<alias>", "x");
                assert!(
                    name == "LOCATION" || vendors.iter().any(|v| v.accepts(&written)),
                    "README documents `{name}` under {heading}, which no vendor accepts"
                );
            }
            for v in &vendors {
                for doc in v.docs() {
                    assert!(
                        table.contains(&format!("`{}`", doc.name)),
                        "{} accepts `{}`, which README's table under {heading} does not document",
                        v.name(),
                        doc.name
                    );
                }
            }
        }
    }
}
