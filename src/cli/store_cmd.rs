//! `--store` and the `ddstream store ...` operator commands: open the datastream store named on
//! the command line, register it as the SQL schema `store` (`store.streams`,
//! `store.datapoints`), list its streams, and downsample them with a progress bar.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::prelude::SessionContext;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::store::{Datastream, StoreError, StoreLocation, StoreOptions};

/// The SQL schema the store is registered as.
pub const SCHEMA: &str = "store";

/// `ddstream store ...`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// List the store's streams (the `store.streams` table), in the chosen --format.
    Streams,
    /// Downsample the streams (all, or those matching --tags) up to --until (default: now).
    Downsample {
        /// Downsample up to this time: RFC 3339 (`2026-11-30T00:00:00Z`) or epoch seconds.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Only the streams whose tags contain this JSON object (`{"host": "web-1"}`).
        #[arg(long, value_name = "JSON")]
        tags: Option<String>,
    },
}

fn store_error(e: StoreError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Opens the store at `location` (a directory or `s3://bucket/prefix` with `meta_dir`).
pub async fn open(location: &str, meta_dir: Option<&Path>) -> DFResult<Datastream> {
    StoreLocation::parse(location)
        .map_err(store_error)?
        .open(meta_dir, StoreOptions::default())
        .await
        .map_err(store_error)
}

/// Opens the store and registers it as schema [`SCHEMA`].
pub async fn register(
    ctx: &SessionContext,
    location: &str,
    meta_dir: Option<&Path>,
) -> DFResult<()> {
    let store = open(location, meta_dir).await?;
    crate::store::sql::register_store(ctx, SCHEMA, store)
}

/// The SQL behind `ddstream store streams`.
pub const STREAMS_SQL: &str = "SELECT stream_id, tags, value_type, highest_granularity, \
     value_downsamplers, derived_from, earliest_datapoint, latest_datapoint, downsampled_until \
     FROM store.streams ORDER BY earliest_datapoint, stream_id";

/// `ddstream store downsample`: returns the number of new downsampled datapoints.
pub async fn downsample(
    store: &Datastream,
    until: Option<&str>,
    tags: Option<&str>,
) -> DFResult<usize> {
    let until = until.map(parse_time).transpose()?;
    let query_tags = tags
        .map(|t| {
            serde_json::from_str::<serde_json::Value>(t).map_err(|e| {
                DataFusionError::Plan(format!(
                    "--tags must be a JSON object such as {{\"host\": \"web-1\"}}: {e}"
                ))
            })
        })
        .transpose()?;
    let total = store
        .find_streams(query_tags.clone())
        .await
        .map_err(store_error)?
        .len();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("downsampling {bar:30} {pos}/{len} streams [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // The filter runs once per stream, just before it is downsampled: the bar's tick.
    let tick = {
        let bar = bar.clone();
        Arc::new(move |_: &serde_json::Map<String, serde_json::Value>| {
            bar.inc(1);
            true
        })
    };
    let points = store
        .downsample_streams(query_tags, until, true, Some(tick))
        .await
        .map_err(store_error)?;
    bar.finish_and_clear();
    Ok(points.len())
}

/// RFC 3339 or epoch seconds.
fn parse_time(text: &str) -> DFResult<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        if let Some(t) = chrono::DateTime::from_timestamp(secs, 0) {
            return Ok(t);
        }
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            DataFusionError::Plan(format!(
                "--until '{text}' is not a time; write RFC 3339 (2026-11-30T00:00:00Z) or epoch seconds"
            ))
        })
}
