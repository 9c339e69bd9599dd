//! The `ddstream` command line: run SQL against API tables (or the built-in simulator), print
//! or export the result, check credentials, or serve the simulator.

pub(crate) mod config_file;
mod output;
mod plot;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;

pub use output::{is_broken_pipe, MaxRows, OutputFormat};

use crate::sql::{register_sql_surface, DatadogConfig, TableDefaults};

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
    Simulate {
        /// Port on 127.0.0.1 (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Latency added to each response, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Rate limit on each data endpoint, `REQUESTS/PERIOD` (e.g. `100/10s`): a fixed
        /// window with X-RateLimit headers and 429 beyond it. Default: unlimited.
        #[arg(long, value_name = "N/PERIOD")]
        rate_limit: Option<String>,
    },
}

/// Runs the command line. Errors are returned for `main` to print on one line.
pub async fn run(args: Args) -> DFResult<()> {
    match &args.command {
        Some(Command::Validate) => return validate(args.base_url.clone()).await,
        Some(Command::Simulate {
            port,
            latency_ms,
            rate_limit,
        }) => return simulate(*port, *latency_ms, rate_limit.as_deref()).await,
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
        crate::embed::register_simulated_tables(ctx, &defaults)
            .map_err(crate::to_datafusion_error)?;
        simulator = Some(sim);
    }
    if let Some(path) = &args.config {
        config_file::register_from_file(ctx, path, &defaults)
            .map_err(crate::to_datafusion_error)?;
    }
    register_sql_surface(ctx, defaults);
    Ok(simulator)
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

async fn simulate(port: u16, latency_ms: u64, rate_limit: Option<&str>) -> DFResult<()> {
    let rate_limit = rate_limit
        .map(str::parse::<crate::simulator::RateLimit>)
        .transpose()
        .map_err(crate::to_datafusion_error)?;
    let sim = crate::simulator::Simulator::start_on(
        crate::simulator::SimulatorConfig {
            latency: std::time::Duration::from_millis(latency_ms),
            rate_limit,
            ..Default::default()
        },
        port,
    )
    .await
    .map_err(|e| DataFusionError::Execution(format!("cannot start the simulator: {e}")))?;
    println!("simulator listening on {}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

/// An error as one line, without DataFusion's wrapper prefixes.
pub fn one_line(error: &DataFusionError) -> String {
    crate::one_line(error)
}
