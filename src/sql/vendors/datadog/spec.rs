//! [`DatadogSpec`]: the Datadog tables' [`TableSpec`]. Filters on `ts` (`chunk_start` for
//! scalar) become time windows, `query`/`name` filters the queries to run, the projection the
//! v1 aggregations to request; the windows are capped by what Datadog's rollup table serves at
//! the granularity.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;

use super::config::{DatadogConfig, DatadogKind};
use super::pushdown::{describe, selected_aggregations, v1_rollup, v2_requests, v2_rollup};
use crate::adapters::datadog::v1::v1_schema;
use crate::adapters::datadog::v2_scalar::v2_scalar_schema;
use crate::adapters::datadog::v2_timeseries::v2_timeseries_schema;
use crate::adapters::datadog::{
    max_window_at, Aggregation, DatadogV1Adapter, DatadogV1Options, DatadogV2ScalarAdapter,
    DatadogV2ScalarOptions, DatadogV2TimeseriesAdapter, DatadogV2TimeseriesOptions,
};
use crate::engine::{DefaultPolicy, TimeWindow, VendorAdapter};
use crate::sql::config::values::format_duration;
use crate::sql::config::window::{partition_on_windows, RowTimes};
use crate::sql::config::FetchSettings;
use crate::sql::filters::PushedFilters;
use crate::sql::rollup::{split_at_buckets, RollupHint, RollupSupport};
use crate::sql::scan::{ScanShape, SliceGrid};
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
        spec.adapters(&PushedFilters::default(), None, spec.config.granularity_s())?;
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

    /// Initial window length at `granularity_s` (the table's, or a rollup's).
    fn chunk(&self, granularity_s: i64) -> Duration {
        let known_max = max_window_at(granularity_s);
        if granularity_s != self.config.granularity_s() {
            // A rollup: the table's chunk options are sized for its own granularity.
            return known_max;
        }
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

    fn policy(&self, granularity_s: i64) -> DefaultPolicy {
        let known_max = max_window_at(granularity_s);
        if granularity_s != self.config.granularity_s() {
            // A rollup: windows from one bucket up to what the API serves at that interval.
            return DefaultPolicy {
                min_chunk: Duration::from_secs(granularity_s.unsigned_abs()),
                max_chunk: known_max,
                ..self.config.fetch.policy()
            };
        }
        let granularity = self.config.granularity();
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
        granularity_s: i64,
    ) -> Result<Vec<(String, Arc<dyn VendorAdapter>)>> {
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
        let windows = self.windows(request)?;
        self.scan_of(request, &windows, self.config.granularity_s(), None)
    }

    fn rollup_support(&self) -> Option<RollupSupport> {
        let granularity_ms = self.granularity_ms();
        match self.config.kind {
            DatadogKind::V1 => Some(RollupSupport {
                granularity_ms,
                time_column: "ts",
                labels: &["query", "metric", "scope"],
                values: Aggregation::ALL
                    .into_iter()
                    .map(|a| (a.as_str(), v1_rollup(a)))
                    .collect(),
            }),
            DatadogKind::V2Timeseries => {
                let agg = v2_rollup(&self.config.v2_queries())?;
                Some(RollupSupport {
                    granularity_ms,
                    time_column: "ts",
                    labels: &["name", "query", "scope", "group_tags"],
                    values: vec![("value", agg)],
                })
            }
            DatadogKind::V2Scalar => None,
        }
    }

    fn plan_rollup(
        &self,
        request: &ScanRequest<'_>,
        hint: &RollupHint,
    ) -> Result<Option<Vec<SpecScan>>> {
        let g = self.granularity_ms();
        if hint.bucket_ms <= g || hint.bucket_ms % g != 0 {
            return Ok(None);
        }
        // Each value column must be one the API rolls up with the aggregate asked for, and
        // (v2) every query sent must roll up with it in time and in space.
        let served = self.rollup_support().map(|s| s.values).unwrap_or_default();
        let every_served = hint
            .aggregates
            .iter()
            .all(|(column, agg)| served.contains(&(column.as_str(), *agg)));
        if !every_served || !self.rolls_up_every_request(request.pushed, hint) {
            return Ok(None);
        }
        let bucket_s = hint.bucket_ms / 1000;
        let windows = self.windows(request)?;
        let (whole, edges) = split_at_buckets(&windows, hint.bucket_ms);
        let mut scans = Vec::new();
        if let Some(scan) = self.scan_of(request, &whole, bucket_s, Some(hint))? {
            scans.push(scan);
        }
        if let Some(scan) = self.scan_of(request, &edges, self.config.granularity_s(), None)? {
            scans.push(scan);
        }
        Ok(Some(scans))
    }
}

impl DatadogSpec {
    /// The time windows the pushed filters select.
    fn windows(&self, request: &ScanRequest<'_>) -> Result<Vec<TimeWindow>> {
        let rows = match self.config.kind {
            DatadogKind::V2Scalar => RowTimes::Chunks(self.granularity_ms()),
            _ => RowTimes::Points,
        };
        self.config.window.windows(
            request.pushed.time.as_ref(),
            request.now_ms,
            rows,
            self.adapter_name(),
            self.time_column().unwrap_or("ts"),
        )
    }

    /// The requests for `windows` at `granularity_s` (the table's, or a rollup's bucket).
    fn scan_of(
        &self,
        request: &ScanRequest<'_>,
        windows: &[TimeWindow],
        granularity_s: i64,
        rollup: Option<&RollupHint>,
    ) -> Result<Option<SpecScan>> {
        let adapters = self.adapters(request.pushed, request.projection, granularity_s)?;
        if windows.is_empty() || adapters.is_empty() {
            return Ok(None);
        }
        let n = request
            .target_partitions
            .min(self.config.window.max_concurrency)
            .max(1);
        let mut details = self.details(request.projection);
        if let Some(hint) = rollup {
            details.insert(1, ("rollup", hint.to_string()));
        }
        let chunk = self.chunk(granularity_s);
        let grid = SliceGrid {
            align_ms: granularity_s * 1000,
            step_ms: i64::try_from(chunk.as_millis()).unwrap_or(i64::MAX),
        };
        Ok(Some(SpecScan {
            adapters,
            policy: self.policy(granularity_s),
            shape: ScanShape::Windows {
                partitions: partition_on_windows(windows, n, grid.align_ms, grid.step_ms),
                chunk,
                grid,
            },
            details,
        }))
    }

    /// Whether every v2 request these filters make rolls up with the hint's aggregate (v1
    /// requests always do: each column is its own rollup).
    fn rolls_up_every_request(&self, pushed: &PushedFilters, hint: &RollupHint) -> bool {
        match self.config.kind {
            DatadogKind::V1 => true,
            DatadogKind::V2Scalar => false,
            DatadogKind::V2Timeseries => {
                let aggs = hint.aggs();
                v2_requests(&self.config.v2_queries(), pushed)
                    .iter()
                    .all(|q| aggs.len() == 1 && v2_rollup(q) == Some(aggs[0]))
            }
        }
    }
}
