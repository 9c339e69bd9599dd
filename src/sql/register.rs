//! The ways to get a table into a `SessionContext`: `register()` with a JSON config (the seed's
//! `stream_create(adapter_name, config_json)`), `CREATE EXTERNAL TABLE ... STORED AS DATADOG_V1`
//! through a [`TableProviderFactory`], and the `datadog_v1('query')` table function.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{
    Session, TableFunctionArgs, TableFunctionImpl, TableProvider, TableProviderFactory,
};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{CreateExternalTable, Expr};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::v1_config::DatadogV1Config;
use super::v1_table::DatadogV1Table;
use crate::{to_datafusion_error, Error, Result};

/// Adapter names `register()` and `STORED AS` accept.
pub const ADAPTERS: &[&str] = &["datadog_v1"];

/// Registers table `name` of kind `adapter` (e.g. `"datadog_v1"`) configured by a JSON object of
/// options; site and keys default to `DD_SITE`, `DD_API_KEY`, `DD_APP_KEY`.
pub fn register(ctx: &SessionContext, adapter: &str, name: &str, config_json: &str) -> Result<()> {
    let table = table_from_json(adapter, config_json)?;
    ctx.register_table(name, table)
        .map_err(|e| Error::config(format!("cannot register table '{name}': {e}")))?;
    crate::sql::functions::register_functions(ctx);
    Ok(())
}

/// Builds a table of kind `adapter` from a JSON config.
pub fn table_from_json(adapter: &str, config_json: &str) -> Result<Arc<dyn TableProvider>> {
    match adapter.trim().to_ascii_lowercase().as_str() {
        "datadog_v1" => {
            let mut config = DatadogV1Config::from_env();
            config.apply_json(config_json)?;
            Ok(Arc::new(DatadogV1Table::new(config, None)?))
        }
        other => Err(unknown_adapter(other)),
    }
}

fn unknown_adapter(name: &str) -> Error {
    Error::config(format!(
        "unknown adapter '{name}'; available adapters: {}",
        ADAPTERS.join(", ")
    ))
}

/// Adds `STORED AS DATADOG_V1` and the `datadog_v1(...)` table function to `ctx`. `defaults` is
/// the starting config of every table made that way (site, keys, base URL); `LOCATION` or the
/// function's first argument gives the query.
pub fn register_sql_surface(ctx: &SessionContext, defaults: DatadogV1Config) {
    let factory = Arc::new(DatadogV1Factory {
        defaults: defaults.clone(),
    });
    ctx.state_ref()
        .write()
        .table_factories_mut()
        .insert("DATADOG_V1".to_string(), factory);
    ctx.register_udtf("datadog_v1", Arc::new(DatadogV1Function { defaults }));
    crate::sql::functions::register_functions(ctx);
}

/// `CREATE EXTERNAL TABLE cpu STORED AS DATADOG_V1 LOCATION 'system.cpu.user{*}' OPTIONS (...)`.
#[derive(Debug)]
pub struct DatadogV1Factory {
    defaults: DatadogV1Config,
}

#[async_trait]
impl TableProviderFactory for DatadogV1Factory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DFResult<Arc<dyn TableProvider>> {
        if !cmd.schema.fields().is_empty() {
            return Err(to_datafusion_error(Error::config(
                "datadog_v1 tables have a fixed schema (query, metric, scope, ts, avg, min, max, sum, interval); remove the column list from CREATE EXTERNAL TABLE",
            )));
        }
        let mut config = self.defaults.clone();
        config.query = match cmd.locations.as_slice() {
            [one] => one.trim().to_string(),
            _ => {
                return Err(to_datafusion_error(Error::config(
                    "STORED AS DATADOG_V1 takes one LOCATION: the metric query, e.g. LOCATION 'system.cpu.user{*}'",
                )))
            }
        };
        let mut options: Vec<_> = cmd.options.iter().collect();
        options.sort();
        for (k, v) in options {
            config.set(k, v).map_err(to_datafusion_error)?;
        }
        Ok(Arc::new(
            DatadogV1Table::new(config, None).map_err(to_datafusion_error)?,
        ))
    }
}

/// `SELECT * FROM datadog_v1('system.cpu.user{*}' [, 'granularity'])`.
#[derive(Debug)]
pub struct DatadogV1Function {
    defaults: DatadogV1Config,
}

impl TableFunctionImpl for DatadogV1Function {
    fn call_with_args(&self, args: TableFunctionArgs) -> DFResult<Arc<dyn TableProvider>> {
        let strings: Vec<String> = args
            .exprs()
            .iter()
            .map(|e| match e {
                Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Ok(s.clone()),
                other => Err(DataFusionError::Plan(format!(
                    "datadog_v1() takes string literals: datadog_v1('metric{{scope}}' [, 'granularity']); got {other}"
                ))),
            })
            .collect::<DFResult<_>>()?;
        let (query, granularity) = match strings.as_slice() {
            [q] => (q, None),
            [q, g] => (q, Some(g)),
            _ => {
                return Err(DataFusionError::Plan(
                    "datadog_v1() takes one or two arguments: datadog_v1('metric{scope}' [, 'granularity'])".into(),
                ))
            }
        };
        let mut config = self.defaults.clone();
        config.set("query", query).map_err(to_datafusion_error)?;
        if let Some(g) = granularity {
            config.set("granularity", g).map_err(to_datafusion_error)?;
        }
        Ok(Arc::new(
            DatadogV1Table::new(config, None).map_err(to_datafusion_error)?,
        ))
    }
}
