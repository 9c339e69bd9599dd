//! `ApiScanExec`: the streaming, partitioned plan node for every API table. `scan()` of a table
//! decides the parameters (engines per query, time windows per partition, projection, limit);
//! this node only runs them and shows them in EXPLAIN. Engine counters become DataFusion metrics
//! for EXPLAIN ANALYZE.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
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

use super::config::values::format_duration;
use super::origin::ScanOrigin;
use crate::engine::{
    format_ms_range, Cursor, Engine, EngineMetrics, FetchPlan, MetricsSnapshot, TimeWindow,
};
use crate::to_datafusion_error;

/// What a scan walks: time windows cut into partitions, or one page/token sequence.
#[derive(Debug, Clone)]
pub enum ScanShape {
    /// Contiguous slices of the time range, one per output partition, each cut into windows
    /// that start at `chunk` long and adapt to the API.
    Windows {
        /// The time ranges of each partition.
        partitions: Vec<Vec<TimeWindow>>,
        /// Initial window length.
        chunk: Duration,
        /// Where the range may be cut into slices (for partitions and distributed tasks).
        grid: SliceGrid,
    },
    /// One sequence of pages or tokens from `first`, in one partition.
    Sequence {
        /// The first cursor.
        first: Cursor,
    },
}

/// Where a time range may be cut: on multiples of `align_ms` (the granularity) that are a whole
/// number of `step_ms` (the window length) from the start of a range, so that no window is
/// split into two requests (see [`partition_on_windows`]).
///
/// [`partition_on_windows`]: super::config::window::partition_on_windows
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceGrid {
    /// Cuts fall on multiples of this (epoch ms).
    pub align_ms: i64,
    /// The window length.
    pub step_ms: i64,
}

/// The time ranges of each partition of each distributed task: `[task][partition]`.
pub type TaskSlices = Vec<Vec<Vec<TimeWindow>>>;

/// Everything one scan runs, decided by the table's `scan()`.
#[derive(Debug, Clone)]
pub struct ScanParams {
    /// Adapter name for EXPLAIN.
    pub adapter: &'static str,
    /// One engine per query, run one after the other in every partition.
    pub engines: Vec<(String, Engine)>,
    /// Windows or a sequence.
    pub shape: ScanShape,
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
    /// What the scan was made from, when it can be made again elsewhere (distributed plans).
    origin: Option<Arc<ScanOrigin>>,
    /// The slices of each distributed task, once the range is split across tasks; partition
    /// `p` of task `t` then reads `tasks[t][p]`.
    tasks: Option<Arc<TaskSlices>>,
}

impl ScanParams {
    fn partition_count(&self) -> usize {
        match &self.shape {
            ScanShape::Windows { partitions, .. } => partitions.len().max(1),
            ScanShape::Sequence { .. } => 1,
        }
    }

    /// The time ranges of `partition` (none for a sequence).
    fn ranges(&self, partition: usize) -> &[TimeWindow] {
        match &self.shape {
            ScanShape::Windows { partitions, .. } => {
                partitions.get(partition).map_or(&[], Vec::as_slice)
            }
            ScanShape::Sequence { .. } => &[],
        }
    }
}

fn properties_of(schema: &SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(Arc::clone(schema)),
        Partitioning::UnknownPartitioning(partitions),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}

impl ApiScanExec {
    /// A plan node over `params` producing `schema` (already projected).
    pub fn new(params: ScanParams, schema: SchemaRef) -> Self {
        let properties = properties_of(&schema, params.partition_count());
        Self {
            params,
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
            origin: None,
            tasks: None,
        }
    }

    /// The same scan, remembering what it was made from.
    pub fn with_origin(mut self, origin: ScanOrigin) -> Self {
        self.origin = Some(Arc::new(origin));
        self
    }

    /// What the scan was made from, if it can be made again in another process.
    pub fn origin(&self) -> Option<&Arc<ScanOrigin>> {
        self.origin.as_ref()
    }

    /// The parameters pushed into this scan.
    pub fn params(&self) -> &ScanParams {
        &self.params
    }

    /// The per-task slices, once split across distributed tasks.
    pub fn tasks(&self) -> Option<&TaskSlices> {
        self.tasks.as_deref()
    }

    /// The same scan with its time range cut into `task_count` contiguous, grid-aligned pieces,
    /// each cut again into as many partitions as the scan has (so each task runs as many
    /// request streams as one process did); `None` for page/token sequences and ranges too short
    /// to cut. Every window is fetched by exactly one task.
    pub fn split_across(&self, task_count: usize) -> Option<ApiScanExec> {
        let ScanShape::Windows {
            partitions, grid, ..
        } = &self.params.shape
        else {
            return None;
        };
        let whole: Vec<TimeWindow> = partitions.iter().flatten().copied().collect();
        let per_task = partitions.len().max(1);
        let slices = super::config::window::partition_on_windows(
            &whole,
            task_count * per_task,
            grid.align_ms,
            grid.step_ms,
        );
        let tasks = deal_slices(slices, task_count);
        if tasks
            .iter()
            .filter(|t| t.iter().any(|p| !p.is_empty()))
            .count()
            < 2
        {
            return None;
        }
        let partitions = tasks.first().map_or(1, Vec::len);
        Some(Self {
            params: self.params.clone(),
            schema: Arc::clone(&self.schema),
            properties: properties_of(&self.schema, partitions),
            metrics: ExecutionPlanMetricsSet::new(),
            origin: self.origin.clone(),
            tasks: Some(Arc::new(tasks)),
        })
    }

    /// This scan with `tasks` as its per-task slices (a decoded plan's).
    pub fn with_tasks(mut self, tasks: Option<TaskSlices>) -> Self {
        if let Some(tasks) = &tasks {
            let partitions = tasks.first().map_or(1, Vec::len);
            self.properties = properties_of(&self.schema, partitions);
        }
        self.tasks = tasks.map(Arc::new);
        self
    }

    /// The ranges partition `partition` reads in task `task` of `task_count`; `None` when this
    /// task has no part in the scan (an unsplit scan runs only in task 0, so a stage of several
    /// tasks cannot fetch it twice).
    fn ranges_of(&self, task: usize, task_count: usize, partition: usize) -> Option<&[TimeWindow]> {
        match &self.tasks {
            Some(tasks) => tasks
                .get(task)
                .map(|t| t.get(partition).map_or(&[][..], Vec::as_slice)),
            None if task_count > 1 && task > 0 => None,
            None => Some(self.params.ranges(partition)),
        }
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
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
        match &self.params.shape {
            ScanShape::Sequence { first } => out.push(("start", first.to_string())),
            ScanShape::Windows { partitions, .. } => {
                let whole: Vec<TimeWindow> = partitions.iter().flatten().copied().collect();
                out.push(("window", format_ms_range(&whole)));
            }
        }
        out.extend(self.params.details.iter().cloned());
        if let ScanShape::Windows { chunk, .. } = &self.params.shape {
            out.push(("chunk", format_duration(*chunk)));
        }
        match &self.tasks {
            Some(tasks) => {
                let each: Vec<String> = tasks
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let whole: Vec<TimeWindow> = t.iter().flatten().copied().collect();
                        format!("t{i}:{}", format_ms_range(&whole))
                    })
                    .collect();
                out.push(("tasks", format!("[{}]", each.join(", "))));
                out.push((
                    "partitions",
                    format!("{} per task", tasks.first().map_or(0, Vec::len)),
                ));
            }
            None => out.push(("partitions", self.params.partition_count().to_string())),
        }
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

/// A leaf plan's `key=value` fields, on one line after its name (default, verbose) or one per
/// line (tree render); shared by every scan node of the crate.
pub(crate) fn fmt_leaf(
    name: &str,
    fields: &[(&'static str, String)],
    t: DisplayFormatType,
    f: &mut fmt::Formatter,
) -> fmt::Result {
    match t {
        DisplayFormatType::Default | DisplayFormatType::Verbose => {
            write!(f, "{name}:")?;
            for (k, v) in fields {
                write!(f, " {k}={v}")?;
            }
            Ok(())
        }
        DisplayFormatType::TreeRender => {
            for (k, v) in fields {
                writeln!(f, "{k}={v}")?;
            }
            Ok(())
        }
    }
}

impl DisplayAs for ApiScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        fmt_leaf("ApiScanExec", &self.fields(), t, f)
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
        let (task, task_count) = task_of(&context);
        if self.tasks.as_ref().is_some_and(|t| task >= t.len()) {
            return Err(datafusion::error::DataFusionError::Execution(format!(
                "ApiScanExec: task {task} of a scan split into {} tasks",
                self.tasks.as_ref().map_or(0, |t| t.len())
            )));
        }
        let Some(ranges) = self.ranges_of(task, task_count, partition) else {
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.schema),
                futures::stream::empty(),
            )));
        };
        let batch_size = context.session_config().batch_size();
        let shared = Arc::new(EngineMetrics::default());
        let plan = match &self.params.shape {
            ScanShape::Sequence { first } => FetchPlan::Sequence {
                first: first.clone(),
            },
            ScanShape::Windows { chunk, .. } => FetchPlan::Windows {
                ranges: ranges.to_vec(),
                chunk: *chunk,
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
        let total_ms: i64 = ranges.iter().map(TimeWindow::len_ms).sum();
        MetricBuilder::new(&self.metrics)
            .counter("range_total_ms", partition)
            .add(total_ms as usize * self.params.engines.len());
        let publisher = MetricsPublisher::new(&self.metrics, partition, shared);
        let projection = self.params.projection.clone();
        let batches = futures::stream::iter(streams).flatten().map(move |item| {
            let batch = item.map_err(to_datafusion_error)?;
            match &projection {
                Some(p) => Ok(batch.project(p)?),
                None => Ok(batch),
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            Publishing {
                inner: Box::pin(batches),
                publisher,
            },
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// This task's index and the task count of its stage (0 of 1 outside distributed plans).
fn task_of(context: &Arc<TaskContext>) -> (usize, usize) {
    // Read from datafusion-distributed directly, not through crate::distributed, which sits
    // above this layer (its codec and task split call into scans).
    #[cfg(feature = "distributed")]
    {
        let task = datafusion_distributed::DistributedTaskContext::from_ctx(context);
        (task.task_index, task.task_count.max(1))
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = context;
        (0, 1)
    }
}

/// Deals `slices` (in time order) to `task_count` tasks in contiguous runs of about equal
/// length, every task with the same number of partitions (empty ones where it has fewer).
fn deal_slices(slices: Vec<Vec<TimeWindow>>, task_count: usize) -> TaskSlices {
    let task_count = task_count.max(1);
    let n = slices.len();
    let mut tasks: TaskSlices = Vec::with_capacity(task_count);
    let mut iter = slices.into_iter();
    for t in 0..task_count {
        let take = (t + 1) * n / task_count - t * n / task_count;
        tasks.push(iter.by_ref().take(take).collect());
    }
    let width = tasks.iter().map(Vec::len).max().unwrap_or(0).max(1);
    for t in &mut tasks {
        t.resize(width, Vec::new());
    }
    tasks
}

/// A partition's batches, publishing the engine counters with each batch, when the partition
/// ends, and when it is dropped early (a LIMIT, a cancelled query): the requests that brought
/// no rows (the last empty page, a failed window) count too.
struct Publishing {
    inner: futures::stream::BoxStream<'static, DFResult<RecordBatch>>,
    publisher: MetricsPublisher,
}

impl futures::Stream for Publishing {
    type Item = DFResult<RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        if polled.is_ready() {
            self.publisher.publish();
        }
        polled
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        self.publisher.publish();
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

/// The engine counters of every [`ApiScanExec`] in a running plan, summed: what progress bars
/// and the embedding surface's metrics read while batches flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanTotals {
    /// Milliseconds of the time range fetched so far.
    pub range_done_ms: u64,
    /// Milliseconds of the whole time range (0 for page and token sequences).
    pub range_total_ms: u64,
    /// HTTP requests sent.
    pub requests: u64,
    /// Requests retried.
    pub retries: u64,
    /// Windows split because the API refused or rolled them up.
    pub splits: u64,
    /// Response bytes received.
    pub bytes_received: u64,
    /// Rows produced by the scans.
    pub rows: u64,
    /// Time spent waiting on rate limits, in nanoseconds.
    pub throttled_ns: u64,
    /// Time spent waiting on the network, in nanoseconds.
    pub network_wait_ns: u64,
    /// Time batches waited for the consumer, in nanoseconds.
    pub consumer_wait_ns: u64,
}

impl ScanTotals {
    /// The totals of every `ApiScanExec` in `plan`.
    pub fn of(plan: &dyn ExecutionPlan) -> ScanTotals {
        let mut totals = ScanTotals::default();
        totals.add_plan(plan);
        totals
    }

    fn add_plan(&mut self, plan: &dyn ExecutionPlan) {
        if plan.is::<ApiScanExec>() {
            if let Some(m) = plan.metrics() {
                let get = |name: &str| m.sum_by_name(name).map_or(0, |v| v.as_usize() as u64);
                self.range_done_ms += get("range_done_ms");
                self.range_total_ms += get("range_total_ms");
                self.requests += get("requests");
                self.retries += get("retries");
                self.splits += get("splits");
                self.bytes_received += get("bytes_received");
                // `sum_by_name` skips DataFusion's own OutputRows metric; it has its getter.
                self.rows += m.output_rows().map_or(0, |v| v as u64);
                self.throttled_ns += get("throttled_time");
                self.network_wait_ns += get("network_wait_time");
                self.consumer_wait_ns += get("consumer_wait_time");
            }
        }
        for child in plan.children() {
            self.add_plan(child.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;

    const H: i64 = 3_600_000;

    fn scan(partitions: Vec<Vec<TimeWindow>>, step_ms: i64) -> ApiScanExec {
        let params = ScanParams {
            adapter: "t",
            engines: vec![],
            shape: ScanShape::Windows {
                partitions,
                chunk: Duration::from_millis(step_ms as u64),
                grid: SliceGrid {
                    align_ms: 60_000,
                    step_ms,
                },
            },
            details: vec![],
            projection: None,
            limit: None,
        };
        ApiScanExec::new(params, Arc::new(Schema::empty()))
    }

    /// Every window of `step` in `[0, end)` exactly once, in order, across tasks.
    fn windows_of(tasks: &TaskSlices, step: i64) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for ranges in tasks.iter().flatten() {
            for r in ranges {
                let mut s = r.start_ms;
                while s < r.end_ms {
                    out.push((s, (s + step).min(r.end_ms)));
                    s += step;
                }
            }
        }
        out
    }

    #[test]
    fn a_week_split_over_three_tasks_fetches_each_window_once_on_window_edges() {
        let week = vec![vec![TimeWindow::new(0, 42 * 4 * H)]];
        let split = scan(week, 4 * H).split_across(3).unwrap();
        let tasks = split.tasks().unwrap();
        assert_eq!(tasks.len(), 3);
        // One partition per task, as the scan had; 14 windows each.
        for t in tasks {
            assert_eq!(t.len(), 1);
            let len: i64 = t.iter().flatten().map(TimeWindow::len_ms).sum();
            assert_eq!(len, 14 * 4 * H);
        }
        let want: Vec<(i64, i64)> = (0..42).map(|i| (i * 4 * H, (i + 1) * 4 * H)).collect();
        assert_eq!(windows_of(tasks, 4 * H), want);
        assert_eq!(split.properties().partitioning.partition_count(), 1);
    }

    #[test]
    fn uneven_and_short_ranges_keep_every_task_the_same_partition_count() {
        // 5 windows over 2 tasks of 4 partitions: 3 and 2 slices, padded with empty ones.
        let five = vec![
            vec![TimeWindow::new(0, 2 * H)],
            vec![TimeWindow::new(2 * H, 5 * H)],
        ];
        let split = scan(five, H).split_across(2).unwrap();
        let tasks = split.tasks().unwrap();
        assert!(tasks.iter().all(|t| t.len() == tasks[0].len()));
        let want: Vec<(i64, i64)> = (0..5).map(|i| (i * H, (i + 1) * H)).collect();
        assert_eq!(windows_of(tasks, H), want);
        // One window cannot be cut: the scan stays whole.
        assert!(scan(vec![vec![TimeWindow::new(0, H)]], H)
            .split_across(3)
            .is_none());
    }

    #[test]
    fn deal_slices_gives_contiguous_runs() {
        let slices: Vec<Vec<TimeWindow>> = (0..7)
            .map(|i| vec![TimeWindow::new(i * H, (i + 1) * H)])
            .collect();
        let tasks = deal_slices(slices, 3);
        let lens: Vec<usize> = tasks
            .iter()
            .map(|t| t.iter().filter(|p| !p.is_empty()).count())
            .collect();
        assert_eq!(lens, [2, 2, 3]);
        assert!(tasks.iter().all(|t| t.len() == 3));
    }

    #[test]
    fn an_unsplit_scan_runs_only_in_the_first_of_several_tasks() {
        let whole = scan(vec![vec![TimeWindow::new(0, 2 * H)]], H);
        assert!(whole.ranges_of(0, 3, 0).is_some());
        assert!(whole.ranges_of(1, 3, 0).is_none());
        assert!(whole.ranges_of(2, 3, 0).is_none());
        let split = scan(vec![vec![TimeWindow::new(0, 2 * H)]], H)
            .split_across(2)
            .unwrap();
        assert_eq!(
            split.ranges_of(1, 2, 0),
            Some(&[TimeWindow::new(H, 2 * H)][..])
        );
    }
}
