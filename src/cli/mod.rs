//! The `ddstream` command line: run SQL against API tables (or the built-in simulator), print
//! or export the result, check credentials, or serve the simulator.

mod catalog;
pub(crate) mod config_file;
mod errors;
mod output;
mod plot;
mod progress;
mod prompt;
mod simulate;
#[cfg(feature = "store")]
mod store_cmd;
#[cfg(feature = "distributed")]
mod worker_cmd;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use futures::StreamExt;

pub use errors::one_line;
pub use output::{is_broken_pipe, MaxRows, OutputFormat};

use crate::sql::{register_sql_surface, DatadogConfig, TableDefaults};

/// Query HTTP APIs (Datadog, generic REST) with SQL.
#[derive(Debug, Parser)]
#[command(name = "ddstream", version)]
pub struct Args {
    /// SQL to run; several statements may be separated by `;`. Without SQL or -f, the SQL is
    /// read from standard input, or an interactive prompt opens on a terminal.
    pub sql: Option<String>,
    /// Run the SQL in this file.
    #[arg(short = 'f', long = "file", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// Start the built-in simulator and register tables `datadog_v1` (query
    /// `system.cpu.user{*}`), `datadog_v2_timeseries` and `datadog_v2_scalar`
    /// (`avg:system.cpu.user{*} by {host}`) against it: no keys needed.
    #[arg(long)]
    pub simulate: bool,
    /// Register the tables in this JSON or TOML file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the result here instead of standard output; `{n}` in the name writes one file
    /// per result set (`out_{n}.parquet`).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Rows the table format prints (the rest are counted); `inf` prints all, streaming.
    #[arg(long, value_name = "N|inf", default_value = "40")]
    pub max_rows: MaxRows,
    /// Also draw the result as a line chart into this .png or .svg file (`{n}` as for -o).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Datadog API base URL for `validate`, `CREATE EXTERNAL TABLE ... STORED AS DATADOG_*` and
    /// the `datadog_*()` table functions (a proxy or a simulator); default `https://api.$DD_SITE`.
    #[arg(long, global = true)]
    pub base_url: Option<String>,
    /// Open the datastream store in this directory (created if needed) or at
    /// `s3://bucket/prefix`, as the SQL schema `store` (`store.streams`, `store.datapoints`).
    #[cfg(feature = "store")]
    #[arg(long, global = true, value_name = "PATH_OR_URL")]
    pub store: Option<String>,
    /// Where an `s3://` store keeps its SQLite metadata (a local directory).
    #[cfg(feature = "store")]
    #[arg(long, global = true, value_name = "DIR", requires = "store")]
    pub store_meta: Option<PathBuf>,
    /// Run the queries distributed over these workers (`ddstream worker --listen ADDR` on
    /// each): comma-separated host:port addresses.
    #[cfg(feature = "distributed")]
    #[arg(long, value_name = "ADDR,...", env = "DDSTREAM_WORKERS")]
    pub workers: Option<String>,
    /// Partitions (parallel request streams) per scan [default: 4].
    #[arg(long, value_name = "N", value_parser = parse_partitions)]
    pub partitions: Option<usize>,
    /// No progress bar, no "N rows in T s" lines, no banner: only results and errors.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// Subcommands.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands besides running SQL.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check DD_API_KEY against the Datadog API (GET /api/v1/validate).
    Validate,
    /// Serve the Datadog-style simulator until interrupted.
    Simulate(simulate::SimulateArgs),
    /// List the metrics that reported data recently (GET /api/v1/metrics).
    Metrics(catalog::MetricsArgs),
    /// List a metric's tags (GET /api/v2/metrics/{name}/all-tags).
    Tags(catalog::TagsArgs),
    /// Operate on the datastream store given with --store.
    #[cfg(feature = "store")]
    Store {
        /// What to do.
        #[command(subcommand)]
        action: store_cmd::StoreCommand,
    },
    /// Serve as a worker of distributed queries (`ddstream --workers ADDR,... "SQL"`).
    #[cfg(feature = "distributed")]
    Worker(worker_cmd::WorkerArgs),
}

/// Runs the command line. Errors are returned for `main` to print on one line.
pub async fn run(args: Args) -> DFResult<()> {
    match &args.command {
        Some(Command::Validate) => return validate(args.base_url.clone()).await,
        Some(Command::Simulate(sim)) => return simulate::run(sim).await,
        Some(Command::Metrics(m)) => return catalog::metrics(m, args.base_url.clone()).await,
        Some(Command::Tags(t)) => return catalog::tags(t, args.base_url.clone()).await,
        #[cfg(feature = "store")]
        Some(Command::Store { action }) => return store_command(action, &args).await,
        #[cfg(feature = "distributed")]
        Some(Command::Worker(worker)) => return worker_cmd::run(worker).await,
        None => {}
    }
    let config = SessionConfig::new()
        .with_target_partitions(args.partitions.unwrap_or(DEFAULT_PARTITIONS))
        .with_information_schema(true);
    // `SELECT * FROM 'file.parquet'` works, as in datafusion-cli.
    let ctx = session_for(config, &args)?.enable_url_table();
    // Keep the simulator alive for the whole session.
    let _simulator = setup_tables(&ctx, &args).await?;

    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            DataFusionError::Plan(format!("cannot read SQL file {}: {e}", path.display()))
        })?,
        (None, None) if std::io::stdin().is_terminal() => {
            return prompt::interactive(&ctx, &args).await
        }
        (None, None) => {
            let mut sql = String::new();
            std::io::stdin().read_to_string(&mut sql).map_err(|e| {
                DataFusionError::Plan(format!("cannot read SQL from standard input: {e}"))
            })?;
            sql
        }
    };
    run_sql(&ctx, &sql, &args).await
}

/// The session: distributed over `--workers` when given.
fn session_for(config: SessionConfig, args: &Args) -> DFResult<SessionContext> {
    #[cfg(feature = "distributed")]
    if let Some(list) = &args.workers {
        let workers =
            crate::distributed::parse_workers(list).map_err(crate::to_datafusion_error)?;
        let state = crate::distributed::coordinator_state(config, workers);
        return Ok(SessionContext::new_with_state(state));
    }
    let _ = args;
    Ok(SessionContext::new_with_config(config))
}

async fn setup_tables(
    ctx: &SessionContext,
    args: &Args,
) -> DFResult<Option<crate::simulator::Simulator>> {
    let mut defaults = TableDefaults::default();
    if let Some(url) = &args.base_url {
        defaults = defaults.with("base_url", url.clone());
    }
    // A table's `max_concurrency` caps its partitions (4 by default): `--partitions N` raises
    // the cap with the session's target, so N alone decides (a table's own option still wins).
    let partitions = args.partitions.map(|n| ("max_concurrency", n.to_string()));
    defaults = defaults_with(defaults, partitions.clone());
    let mut simulator = None;
    if args.simulate {
        let sim = crate::simulator::Simulator::start(Default::default())
            .await
            .map_err(|e| DataFusionError::Execution(format!("cannot start the simulator: {e}")))?;
        // Every Datadog table of the session goes to the simulator, with no real keys.
        defaults = defaults_with(
            TableDefaults::without_env().with("base_url", sim.base_url()),
            partitions,
        );
        // One table per Datadog API on the simulator's CPU metric, by host for v2.
        crate::embed::register_simulated_tables(ctx, &defaults)
            .map_err(crate::to_datafusion_error)?;
        simulator = Some(sim);
    }
    if let Some(path) = &args.config {
        config_file::register_from_file(ctx, path, &defaults)
            .map_err(crate::to_datafusion_error)?;
    }
    register_sql_surface(ctx, defaults);
    #[cfg(feature = "store")]
    if let Some(location) = &args.store {
        store_cmd::register(ctx, location, args.store_meta.as_deref()).await?;
    }
    Ok(simulator)
}

#[cfg(feature = "store")]
async fn store_command(action: &store_cmd::StoreCommand, args: &Args) -> DFResult<()> {
    let location = args.store.as_deref().ok_or_else(|| {
        DataFusionError::Plan("ddstream store needs the store: give --store PATH_OR_URL".into())
    })?;
    match action {
        store_cmd::StoreCommand::Streams => {
            let ctx = SessionContext::new();
            store_cmd::register(&ctx, location, args.store_meta.as_deref()).await?;
            run_sql(&ctx, store_cmd::STREAMS_SQL, args).await
        }
        store_cmd::StoreCommand::Downsample { until, tags } => {
            let store = store_cmd::open(location, args.store_meta.as_deref()).await?;
            let points = store_cmd::downsample(&store, until.as_deref(), tags.as_deref()).await?;
            eprintln!("{points} downsampled datapoints written");
            Ok(())
        }
    }
}

fn defaults_with(defaults: TableDefaults, option: Option<(&str, String)>) -> TableDefaults {
    match option {
        Some((key, value)) => defaults.with(key, value),
        None => defaults,
    }
}

/// Partitions per scan without `--partitions`.
const DEFAULT_PARTITIONS: usize = 4;

fn parse_partitions(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("a scan needs at least 1 partition: give N >= 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "'{text}' is not a number of partitions: give a whole number >= 1"
        )),
    }
}

/// How statements run: where results go, and what is shown on stderr besides.
pub(crate) struct RunOptions {
    output: output::OutputOptions,
    /// Draw the progress bar (stderr is a terminal, no `--quiet`).
    progress: bool,
    /// Print "N rows in T s" after each result (no `--quiet`; `\timing` toggles it).
    timing: bool,
    /// Queries run distributed (`--workers`): EXPLAIN shows the stages.
    distributed: bool,
}

impl RunOptions {
    fn from_args(args: &Args) -> Self {
        Self {
            output: output::OutputOptions {
                format: args.format,
                output: args.output.clone(),
                max_rows: args.max_rows,
                plot: args.plot.clone(),
            },
            progress: !args.quiet && std::io::stderr().is_terminal(),
            timing: !args.quiet,
            #[cfg(feature = "distributed")]
            distributed: args.workers.is_some(),
            #[cfg(not(feature = "distributed"))]
            distributed: false,
        }
    }
}

/// Runs every statement of `sql` in order, writing each result.
pub async fn run_sql(ctx: &SessionContext, sql: &str, args: &Args) -> DFResult<()> {
    run_statements(ctx, sql, &RunOptions::from_args(args)).await
}

/// [`run_sql`] with `options`.
pub(crate) async fn run_statements(
    ctx: &SessionContext,
    sql: &str,
    options: &RunOptions,
) -> DFResult<()> {
    run_each(ctx, sql, options)
        .await
        .map_err(|e| errors::with_hint(e, &ctx.state()))
}

async fn run_each(ctx: &SessionContext, sql: &str, options: &RunOptions) -> DFResult<()> {
    let statements = DFParser::parse_sql(sql).map_err(|e| errors::parse_error(e, sql))?;
    if statements.is_empty() {
        return Err(DataFusionError::Plan("no SQL statement given".into()));
    }
    let mut out = output::Run::start(
        options.output.clone(),
        output::count_result_sets(&statements),
    )?;
    for statement in statements {
        let started = Instant::now();
        let df = match explain_stages(ctx, &statement, options.distributed).await? {
            Some(df) => df,
            None => {
                let plan = ctx.state().statement_to_plan(statement).await?;
                ctx.execute_logical_plan(plan).await?
            }
        };
        let physical = df.create_physical_plan().await?;
        let schema = physical.schema();
        let mut set = out.begin(&schema)?;
        let bar = progress::Progress::start(Arc::clone(&physical), options.progress);
        let rows = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&rows);
        let stream = execute_stream(physical, ctx.task_ctx())?.inspect(move |batch| {
            if let Ok(batch) = batch {
                counted.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            }
        });
        set.drain(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            stream,
        )))
        .await?;
        bar.finish();
        set.finish()?;
        // The result first, then its timing, when both go to the terminal.
        out.flush()?;
        if options.timing && !schema.fields().is_empty() {
            let rows = rows.load(Ordering::Relaxed);
            let noun = if rows == 1 { "row" } else { "rows" };
            eprintln!("{rows} {noun} in {:.3} s", started.elapsed().as_secs_f64());
        }
    }
    out.finish()?;
    Ok(())
}

/// `EXPLAIN` of a distributed session: DataFusion's EXPLAIN plans the query without the
/// distributed planner, so the plan is made here and shown with its stages, tasks and each
/// task's slice of the time range.
async fn explain_stages(
    ctx: &SessionContext,
    statement: &datafusion::sql::parser::Statement,
    distributed: bool,
) -> DFResult<Option<datafusion::dataframe::DataFrame>> {
    #[cfg(feature = "distributed")]
    if distributed {
        use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
        use datafusion::sql::parser::Statement;
        let Statement::Explain(explain) = statement else {
            return Ok(None);
        };
        if explain.options.analyze {
            // EXPLAIN ANALYZE goes through the distributed planner as it is.
            return Ok(None);
        }
        let inner = ctx
            .state()
            .statement_to_plan(explain.statement.as_ref().clone())
            .await?;
        let physical = ctx
            .execute_logical_plan(inner)
            .await?
            .create_physical_plan()
            .await?;
        let text = datafusion_distributed::display_plan_ascii(physical.as_ref(), false);
        let batch = RecordBatch::try_from_iter(vec![
            (
                "plan_type",
                Arc::new(StringArray::from(vec!["distributed_plan"])) as ArrayRef,
            ),
            ("plan", Arc::new(StringArray::from(vec![text])) as ArrayRef),
        ])?;
        return Ok(Some(ctx.read_batch(batch)?));
    }
    let _ = (ctx, statement, distributed);
    Ok(None)
}

async fn validate(base_url: Option<String>) -> DFResult<()> {
    let mut config = DatadogConfig::from_env();
    config.base_url = base_url;
    crate::sql::validate_credentials(&config, None)
        .await
        .map_err(crate::to_datafusion_error)?;
    let target = config.base_url.clone().unwrap_or(config.site);
    println!("credentials valid for {target}");
    Ok(())
}
