//! The ways to get a table into a `SessionContext`: `register()` with a JSON config (the seed's
//! `stream_create(adapter_name, config_json)`), `CREATE EXTERNAL TABLE ... STORED AS DATADOG_V1`
//! (or `DATADOG_V2_TIMESERIES`, `DATADOG_V2_SCALAR`) through a [`TableProviderFactory`], and the
//! `datadog_v1('query')`, `datadog_v2_timeseries('query')`, `datadog_v2_scalar('query')` table
//! functions; and `STORED AS PAGE_API | TOKEN_API` for generic REST APIs.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{
    Session, TableFunctionArgs, TableFunctionImpl, TableProvider, TableProviderFactory,
};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{CreateExternalTable, Expr};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::datadog_config::{DatadogConfig, DatadogKind};
use super::datadog_table::DatadogTable;
use super::rest_config::{column_from_field, RestConfig, RestKind};
use super::rest_table::RestTable;
use crate::{to_datafusion_error, Error, Result};

/// Adapter names `register()` and `STORED AS` accept.
pub const ADAPTERS: &[&str] = &[
    "datadog_v1",
    "datadog_v2_timeseries",
    "datadog_v2_scalar",
    "page_api",
    "token_api",
];

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
    if let Some(kind) = RestKind::from_name(adapter) {
        let mut config = RestConfig::new(kind);
        config.apply_json(config_json)?;
        return Ok(Arc::new(RestTable::new(config, None)?));
    }
    let kind = DatadogKind::from_name(adapter).ok_or_else(|| unknown_adapter(adapter))?;
    let mut config = DatadogConfig::from_env().with_kind(kind);
    config.apply_json(config_json)?;
    Ok(Arc::new(DatadogTable::new(config, None)?))
}

fn unknown_adapter(name: &str) -> Error {
    Error::config(format!(
        "unknown adapter '{}'; available adapters: {}",
        name.trim(),
        ADAPTERS.join(", ")
    ))
}

/// Adds `STORED AS DATADOG_V1 | DATADOG_V2_TIMESERIES | DATADOG_V2_SCALAR` and the table
/// functions of the same names to `ctx`. `defaults` is the starting config of every table made
/// that way (site, keys, base URL); `LOCATION` or the function's first argument gives the query.
pub fn register_sql_surface(ctx: &SessionContext, defaults: DatadogConfig) {
    for kind in DatadogKind::ALL {
        let defaults = defaults.clone().with_kind(kind);
        ctx.state_ref().write().table_factories_mut().insert(
            kind.stored_as().to_string(),
            Arc::new(DatadogFactory {
                defaults: defaults.clone(),
            }),
        );
        ctx.register_udtf(kind.adapter_name(), Arc::new(DatadogFunction { defaults }));
    }
    for kind in RestKind::ALL {
        ctx.state_ref()
            .write()
            .table_factories_mut()
            .insert(kind.stored_as().to_string(), Arc::new(RestFactory { kind }));
    }
    crate::sql::functions::register_functions(ctx);
}

/// `CREATE EXTERNAL TABLE events (id BIGINT, created_at TIMESTAMP, ...) STORED AS PAGE_API
/// LOCATION 'https://api.example.com/events' OPTIONS ('records' '/data', ...)`.
#[derive(Debug)]
pub struct RestFactory {
    kind: RestKind,
}

#[async_trait]
impl TableProviderFactory for RestFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DFResult<Arc<dyn TableProvider>> {
        let mut config = RestConfig::new(self.kind);
        config.url = match cmd.locations.as_slice() {
            [one] => one.trim().to_string(),
            _ => {
                return Err(to_datafusion_error(Error::config(format!(
                    "STORED AS {} takes one LOCATION: the endpoint URL",
                    self.kind.stored_as()
                ))))
            }
        };
        config.columns = cmd
            .schema
            .fields()
            .iter()
            .map(|f| column_from_field(f))
            .collect::<Result<_>>()
            .map_err(to_datafusion_error)?;
        let mut options: Vec<_> = cmd.options.iter().collect();
        options.sort();
        for (k, v) in options {
            config.set(k, v).map_err(to_datafusion_error)?;
        }
        Ok(Arc::new(
            RestTable::new(config, None).map_err(to_datafusion_error)?,
        ))
    }
}

/// `CREATE EXTERNAL TABLE cpu STORED AS DATADOG_V1 LOCATION 'system.cpu.user{*}' OPTIONS (...)`.
#[derive(Debug)]
pub struct DatadogFactory {
    defaults: DatadogConfig,
}

#[async_trait]
impl TableProviderFactory for DatadogFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DFResult<Arc<dyn TableProvider>> {
        let kind = self.defaults.kind;
        if !cmd.schema.fields().is_empty() {
            return Err(to_datafusion_error(Error::config(format!(
                "{} tables have a fixed schema; remove the column list from CREATE EXTERNAL TABLE",
                kind.adapter_name()
            ))));
        }
        let mut config = self.defaults.clone();
        config.query = match cmd.locations.as_slice() {
            [one] => one.trim().to_string(),
            _ => {
                return Err(to_datafusion_error(Error::config(format!(
                    "STORED AS {} takes one LOCATION: the metric query, e.g. LOCATION 'system.cpu.user{{*}}'",
                    kind.stored_as()
                ))))
            }
        };
        let mut options: Vec<_> = cmd.options.iter().collect();
        options.sort();
        for (k, v) in options {
            config.set(k, v).map_err(to_datafusion_error)?;
        }
        Ok(Arc::new(
            DatadogTable::new(config, None).map_err(to_datafusion_error)?,
        ))
    }
}

/// `SELECT * FROM datadog_v1('system.cpu.user{*}' [, 'granularity'])`, and the same for the v2
/// kinds.
#[derive(Debug)]
pub struct DatadogFunction {
    defaults: DatadogConfig,
}

impl TableFunctionImpl for DatadogFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DFResult<Arc<dyn TableProvider>> {
        let name = self.defaults.kind.adapter_name();
        let usage = format!("{name}('metric{{scope}}' [, 'granularity'])");
        let strings: Vec<String> = args
            .exprs()
            .iter()
            .map(|e| match e {
                Expr::Literal(
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)),
                    _,
                ) => Ok(s.clone()),
                other => Err(DataFusionError::Plan(format!(
                    "{name}() takes string literals: {usage}; got {other}"
                ))),
            })
            .collect::<DFResult<_>>()?;
        let (query, granularity) = match strings.as_slice() {
            [q] => (q, None),
            [q, g] => (q, Some(g)),
            _ => {
                return Err(DataFusionError::Plan(format!(
                    "{name}() takes one or two arguments: {usage}"
                )))
            }
        };
        let mut config = self.defaults.clone();
        config.set("query", query).map_err(to_datafusion_error)?;
        if let Some(g) = granularity {
            config.set("granularity", g).map_err(to_datafusion_error)?;
        }
        Ok(Arc::new(
            DatadogTable::new(config, None).map_err(to_datafusion_error)?,
        ))
    }
}
