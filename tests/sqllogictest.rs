//! Runs `sql-tests/*.slt` against a `SessionContext` whose tables point at a simulator started
//! for the run. A `harness = false` test: `cargo test --test sqllogictest [-- FILTER]`.
//!
//! Written against the `sqllogictest` crate directly (about 80 lines) rather than
//! `datafusion-sqllogictest`, which adds a second DataFusion build with other features to every
//! CI run (about 7 minutes here).

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use ddstream::simulator::{Simulator, SimulatorConfig};
use ddstream::sql::{register_sql_surface, DatadogConfig, TableDefaults};
use sqllogictest::{DBOutput, DefaultColumnType};

/// One connection: a fresh session with the simulator's tables.
struct Db {
    ctx: SessionContext,
}

impl Db {
    fn new(base_url: &str) -> Self {
        let ctx = SessionContext::new_with_config(
            SessionConfig::new()
                .with_target_partitions(4)
                .with_information_schema(true),
        );
        let defaults = DatadogConfig {
            base_url: Some(base_url.to_string()),
            ..DatadogConfig::default()
        };
        for (name, query) in [
            ("datadog_v1", "system.cpu.user{*}"),
            ("cpu_by_host", "system.cpu.user{*} by {host}"),
            ("gappy", "app.gappy.rps{*}"),
        ] {
            let config = DatadogConfig {
                query: query.into(),
                ..defaults.clone()
            };
            let table = config.into_table(None).expect("table");
            ctx.register_table(name, Arc::new(table)).expect("register");
        }
        register_sql_surface(
            &ctx,
            TableDefaults::without_env().with("base_url", base_url),
        );
        ddstream::register_functions(&ctx);
        Self { ctx }
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let df = self.ctx.sql(sql).await?;
        let columns = df.schema().fields().len();
        let batches = df.collect().await?;
        if columns == 0 {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows: to_strings(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "ddstream"
    }
}

fn to_strings(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DataFusionError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| {
                        let s = f.value(r).to_string();
                        // Multi-line cells (EXPLAIN) become one line per slt row convention.
                        if s.is_empty() {
                            "(empty)".to_string()
                        } else {
                            s.trim_end().replace('\n', " ")
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Compares rows cell by cell; an expected line may contain `<slt:ignore>` for volatile parts
/// (timestamps from `now()`, durations).
fn validator(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    let actual: Vec<String> = actual
        .iter()
        .map(|row| row.iter().map(normalizer).collect::<Vec<_>>().join(" "))
        .collect();
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| matches_with_ignores(&collapse(a), &collapse(e)))
}

/// Runs of whitespace count as one space (plans are indented; slt lines are not).
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True when `text` equals `pattern` with each `<slt:ignore>` standing for any text.
fn matches_with_ignores(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split("<slt:ignore>").collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return text == pattern;
    };
    if middle.is_empty() && parts.len() == 1 {
        return text == pattern;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(pos) => rest = &rest[pos + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (passed, failed) = runtime.block_on(async {
        let sim = Simulator::start(SimulatorConfig::default())
            .await
            .expect("simulator");
        let base_url = sim.base_url();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql-tests");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("sql-tests/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "slt"))
            .filter(|p| {
                filter
                    .as_ref()
                    .is_none_or(|f| p.to_string_lossy().contains(f.as_str()))
            })
            .collect();
        files.sort();
        let (mut passed, mut failed) = (0, 0);
        for file in files {
            let url = base_url.clone();
            let mut runner = sqllogictest::Runner::new(move || {
                let url = url.clone();
                async move { Ok(Db::new(&url)) }
            });
            runner.with_validator(validator);
            // `$SIM` in a file is the simulator's base URL (for LOCATION of REST tables).
            runner.set_var("SIM".to_string(), base_url.clone());
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            match runner.run_file_async(&file).await {
                Ok(()) => {
                    println!("ok     {name}");
                    passed += 1;
                }
                Err(e) => {
                    println!("FAILED {name}\n{e}\n");
                    failed += 1;
                }
            }
        }
        (passed, failed)
    });
    println!("sqllogictest: {passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        std::process::exit(1);
    }
}
