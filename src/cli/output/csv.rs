//! CSV: a header line (also for an empty result), nested values as JSON text.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::{Writer, WriterBuilder};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;

use super::json::{flat_schema, nested_as_json_text};

/// Writes one result set as CSV.
pub(super) struct CsvWriter<W: Write> {
    writer: Writer<W>,
    schema: SchemaRef,
    wrote: bool,
}

impl<W: Write> CsvWriter<W> {
    pub(super) fn new(out: W, schema: &SchemaRef) -> Self {
        Self {
            writer: WriterBuilder::new().with_header(true).build(out),
            schema: flat_schema(schema),
            wrote: false,
        }
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        self.wrote = true;
        self.writer.write(&nested_as_json_text(batch)?)
    }

    pub(super) fn finish(mut self) -> Result<W, ArrowError> {
        if !self.wrote {
            // arrow's writer prints the header with the first batch: give it an empty one.
            self.writer
                .write(&RecordBatch::new_empty(self.schema.clone()))?;
        }
        Ok(self.writer.into_inner())
    }
}
