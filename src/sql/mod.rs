//! The SQL surface on DataFusion: one table type for every API ([`ApiTable`] over a vendor's
//! [`TableSpec`]), one factory and table function ([`factory`]), one list of vendors
//! ([`registry`]), typed configuration ([`config`]), the vendors themselves ([`vendors`]), the
//! scan plan ([`ApiScanExec`]), filter pushdown ([`filters`]), rollup pushdown ([`rollup`]) and
//! the downsampling functions.

mod buckets;
pub mod config;
pub mod factory;
pub mod filters;
pub mod functions;
pub mod origin;
pub mod registry;
pub mod rollup;
pub mod scan;
pub mod table;
pub mod vendors;

pub use factory::{ApiTableFactory, ApiTableFunction};
pub use functions::register_functions;
pub use registry::{
    register, register_sql_surface, register_vendor, register_with, table_from_json, vendor,
    TableDefaults, Vendor, VENDORS,
};
pub use rollup::{register_rollup_pushdown, RollupPushdown};
pub use scan::{ApiScanExec, ScanParams, ScanShape, SliceGrid};
pub use table::{ApiTable, TableSpec};
pub use vendors::datadog::{
    validate_credentials, DatadogBuilder, DatadogConfig, DatadogConfigKey, DatadogKind, DatadogSpec,
};
pub use vendors::rest::{RestConfig, RestConfigKey, RestKind, RestSpec};
