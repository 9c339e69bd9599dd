//! The `--format` choices and one writer per choice behind a single interface.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::writer::{JsonArray, LineDelimited};
use datafusion::arrow::json::Writer as JsonWriter;
use datafusion::parquet::arrow::ArrowWriter;

use super::binary::{parquet_writer, IpcWriter};
use super::csv::CsvWriter;
use super::table::{MaxRows, TableWriter};

/// Output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table (`--max-rows` rows).
    Table,
    /// CSV with a header line; nested values as JSON text.
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

impl OutputFormat {
    /// Parquet and Arrow: files that hold one result set and are not text.
    pub(super) fn is_binary(self) -> bool {
        matches!(self, OutputFormat::Parquet | OutputFormat::Arrow)
    }

    /// The name written after `--format`.
    pub(super) fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Parquet => "parquet",
            OutputFormat::Arrow => "arrow",
        }
    }
}

/// An error of a format's encoder (the sink's own I/O errors are reported by the caller).
#[derive(Debug, thiserror::Error)]
pub(super) enum EncodeError {
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
}

/// A writer of one result set in one format into `W`.
pub(super) enum FormatWriter<W: Write + Send> {
    Table(TableWriter<W>),
    Csv(CsvWriter<W>),
    Json(JsonWriter<W, JsonArray>),
    Ndjson(JsonWriter<W, LineDelimited>),
    Parquet(ArrowWriter<W>),
    Arrow(IpcWriter<W>),
}

impl<W: Write + Send> FormatWriter<W> {
    pub(super) fn new(
        format: OutputFormat,
        out: W,
        schema: &SchemaRef,
        max_rows: MaxRows,
    ) -> Result<Self, EncodeError> {
        Ok(match format {
            OutputFormat::Table => {
                FormatWriter::Table(TableWriter::new(out, SchemaRef::clone(schema), max_rows))
            }
            OutputFormat::Csv => FormatWriter::Csv(CsvWriter::new(out, schema)),
            OutputFormat::Json => FormatWriter::Json(super::json::writer_builder().build(out)),
            OutputFormat::Ndjson => FormatWriter::Ndjson(super::json::writer_builder().build(out)),
            OutputFormat::Parquet => FormatWriter::Parquet(parquet_writer(out, schema)?),
            OutputFormat::Arrow => FormatWriter::Arrow(IpcWriter::try_new(out, schema)?),
        })
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), EncodeError> {
        match self {
            FormatWriter::Table(w) => w.write(batch)?,
            FormatWriter::Csv(w) => w.write(batch)?,
            FormatWriter::Json(w) => w.write(batch)?,
            FormatWriter::Ndjson(w) => w.write(batch)?,
            FormatWriter::Parquet(w) => w.write(batch)?,
            FormatWriter::Arrow(w) => w.write(batch)?,
        }
        Ok(())
    }

    /// Completes the result set (footer, closing bracket, Parquet footer) and returns `W`.
    pub(super) fn finish(self) -> Result<W, EncodeError> {
        Ok(match self {
            FormatWriter::Table(w) => w.finish()?,
            FormatWriter::Csv(w) => w.finish()?,
            FormatWriter::Json(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            FormatWriter::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            FormatWriter::Parquet(w) => w.into_inner()?,
            FormatWriter::Arrow(w) => w.finish()?,
        })
    }
}
