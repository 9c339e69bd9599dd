//! `ApiScanExec`: the streaming, partitioned plan node for every API table. `scan()` of a table
//! decides the parameters (engines per query, time windows per partition, projection, limit);
//! this node only runs them and shows them in EXPLAIN. Engine counters become DataFusion metrics
//! for EXPLAIN ANALYZE.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result as DFResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;

use super::options::format_duration;
use crate::engine::{
    format_ms_range, Cursor, Engine, EngineMetrics, FetchPlan, MetricsSnapshot, TimeWindow,
};
use crate::to_datafusion_error;

/// Everything one scan runs, decided by the table's `scan()`.
#[derive(Debug, Clone)]
pub struct ScanParams {
    /// Adapter name for EXPLAIN.
    pub adapter: &'static str,
    /// One engine per query, run one after the other in every partition.
    pub engines: Vec<(String, Engine)>,
    /// The time ranges of each partition (contiguous slices of the whole window).
    pub partitions: Vec<Vec<TimeWindow>>,
    /// For page/token APIs: the first cursor of the one sequence to run (then `partitions`
    /// is unused and the scan has one partition).
    pub sequence: Option<Cursor>,
    /// Initial window length.
    pub chunk: Duration,
    /// Extra `key=value` pairs for EXPLAIN (granularity, prefetch depth, ...).
    pub details: Vec<(&'static str, String)>,
    /// Column indices of the adapter schema to output.
    pub projection: Option<Vec<usize>>,
    /// Rows wanted, if the query has a LIMIT that reached the scan.
    pub limit: Option<usize>,
}

/// Streams API data; one output partition per slice of the time window.
#[derive(Debug)]
pub struct ApiScanExec {
    params: ScanParams,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ScanParams {
    fn partition_count(&self) -> usize {
        if self.sequence.is_some() {
            1
        } else {
            self.partitions.len().max(1)
        }
    }
}

impl ApiScanExec {
    /// A plan node over `params` producing `schema` (already projected).
    pub fn new(params: ScanParams, schema: SchemaRef) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(params.partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            params,
            schema,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The parameters pushed into this scan.
    pub fn params(&self) -> &ScanParams {
        &self.params
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        let whole: Vec<TimeWindow> = self.params.partitions.iter().flatten().copied().collect();
        let mut out = vec![
            ("adapter", self.params.adapter.to_string()),
            (
                "query",
                format!(
                    "[{}]",
                    self.params
                        .engines
                        .iter()
                        .map(|(q, _)| q.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        ];
        match &self.params.sequence {
            Some(first) => out.push(("start", first.to_string())),
            None => out.push(("window", format_ms_range(&whole))),
        }
        out.extend(self.params.details.iter().cloned());
        if self.params.sequence.is_none() {
            out.push(("chunk", format_duration(self.params.chunk)));
        }
        out.push(("partitions", self.params.partition_count().to_string()));
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        out.push(("projection", format!("[{}]", names.join(", "))));
        out.push((
            "limit",
            self.params
                .limit
                .map_or_else(|| "None".to_string(), |l| l.to_string()),
        ));
        out
    }
}

impl DisplayAs for ApiScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "ApiScanExec:")?;
                for (k, v) in self.fields() {
                    write!(f, " {k}={v}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                for (k, v) in self.fields() {
                    writeln!(f, "{k}={v}")?;
                }
                Ok(())
            }
        }
    }
}

impl ExecutionPlan for ApiScanExec {
    fn name(&self) -> &str {
        "ApiScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DFResult<TreeNodeRecursion>,
    ) -> DFResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        // A leaf: there are no children to replace.
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        let ranges = self
            .params
            .partitions
            .get(partition)
            .cloned()
            .unwrap_or_default();
        let batch_size = context.session_config().batch_size();
        let shared = Arc::new(EngineMetrics::default());
        let plan = match &self.params.sequence {
            Some(first) => FetchPlan::Sequence {
                first: first.clone(),
            },
            None => FetchPlan::Windows {
                ranges,
                chunk: self.params.chunk,
            },
        };
        let limit = self.params.limit;
        // Streams are lazy: nothing is sent until the previous query's stream is exhausted.
        let streams: Vec<_> = self
            .params
            .engines
            .iter()
            .map(|(_, engine)| {
                engine
                    .clone()
                    .with_batch_size(batch_size)
                    .with_metrics(Arc::clone(&shared))
                    .stream_with_limit(plan.clone(), limit)
            })
            .collect();
        // The whole range of this partition times the queries: progress = done / total.
        let total_ms: i64 = self
            .params
            .partitions
            .get(partition)
            .into_iter()
            .flatten()
            .map(TimeWindow::len_ms)
            .sum();
        MetricBuilder::new(&self.metrics)
            .counter("range_total_ms", partition)
            .add(total_ms as usize * self.params.engines.len());
        let mut publisher = MetricsPublisher::new(&self.metrics, partition, shared);
        let projection = self.params.projection.clone();
        let stream = futures::stream::iter(streams).flatten().map(move |item| {
            publisher.publish();
            let batch = item.map_err(to_datafusion_error)?;
            match &projection {
                Some(p) => Ok(batch.project(p)?),
                None => Ok(batch),
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// Copies engine counters into DataFusion metrics as they grow.
struct MetricsPublisher {
    engine: Arc<EngineMetrics>,
    last: MetricsSnapshot,
    requests: Count,
    retries: Count,
    splits: Count,
    bytes: Count,
    output_rows: Count,
    throttled: Time,
    network_wait: Time,
    consumer_wait: Time,
    range_done_ms: Count,
}

impl MetricsPublisher {
    fn new(set: &ExecutionPlanMetricsSet, partition: usize, engine: Arc<EngineMetrics>) -> Self {
        let count = |name: &'static str| MetricBuilder::new(set).counter(name, partition);
        let time = |name: &'static str| MetricBuilder::new(set).subset_time(name, partition);
        Self {
            engine,
            last: MetricsSnapshot::default(),
            requests: count("requests"),
            retries: count("retries"),
            splits: count("splits"),
            bytes: count("bytes_received"),
            output_rows: MetricBuilder::new(set).output_rows(partition),
            throttled: time("throttled_time"),
            network_wait: time("network_wait_time"),
            consumer_wait: time("consumer_wait_time"),
            range_done_ms: count("range_done_ms"),
        }
    }

    fn publish(&mut self) {
        let now = self.engine.snapshot();
        let delta = |a: u64, b: u64| a.saturating_sub(b) as usize;
        self.requests.add(delta(now.requests, self.last.requests));
        self.retries.add(delta(now.retries, self.last.retries));
        self.splits.add(delta(now.splits, self.last.splits));
        self.bytes.add(delta(now.bytes, self.last.bytes));
        self.output_rows.add(delta(now.rows, self.last.rows));
        self.throttled
            .add_duration(now.throttled.saturating_sub(self.last.throttled));
        self.network_wait
            .add_duration(now.network_wait.saturating_sub(self.last.network_wait));
        self.consumer_wait
            .add_duration(now.consumer_wait.saturating_sub(self.last.consumer_wait));
        self.range_done_ms
            .add(delta(now.done_ms, self.last.done_ms));
        self.last = now;
    }
}

/// Splits `ranges` into at most `n` partitions of about equal total length, cutting only on
/// multiples of `align_ms`.
pub fn partition_ranges(ranges: &[TimeWindow], n: usize, align_ms: i64) -> Vec<Vec<TimeWindow>> {
    use crate::engine::cursor::floor_to;
    let total: i64 = ranges.iter().map(TimeWindow::len_ms).sum();
    if total == 0 {
        return vec![];
    }
    let n = n.max(1) as i64;
    // Cut points on the concatenated timeline, mapped back to instants and aligned down.
    let mut cuts: Vec<i64> = Vec::new();
    for i in 1..n {
        let mut offset = total * i / n;
        for r in ranges {
            if offset < r.len_ms() {
                let cut = floor_to(r.start_ms + offset, align_ms.max(1)).max(r.start_ms);
                if cuts.last().is_none_or(|last| cut > *last) {
                    cuts.push(cut);
                }
                break;
            }
            offset -= r.len_ms();
        }
    }
    let mut out: Vec<Vec<TimeWindow>> = vec![Vec::new()];
    let mut next_cut = cuts.iter().peekable();
    for r in ranges.iter().filter(|r| !r.is_empty()) {
        let mut start = r.start_ms;
        while start < r.end_ms {
            if next_cut.peek().is_some_and(|c| **c <= start) {
                next_cut.next();
                if !out.last().is_some_and(Vec::is_empty) {
                    out.push(Vec::new());
                }
                continue;
            }
            let end = next_cut.peek().map_or(r.end_ms, |c| (**c).min(r.end_ms));
            if let Some(part) = out.last_mut() {
                part.push(TimeWindow::new(start, end));
            }
            start = end;
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(parts: &[Vec<TimeWindow>]) -> i64 {
        parts.iter().flatten().map(TimeWindow::len_ms).sum()
    }

    #[test]
    fn partitions_cover_the_ranges_exactly_once() {
        let day = 86_400_000;
        let ranges = [TimeWindow::new(0, day)];
        let parts = partition_ranges(&ranges, 4, 60_000);
        assert_eq!(parts.len(), 4);
        assert_eq!(total(&parts), day);
        let flat: Vec<_> = parts.iter().flatten().collect();
        for pair in flat.windows(2) {
            assert_eq!(pair[0].end_ms, pair[1].start_ms);
            assert_eq!(pair[0].end_ms % 60_000, 0);
        }
        // Two disjoint ranges over three partitions.
        let ranges = [
            TimeWindow::new(0, 3_600_000),
            TimeWindow::new(7_200_000, 14_400_000),
        ];
        let parts = partition_ranges(&ranges, 3, 60_000);
        assert!(parts.len() <= 3);
        assert_eq!(total(&parts), 3_600_000 + 7_200_000);
        // Tiny range, many partitions.
        let parts = partition_ranges(&[TimeWindow::new(0, 120_000)], 8, 60_000);
        assert_eq!(total(&parts), 120_000);
        assert!(parts.len() <= 2);
        assert!(partition_ranges(&[], 4, 1).is_empty());
    }
}
