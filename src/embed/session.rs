//! [`Session`]: a DataFusion session with the whole SQL surface of the CLI (`STORED AS`, the
//! table functions, the downsampling functions, `SET ddstream.*`) on the shared runtime, made
//! from one JSON document, and [`QueryStream`], the streamed result of its last statement.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatchReader;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use serde_json::{Map, Value};

use super::exec::Execution;
use super::{block_on, known_vendor, EmbedError, ErrorKind};
use crate::simulator::{Simulator, SimulatorSpec};
use crate::sql::{register_sql_surface, register_with, DatadogKind, TableDefaults};

const KEYS: &str = "tables, simulate, simulator, settings";

/// A SQL session. `Send + Sync`; [`sql`](Self::sql) blocks the calling thread.
pub struct Session {
    ctx: SessionContext,
    defaults: TableDefaults,
    simulator: Option<Arc<Simulator>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("simulator", &self.simulator_base_url())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session from `{"tables": {"cpu": {"adapter": "datadog_v1", "query": "...", ...}},
    /// "simulate": true, "simulator": {<simulator settings>}, "settings": {"ddstream.max_range":
    /// "2h"}}`, every key optional (empty text = `{}`). With `simulate` (or a `simulator`
    /// object) a simulator starts, every Datadog table goes to it with no keys, and the tables
    /// `datadog_v1`, `datadog_v2_timeseries` and `datadog_v2_scalar` exist as with the CLI's
    /// `--simulate`.
    pub fn from_json(session_config_json: &str) -> Result<Session, EmbedError> {
        let text = session_config_json.trim();
        let config: Map<String, Value> = if text.is_empty() {
            Map::new()
        } else {
            serde_json::from_str(text).map_err(|e| {
                EmbedError::config(format!(
                    "the session config is not a JSON object ({e}); expected e.g. {{\"simulate\": true, \"tables\": {{\"cpu\": {{\"adapter\": \"datadog_v1\", \"query\": \"system.cpu.user{{*}}\"}}}}}}"
                ))
            })?
        };
        if let Some(unknown) = config.keys().find(|k| !KEYS.split(", ").any(|a| a == *k)) {
            return Err(EmbedError::config(format!(
                "unknown session config key '{unknown}'; accepted keys: {KEYS}"
            )));
        }
        let sim_spec = match config.get("simulator") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(SimulatorSpec::from_json(&v.to_string())?),
            Some(_) => {
                return Err(EmbedError::config(
                    "session config key 'simulator' must be an object of simulator settings, e.g. {\"latency_ms\": 50}",
                ))
            }
        };
        let simulate = match config.get("simulate") {
            None | Some(Value::Null) => sim_spec.is_some(),
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(EmbedError::config(
                    "session config key 'simulate' must be true or false",
                ))
            }
        };
        let mut session = Session::new(simulate.then(|| sim_spec.unwrap_or_default()))?;
        if let Some(settings) = config.get("settings") {
            session.apply_settings(settings)?;
        }
        if let Some(tables) = config.get("tables") {
            session.register_tables(tables)?;
        }
        Ok(session)
    }

    fn new(simulator: Option<SimulatorSpec>) -> Result<Session, EmbedError> {
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(config).enable_url_table();
        let mut defaults = TableDefaults::default();
        let mut sim = None;
        if let Some(spec) = simulator {
            let started = super::simulator::start(spec.into_config()?)?;
            defaults = TableDefaults::without_env().with("base_url", started.base_url());
            register_simulated_tables(&ctx, &defaults)?;
            sim = Some(Arc::new(started));
        }
        register_sql_surface(&ctx, defaults.clone());
        Ok(Session {
            ctx,
            defaults,
            simulator: sim,
        })
    }

    fn apply_settings(&mut self, settings: &Value) -> Result<(), EmbedError> {
        let Value::Object(settings) = settings else {
            return Err(EmbedError::config(
                "session config key 'settings' must be an object, e.g. {\"ddstream.max_range\": \"2h\"}",
            ));
        };
        let state = self.ctx.state_ref();
        let mut state = state.write();
        for (key, value) in settings {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => {
                    return Err(EmbedError::config(format!(
                        "setting '{key}' must be text, a number or a boolean"
                    )))
                }
            };
            state
                .config_mut()
                .options_mut()
                .set(key, &text)
                .map_err(|e| {
                    EmbedError::config(format!("setting '{key}': {}", crate::one_line(&e)))
                })?;
        }
        Ok(())
    }

    fn register_tables(&self, tables: &Value) -> Result<(), EmbedError> {
        let Value::Object(tables) = tables else {
            return Err(EmbedError::config(
                "session config key 'tables' must be an object of table name to config, e.g. {\"cpu\": {\"adapter\": \"datadog_v1\", \"query\": \"system.cpu.user{*}\"}}",
            ));
        };
        for (name, table) in tables {
            let Value::Object(options) = table else {
                return Err(EmbedError::config(format!(
                    "table '{name}' must be an object with \"adapter\" and its options"
                )));
            };
            let mut options = options.clone();
            let adapter = match options.remove("adapter") {
                Some(Value::String(a)) => a,
                _ => {
                    return Err(EmbedError::config(format!(
                        "table '{name}' needs \"adapter\": one of {}",
                        crate::sql::registry::vendor_names()
                    )))
                }
            };
            self.register(name, &adapter, &Value::Object(options).to_string())?;
        }
        Ok(())
    }

    /// Registers table `name` of `adapter` with a JSON config, over the session's defaults
    /// (the simulator's base URL, `settings`).
    pub fn register(&self, name: &str, adapter: &str, config_json: &str) -> Result<(), EmbedError> {
        let vendor = known_vendor(adapter)?;
        let defaults = self.defaults.with_session(&self.ctx.state());
        register_with(&self.ctx, vendor.name(), name, config_json, &defaults)?;
        Ok(())
    }

    /// Registers every table of a CLI `--config` file (JSON, or TOML by its `.toml`
    /// extension) over the session's defaults, as `ddstream --config FILE`; returns the names.
    #[cfg(feature = "cli")]
    pub fn register_config(&self, path: &std::path::Path) -> Result<Vec<String>, EmbedError> {
        let defaults = self.defaults.with_session(&self.ctx.state());
        Ok(crate::cli::config_file::register_from_file(
            &self.ctx, path, &defaults,
        )?)
    }

    /// The DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs every statement of `sql` in order; the last one's result streams.
    pub fn sql(&self, sql: &str) -> Result<QueryStream, EmbedError> {
        let mut statements = DFParser::parse_sql(sql)?;
        let Some(last) = statements.pop_back() else {
            return Err(EmbedError::new(
                ErrorKind::Sql,
                "no SQL statement given; pass e.g. SELECT * FROM datadog_v1 LIMIT 10",
            ));
        };
        let ctx = &self.ctx;
        let plan = block_on(async {
            for statement in statements {
                let plan = ctx.state().statement_to_plan(statement).await?;
                ctx.execute_logical_plan(plan).await?.collect().await?;
            }
            let plan = ctx.state().statement_to_plan(last).await?;
            ctx.execute_logical_plan(plan)
                .await?
                .create_physical_plan()
                .await
        })??;
        Ok(QueryStream {
            run: Execution::start(plan, ctx.task_ctx())?,
            _simulator: self.simulator.clone(),
        })
    }

    /// The simulator's `http://127.0.0.1:PORT` when the session simulates.
    pub fn simulator_base_url(&self) -> Option<String> {
        self.simulator.as_ref().map(|s| s.base_url())
    }
}

/// The tables of the CLI's `--simulate`: one per Datadog API on the simulator's CPU metric, by
/// host for v2, each named after its adapter.
pub fn register_simulated_tables(
    ctx: &SessionContext,
    defaults: &TableDefaults,
) -> crate::Result<()> {
    for (kind, query) in [
        (DatadogKind::V1, "system.cpu.user{*}"),
        (
            DatadogKind::V2Timeseries,
            "avg:system.cpu.user{*} by {host}",
        ),
        (DatadogKind::V2Scalar, "avg:system.cpu.user{*} by {host}"),
    ] {
        let config = serde_json::json!({ "query": query }).to_string();
        register_with(
            ctx,
            kind.adapter_name(),
            kind.adapter_name(),
            &config,
            defaults,
        )?;
    }
    Ok(())
}

/// The result of [`Session::sql`]: batches of the last statement, read with
/// [`next_batch`](Self::next_batch) or as a [`RecordBatchReader`]. It keeps the session's
/// simulator running while it lives.
pub struct QueryStream {
    run: Execution,
    _simulator: Option<Arc<Simulator>>,
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

impl QueryStream {
    /// The result's columns.
    pub fn schema(&self) -> SchemaRef {
        self.run.schema()
    }

    /// The next batch, `Ok(None)` at the end; blocks the calling thread.
    pub fn next_batch(&self) -> Result<Option<RecordBatch>, EmbedError> {
        self.run.next_batch()
    }

    /// 0..1 over the time ranges of the query's API scans.
    pub fn progress(&self) -> f64 {
        self.run.progress()
    }

    /// The engine counters of the query's API scans as JSON text.
    pub fn metrics_json(&self) -> String {
        self.run.metrics_json()
    }

    /// Stops the query from any thread; `next_batch` then returns `Err(Cancelled)`.
    pub fn cancel(&self) {
        self.run.cancel();
    }

    /// Whether the query ended.
    pub fn is_done(&self) -> bool {
        self.run.is_done()
    }

    /// Every remaining batch.
    pub fn collect(self) -> Result<Vec<RecordBatch>, EmbedError> {
        let mut out = Vec::new();
        while let Some(batch) = self.next_batch()? {
            out.push(batch);
        }
        Ok(out)
    }
}

impl Iterator for QueryStream {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))
            .transpose()
    }
}

impl RecordBatchReader for QueryStream {
    fn schema(&self) -> SchemaRef {
        self.run.schema()
    }
}
