//! Writing query results: a table for people, or CSV, JSON, NDJSON, Parquet or Arrow IPC for
//! programs, streamed batch by batch so exports stay in bounded memory, plus `--plot` charts.
//!
//! A [`Run`] is one invocation's SQL. Its result sets share one document on standard output
//! (or one `-o` file): one JSON array (an array of arrays when several statements return rows),
//! one NDJSON stream, CSV and tables separated by a blank line. A path with `{n}` gets one file
//! per result set; Parquet and Arrow refuse several result sets without it. Files appear only
//! once complete (see [`target`]).

mod binary;
mod csv;
mod format;
mod interrupt;
mod json;
mod table;
mod target;

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use futures::StreamExt;

pub use format::OutputFormat;
pub use table::MaxRows;

use super::plot::{ImageKind, PlotData};
use format::FormatWriter;
use interrupt::Interrupt;
use target::{is_numbered, numbered, Failure, Sink};

/// Where and how a run's results are written (the CLI's output flags).
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// `--format`.
    pub format: OutputFormat,
    /// `-o`: a file instead of standard output; `{n}` in it numbers the result sets.
    pub output: Option<PathBuf>,
    /// `--max-rows`: rows the table format prints.
    pub max_rows: MaxRows,
    /// `--plot`: also draw each result into this PNG or SVG file.
    pub plot: Option<PathBuf>,
}

/// An output failure, as one sentence naming the file.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The file (its temporary sibling) cannot be created.
    #[error("cannot create {path}: {reason}")]
    Create {
        /// The `-o` or `--plot` path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Writing or renaming failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The path, or "standard output".
        path: String,
        /// Why.
        reason: String,
    },
    /// The format cannot encode a value.
    #[error("cannot write the result as {format} to {path}: {reason}")]
    Encode {
        /// The `--format` name.
        format: &'static str,
        /// The path, or "standard output".
        path: String,
        /// The encoder's message.
        reason: String,
    },
    /// The reader of standard output went away (`| head`): not a failure of the run.
    #[error("standard output was closed")]
    BrokenPipe,
    /// Ctrl-C while a query ran.
    #[error("interrupted: the query was cancelled and nothing more was written")]
    Interrupted,
    /// The chart cannot be drawn.
    #[error("--plot {path}: {reason}")]
    Plot {
        /// The `--plot` path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Flags that do not fit the SQL.
    #[error("{0}")]
    Usage(String),
}

impl From<OutputError> for DataFusionError {
    fn from(e: OutputError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// Whether `error` is a closed standard output, which ends the run quietly with success.
pub fn is_broken_pipe(error: &DataFusionError) -> bool {
    match error.find_root() {
        DataFusionError::External(inner) => matches!(
            inner.downcast_ref::<OutputError>(),
            Some(OutputError::BrokenPipe)
        ),
        DataFusionError::IoError(e) => e.kind() == std::io::ErrorKind::BrokenPipe,
        _ => false,
    }
}

/// How many of `statements` return rows: queries, EXPLAIN, SHOW, INSERT and COPY (a count);
/// not DDL or SET, whose results have no columns. It decides the shape of the JSON document
/// before anything runs (later statements may depend on earlier ones, so none is planned yet).
pub fn count_result_sets<'a>(statements: impl IntoIterator<Item = &'a DFStatement>) -> usize {
    statements
        .into_iter()
        .filter(|s| match s {
            DFStatement::Statement(s) => matches!(
                s.as_ref(),
                SqlStatement::Query(_)
                    | SqlStatement::Explain { .. }
                    | SqlStatement::ExplainTable { .. }
                    | SqlStatement::ShowTables { .. }
                    | SqlStatement::ShowColumns { .. }
                    | SqlStatement::ShowVariable { .. }
                    | SqlStatement::ShowFunctions { .. }
                    | SqlStatement::ShowCreate { .. }
                    | SqlStatement::Insert(_)
                    | SqlStatement::Update { .. }
                    | SqlStatement::Delete(_)
            ),
            DFStatement::CopyTo(_) | DFStatement::Explain(_) => true,
            DFStatement::CreateExternalTable(_) | DFStatement::Reset(_) => false,
        })
        .count()
}

/// The output of one invocation's SQL.
pub struct Run {
    options: OutputOptions,
    /// Result sets the SQL is expected to return ([`count_result_sets`]).
    expected: usize,
    /// Result sets begun so far.
    sets: usize,
    /// The destination all result sets share (standard output, or `-o` without `{n}`); lent
    /// to the result set being written.
    document: Option<Sink>,
    interrupt: Interrupt,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("options", &self.options)
            .field("expected", &self.expected)
            .field("sets", &self.sets)
            .finish_non_exhaustive()
    }
}

impl Run {
    /// Checks the flags against the number of result sets and opens the shared destination.
    pub fn start(options: OutputOptions, expected: usize) -> Result<Self, OutputError> {
        let format = options.format;
        let per_set = options.output.as_deref().is_some_and(is_numbered);
        if format.is_binary() && expected > 1 && !per_set {
            return Err(OutputError::Usage(format!(
                "--format {} holds one result set per file and this SQL has {expected} statements that return rows: write -o 'out_{{n}}.{}' for one file each, or run them one at a time",
                format.name(),
                extension(format)
            )));
        }
        if format.is_binary()
            && options.output.is_none()
            && std::io::IsTerminal::is_terminal(&std::io::stdout())
        {
            return Err(OutputError::Usage(format!(
                "--format {} is binary: write it to a file with -o FILE or redirect standard output",
                format.name()
            )));
        }
        if let Some(plot) = &options.plot {
            if ImageKind::from_path(plot).is_none() {
                return Err(OutputError::Usage(format!(
                    "--plot {}: the file name must end in .png or .svg",
                    plot.display()
                )));
            }
            if expected > 1 && !is_numbered(plot) {
                return Err(OutputError::Usage(format!(
                    "--plot draws one result set per file and this SQL has {expected} statements that return rows: write --plot 'chart_{{n}}.png' for one chart each"
                )));
            }
        }
        // Listen before the temporary file exists, so no Ctrl-C can leave it behind.
        let interrupt = Interrupt::listen();
        let document = match &options.output {
            None => Some(Sink::stdout()),
            Some(path) if !is_numbered(path) => Some(Sink::file(path)?),
            Some(_) => None,
        };
        Ok(Self {
            options,
            expected,
            sets: 0,
            document,
            interrupt,
        })
    }

    /// Starts writing a result set of `schema`; a schema without columns (DDL) writes nothing.
    pub fn begin(&mut self, schema: &SchemaRef) -> Result<ResultSet<'_>, OutputError> {
        if schema.fields().is_empty() {
            return Ok(ResultSet {
                run: self,
                writer: None,
                plot: None,
            });
        }
        self.sets += 1;
        let n = self.sets;
        let format = self.options.format;
        let nested_json = format == OutputFormat::Json && self.expected > 1;
        let mut sink = match (&self.options.output, self.document.take()) {
            (Some(path), None) => Sink::file(&numbered(path, n))?,
            (_, Some(sink)) => sink,
            (None, None) => Sink::stdout(),
        };
        let shared = self
            .options
            .output
            .as_deref()
            .is_none_or(|p| !is_numbered(p));
        if shared && n > 1 {
            let separator: &[u8] = match format {
                OutputFormat::Table | OutputFormat::Csv => b"\n",
                OutputFormat::Json if nested_json => b",",
                OutputFormat::Ndjson => b"",
                OutputFormat::Json | OutputFormat::Parquet | OutputFormat::Arrow => {
                    return Err(OutputError::Usage(format!(
                        "--format {} got more result sets than the {} expected from the SQL: write -o 'out_{{n}}.{}' for one file each",
                        format.name(),
                        self.expected,
                        extension(format)
                    )))
                }
            };
            std::io::Write::write_all(&mut sink, separator).map_err(|e| sink.error(e))?;
        } else if shared && nested_json {
            std::io::Write::write_all(&mut sink, b"[").map_err(|e| sink.error(e))?;
        }
        let plot = match &self.options.plot {
            Some(path) => {
                let path = numbered(path, n);
                let data = PlotData::new(schema).map_err(|e| OutputError::Plot {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                Some((path, data))
            }
            None => None,
        };
        let failure = sink.failure();
        let label = sink.label();
        let writer = FormatWriter::new(format, sink, schema, self.options.max_rows)
            .map_err(|e| encode_error(format, &label, &failure, e))?;
        Ok(ResultSet {
            run: self,
            writer: Some(SetWriter {
                writer,
                failure,
                label,
                shared,
            }),
            plot,
        })
    }

    /// Pushes what the shared document has buffered to standard output (or the `-o` file's
    /// temporary), so a result shows before what follows it on stderr.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        match &mut self.document {
            Some(sink) => std::io::Write::flush(sink).map_err(|e| sink.error(e)),
            None => Ok(()),
        }
    }

    /// Closes the shared document (the JSON array, a final newline) and, for `-o`, moves the
    /// file into place. A run that returned no result set leaves no file.
    pub fn finish(mut self) -> Result<(), OutputError> {
        let Some(mut sink) = self.document.take() else {
            return Ok(());
        };
        if self.sets == 0 {
            // Standard output is flushed by `commit`; an `-o` file is dropped unwritten.
            return match self.options.output {
                None => sink.commit(),
                Some(_) => Ok(()),
            };
        }
        let tail: &[u8] = match self.options.format {
            OutputFormat::Json if self.expected > 1 => b"]\n",
            OutputFormat::Json => b"\n",
            _ => b"",
        };
        std::io::Write::write_all(&mut sink, tail).map_err(|e| sink.error(e))?;
        sink.commit()
    }
}

/// The file extension for `format` in suggestions.
fn extension(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Table => "txt",
        other => other.name(),
    }
}

/// The error to report for an encoder error: the sink's own I/O failure when there was one.
fn encode_error(
    format: OutputFormat,
    label: &str,
    failure: &Failure,
    e: format::EncodeError,
) -> OutputError {
    let io = failure.lock().unwrap_or_else(|p| p.into_inner());
    match io.as_ref() {
        Some(io) => target::error_for(label, io),
        None => OutputError::Encode {
            format: format.name(),
            path: label.to_string(),
            reason: e.to_string(),
        },
    }
}

struct SetWriter {
    writer: FormatWriter<Sink>,
    failure: Failure,
    label: String,
    /// Whether the sink goes back to the run's document when the set is done.
    shared: bool,
}

/// One result set being written.
pub struct ResultSet<'a> {
    run: &'a mut Run,
    writer: Option<SetWriter>,
    plot: Option<(PathBuf, PlotData)>,
}

impl std::fmt::Debug for ResultSet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultSet")
            .field("set", &self.run.sets)
            .finish_non_exhaustive()
    }
}

impl ResultSet<'_> {
    /// Writes one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        if let Some(w) = &mut self.writer {
            w.writer
                .write(batch)
                .map_err(|e| encode_error(self.run.options.format, &w.label, &w.failure, e))?;
        }
        if let Some((path, data)) = &mut self.plot {
            data.push(batch).map_err(|e| OutputError::Plot {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Writes every batch of `stream`; Ctrl-C stops it with [`OutputError::Interrupted`].
    pub async fn drain(&mut self, mut stream: SendableRecordBatchStream) -> DFResult<()> {
        loop {
            let next = tokio::select! {
                biased;
                _ = self.run.interrupt.fired() => return Err(OutputError::Interrupted.into()),
                next = stream.next() => next,
            };
            match next {
                Some(batch) => self.write(&batch?)?,
                None => return Ok(()),
            }
        }
    }

    /// Completes the result set: its own file is moved into place, the chart drawn.
    pub fn finish(self) -> Result<(), OutputError> {
        let format = self.run.options.format;
        if let Some(w) = self.writer {
            let mut sink = w
                .writer
                .finish()
                .map_err(|e| encode_error(format, &w.label, &w.failure, e))?;
            if w.shared {
                self.run.document = Some(sink);
            } else {
                if format == OutputFormat::Json {
                    std::io::Write::write_all(&mut sink, b"\n").map_err(|e| sink.error(e))?;
                }
                sink.commit()?;
            }
        }
        if let Some((path, data)) = self.plot {
            draw(&path, &data)?;
        }
        Ok(())
    }
}

/// Draws `data` into `path` (PNG or SVG by its extension), atomically like `-o`.
fn draw(path: &Path, data: &PlotData) -> Result<(), OutputError> {
    let plot_error = |reason: String| OutputError::Plot {
        path: path.display().to_string(),
        reason,
    };
    let kind = ImageKind::from_path(path)
        .ok_or_else(|| plot_error("the file name must end in .png or .svg".into()))?;
    let bytes = data.render(kind).map_err(|e| plot_error(e.to_string()))?;
    let mut sink = Sink::file(path)?;
    std::io::Write::write_all(&mut sink, &bytes).map_err(|e| sink.error(e))?;
    sink.commit()
}
