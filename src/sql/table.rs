//! [`ApiTable`]: the one `TableProvider` of every API table, over a vendor's [`TableSpec`].
//!
//! The table does what is the same for every vendor: it classifies filters for DataFusion,
//! turns them into [`PushedFilters`], reads `now` and the target partitions from the session,
//! binds the spec's adapters to a policy and the transport, and hands an [`ApiScanExec`] the
//! engines. The spec says what differs: its schema, which columns push down and how exactly,
//! and which requests (adapters and windows or a page sequence) answer the pushed filters.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::ExecutionPlan;

use super::config::values::format_duration;
use super::config::{DdstreamOptions, FetchSettings};
use super::filters::{push_down, query_set, time_ranges, PushedFilters};
use super::origin::{RollupPart, ScanInputs, ScanOrigin, TableOrigin};
use super::rollup::{RollupHint, RollupSupport};
use super::scan::{ApiScanExec, ScanParams, ScanShape};
use crate::engine::Transport;
use crate::engine::{format_ms_range, DefaultPolicy, Engine, VendorAdapter};
use crate::{to_datafusion_error, Error, Result};

/// What one scan asks of a spec: the pushed filters, the projection and the session's view.
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest<'a> {
    /// The filters the table accepted, combined.
    pub pushed: &'a PushedFilters,
    /// Column indices of the spec's schema to output.
    pub projection: Option<&'a [usize]>,
    /// The query's start time (DataFusion's `now()`), epoch ms.
    pub now_ms: i64,
    /// `datafusion.execution.target_partitions`.
    pub target_partitions: usize,
}

/// The requests that answer one scan.
#[derive(Debug)]
pub struct SpecScan {
    /// One adapter per query to run, with its EXPLAIN label.
    pub adapters: Vec<(String, Arc<dyn VendorAdapter>)>,
    /// Retries, prefetch, window bounds.
    pub policy: DefaultPolicy,
    /// Windows per partition, or a page/token sequence.
    pub shape: ScanShape,
    /// EXPLAIN fields beyond the plan's own.
    pub details: Vec<(&'static str, String)>,
}

/// A vendor's table: everything [`ApiTable`] needs to know about one API.
pub trait TableSpec: Send + Sync + fmt::Debug + 'static {
    /// The adapter name (`datadog_v1`, `page_api`, ...), for EXPLAIN and errors.
    fn adapter_name(&self) -> &'static str;

    /// The table's columns.
    fn schema(&self) -> SchemaRef;

    /// The column whose comparisons push down as time ranges, if any.
    fn time_column(&self) -> Option<&str>;

    /// How exactly the scan applies a pushed time filter: `Exact` when the rows are trimmed
    /// to the ranges, `Inexact` when the API gets a hull and DataFusion filters on top.
    fn time_pushdown(&self) -> TableProviderFilterPushDown {
        TableProviderFilterPushDown::Exact
    }

    /// String columns whose `=`/`IN` filters choose what to request (applied exactly).
    fn string_columns(&self) -> &[&'static str] {
        &[]
    }

    /// The fetch settings (timeouts, retries, prefetch).
    fn fetch(&self) -> &FetchSettings;

    /// The range scanned when no time filter bounds the start, if the spec has one (time-window
    /// APIs); a time filter that cannot be pushed down then gets a warning, since the scan
    /// reads only that range.
    fn default_range(&self) -> Option<std::time::Duration> {
        None
    }

    /// The requests for a scan; `None` when nothing can match (an empty or inverted range,
    /// string filters no query passes): the scan is then empty and sends nothing.
    fn plan(&self, request: &ScanRequest<'_>) -> Result<Option<SpecScan>>;

    /// Which server-side rollups the API serves, for the rollup pushdown rule; `None` (the
    /// default) when it has none.
    fn rollup_support(&self) -> Option<RollupSupport> {
        None
    }

    /// The requests for a scan whose rows are rolled up as `hint` says, the scans to run one
    /// after the other (none: nothing can match); `None` when these requests cannot be rolled
    /// up (the plain [`plan`](Self::plan) is then used, and the plan's aggregate gives the
    /// same results from the table's own rows).
    fn plan_rollup(
        &self,
        request: &ScanRequest<'_>,
        hint: &RollupHint,
    ) -> Result<Option<Vec<SpecScan>>> {
        let _ = (request, hint);
        Ok(None)
    }
}

/// An API as a SQL table: a [`TableSpec`] and the transport its requests go through.
#[derive(Debug, Clone)]
pub struct ApiTable {
    spec: Arc<dyn TableSpec>,
    transport: Arc<dyn Transport>,
    /// Set by the rollup pushdown rule on the one scan it rewrote.
    rollup: Option<RollupHint>,
    /// How the table was built, when it came from a registered vendor: its scans can then be
    /// made again in another process (distributed plans).
    origin: Option<Arc<TableOrigin>>,
}

impl ApiTable {
    /// A table over `spec`; a new HTTP client with the spec's timeouts unless `transport` is
    /// given (tests, shared pools).
    pub fn new(spec: Arc<dyn TableSpec>, transport: Option<Arc<dyn Transport>>) -> Result<Self> {
        let transport = spec.fetch().transport(transport)?;
        Ok(Self {
            spec,
            transport,
            rollup: None,
            origin: None,
        })
    }

    /// The same table, remembering how it was built.
    pub fn with_origin(mut self, origin: TableOrigin) -> Self {
        self.origin = Some(Arc::new(origin));
        self
    }

    /// How the table was built, if it came from a registered vendor.
    pub fn origin(&self) -> Option<&Arc<TableOrigin>> {
        self.origin.as_ref()
    }

    /// The scan `inputs` describe, planned again (in a worker, from a decoded plan): the same
    /// requests as the scan they were taken from, given the same table options.
    pub fn rebuild_scan(&self, inputs: &ScanInputs) -> Result<ApiScanExec> {
        let schema = self.spec.schema();
        let projected = match &inputs.projection {
            Some(p) => Arc::new(
                schema
                    .project(p)
                    .map_err(|e| Error::config(e.to_string()))?,
            ),
            None => schema,
        };
        let request = ScanRequest {
            pushed: &inputs.pushed,
            projection: inputs.projection.as_deref(),
            now_ms: inputs.now_ms,
            target_partitions: inputs.target_partitions,
        };
        let planned = match &inputs.rollup {
            Some(part) => self
                .spec
                .plan_rollup(&request, &part.hint)?
                .and_then(|scans| {
                    scans
                        .into_iter()
                        .filter(|s| !s.adapters.is_empty())
                        .nth(part.index)
                }),
            None => self.spec.plan(&request)?,
        };
        let mut scan = planned.filter(|s| !s.adapters.is_empty()).ok_or_else(|| {
            Error::config(format!(
                "{}: this process plans no requests for a scan the coordinator planned; run the same ddstream version with the same table options on the coordinator and every worker",
                self.spec.adapter_name()
            ))
        })?;
        if let Some(unpushed) = &inputs.unpushed {
            scan.details
                .push(("unpushed_time_filters", unpushed.clone()));
        }
        Ok(self.exec_of(scan, inputs.clone(), projected))
    }

    /// The same table, scanned rolled up as `hint` says (the rollup pushdown rule's rewrite).
    pub fn with_rollup(&self, hint: RollupHint) -> Self {
        Self {
            rollup: Some(hint),
            ..self.clone()
        }
    }

    /// The rollup this table's scans ask for, if the rule set one.
    pub fn rollup(&self) -> Option<&RollupHint> {
        self.rollup.as_ref()
    }

    /// The vendor's spec.
    pub fn spec(&self) -> &Arc<dyn TableSpec> {
        &self.spec
    }

    /// The transport requests go through.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    fn pushdown_of(&self, filter: &Expr) -> TableProviderFilterPushDown {
        if let Some(column) = self.spec.time_column() {
            if time_ranges(filter, column).is_some() {
                return self.spec.time_pushdown();
            }
            if self.spec.default_range().is_some() && mentions(filter, column) {
                // Not a range, but the scan must see it to say the default range was used;
                // DataFusion keeps applying it.
                return TableProviderFilterPushDown::Inexact;
            }
        }
        if self
            .spec
            .string_columns()
            .iter()
            .any(|c| query_set(filter, c).is_some())
        {
            return TableProviderFilterPushDown::Exact;
        }
        TableProviderFilterPushDown::Unsupported
    }
}

impl ApiTable {
    /// The filters on the time column that did not become a range, when the start of the
    /// scanned range then comes from the default range.
    fn unpushed_time_filters<'a>(
        &self,
        filters: &'a [Expr],
        pushed: &PushedFilters,
    ) -> Vec<&'a Expr> {
        let Some(column) = self.spec.time_column() else {
            return vec![];
        };
        let open_start = pushed
            .time
            .as_ref()
            .is_none_or(|t| t.0.first().is_some_and(|r| r.0 == i64::MIN));
        if self.spec.default_range().is_none() || !open_start {
            return vec![];
        }
        filters
            .iter()
            .filter(|f| mentions(f, column) && time_ranges(f, column).is_none())
            .collect()
    }

    fn unpushed_message(&self, unpushed: &[&Expr], shape: &ScanShape) -> String {
        let column = self.spec.time_column().unwrap_or("ts");
        let scanned = match shape {
            ScanShape::Windows { partitions, .. } => {
                let whole: Vec<_> = partitions.iter().flatten().copied().collect();
                format_ms_range(&whole)
            }
            ScanShape::Sequence { .. } => "the first pages".to_string(),
        };
        let filters: Vec<String> = unpushed
            .iter()
            .map(|f| f.human_display().to_string())
            .collect();
        format!(
            "{}: the filter {} on {column} cannot be sent to the API as a time range, so only {scanned} (the default_range of {}) is scanned; write it as comparisons of {column} (e.g. {column} >= TIMESTAMP '2026-11-30T00:00:00Z' AND {column} < TIMESTAMP '2026-12-01T00:00:00Z') or raise default_range",
            self.spec.adapter_name(),
            filters.join(" AND "),
            format_duration(self.spec.default_range().unwrap_or_default())
        )
    }
}

/// Whether `filter` reads `column`.
fn mentions(filter: &Expr, column: &str) -> bool {
    filter.column_refs().iter().any(|c| c.name == column)
}

#[async_trait]
impl TableProvider for ApiTable {
    fn schema(&self) -> SchemaRef {
        self.spec.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters.iter().map(|f| self.pushdown_of(f)).collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let schema = self.spec.schema();
        let projected = match projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema,
        };
        let pushed = push_down(filters, self.spec.time_column(), self.spec.string_columns());
        let now_ms = state
            .execution_props()
            .query_execution_start_time
            .unwrap_or_else(chrono::Utc::now)
            .timestamp_millis();
        let request = ScanRequest {
            pushed: &pushed,
            projection: projection.map(Vec::as_slice),
            now_ms,
            target_partitions: state.config().target_partitions(),
        };
        let inputs = ScanInputs {
            pushed: pushed.clone(),
            projection: projection.cloned(),
            limit,
            now_ms,
            target_partitions: request.target_partitions,
            rollup: None,
            unpushed: None,
        };
        if let Some(hint) = &self.rollup {
            let rolled = self
                .spec
                .plan_rollup(&request, hint)
                .map_err(to_datafusion_error)?;
            if let Some(scans) = rolled {
                let execs: Vec<Arc<dyn ExecutionPlan>> = scans
                    .into_iter()
                    .filter(|s| !s.adapters.is_empty())
                    .enumerate()
                    .map(|(index, s)| {
                        let inputs = ScanInputs {
                            rollup: Some(RollupPart {
                                hint: hint.clone(),
                                index,
                            }),
                            ..inputs.clone()
                        };
                        self.exec(s, inputs, Arc::clone(&projected))
                    })
                    .collect();
                return match execs.len() {
                    0 => Ok(Arc::new(EmptyExec::new(projected))),
                    _ => UnionExec::try_new(execs),
                };
            }
        }
        let planned = self.spec.plan(&request).map_err(to_datafusion_error)?;
        let mut inputs = inputs;
        let Some(mut scan) = planned.filter(|s| !s.adapters.is_empty() && limit != Some(0)) else {
            // Nothing can match: no rows, no request.
            return Ok(Arc::new(EmptyExec::new(projected)));
        };
        let unpushed = self.unpushed_time_filters(filters, &pushed);
        if !unpushed.is_empty() {
            let strict = state
                .config_options()
                .extensions
                .get::<DdstreamOptions>()
                .is_some_and(|o| o.strict_time_filters);
            let message = self.unpushed_message(&unpushed, &scan.shape);
            if strict {
                return Err(to_datafusion_error(Error::config(format!(
                    "{message}; SET ddstream.strict_time_filters = false to run it anyway"
                ))));
            }
            tracing::warn!("{message}");
            let shown = format!(
                "[{}]",
                unpushed
                    .iter()
                    .map(|f| f.human_display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            scan.details.push(("unpushed_time_filters", shown.clone()));
            inputs.unpushed = Some(shown);
        }
        Ok(self.exec(scan, inputs, projected))
    }
}

impl ApiTable {
    /// The plan node running `scan`.
    fn exec(
        &self,
        scan: SpecScan,
        inputs: ScanInputs,
        projected: SchemaRef,
    ) -> Arc<dyn ExecutionPlan> {
        Arc::new(self.exec_of(scan, inputs, projected))
    }

    /// [`exec`](Self::exec), unboxed.
    fn exec_of(&self, scan: SpecScan, inputs: ScanInputs, projected: SchemaRef) -> ApiScanExec {
        let policy = Arc::new(scan.policy);
        let engines = scan
            .adapters
            .into_iter()
            .map(|(label, adapter)| {
                let engine = Engine::new(adapter, policy.clone(), Arc::clone(&self.transport));
                (label, engine)
            })
            .collect();
        let params = ScanParams {
            adapter: self.spec.adapter_name(),
            engines,
            shape: scan.shape,
            details: scan.details,
            projection: inputs.projection.clone(),
            limit: inputs.limit,
        };
        let exec = ApiScanExec::new(params, projected);
        match &self.origin {
            Some(table) => exec.with_origin(ScanOrigin {
                table: Arc::clone(table),
                inputs,
            }),
            None => exec,
        }
    }
}
