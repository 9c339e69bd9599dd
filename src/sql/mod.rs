//! The SQL surface on DataFusion: API tables ([`DatadogV1Table`]), the scan plan
//! ([`ApiScanExec`]), filter pushdown, and registration (JSON config, `CREATE EXTERNAL TABLE`,
//! table functions).

pub mod filters;
pub mod functions;
pub mod options;
mod register;
pub mod scan;
pub mod v1_config;
mod v1_table;

pub use functions::register_functions;
pub use register::{
    register, register_sql_surface, table_from_json, DatadogV1Factory, DatadogV1Function, ADAPTERS,
};
pub use scan::{ApiScanExec, ScanParams};
pub use v1_config::{DatadogV1Config, V1_OPTIONS};
pub use v1_table::{DatadogV1Table, DatadogV1TableBuilder};
