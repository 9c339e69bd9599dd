//! The SQL ways to make a table of any vendor: [`ApiTableFactory`] for
//! `CREATE EXTERNAL TABLE t [(columns)] STORED AS <VENDOR> LOCATION '...' OPTIONS (...)`, and
//! [`ApiTableFunction`] for `SELECT * FROM <vendor>('...' [, ...])`. Both are generic over the
//! registry's [`Vendor`]s.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{
    Session, TableFunctionArgs, TableFunctionImpl, TableProvider, TableProviderFactory,
};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::CreateExternalTable;

use super::config::{OptionValue, Options};
use super::filters::string_literal;
use super::registry::{build_table, TableDefaults, Vendor};
use crate::{to_datafusion_error, Error};

/// `CREATE EXTERNAL TABLE ... STORED AS <VENDOR>` for one vendor.
#[derive(Debug)]
pub struct ApiTableFactory {
    vendor: &'static dyn Vendor,
    defaults: Arc<TableDefaults>,
}

impl ApiTableFactory {
    /// A factory of `vendor`'s tables over session `defaults`.
    pub fn new(vendor: &'static dyn Vendor, defaults: Arc<TableDefaults>) -> Self {
        Self { vendor, defaults }
    }
}

#[async_trait]
impl TableProviderFactory for ApiTableFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DFResult<Arc<dyn TableProvider>> {
        let (location_key, location_doc) = self.vendor.location();
        let location = match cmd.locations.as_slice() {
            [one] => one.trim().to_string(),
            _ => {
                return Err(to_datafusion_error(Error::config(format!(
                    "STORED AS {} takes one LOCATION: {location_doc}",
                    self.vendor.stored_as()
                ))))
            }
        };
        let mut options: Options = vec![(location_key.to_string(), location.into())];
        // OPTIONS come as a map: sorted, so a table means the same whatever their order.
        let mut given: Vec<_> = cmd.options.iter().collect();
        given.sort();
        options.extend(
            given
                .into_iter()
                .map(|(k, v)| (k.clone(), OptionValue::Text(v.clone()))),
        );
        let table = build_table(
            self.vendor,
            &self.defaults.with_session(state),
            options,
            cmd.schema.fields(),
            None,
        )
        .map_err(to_datafusion_error)?;
        Ok(Arc::new(table))
    }
}

/// `SELECT * FROM <vendor>('...' [, ...])` for a vendor with a table function: each string
/// argument sets the option in its position.
#[derive(Debug)]
pub struct ApiTableFunction {
    vendor: &'static dyn Vendor,
    defaults: Arc<TableDefaults>,
}

impl ApiTableFunction {
    /// The table function of `vendor` over session `defaults`.
    pub fn new(vendor: &'static dyn Vendor, defaults: Arc<TableDefaults>) -> Self {
        Self { vendor, defaults }
    }
}

/// `one`, `two`, ... for argument counts in messages.
fn count_word(n: usize) -> String {
    const WORDS: [&str; 6] = ["no", "one", "two", "three", "four", "five"];
    WORDS
        .get(n)
        .map_or_else(|| n.to_string(), |w| w.to_string())
}

impl TableFunctionImpl for ApiTableFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DFResult<Arc<dyn TableProvider>> {
        let name = self.vendor.name();
        let Some(function) = self.vendor.table_function() else {
            return Err(DataFusionError::Plan(format!(
                "{name} has no table function; use CREATE EXTERNAL TABLE ... STORED AS {}",
                self.vendor.stored_as()
            )));
        };
        let mut usage = format!("{name}(");
        for (i, (_, placeholder)) in function.args.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let open = if i < function.required { "" } else { " [" };
            usage.push_str(&format!("{open}{sep}{placeholder}"));
        }
        usage.push_str(&"]".repeat(function.args.len().saturating_sub(function.required)));
        usage.push(')');
        let strings: Vec<String> = args
            .exprs()
            .iter()
            .map(|e| {
                string_literal(e).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "{name}() takes string literals: {usage}; got {e}"
                    ))
                })
            })
            .collect::<DFResult<_>>()?;
        if strings.len() < function.required || strings.len() > function.args.len() {
            let (lo, hi) = (function.required, function.args.len());
            let range = if lo == hi {
                count_word(lo)
            } else if hi == lo + 1 {
                format!("{} or {}", count_word(lo), count_word(hi))
            } else {
                format!("{} to {}", count_word(lo), count_word(hi))
            };
            return Err(DataFusionError::Plan(format!(
                "{name}() takes {range} arguments: {usage}"
            )));
        }
        let options: Options = function
            .args
            .iter()
            .zip(strings)
            .map(|((key, _), value)| (key.to_string(), OptionValue::Text(value)))
            .collect();
        let table = build_table(
            self.vendor,
            &self.defaults.with_session(args.session()),
            options,
            &[],
            None,
        )
        .map_err(to_datafusion_error)?;
        Ok(Arc::new(table))
    }
}
