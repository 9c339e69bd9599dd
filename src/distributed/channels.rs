//! The coordinator's channels to its workers: one HTTP/2 connection per worker with keep-alive
//! pings and a connect timeout (a dead worker fails a query within seconds, not never), and
//! errors that name the worker and the slice of the time range its task was fetching.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_distributed::grpc::{create_worker_client, BoxCloneSyncChannel};
use datafusion_distributed::{
    ChannelResolver, CoordinatorToWorkerMsg, ExecuteTaskRequest, GetWorkerInfoRequest,
    GetWorkerInfoResponse, MaybeEncoded, SetPlanRequest, TaskKey, WorkerChannel,
    WorkerToCoordinatorMsg,
};
use futures::stream::BoxStream;
use futures::StreamExt;
use http::HeaderMap;
use tonic::transport::Channel;
use url::Url;

use crate::engine::{format_ms_range, TimeWindow};
use crate::sql::ApiScanExec;

/// How long connecting to a worker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 pings on every worker connection: a worker whose host vanished (no FIN, no RST) is
/// noticed after about `KEEP_ALIVE_INTERVAL + KEEP_ALIVE_TIMEOUT`.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// What each task of a running query fetches, for error messages: `stage 1, task 0 of 3,
/// fetching [2026-11-20T00:00:00Z, 2026-11-22T08:00:00Z)`.
type TaskNames = Arc<Mutex<HashMap<TaskKey, String>>>;

/// One channel per worker, reused by every request.
#[derive(Default)]
pub(super) struct KeepAliveChannels {
    channels: Mutex<HashMap<Url, BoxCloneSyncChannel>>,
    tasks: TaskNames,
}

#[async_trait]
impl ChannelResolver for KeepAliveChannels {
    async fn get_worker_client_for_url(&self, url: &Url) -> DFResult<Box<dyn WorkerChannel>> {
        let cached = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(url)
            .cloned();
        let channel = match cached {
            Some(channel) => channel,
            None => {
                let channel = connect(url).await?;
                self.channels
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(url.clone(), channel.clone());
                channel
            }
        };
        Ok(Box::new(NamedWorker {
            inner: create_worker_client(channel),
            url: url.clone(),
            tasks: Arc::clone(&self.tasks),
        }))
    }
}

async fn connect(url: &Url) -> DFResult<BoxCloneSyncChannel> {
    let channel = Channel::from_shared(url.to_string())
        .map_err(|e| DataFusionError::Plan(format!("'{url}' is not a worker address: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
        .connect()
        .await
        .map_err(|e| {
            DataFusionError::Execution(format!(
                "cannot reach the worker at {} ({}); start it with `ddstream worker --listen {}` or remove it from --workers",
                url.authority(),
                error_chain(&e),
                url.authority()
            ))
        })?;
    Ok(BoxCloneSyncChannel::new(channel))
}

/// `e` and its sources, joined with `: `.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A worker's client whose errors say which worker and task they come from.
struct NamedWorker {
    inner: Box<dyn WorkerChannel>,
    url: Url,
    tasks: TaskNames,
}

/// The gRPC status of a transport failure (the worker died, the connection broke), when `e` is
/// one; errors the worker itself raised arrive as the DataFusion errors they were.
fn transport_status(e: &DataFusionError) -> Option<&tonic::Status> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<tonic::Status>(),
        DataFusionError::Context(_, inner) => transport_status(inner),
        DataFusionError::Shared(inner) => transport_status(inner),
        _ => None,
    }
}

/// The slice of each `ApiScanExec` in task `task` of `plan`, as text.
fn slices_of(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>, task: usize) -> Vec<String> {
    let mut out = Vec::new();
    let _ = plan.apply(|node| {
        if let Some(scan) = node.downcast_ref::<ApiScanExec>() {
            if let Some(slices) = scan.tasks().and_then(|t| t.get(task)) {
                let whole: Vec<TimeWindow> = slices.iter().flatten().copied().collect();
                out.push(format!(
                    "{} {}",
                    scan.params().adapter,
                    format_ms_range(&whole)
                ));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// The name `coordinator_channel` gave `key`'s task, looked up when an error needs it (the
/// task's streams may be opened before its plan is set).
fn task_name(tasks: &TaskNames, key: &TaskKey) -> String {
    tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .cloned()
        .unwrap_or_else(|| format!("stage {}, task {}", key.stage_id, key.task_number))
}

impl NamedWorker {
    /// `e`, named after this worker and `key`'s task. A transport failure becomes one sentence
    /// (the gRPC status text of a broken connection is not for users); the worker's own errors
    /// keep their message.
    fn named(url: &Url, task: &str, e: DataFusionError) -> DataFusionError {
        let worker = url.authority();
        match transport_status(&e) {
            Some(status) => DataFusionError::Execution(format!(
                "the worker at {worker} was lost during the query ({task}): {}; check that it is running (the query is not retried on other workers)",
                status.message()
            )),
            // One sentence with the worker in it: a Context would be dropped by error printers
            // that show the root cause only.
            None => DataFusionError::Execution(format!(
                "on the worker at {worker} ({task}): {}",
                crate::one_line(&e)
            )),
        }
    }
}

#[async_trait]
impl WorkerChannel for NamedWorker {
    async fn coordinator_channel(
        &mut self,
        headers: HeaderMap,
        set_plan_request: SetPlanRequest,
        c2w_stream: BoxStream<'static, CoordinatorToWorkerMsg>,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> DFResult<BoxStream<'static, DFResult<WorkerToCoordinatorMsg>>> {
        let key = set_plan_request.task_key;
        let mut name = format!(
            "stage {}, task {} of {}",
            key.stage_id, key.task_number, set_plan_request.task_count
        );
        if let MaybeEncoded::Decoded(plan) = &set_plan_request.plan {
            let slices = slices_of(plan, key.task_number);
            if !slices.is_empty() {
                name.push_str(", fetching ");
                name.push_str(&slices.join(" and "));
            }
        }
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, name.clone());
        let url = self.url.clone();
        let stream = self
            .inner
            .coordinator_channel(headers, set_plan_request, c2w_stream, metrics, task_ctx)
            .await
            .map_err(|e| Self::named(&url, &name, e))?;
        Ok(stream
            .map(move |m| m.map_err(|e| Self::named(&url, &name, e)))
            .boxed())
    }

    async fn execute_task(
        &mut self,
        headers: HeaderMap,
        request: ExecuteTaskRequest,
        metrics: ExecutionPlanMetricsSet,
        task_ctx: &Arc<TaskContext>,
    ) -> DFResult<Vec<BoxStream<'static, DFResult<RecordBatch>>>> {
        let key = request.task_key;
        let url = self.url.clone();
        let tasks = Arc::clone(&self.tasks);
        let streams = self
            .inner
            .execute_task(headers, request, metrics, task_ctx)
            .await
            .map_err(|e| Self::named(&url, &task_name(&tasks, &key), e))?;
        Ok(streams
            .into_iter()
            .map(|s| {
                let (url, tasks) = (url.clone(), Arc::clone(&tasks));
                s.map(move |b| b.map_err(|e| Self::named(&url, &task_name(&tasks, &key), e)))
                    .boxed()
            })
            .collect())
    }

    async fn get_worker_info(
        &mut self,
        request: GetWorkerInfoRequest,
    ) -> DFResult<GetWorkerInfoResponse> {
        let url = self.url.clone();
        self.inner
            .get_worker_info(request)
            .await
            .map_err(|e| Self::named(&url, "worker info", e))
    }
}
