//! Writing query results: a table for people, or CSV, JSON, NDJSON, Parquet or Arrow IPC for
//! programs, streamed batch by batch so exports stay in bounded memory.

use std::io::Write;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DFResult;
use datafusion::parquet::arrow::ArrowWriter;

/// Output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table (collects all rows first).
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC file.
    Arrow,
}

/// A sink that takes batches one at a time.
pub enum ResultWriter {
    /// Collects for `pretty_format_batches`.
    Table(Box<dyn Write + Send>, Vec<RecordBatch>),
    /// CSV writer.
    Csv(datafusion::arrow::csv::Writer<Box<dyn Write + Send>>),
    /// JSON array writer.
    Json(datafusion::arrow::json::ArrayWriter<Box<dyn Write + Send>>),
    /// NDJSON writer.
    Ndjson(datafusion::arrow::json::LineDelimitedWriter<Box<dyn Write + Send>>),
    /// Parquet writer.
    Parquet(ArrowWriter<Box<dyn Write + Send>>),
    /// Arrow IPC writer.
    Arrow(datafusion::arrow::ipc::writer::FileWriter<Box<dyn Write + Send>>),
}

impl ResultWriter {
    /// A writer of `format` into `out` for batches of `schema`.
    pub fn new(
        format: OutputFormat,
        out: Box<dyn Write + Send>,
        schema: &SchemaRef,
    ) -> DFResult<Self> {
        Ok(match format {
            OutputFormat::Table => ResultWriter::Table(out, Vec::new()),
            OutputFormat::Csv => ResultWriter::Csv(datafusion::arrow::csv::Writer::new(out)),
            OutputFormat::Json => {
                ResultWriter::Json(datafusion::arrow::json::ArrayWriter::new(out))
            }
            OutputFormat::Ndjson => {
                ResultWriter::Ndjson(datafusion::arrow::json::LineDelimitedWriter::new(out))
            }
            OutputFormat::Parquet => {
                ResultWriter::Parquet(ArrowWriter::try_new(out, schema.clone(), None)?)
            }
            OutputFormat::Arrow => ResultWriter::Arrow(
                datafusion::arrow::ipc::writer::FileWriter::try_new(out, schema)?,
            ),
        })
    }

    /// Writes one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> DFResult<()> {
        match self {
            ResultWriter::Table(_, all) => all.push(batch.clone()),
            ResultWriter::Csv(w) => w.write(batch)?,
            ResultWriter::Json(w) => w.write(batch)?,
            ResultWriter::Ndjson(w) => w.write(batch)?,
            ResultWriter::Parquet(w) => w.write(batch)?,
            ResultWriter::Arrow(w) => w.write(batch)?,
        }
        Ok(())
    }

    /// Flushes and closes the output.
    pub fn finish(self) -> DFResult<()> {
        match self {
            ResultWriter::Table(mut out, all) => {
                if !all.is_empty() && all.iter().any(|b| b.num_columns() > 0) {
                    let text = datafusion::arrow::util::pretty::pretty_format_batches(&all)?;
                    writeln!(out, "{text}")?;
                    let rows: usize = all.iter().map(RecordBatch::num_rows).sum();
                    writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
                }
                out.flush()?;
            }
            ResultWriter::Csv(w) => w.into_inner().flush()?,
            ResultWriter::Json(mut w) => {
                w.finish()?;
                w.into_inner().flush()?
            }
            ResultWriter::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner().flush()?
            }
            ResultWriter::Parquet(w) => {
                w.close()?;
            }
            ResultWriter::Arrow(mut w) => {
                w.finish()?;
                w.into_inner()?.flush()?
            }
        }
        Ok(())
    }
}
