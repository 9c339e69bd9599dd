//! [`DatadogSpec`]: the Datadog tables' [`TableSpec`]. Filters on `ts` (`chunk_start` for
//! scalar) become time windows, `query`/`name` filters the queries to run, the projection the
//! v1 aggregations to request; the windows are capped by what Datadog's rollup table serves at
//! the granularity.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;

use super::config::{DatadogConfig, DatadogKind};
use super::pushdown::{describe, selected_aggregations, v2_requests};
use crate::adapters::datadog::v1::v1_schema;
use crate::adapters::datadog::v2_scalar::v2_scalar_schema;
use crate::adapters::datadog::v2_timeseries::v2_timeseries_schema;
use crate::adapters::datadog::{
    max_window_at, Aggregation, DatadogV1Adapter, DatadogV1Options, DatadogV2ScalarAdapter,
    DatadogV2ScalarOptions, DatadogV2TimeseriesAdapter, DatadogV2TimeseriesOptions,
};
use crate::engine::{DefaultPolicy, VendorAdapter};
use crate::sql::config::values::format_duration;
use crate::sql::config::window::{partition_ranges, RowTimes};
use crate::sql::config::FetchSettings;
use crate::sql::filters::PushedFilters;
use crate::sql::scan::ScanShape;
use crate::sql::table::{ScanRequest, SpecScan, TableSpec};
use crate::Result;

/// A Datadog metrics API as a table. The schema depends on the kind:
/// - v1: `query, metric, scope, ts, avg, min, max, sum, interval`
/// - v2 timeseries: `name, query, scope, group_tags, ts, value, unit`
/// - v2 scalar: `chunk_start, chunk_end, name, query, scope, group_tags, value, unit`
#[derive(Debug)]
pub struct DatadogSpec {
    config: DatadogConfig,
    base_url: url::Url,
    schema: SchemaRef,
}

impl DatadogSpec {
    /// Checks `config` (including every query, so `CREATE EXTERNAL TABLE` fails at once on a
    /// bad one) and makes the spec.
    pub fn new(config: DatadogConfig) -> Result<Self> {
        config.validate()?;
        let base_url = config.resolved_base_url()?;
        let schema = match config.kind {
            DatadogKind::V1 => v1_schema(),
            DatadogKind::V2Timeseries => v2_timeseries_schema(),
            DatadogKind::V2Scalar => v2_scalar_schema(),
        };
        let spec = Self {
            config,
            base_url,
            schema,
        };
        spec.adapters(&PushedFilters::default(), None)?;
        Ok(spec)
    }

    /// The settings in force.
    pub fn config(&self) -> &DatadogConfig {
        &self.config
    }

    /// The API base URL requests go to.
    pub fn base_url(&self) -> &url::Url {
        &self.base_url
    }

    fn granularity_ms(&self) -> i64 {
        self.config.granularity_s() * 1000
    }

    /// Initial window length.
    fn chunk(&self) -> Duration {
        let known_max = max_window_at(self.config.granularity_s());
        match self.config.kind {
            DatadogKind::V2Scalar => self.config.granularity(),
            // v2 responses do not say which interval the API used, so a window the API would
            // roll up cannot be detected: never ask for one.
            DatadogKind::V2Timeseries => self
                .config
                .window
                .chunk
                .map_or(known_max, |c| c.min(known_max)),
            DatadogKind::V1 => self.config.window.chunk.unwrap_or(known_max),
        }
    }

    fn policy(&self) -> DefaultPolicy {
        let granularity = self.config.granularity();
        let known_max = max_window_at(self.config.granularity_s());
        let min_chunk = self.config.window.min_chunk.unwrap_or(granularity);
        let (min_chunk, max_chunk) = match self.config.kind {
            // One request per chunk: never split, never grown.
            DatadogKind::V2Scalar => (granularity, granularity),
            DatadogKind::V2Timeseries => (min_chunk, known_max),
            // Datadog's rollup table says how large a window can be at this granularity;
            // growing past it only buys refused requests, so it is the ceiling (or the chunk
            // given, if larger). v1 responses state their interval, so a rollup is detected.
            DatadogKind::V1 => (
                min_chunk,
                self.config
                    .window
                    .chunk
                    .map_or(known_max, |c| c.max(known_max)),
            ),
        };
        DefaultPolicy {
            min_chunk,
            max_chunk,
            ..self.config.fetch.policy()
        }
    }

    /// The adapters to run for these filters, each with its EXPLAIN label.
    fn adapters(
        &self,
        pushed: &PushedFilters,
        projection: Option<&[usize]>,
    ) -> Result<Vec<(String, Arc<dyn VendorAdapter>)>> {
        let granularity_s = self.config.granularity_s();
        let base_url = || self.base_url.clone();
        let credentials = || self.config.credentials.clone();
        match self.config.kind {
            DatadogKind::V1 => {
                let queries: Vec<String> = match pushed.values("query") {
                    Some(set) => set.iter().cloned().collect(),
                    None => vec![self.config.query.clone()],
                };
                let aggregations = selected_aggregations(projection);
                queries
                    .into_iter()
                    .map(|q| {
                        let adapter = DatadogV1Adapter::new(DatadogV1Options {
                            query: q.clone(),
                            granularity_s,
                            aggregations: aggregations.clone(),
                            base_url: base_url(),
                            credentials: credentials(),
                        })?;
                        Ok((q, Arc::new(adapter) as Arc<dyn VendorAdapter>))
                    })
                    .collect()
            }
            kind => v2_requests(&self.config.v2_queries(), pushed)
                .into_iter()
                .map(|queries| {
                    let label = describe(&queries);
                    let adapter: Arc<dyn VendorAdapter> = if kind == DatadogKind::V2Scalar {
                        Arc::new(DatadogV2ScalarAdapter::new(DatadogV2ScalarOptions {
                            queries,
                            aggregator: self.config.aggregator,
                            chunk_ms: granularity_s * 1000,
                            base_url: base_url(),
                            credentials: credentials(),
                        })?)
                    } else {
                        Arc::new(DatadogV2TimeseriesAdapter::new(
                            DatadogV2TimeseriesOptions {
                                queries,
                                interval_ms: granularity_s * 1000,
                                base_url: base_url(),
                                credentials: credentials(),
                            },
                        )?)
                    };
                    Ok((label, adapter))
                })
                .collect(),
        }
    }

    /// EXPLAIN details beyond the engines' labels.
    fn details(&self, projection: Option<&[usize]>) -> Vec<(&'static str, String)> {
        let mut details = vec![("granularity", format_duration(self.config.granularity()))];
        match self.config.kind {
            DatadogKind::V1 => {
                let aggregations: Vec<&str> = selected_aggregations(projection)
                    .into_iter()
                    .map(Aggregation::as_str)
                    .collect();
                details.push(("aggregations", format!("[{}]", aggregations.join(", "))));
            }
            DatadogKind::V2Scalar => {
                details.push(("aggregator", self.config.aggregator.as_str().to_string()))
            }
            DatadogKind::V2Timeseries => {}
        }
        details.push((
            "prefetch_depth",
            self.config.fetch.prefetch_depth.to_string(),
        ));
        details
    }
}

impl TableSpec for DatadogSpec {
    fn adapter_name(&self) -> &'static str {
        self.config.kind.adapter_name()
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn time_column(&self) -> Option<&str> {
        Some(match self.config.kind {
            DatadogKind::V2Scalar => "chunk_start",
            _ => "ts",
        })
    }

    fn string_columns(&self) -> &[&'static str] {
        match self.config.kind {
            DatadogKind::V1 => &["query"],
            _ => &["query", "name"],
        }
    }

    fn fetch(&self) -> &FetchSettings {
        &self.config.fetch
    }

    fn default_range(&self) -> Option<Duration> {
        Some(self.config.window.default_range)
    }

    fn plan(&self, request: &ScanRequest<'_>) -> Result<Option<SpecScan>> {
        let rows = match self.config.kind {
            DatadogKind::V2Scalar => RowTimes::Chunks(self.granularity_ms()),
            _ => RowTimes::Points,
        };
        let windows = self.config.window.windows(
            request.pushed.time.as_ref(),
            request.now_ms,
            rows,
            self.adapter_name(),
            self.time_column().unwrap_or("ts"),
        )?;
        let adapters = self.adapters(request.pushed, request.projection)?;
        if windows.is_empty() || adapters.is_empty() {
            return Ok(None);
        }
        let n = request
            .target_partitions
            .min(self.config.window.max_concurrency)
            .max(1);
        Ok(Some(SpecScan {
            adapters,
            policy: self.policy(),
            shape: ScanShape::Windows {
                partitions: partition_ranges(&windows, n, self.granularity_ms()),
                chunk: self.chunk(),
            },
            details: self.details(request.projection),
        }))
    }
}
