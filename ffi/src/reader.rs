//! The reader behind an exported `struct ArrowArrayStream`: any embed reader, with panics
//! caught (a panic in a C callback would abort the process).

use std::panic::{catch_unwind, AssertUnwindSafe};

use ddstream::embed::arrow::array::RecordBatch;
use ddstream::embed::arrow::datatypes::SchemaRef;
use ddstream::embed::arrow::error::ArrowError;
use ddstream::embed::arrow::record_batch::RecordBatchReader;
use ddstream::embed::EmbedError;

/// A reader whose `next` never unwinds.
pub(crate) struct SafeReader<R> {
    inner: R,
    schema: SchemaRef,
}

impl<R: RecordBatchReader> SafeReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        let schema = inner.schema();
        SafeReader { inner, schema }
    }
}

impl<R: RecordBatchReader> Iterator for SafeReader<R> {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        catch_unwind(AssertUnwindSafe(|| self.inner.next())).unwrap_or_else(|panic| {
            Some(Err(ArrowError::ExternalError(Box::new(
                EmbedError::panicked(panic.as_ref()),
            ))))
        })
    }
}

impl<R: RecordBatchReader> RecordBatchReader for SafeReader<R> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
