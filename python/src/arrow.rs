//! Arrow across the boundary with no copy, through the Arrow PyCapsule interface: schemas
//! (`arrow_schema`), record batches (`arrow_schema` + `arrow_array`, imported by pyarrow) and
//! streams (`arrow_array_stream`, for `__arrow_c_stream__`).
//!
//! Each capsule owns its struct; a consumer that takes the data over clears the struct's
//! `release`, so dropping the capsule afterwards frees nothing twice.

use datafusion::arrow::array::{Array, RecordBatch, RecordBatchReader, StructArray};
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use datafusion::arrow::ffi_stream::FFI_ArrowArrayStream;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCapsule;

/// A schema as an `arrow_schema` capsule.
pub fn schema_capsule<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema)
        .map_err(|e| PyValueError::new_err(format!("cannot export the Arrow schema: {e}")))?;
    PyCapsule::new_with_value(py, ffi, c"arrow_schema")
}

/// A reader as an `arrow_array_stream` capsule: batches are pulled (and fetched) as the
/// consumer asks for them.
pub fn stream_capsule<'py>(
    py: Python<'py>,
    reader: Box<dyn RecordBatchReader + Send>,
) -> PyResult<Bound<'py, PyCapsule>> {
    PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), c"arrow_array_stream")
}

/// A batch as a `pyarrow.RecordBatch`, sharing its buffers.
pub fn to_pyarrow<'py>(py: Python<'py>, batch: RecordBatch) -> PyResult<Bound<'py, PyAny>> {
    static IMPORT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let import = IMPORT.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("pyarrow")?
            .getattr("RecordBatch")?
            .getattr("_import_from_c_capsule")?
            .unbind())
    })?;
    let schema = schema_capsule(py, batch.schema().as_ref())?;
    let data = StructArray::from(batch).into_data();
    let array = PyCapsule::new_with_value(py, FFI_ArrowArray::new(&data), c"arrow_array")?;
    import.bind(py).call1((schema, array))
}
