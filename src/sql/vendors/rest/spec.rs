//! [`RestSpec`]: the generic REST tables' [`TableSpec`]. The columns come from the config; a
//! filter on the `time_column` becomes the start/end parameters (the API gets the hull of the
//! ranges and DataFusion still applies the filter, so ORs and open ends stay correct); the scan
//! runs one page or token sequence.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::logical_expr::TableProviderFilterPushDown;

use super::config::RestConfig;
use crate::adapters::rest::columns::{schema_of, ColumnType, TimeFormat};
use crate::adapters::rest::{Paging, RestAdapter, RestOptions, TimeRange, TokenSource};
use crate::engine::{format_ms, DefaultPolicy};
use crate::sql::config::FetchSettings;
use crate::sql::scan::ScanShape;
use crate::sql::table::{ScanRequest, SpecScan, TableSpec};
use crate::Result;

/// A page-number or token REST API as a table.
#[derive(Debug)]
pub struct RestSpec {
    config: RestConfig,
    options: RestOptions,
    schema: SchemaRef,
}

impl RestSpec {
    /// Checks `config` and makes the spec.
    pub fn new(config: RestConfig) -> Result<Self> {
        let options = config.to_options()?;
        RestAdapter::new(options.clone())?;
        Ok(Self {
            schema: schema_of(&options.columns),
            config,
            options,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &RestConfig {
        &self.config
    }

    fn policy(&self) -> DefaultPolicy {
        DefaultPolicy {
            max_pages: self.config.max_pages,
            ..self.config.fetch.policy()
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
                param,
                size,
                total,
                total_header,
                ..
            } => {
                details.push(("paging", format!("{param}, {size} per page")));
                if let Some(t) = total {
                    details.push(("total", format!("'{}'", t.text())));
                }
                if let Some(h) = total_header {
                    details.push(("total", format!("header {h}")));
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
        details.push((
            "prefetch_depth",
            self.config.fetch.prefetch_depth.to_string(),
        ));
        details
    }
}

/// The time parameters' format when `time_format` is not given: the time column's declared
/// format (`epoch_s`, `epoch_ms`), RFC 3339 for `rfc3339` and `auto`.
fn default_time_format(column: ColumnType) -> TimeFormat {
    match column {
        ColumnType::Timestamp(f @ (TimeFormat::EpochSeconds | TimeFormat::EpochMillis)) => f,
        _ => TimeFormat::Rfc3339,
    }
}

impl TableSpec for RestSpec {
    fn adapter_name(&self) -> &'static str {
        self.config.kind.adapter_name()
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn time_column(&self) -> Option<&str> {
        self.config.time_column.as_deref()
    }

    fn time_pushdown(&self) -> TableProviderFilterPushDown {
        // The API gets the hull of the ranges; DataFusion applies the exact filter.
        TableProviderFilterPushDown::Inexact
    }

    fn fetch(&self) -> &FetchSettings {
        &self.config.fetch
    }

    fn plan(&self, request: &ScanRequest<'_>) -> Result<Option<SpecScan>> {
        let mut options = self.options.clone();
        let mut details = self.details();
        if let (Some(column), Some(set)) = (self.time_column(), &request.pushed.time) {
            let (Some(first), Some(last)) = (set.0.first(), set.0.last()) else {
                // An empty or inverted range: no rows, no request.
                return Ok(None);
            };
            // to_options() checked that the time column is one of the columns.
            let Some(index) = options.columns.iter().position(|c| c.name == column) else {
                return Ok(None);
            };
            let bound = |ms: i64, open: i64| {
                if ms == open {
                    "open".to_string()
                } else {
                    format_ms(ms)
                }
            };
            details.push((
                "time_range",
                format!(
                    "[{}, {})",
                    bound(first.0, i64::MIN),
                    bound(last.1, i64::MAX)
                ),
            ));
            options.time = Some(TimeRange {
                column: index,
                start_ms: first.0,
                end_ms: last.1,
                start_param: self.config.start_param.clone(),
                end_param: self.config.end_param.clone(),
                format: self
                    .config
                    .time_format
                    .unwrap_or_else(|| default_time_format(options.columns[index].kind)),
            });
        }
        let adapter = RestAdapter::new(options)?;
        let first = adapter.first_cursor();
        Ok(Some(SpecScan {
            adapters: vec![(self.options.url.to_string(), Arc::new(adapter))],
            policy: self.policy(),
            shape: ScanShape::Sequence { first },
            details,
        }))
    }
}
