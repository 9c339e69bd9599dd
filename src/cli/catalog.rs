//! `ddstream metrics [--search PATTERN]` and `ddstream tags METRIC`: what a Datadog account
//! has, one name per line (or through the output module with `--format`), so users can find
//! what to query.

use std::sync::Arc;

use clap::Args;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DFResult;

use super::output::{self, MaxRows, OutputFormat};
use crate::sql::vendors::datadog::catalog::{list_active_metrics, metric_tags};
use crate::sql::DatadogConfig;

/// The flags of `ddstream metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Only metrics whose name contains this text (case-insensitive).
    #[arg(long, value_name = "PATTERN")]
    pub search: Option<String>,
    /// Only metrics that reported within this long before now (`1h`, `2d`, ...).
    #[arg(long, value_name = "DURATION", default_value = "1d")]
    pub since: String,
    /// Only metrics reported by this host.
    #[arg(long)]
    pub host: Option<String>,
    #[command(flatten)]
    pub common: CatalogArgs,
}

/// The flags of `ddstream tags`.
#[derive(Debug, Args)]
pub struct TagsArgs {
    /// The metric, e.g. `system.cpu.user`.
    pub metric: String,
    #[command(flatten)]
    pub common: CatalogArgs,
}

/// Flags both listings take.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Write a table, CSV, JSON, ... with one column instead of one name per line.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

/// Lists the active metrics.
pub async fn metrics(args: &MetricsArgs, base_url: Option<String>) -> DFResult<()> {
    let since = crate::sql::config::values::parse_duration("--since", &args.since)
        .map_err(crate::to_datafusion_error)?;
    let from_s = chrono::Utc::now().timestamp() - i64::try_from(since.as_secs()).unwrap_or(0);
    let config = config(base_url);
    let mut names = list_active_metrics(&config, from_s, args.host.as_deref(), None)
        .await
        .map_err(crate::to_datafusion_error)?;
    if let Some(pattern) = &args.search {
        let pattern = pattern.to_lowercase();
        names.retain(|n| n.to_lowercase().contains(&pattern));
    }
    print(names, "metric", args.common.format)
}

/// Lists one metric's tags.
pub async fn tags(args: &TagsArgs, base_url: Option<String>) -> DFResult<()> {
    let config = config(base_url);
    let tags = metric_tags(&config, &args.metric, None)
        .await
        .map_err(crate::to_datafusion_error)?;
    print(tags, "tag", args.common.format)
}

fn config(base_url: Option<String>) -> DatadogConfig {
    let mut config = DatadogConfig::from_env();
    config.base_url = base_url;
    config
}

/// One name per line, or a one-column result in `format`.
fn print(names: Vec<String>, column: &str, format: Option<OutputFormat>) -> DFResult<()> {
    let Some(format) = format else {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        for name in names {
            writeln!(out, "{name}")?;
        }
        return Ok(out.flush()?);
    };
    let schema = Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(StringArray::from(names))],
    )?;
    let options = output::OutputOptions {
        format,
        output: None,
        max_rows: MaxRows::Unlimited,
        plot: None,
    };
    let mut run = output::Run::start(options, 1)?;
    let mut set = run.begin(&schema)?;
    set.write(&batch)?;
    set.finish()?;
    Ok(run.finish()?)
}
