//! The `ddstream` command line: run SQL against API tables (or the built-in simulator), print
//! or export the result, check credentials, or serve the simulator.

mod catalog;
mod config_file;
mod output;
mod plot;
mod progress;
mod simulate;
#[cfg(feature = "store")]
mod store_cmd;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;

pub use output::{is_broken_pipe, MaxRows, OutputFormat};

use crate::sql::{register_sql_surface, DatadogConfig, DatadogKind, TableDefaults};

/// Query HTTP APIs (Datadog, generic REST) with SQL.
#[derive(Debug, Parser)]
#[command(name = "ddstream", version, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// SQL to run; several statements may be separated by `;`. Without SQL or -f, an
    /// interactive prompt opens.
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
    /// Maximum partitions (parallel request streams) per scan.
    #[arg(long, default_value_t = 4)]
    pub partitions: usize,
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
        None => {}
    }
    let config = SessionConfig::new()
        .with_target_partitions(args.partitions.max(1))
        .with_information_schema(true);
    // `SELECT * FROM 'file.parquet'` works, as in datafusion-cli.
    let ctx = SessionContext::new_with_config(config).enable_url_table();
    // Keep the simulator alive for the whole session.
    let _simulator = setup_tables(&ctx, &args).await?;

    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            DataFusionError::Plan(format!("cannot read SQL file {}: {e}", path.display()))
        })?,
        (None, None) => return interactive(&ctx, &args).await,
    };
    run_sql(&ctx, &sql, &args).await
}

async fn setup_tables(
    ctx: &SessionContext,
    args: &Args,
) -> DFResult<Option<crate::simulator::Simulator>> {
    let mut defaults = TableDefaults::default();
    if let Some(url) = &args.base_url {
        defaults = defaults.with("base_url", url.clone());
    }
    let mut simulator = None;
    if args.simulate {
        let sim = crate::simulator::Simulator::start(Default::default())
            .await
            .map_err(|e| DataFusionError::Execution(format!("cannot start the simulator: {e}")))?;
        // Every Datadog table of the session goes to the simulator, with no real keys.
        defaults = TableDefaults::without_env().with("base_url", sim.base_url());
        // One table per Datadog API on the simulator's CPU metric, by host for v2.
        for (kind, query) in [
            (DatadogKind::V1, "system.cpu.user{*}"),
            (
                DatadogKind::V2Timeseries,
                "avg:system.cpu.user{*} by {host}",
            ),
            (DatadogKind::V2Scalar, "avg:system.cpu.user{*} by {host}"),
        ] {
            let config = serde_json::json!({ "query": query }).to_string();
            crate::sql::register_with(
                ctx,
                kind.adapter_name(),
                kind.adapter_name(),
                &config,
                &defaults,
            )
            .map_err(crate::to_datafusion_error)?;
        }
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

/// Runs every statement of `sql` in order, writing each result.
pub async fn run_sql(ctx: &SessionContext, sql: &str, args: &Args) -> DFResult<()> {
    let statements = DFParser::parse_sql(sql)?;
    if statements.is_empty() {
        return Err(DataFusionError::Plan("no SQL statement given".into()));
    }
    let options = output::OutputOptions {
        format: args.format,
        output: args.output.clone(),
        max_rows: args.max_rows,
        plot: args.plot.clone(),
    };
    let mut out = output::Run::start(options, output::count_result_sets(&statements))?;
    for statement in statements {
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await?;
        let df = ctx.execute_logical_plan(plan).await?;
        let physical = df.create_physical_plan().await?;
        let mut set = out.begin(&physical.schema())?;
        let bar = progress::Progress::start(Arc::clone(&physical), std::io::stderr().is_terminal());
        set.drain(execute_stream(physical, ctx.task_ctx())?).await?;
        bar.finish();
        set.finish()?;
    }
    out.finish()?;
    Ok(())
}

async fn interactive(ctx: &SessionContext, args: &Args) -> DFResult<()> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| DataFusionError::Execution(format!("cannot open the prompt: {e}")))?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ddstream_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!(
        "ddstream {}: end statements with ';', quit with Ctrl-D",
        env!("CARGO_PKG_VERSION")
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "ddstream> "
        } else {
            "      ..> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
                if line.trim_end().ends_with(';') {
                    let sql = std::mem::take(&mut buffer);
                    let _ = editor.add_history_entry(sql.trim());
                    if let Err(e) = run_sql(ctx, &sql, args).await {
                        eprintln!("error: {}", one_line(&e));
                    }
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => buffer.clear(),
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
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

/// An error as one line, without DataFusion's wrapper prefixes.
pub fn one_line(error: &DataFusionError) -> String {
    let text = match error.find_root() {
        DataFusionError::External(inner) => inner.to_string(),
        root => root.to_string(),
    };
    text.lines().collect::<Vec<_>>().join(" ")
}
