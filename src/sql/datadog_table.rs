//! The Datadog tables (`datadog_v1`, `datadog_v2_timeseries`, `datadog_v2_scalar`): one
//! [`TableProvider`] over the three adapters. `scan()` turns filters into time windows and the
//! queries to run, the projection into what to request, and hands an [`ApiScanExec`] the engines.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;

use super::datadog_config::{DatadogConfig, DatadogKind};
use super::filters::{is_pushable, push_down, PushedFilters, RangeSet};
use super::options::format_duration;
use super::scan::{partition_ranges, ApiScanExec, ScanParams};
use crate::adapters::datadog::v1::{v1_schema, COL_AVG};
use crate::adapters::datadog::v2_scalar::v2_scalar_schema;
use crate::adapters::datadog::v2_timeseries::v2_timeseries_schema;
use crate::adapters::datadog::{
    max_window_at, Aggregation, DatadogV1Adapter, DatadogV1Options, DatadogV2ScalarAdapter,
    DatadogV2ScalarOptions, DatadogV2TimeseriesAdapter, DatadogV2TimeseriesOptions, NamedQuery,
    V2Queries,
};
use crate::engine::cursor::{ceil_to, floor_to};
use crate::engine::{format_ms_range, DefaultPolicy, Engine, TimeWindow, Transport, VendorAdapter};
use crate::transport::given_or_new_reqwest;
use crate::{to_datafusion_error, Error, Result};

/// A Datadog metrics API as a SQL table. The schema depends on the kind:
/// - v1: `query, metric, scope, ts, avg, min, max, sum, interval`
/// - v2 timeseries: `name, query, scope, group_tags, ts, value, unit`
/// - v2 scalar: `chunk_start, chunk_end, name, query, scope, group_tags, value, unit`
#[derive(Debug)]
pub struct DatadogTable {
    config: DatadogConfig,
    base_url: url::Url,
    transport: Arc<dyn Transport>,
    schema: SchemaRef,
}

/// The v1 name of [`DatadogTable`], kept for callers of the first release.
pub type DatadogV1Table = DatadogTable;

/// Builds a [`DatadogTable`]:
/// `DatadogTable::builder(DatadogKind::V1).query("...").from_env().build()?`.
#[derive(Debug, Default)]
pub struct DatadogTableBuilder {
    config: DatadogConfig,
    options: Vec<(String, String)>,
    transport: Option<Arc<dyn Transport>>,
}

impl DatadogTableBuilder {
    /// Starts from `DD_SITE`, `DD_API_KEY` and `DD_APP_KEY`.
    pub fn from_env(mut self) -> Self {
        let env = DatadogConfig::from_env();
        self.config.site = env.site;
        self.config.credentials = env.credentials;
        self
    }

    /// Starts from a whole config (its kind included).
    pub fn config(mut self, config: DatadogConfig) -> Self {
        self.config = config;
        self
    }

    /// The default metric query (v2: the query named `a`).
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

    /// Any option by name (see [`DatadogKind::options`]); checked in `build()`.
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
    pub fn build(self) -> Result<DatadogTable> {
        let mut config = self.config;
        for (k, v) in &self.options {
            config.set(k, v)?;
        }
        DatadogTable::new(config, self.transport)
    }
}

impl DatadogTable {
    /// A builder of a table of `kind` with default settings.
    pub fn builder(kind: DatadogKind) -> DatadogTableBuilder {
        DatadogTableBuilder {
            config: DatadogConfig::default().with_kind(kind),
            ..DatadogTableBuilder::default()
        }
    }

    /// A table from a config; a new HTTP client unless `transport` is given.
    pub fn new(config: DatadogConfig, transport: Option<Arc<dyn Transport>>) -> Result<Self> {
        config.validate()?;
        let base_url = config.resolved_base_url()?;
        let schema = match config.kind {
            DatadogKind::V1 => v1_schema(),
            DatadogKind::V2Timeseries => v2_timeseries_schema(),
            DatadogKind::V2Scalar => v2_scalar_schema(),
        };
        let transport =
            given_or_new_reqwest(transport, config.connect_timeout, config.request_timeout)?;
        let table = Self {
            config,
            base_url,
            transport,
            schema,
        };
        // Build the adapters once now, so CREATE EXTERNAL TABLE fails at once on a bad query.
        let all = PushedFilters::default();
        table.adapters(&all, None)?;
        Ok(table)
    }

    /// The settings in force.
    pub fn config(&self) -> &DatadogConfig {
        &self.config
    }

    fn adapter_name(&self) -> &'static str {
        self.config.kind.adapter_name()
    }

    /// Checks the API key with `GET /api/v1/validate` (the same for every kind).
    pub async fn validate_credentials(&self) -> Result<()> {
        let adapter = DatadogV1Adapter::new(DatadogV1Options {
            query: "system.cpu.user{*}".into(),
            granularity_s: 60,
            aggregations: vec![],
            base_url: self.base_url.clone(),
            credentials: self.config.credentials.clone(),
        })?;
        let request = adapter.validate_request()?;
        const CHECK: &str = "credential check (GET /api/v1/validate)";
        let response = self
            .transport
            .send(&request)
            .await
            .map_err(|source| Error::Network {
                adapter: self.adapter_name(),
                cursor: CHECK.into(),
                source,
            })?;
        if response.status == 200 {
            return Ok(());
        }
        Err(Error::Api {
            adapter: self.adapter_name(),
            cursor: CHECK.into(),
            status: response.status,
            message: crate::engine::default_error_message(&response.body),
            hint: Some("check DD_API_KEY, and DD_SITE or base_url"),
        })
    }

    /// The column time filters are pushed down on.
    fn time_column(&self) -> &'static str {
        match self.config.kind {
            DatadogKind::V2Scalar => "chunk_start",
            _ => "ts",
        }
    }

    /// The string columns whose equality filters choose what to request.
    fn string_columns(&self) -> &'static [&'static str] {
        match self.config.kind {
            DatadogKind::V1 => &["query"],
            _ => &["query", "name"],
        }
    }

    /// Initial window length.
    fn chunk(&self) -> Duration {
        match self.config.kind {
            DatadogKind::V2Scalar => self.config.granularity(),
            DatadogKind::V2Timeseries => {
                // v2 responses do not say which interval the API used, so a window the API
                // would roll up cannot be detected: never ask for one.
                let known_max = max_window_at(self.config.granularity_s());
                self.config.chunk.map_or(known_max, |c| c.min(known_max))
            }
            DatadogKind::V1 => self
                .config
                .chunk
                .unwrap_or_else(|| max_window_at(self.config.granularity_s())),
        }
    }

    fn policy(&self) -> DefaultPolicy {
        let granularity = self.config.granularity();
        let (min_chunk, max_chunk) = match self.config.kind {
            // One request per chunk: never split, never grown.
            DatadogKind::V2Scalar => (granularity, granularity),
            DatadogKind::V2Timeseries => (
                self.config.min_chunk.unwrap_or(granularity),
                max_window_at(self.config.granularity_s()),
            ),
            // Datadog's rollup table says how large a window can be at this granularity;
            // growing past it only buys refused requests, so it is the ceiling (or the chunk
            // given, if larger). v1 responses state their interval, so a rollup is detected.
            DatadogKind::V1 => {
                let known_max = max_window_at(self.config.granularity_s());
                (
                    self.config.min_chunk.unwrap_or(granularity),
                    self.config.chunk.map_or(known_max, |c| c.max(known_max)),
                )
            }
        };
        DefaultPolicy {
            max_retries: self.config.max_retries,
            prefetch_depth: self.config.prefetch_depth,
            min_chunk,
            max_chunk,
            ..DefaultPolicy::default()
        }
    }

    /// The windows to scan: the pushed-down ranges, open ends closed with `now` and
    /// `default_range`, refused when wider than `max_range`. A scalar table keeps the chunks
    /// whose start is in the ranges, so its windows start on chunk boundaries.
    fn windows(&self, time: Option<RangeSet>, now_ms: i64) -> Result<Vec<TimeWindow>> {
        let default_ms = self.config.default_range.as_millis() as i64;
        let chunk_ms = self.config.granularity_s() * 1000;
        let scalar = self.config.kind == DatadogKind::V2Scalar;
        let set = time.unwrap_or_else(RangeSet::all);
        let windows: Vec<TimeWindow> = set
            .0
            .iter()
            .filter_map(|&(start, end)| {
                let (mut start, mut end) = (start, end);
                if scalar {
                    // Chunks starting in [start, end): from the first boundary at or after
                    // start to the first at or after end (the last one may end at now).
                    start = if start == i64::MIN {
                        start
                    } else {
                        ceil_to(start, chunk_ms)
                    };
                    end = if end == i64::MAX {
                        end
                    } else {
                        ceil_to(end, chunk_ms)
                    };
                }
                // Nothing exists after now: an upper bound in the future ends at now.
                end = end.min(now_ms);
                if start == i64::MIN {
                    start = end.saturating_sub(default_ms);
                    if scalar {
                        start = floor_to(start, chunk_ms);
                    }
                }
                (start < end).then(|| TimeWindow::new(start, end))
            })
            .collect();
        if let (Some(first), Some(last)) = (windows.first(), windows.last()) {
            let span = i128::from(last.end_ms) - i128::from(first.start_ms);
            let max = self.config.max_range.as_millis() as i128;
            if span > max {
                return Err(Error::config(format!(
                    "{}: the {} filter covers {} ({}), more than max_range of {}; narrow the filter, or raise the table option max_range (e.g. OPTIONS ('max_range' '90d') or {{\"max_range\": \"90d\"}})",
                    self.adapter_name(),
                    self.time_column(),
                    format_duration(Duration::from_millis(
                        u64::try_from(span).unwrap_or(u64::MAX)
                    )),
                    format_ms_range(&windows),
                    format_duration(self.config.max_range)
                )));
            }
        }
        Ok(windows)
    }

    /// The adapters to run for these filters, each with its EXPLAIN label.
    fn adapters(
        &self,
        pushed: &PushedFilters,
        projection: Option<&Vec<usize>>,
    ) -> Result<Vec<(String, Arc<dyn VendorAdapter>)>> {
        let granularity_s = self.config.granularity_s();
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
                            base_url: self.base_url.clone(),
                            credentials: self.config.credentials.clone(),
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
                            base_url: self.base_url.clone(),
                            credentials: self.config.credentials.clone(),
                        })?)
                    } else {
                        Arc::new(DatadogV2TimeseriesAdapter::new(
                            DatadogV2TimeseriesOptions {
                                queries,
                                interval_ms: granularity_s * 1000,
                                base_url: self.base_url.clone(),
                                credentials: self.config.credentials.clone(),
                            },
                        )?)
                    };
                    Ok((label, adapter))
                })
                .collect(),
        }
    }

    /// EXPLAIN details beyond the engines' labels.
    fn details(&self, projection: Option<&Vec<usize>>) -> Vec<(&'static str, String)> {
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
        details.push(("prefetch_depth", self.config.prefetch_depth.to_string()));
        details
    }
}

/// The v1 aggregations the projection selects: only those are requested, and at least one
/// (avg), to learn the timestamps.
fn selected_aggregations(projection: Option<&Vec<usize>>) -> Vec<Aggregation> {
    let selected: Vec<Aggregation> = Aggregation::ALL
        .into_iter()
        .filter(|a| projection.is_none_or(|p| p.contains(&(COL_AVG + *a as usize))))
        .collect();
    if selected.is_empty() {
        vec![Aggregation::Avg]
    } else {
        selected
    }
}

/// The v2 requests that answer the filters on `name` and `query`. The configured outputs (the
/// formulas, or the queries without formulas) are kept when their name and text pass the
/// filters; a `query = '...'` naming none of them runs as an ad-hoc query named `q1`, `q2`, ...
fn v2_requests(base: &V2Queries, pushed: &PushedFilters) -> Vec<V2Queries> {
    let names = pushed.values("name");
    let texts = pushed.values("query");
    let passes = |name: &str, text: &str| {
        names.is_none_or(|n| n.contains(name)) && texts.is_none_or(|t| t.contains(text))
    };
    let mut requests = Vec::new();
    if base.formulas.is_empty() {
        let queries: Vec<NamedQuery> = base
            .queries
            .iter()
            .filter(|q| passes(&q.name, &q.query))
            .cloned()
            .collect();
        if !queries.is_empty() {
            requests.push(V2Queries {
                queries,
                formulas: vec![],
            });
        }
    } else {
        let formulas: Vec<_> = base
            .formulas
            .iter()
            .filter(|f| passes(&f.name, &f.formula))
            .cloned()
            .collect();
        if !formulas.is_empty() {
            // Formulas need every query they might reference.
            requests.push(V2Queries {
                queries: base.queries.clone(),
                formulas,
            });
        }
    }
    let known: BTreeSet<&str> = base
        .queries
        .iter()
        .map(|q| q.query.as_str())
        .chain(base.formulas.iter().map(|f| f.formula.as_str()))
        .collect();
    let ad_hoc: Vec<NamedQuery> = texts
        .into_iter()
        .flatten()
        .filter(|t| !known.contains(t.as_str()))
        .enumerate()
        .map(|(i, t)| NamedQuery {
            name: format!("q{}", i + 1),
            query: t.clone(),
        })
        .filter(|q| names.is_none_or(|n| n.contains(&q.name)))
        .collect();
    if !ad_hoc.is_empty() {
        requests.push(V2Queries {
            queries: ad_hoc,
            formulas: vec![],
        });
    }
    requests
}

/// `a=avg:m{*}, b=... | a / b` for EXPLAIN.
fn describe(q: &V2Queries) -> String {
    let queries = q
        .queries
        .iter()
        .map(|q| format!("{}={}", q.name, q.query))
        .collect::<Vec<_>>()
        .join(", ");
    if q.formulas.is_empty() {
        queries
    } else {
        let formulas = q
            .formulas
            .iter()
            .map(|f| {
                if f.name == f.formula {
                    f.formula.clone()
                } else {
                    format!("{}={}", f.name, f.formula)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("{queries} | formulas: {formulas}")
    }
}

#[async_trait]
impl TableProvider for DatadogTable {
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
                if is_pushable(f, self.time_column(), self.string_columns()) {
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
        let pushed = push_down(filters, self.time_column(), self.string_columns());
        let now_ms = state
            .execution_props()
            .query_execution_start_time
            .unwrap_or_else(chrono::Utc::now)
            .timestamp_millis();
        let windows = self
            .windows(pushed.time.clone(), now_ms)
            .map_err(to_datafusion_error)?;
        let adapters = self
            .adapters(&pushed, projection)
            .map_err(to_datafusion_error)?;
        if windows.is_empty() || adapters.is_empty() || limit == Some(0) {
            // An empty or inverted window, or filters nothing passes: no rows, no request.
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let policy = Arc::new(self.policy());
        let engines = adapters
            .into_iter()
            .map(|(label, adapter)| {
                (
                    label,
                    Engine::new(adapter, policy.clone(), Arc::clone(&self.transport)),
                )
            })
            .collect();
        let n = state
            .config()
            .target_partitions()
            .min(self.config.max_concurrency)
            .max(1);
        let params = ScanParams {
            adapter: self.adapter_name(),
            engines,
            partitions: partition_ranges(&windows, n, self.config.granularity_s() * 1000),
            sequence: None,
            chunk: self.chunk(),
            details: self.details(projection),
            projection: projection.cloned(),
            limit,
        };
        Ok(Arc::new(ApiScanExec::new(params, projected)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::datadog::NamedFormula;

    fn base(formulas: &[(&str, &str)]) -> V2Queries {
        V2Queries {
            queries: vec![
                NamedQuery {
                    name: "a".into(),
                    query: "avg:m{*}".into(),
                },
                NamedQuery {
                    name: "b".into(),
                    query: "avg:n{*}".into(),
                },
            ],
            formulas: formulas
                .iter()
                .map(|(n, f)| NamedFormula {
                    name: n.to_string(),
                    formula: f.to_string(),
                })
                .collect(),
        }
    }

    fn pushed(column: &str, values: &[&str]) -> PushedFilters {
        let mut p = PushedFilters::default();
        p.strings.insert(
            column.into(),
            values.iter().map(|s| s.to_string()).collect(),
        );
        p
    }

    #[test]
    fn name_and_query_filters_choose_the_requests() {
        let all = v2_requests(&base(&[]), &PushedFilters::default());
        assert_eq!(all, vec![base(&[])]);
        let only_b = v2_requests(&base(&[]), &pushed("name", &["b"]));
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].queries.len(), 1);
        assert_eq!(only_b[0].queries[0].name, "b");
        // A formula keeps every query.
        let f = v2_requests(
            &base(&[("ratio", "a / b"), ("twice", "a * 2")]),
            &pushed("name", &["twice"]),
        );
        assert_eq!(f[0].queries.len(), 2);
        assert_eq!(f[0].formulas.len(), 1);
        assert_eq!(f[0].formulas[0].formula, "a * 2");
        // An unknown query runs ad hoc; a known one is selected.
        let q = v2_requests(&base(&[]), &pushed("query", &["avg:n{*}", "sum:x{*}"]));
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].queries[0].name, "b");
        assert_eq!(q[1].queries[0].name, "q1");
        assert_eq!(q[1].queries[0].query, "sum:x{*}");
        assert!(v2_requests(&base(&[]), &pushed("name", &["zzz"])).is_empty());
    }

    #[test]
    fn scalar_windows_cover_whole_chunks_starting_in_the_filter() {
        let mut config = DatadogConfig::default().with_kind(DatadogKind::V2Scalar);
        config.query = "avg:m{*}".into();
        config.base_url = Some("http://127.0.0.1:1".into());
        let table = DatadogTable::new(config, None).unwrap();
        let h = 3_600_000;
        let now = 100 * h + h / 2;
        // chunk_start >= 10:30 and < 13:00 keeps the chunks starting at 11:00 and 12:00.
        let w = table
            .windows(Some(RangeSet(vec![(10 * h + h / 2, 13 * h)])), now)
            .unwrap();
        assert_eq!(w, vec![TimeWindow::new(11 * h, 13 * h)]);
        // No filter: the default hour, from the chunk boundary, the last chunk ending at now.
        let w = table.windows(None, now).unwrap();
        assert_eq!(w, vec![TimeWindow::new(99 * h, now)]);
    }
}
