//! The SQL surface on DataFusion: API tables ([`DatadogTable`]), the scan plan
//! ([`ApiScanExec`]), filter pushdown, and registration (JSON config, `CREATE EXTERNAL TABLE`,
//! table functions).

pub mod datadog_config;
mod datadog_table;
pub mod filters;
pub mod functions;
pub mod options;
mod register;
pub mod rest_config;
mod rest_table;
pub mod scan;

pub use datadog_config::{DatadogConfig, DatadogKind, DatadogV1Config};
pub use datadog_table::{DatadogTable, DatadogTableBuilder, DatadogV1Table};
pub use functions::register_functions;
pub use register::{
    register, register_sql_surface, table_from_json, DatadogFactory, DatadogFunction, RestFactory,
    ADAPTERS,
};
pub use rest_config::{RestConfig, RestKind};
pub use rest_table::RestTable;
pub use scan::{ApiScanExec, ScanParams};
