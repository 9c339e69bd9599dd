//! DataFusion-Python interop over datafusion-ffi 55: `ddstream.table(...)` exports an API table
//! as an `FFI_TableProvider` (capsule `datafusion_table_provider`), and `register_functions`
//! exports the downsampling functions as FFI scalar, aggregate, window and table functions.
//!
//! The host's session hands over its logical extension codec (the `session` argument of
//! `__datafusion_table_provider__`): filters pushed into our scan are decoded with it, so
//! expressions that use the host's own functions survive the trip. Scans run on ddstream's
//! runtime, not the host's.

use std::ffi::CStr;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::table_provider::FFI_TableProvider;
use datafusion_ffi::udaf::FFI_AggregateUDF;
use datafusion_ffi::udf::FFI_ScalarUDF;
use datafusion_ffi::udtf::FFI_TableFunction;
use datafusion_ffi::udwf::FFI_WindowUDF;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods, PyList};

use crate::errors::IntoPyResult;
use ddstream::embed::runtime;

const CODEC_CAPSULE: &CStr = c"datafusion_logical_extension_codec";

/// The host's logical codec: `session` is a datafusion-python session (which exports it) or,
/// when registered through a schema, the codec's capsule itself.
fn host_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    let getter = "__datafusion_logical_extension_codec__";
    let capsule = if session.hasattr(getter)? {
        session.call_method1(getter, (session,))?
    } else {
        session.clone()
    };
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(
            "expected a datafusion SessionContext (datafusion-python 55) or its \
             datafusion_logical_extension_codec capsule",
        )
    })?;
    let pointer = capsule.pointer_checked(Some(CODEC_CAPSULE))?;
    // SAFETY: the capsule's name says it holds an FFI_LogicalExtensionCodec, which the host
    // keeps alive while the capsule lives; we clone it (its own refcounted clone) at once.
    let codec = unsafe { pointer.cast::<FFI_LogicalExtensionCodec>().as_ref() };
    Ok(codec.clone())
}

/// `ddstream.table(adapter, config)`: an API table for `SessionContext.register_table`.
#[pyclass(module = "ddstream._ddstream", name = "Table", frozen)]
pub struct PyTable {
    provider: Arc<dyn TableProvider>,
    adapter: String,
}

#[pymethods]
impl PyTable {
    #[new]
    fn new(py: Python<'_>, adapter: &str, config_json: &str) -> PyResult<Self> {
        let provider = ddstream::sql::table_from_json(adapter, config_json).into_py(py)?;
        Ok(PyTable {
            provider,
            adapter: adapter.trim().to_string(),
        })
    }

    /// The Arrow schema of the table's rows, as a `pyarrow.Schema`-compatible capsule holder.
    fn schema_capsule<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        crate::arrow::schema_capsule(py, self.provider.schema().as_ref())
    }

    /// The `datafusion_table_provider` capsule for datafusion-python 55.
    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = host_codec(&session)?;
        let provider = FFI_TableProvider::new_with_ffi_codec(
            Arc::clone(&self.provider),
            true,
            Some(runtime().handle().clone()),
            codec,
        );
        PyCapsule::new_with_value(py, provider, c"datafusion_table_provider")
    }

    fn __repr__(&self) -> String {
        // The config may hold keys: only the adapter is shown.
        format!("ddstream.Table(adapter={:?})", self.adapter)
    }
}

/// One exported function: its name, kind (`scalar`, `aggregate`, `window`, `table`) and
/// the capsule datafusion-python's `from_pycapsule` (or `TableFunction`) takes.
#[pyclass(module = "ddstream._ddstream", name = "Function", frozen)]
pub struct PyFunction {
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    kind: &'static str,
    export: Export,
}

enum Export {
    Scalar(Arc<datafusion::logical_expr::ScalarUDF>),
    Aggregate(Arc<datafusion::logical_expr::AggregateUDF>),
    Window(Arc<datafusion::logical_expr::WindowUDF>),
    Table(Arc<dyn datafusion::catalog::TableFunctionImpl>),
}

#[pymethods]
impl PyFunction {
    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        match &self.export {
            Export::Scalar(udf) => PyCapsule::new_with_value(
                py,
                FFI_ScalarUDF::from(Arc::clone(udf)),
                c"datafusion_scalar_udf",
            ),
            _ => Err(self.wrong_kind("scalar")),
        }
    }

    fn __datafusion_aggregate_udf__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        match &self.export {
            Export::Aggregate(udaf) => PyCapsule::new_with_value(
                py,
                FFI_AggregateUDF::from(Arc::clone(udaf)),
                c"datafusion_aggregate_udf",
            ),
            _ => Err(self.wrong_kind("aggregate")),
        }
    }

    fn __datafusion_window_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        match &self.export {
            Export::Window(udwf) => PyCapsule::new_with_value(
                py,
                FFI_WindowUDF::from(Arc::clone(udwf)),
                c"datafusion_window_udf",
            ),
            _ => Err(self.wrong_kind("window")),
        }
    }

    #[pyo3(signature = (session=None))]
    fn __datafusion_table_function__<'py>(
        &self,
        py: Python<'py>,
        session: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let Export::Table(udtf) = &self.export else {
            return Err(self.wrong_kind("table"));
        };
        let session = session.ok_or_else(|| {
            PyTypeError::new_err("__datafusion_table_function__ needs the host's session")
        })?;
        let function = FFI_TableFunction::new_with_ffi_codec(
            Arc::clone(udtf),
            Some(runtime().handle().clone()),
            host_codec(&session)?,
        );
        PyCapsule::new_with_value(py, function, c"datafusion_table_function")
    }

    fn __repr__(&self) -> String {
        format!("ddstream.Function({:?}, kind={:?})", self.name, self.kind)
    }
}

impl PyFunction {
    fn wrong_kind(&self, asked: &str) -> PyErr {
        PyTypeError::new_err(format!(
            "{} is a {} function, not a {asked} function",
            self.name, self.kind
        ))
    }
}

/// Every function `ddstream::register_functions` adds (or replaces) in a session, sorted by
/// kind then name. Builtins that every session builds anew (`now`, `to_timestamp`, ... hold
/// the session's config) differ between any two sessions: those are not ours.
#[pyfunction]
pub fn functions(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let plain = SessionContext::new().state();
    let other = SessionContext::new().state();
    let ours = SessionContext::new();
    ddstream::register_functions(&ours);
    let ours = ours.state();
    fn added<T>(
        name: &str,
        ours: &Arc<T>,
        plain: &std::collections::HashMap<String, Arc<T>>,
        other: &std::collections::HashMap<String, Arc<T>>,
    ) -> bool {
        match (plain.get(name), other.get(name)) {
            (None, _) => true,
            (Some(p), Some(o)) => Arc::ptr_eq(p, o) && !Arc::ptr_eq(p, ours),
            (Some(_), None) => false,
        }
    }
    let mut exported: Vec<PyFunction> = Vec::new();
    let mut add = |name: &String, kind, export| {
        exported.push(PyFunction {
            name: name.clone(),
            kind,
            export,
        })
    };
    for (name, udf) in ours.scalar_functions() {
        if added(
            name,
            udf,
            plain.scalar_functions(),
            other.scalar_functions(),
        ) {
            add(name, "scalar", Export::Scalar(Arc::clone(udf)));
        }
    }
    for (name, udaf) in ours.aggregate_functions() {
        if added(
            name,
            udaf,
            plain.aggregate_functions(),
            other.aggregate_functions(),
        ) {
            add(name, "aggregate", Export::Aggregate(Arc::clone(udaf)));
        }
    }
    for (name, udwf) in ours.window_functions() {
        if added(
            name,
            udwf,
            plain.window_functions(),
            other.window_functions(),
        ) {
            add(name, "window", Export::Window(Arc::clone(udwf)));
        }
    }
    for (name, udtf) in ours.table_functions() {
        if !plain.table_functions().contains_key(name) {
            add(name, "table", Export::Table(Arc::clone(udtf.function())));
        }
    }
    exported.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let list = PyList::empty(py);
    for function in exported {
        list.append(Bound::new(py, function)?)?;
    }
    Ok(list)
}
