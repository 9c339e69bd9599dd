//! The generic REST tables (`page_api`, `token_api`) as a [`TableProvider`]: the columns come
//! from the config, a filter on the `time_column` becomes the start/end parameters (DataFusion
//! still applies the filter exactly on top, so ORs and open ends stay correct), and the scan
//! runs one page or token sequence.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;

use super::filters::{push_down, time_ranges};
use super::rest_config::RestConfig;
use super::scan::{ApiScanExec, ScanParams};
use crate::adapters::rest::columns::schema_of;
use crate::adapters::rest::{Paging, RestAdapter, RestOptions, TimeRange, TokenSource};
use crate::engine::{DefaultPolicy, Engine, Transport};
use crate::transport::given_or_new_reqwest;
use crate::{to_datafusion_error, Result};

/// A page-number or token REST API as a SQL table.
#[derive(Debug)]
pub struct RestTable {
    config: RestConfig,
    options: RestOptions,
    transport: Arc<dyn Transport>,
    schema: SchemaRef,
}

impl RestTable {
    /// A table from a config; a new HTTP client unless `transport` is given.
    pub fn new(config: RestConfig, transport: Option<Arc<dyn Transport>>) -> Result<Self> {
        let options = config.to_options()?;
        RestAdapter::new(options.clone())?;
        let transport =
            given_or_new_reqwest(transport, config.connect_timeout, config.request_timeout)?;
        Ok(Self {
            schema: schema_of(&options.columns),
            config,
            options,
            transport,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &RestConfig {
        &self.config
    }

    fn time_column(&self) -> Option<&str> {
        self.config.time_column.as_deref()
    }

    fn policy(&self) -> DefaultPolicy {
        DefaultPolicy {
            max_retries: self.config.max_retries,
            prefetch_depth: self.config.prefetch_depth,
            max_pages: self.config.max_pages,
            ..DefaultPolicy::default()
        }
    }

    /// EXPLAIN details: never parameter or header values (they may be secrets).
    fn details(&self) -> Vec<(&'static str, String)> {
        let o = &self.options;
        let mut details = vec![
            ("method", o.method.to_string()),
            ("records", format!("'{}'", o.records.text())),
        ];
        match &o.paging {
            Paging::PageNumber {
                param, size, total, ..
            } => {
                details.push(("paging", format!("{param}, {size} per page")));
                if let Some(t) = total {
                    details.push(("total", format!("'{}'", t.text())));
                }
            }
            Paging::Token { param, next, .. } => {
                let from = match next {
                    TokenSource::Pointer(p) => format!("'{}'", p.text()),
                    TokenSource::LastRecord(p) => format!("last record '{}'", p.text()),
                    TokenSource::LinkHeader => "Link header".to_string(),
                };
                details.push(("paging", format!("{param} from {from}")));
            }
        }
        if !o.params.is_empty() {
            let names: Vec<&str> = o.params.iter().map(|(k, _)| k.as_str()).collect();
            details.push(("params", format!("[{}]", names.join(", "))));
        }
        details.push(("prefetch_depth", self.config.prefetch_depth.to_string()));
        details
    }
}

#[async_trait]
impl TableProvider for RestTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match self.time_column() {
                // The API gets the hull of the ranges; DataFusion applies the exact filter.
                Some(c) if time_ranges(f, c).is_some() => TableProviderFilterPushDown::Inexact,
                _ => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let mut options = self.options.clone();
        if let Some(column) = self.time_column() {
            if let Some(set) = push_down(filters, column, &[]).time {
                let (Some(first), Some(last)) = (set.0.first(), set.0.last()) else {
                    // An empty or inverted range: no rows, no request.
                    return Ok(Arc::new(EmptyExec::new(projected)));
                };
                let index = options
                    .columns
                    .iter()
                    .position(|c| c.name == column)
                    .unwrap_or_default();
                options.time = Some(TimeRange {
                    column: index,
                    start_ms: first.0,
                    end_ms: last.1,
                    start_param: self.config.start_param.clone(),
                    end_param: self.config.end_param.clone(),
                    format: self.config.time_format,
                });
            }
        }
        if limit == Some(0) {
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let window = options.time.as_ref().map(|t| {
            let bound = |ms: i64, open: i64| {
                if ms == open {
                    "open".to_string()
                } else {
                    crate::engine::format_ms(ms)
                }
            };
            format!(
                "[{}, {})",
                bound(t.start_ms, i64::MIN),
                bound(t.end_ms, i64::MAX)
            )
        });
        let adapter = RestAdapter::new(options).map_err(to_datafusion_error)?;
        let first = adapter.first_cursor();
        let engine = Engine::new(
            Arc::new(adapter),
            Arc::new(self.policy()),
            Arc::clone(&self.transport),
        );
        let mut details = self.details();
        if let Some(w) = window {
            details.push(("time_range", w));
        }
        let params = ScanParams {
            adapter: self.config.kind.adapter_name(),
            engines: vec![(self.options.url.to_string(), engine)],
            partitions: vec![],
            sequence: Some(first),
            chunk: std::time::Duration::ZERO,
            details,
            projection: projection.cloned(),
            limit,
        };
        Ok(Arc::new(ApiScanExec::new(params, projected)))
    }
}
