//! The `datadog_v1` table: a [`TableProvider`] over the Datadog v1 adapter. `scan()` turns filters
//! into time windows and queries, the projection into the aggregations to request, and hands an
//! [`ApiScanExec`] the engines to run.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;

use super::filters::{is_pushable, push_down, RangeSet};
use super::options::format_duration;
use super::scan::{partition_ranges, ApiScanExec, ScanParams};
use super::v1_config::DatadogV1Config;
use crate::adapters::datadog::v1::{v1_schema, COL_AVG};
use crate::adapters::datadog::{Aggregation, DatadogV1Adapter, DatadogV1Options};
use crate::engine::{format_ms_range, DefaultPolicy, Engine, TimeWindow};
use crate::transport::{ReqwestTransport, Transport, TransportConfig};
use crate::{to_datafusion_error, Error, Result};

/// A Datadog v1 metrics query as a SQL table:
/// `query, metric, scope, ts, avg, min, max, sum, interval`.
#[derive(Debug)]
pub struct DatadogV1Table {
    config: DatadogV1Config,
    base_url: url::Url,
    transport: Arc<dyn Transport>,
    schema: SchemaRef,
}

/// Builds a [`DatadogV1Table`]: `DatadogV1Table::builder().query("...").from_env().build()?`.
#[derive(Debug, Default)]
pub struct DatadogV1TableBuilder {
    config: DatadogV1Config,
    options: Vec<(String, String)>,
    transport: Option<Arc<dyn Transport>>,
}

impl DatadogV1TableBuilder {
    /// Starts from `DD_SITE`, `DD_API_KEY` and `DD_APP_KEY`.
    pub fn from_env(mut self) -> Self {
        let env = DatadogV1Config::from_env();
        self.config.site = env.site;
        self.config.credentials = env.credentials;
        self
    }

    /// Starts from a whole config.
    pub fn config(mut self, config: DatadogV1Config) -> Self {
        self.config = config;
        self
    }

    /// The default metric query.
    pub fn query(self, query: impl Into<String>) -> Self {
        self.option("query", query)
    }

    /// Row granularity, e.g. `"60s"`.
    pub fn granularity(self, granularity: impl Into<String>) -> Self {
        self.option("granularity", granularity)
    }

    /// API base URL (a proxy, or the simulator).
    pub fn base_url(self, url: impl Into<String>) -> Self {
        self.option("base_url", url)
    }

    /// Any option by name (see [`super::v1_config::V1_OPTIONS`]); checked in `build()`.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Uses this transport instead of a new reqwest client (tests, shared pools).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Validates everything and builds the table.
    pub fn build(self) -> Result<DatadogV1Table> {
        let mut config = self.config;
        for (k, v) in &self.options {
            config.set(k, v)?;
        }
        DatadogV1Table::new(config, self.transport)
    }
}

impl DatadogV1Table {
    /// A builder with default settings.
    pub fn builder() -> DatadogV1TableBuilder {
        DatadogV1TableBuilder::default()
    }

    /// A table from a config; a new HTTP client unless `transport` is given.
    pub fn new(config: DatadogV1Config, transport: Option<Arc<dyn Transport>>) -> Result<Self> {
        config.validate()?;
        let base_url = config.resolved_base_url()?;
        // Check the query once now, so CREATE EXTERNAL TABLE fails at once on a bad query.
        Self::adapter_for(&config, &base_url, &config.query, Aggregation::ALL.to_vec())?;
        let transport = match transport {
            Some(t) => t,
            None => Arc::new(ReqwestTransport::new(&TransportConfig {
                connect_timeout: config.connect_timeout,
                request_timeout: config.request_timeout,
                ..TransportConfig::default()
            })?),
        };
        Ok(Self {
            config,
            base_url,
            transport,
            schema: v1_schema(),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &DatadogV1Config {
        &self.config
    }

    /// Checks the API key with `GET /api/v1/validate`.
    pub async fn validate_credentials(&self) -> Result<()> {
        let adapter = Self::adapter_for(&self.config, &self.base_url, &self.config.query, vec![])?;
        let request = adapter.validate_request()?;
        let response = self
            .transport
            .send(&request)
            .await
            .map_err(|e| Error::config(format!("cannot reach {}: {e}", self.base_url)))?;
        if response.status == 200 {
            return Ok(());
        }
        Err(Error::Api {
            adapter: "datadog_v1",
            cursor: "credential check (GET /api/v1/validate)".into(),
            status: response.status,
            message: crate::engine::default_error_message(&response.body),
            hint: " (check DD_API_KEY, and DD_SITE or base_url)",
        })
    }

    fn adapter_for(
        config: &DatadogV1Config,
        base_url: &url::Url,
        query: &str,
        aggregations: Vec<Aggregation>,
    ) -> Result<DatadogV1Adapter> {
        DatadogV1Adapter::new(DatadogV1Options {
            query: query.to_string(),
            granularity_s: config.granularity_s(),
            aggregations,
            base_url: base_url.clone(),
            credentials: config.credentials.clone(),
        })
    }

    fn policy(&self) -> DefaultPolicy {
        // Datadog's rollup table says how large a window can be at this granularity; growing
        // past it only buys refused requests, so it is the ceiling (or the chunk given, if larger).
        let known_max = crate::adapters::datadog::max_window_at(self.config.granularity_s());
        DefaultPolicy {
            max_retries: self.config.max_retries,
            prefetch_depth: self.config.prefetch_depth,
            min_chunk: self.config.min_chunk.unwrap_or(self.config.granularity),
            max_chunk: self.config.chunk.map_or(known_max, |c| c.max(known_max)),
            ..DefaultPolicy::default()
        }
    }

    /// The windows to scan: the pushed-down ranges, open ends closed with `now` and
    /// `default_range`, refused when wider than `max_range`.
    fn windows(&self, time: Option<RangeSet>, now_ms: i64) -> Result<Vec<TimeWindow>> {
        let default_ms = self.config.default_range.as_millis() as i64;
        let set = time.unwrap_or_else(RangeSet::all);
        let windows: Vec<TimeWindow> = set
            .0
            .iter()
            .filter_map(|&(start, end)| {
                // Nothing exists after now: an upper bound in the future ends at now.
                let end = end.min(now_ms);
                let start = if start == i64::MIN {
                    end.saturating_sub(default_ms)
                } else {
                    start
                };
                (start < end).then(|| TimeWindow::new(start, end))
            })
            .collect();
        if let (Some(first), Some(last)) = (windows.first(), windows.last()) {
            let span = i128::from(last.end_ms) - i128::from(first.start_ms);
            let max = self.config.max_range.as_millis() as i128;
            if span > max {
                return Err(Error::config(format!(
                    "datadog_v1: the ts filter covers {} ({}), more than max_range of {}; narrow the ts filter, or raise the table option max_range (e.g. OPTIONS ('max_range' '90d') or {{\"max_range\": \"90d\"}})",
                    format_duration(std::time::Duration::from_millis(
                        u64::try_from(span).unwrap_or(u64::MAX)
                    )),
                    format_ms_range(&windows),
                    format_duration(self.config.max_range)
                )));
            }
        }
        Ok(windows)
    }
}

#[async_trait]
impl TableProvider for DatadogV1Table {
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
            .map(|f| {
                if is_pushable(f, "ts", Some("query")) {
                    // Windows are trimmed to [start, end) and queries selected exactly.
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let pushed = push_down(filters, "ts", Some("query"));
        let now_ms = state
            .execution_props()
            .query_execution_start_time
            .unwrap_or_else(chrono::Utc::now)
            .timestamp_millis();
        let windows = self
            .windows(pushed.time, now_ms)
            .map_err(to_datafusion_error)?;
        let queries: Vec<String> = match pushed.queries {
            Some(set) => set.into_iter().collect(),
            None => vec![self.config.query.clone()],
        };
        if windows.is_empty() || queries.is_empty() || limit == Some(0) {
            // An empty or inverted window: no rows, and no request.
            return Ok(Arc::new(EmptyExec::new(projected)));
        }

        // Only the aggregations selected are requested (at least one, to learn the timestamps).
        let mut aggregations: Vec<Aggregation> = Aggregation::ALL
            .into_iter()
            .filter(|a| projection.is_none_or(|p| p.contains(&(COL_AVG + *a as usize))))
            .collect();
        if aggregations.is_empty() {
            aggregations.push(Aggregation::Avg);
        }
        let policy = Arc::new(self.policy());
        let engines = queries
            .iter()
            .map(|q| {
                let adapter =
                    Self::adapter_for(&self.config, &self.base_url, q, aggregations.clone())?;
                Ok((
                    q.clone(),
                    Engine::new(
                        Arc::new(adapter),
                        policy.clone(),
                        Arc::clone(&self.transport),
                    ),
                ))
            })
            .collect::<Result<Vec<_>>>()
            .map_err(to_datafusion_error)?;
        let align = self.config.granularity_s() * 1000;
        let n = state
            .config()
            .target_partitions()
            .min(self.config.max_concurrency)
            .max(1);
        let chunk = self.config.chunk.unwrap_or_else(|| {
            crate::adapters::datadog::max_window_at(self.config.granularity_s())
        });
        let params = ScanParams {
            adapter: "datadog_v1",
            engines,
            partitions: partition_ranges(&windows, n, align),
            chunk,
            details: vec![
                ("granularity", format_duration(self.config.granularity)),
                (
                    "aggregations",
                    format!(
                        "[{}]",
                        aggregations
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                ("prefetch_depth", self.config.prefetch_depth.to_string()),
            ],
            projection: projection.cloned(),
            limit,
        };
        Ok(Arc::new(ApiScanExec::new(params, projected)))
    }
}
