//! `ddstream.Simulator`: the Datadog-style API simulator on loopback
//! (`ddstream::embed::SimulatorHandle`), for notebooks and tests that run with no keys.

use ddstream::embed::SimulatorHandle;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::IntoPyResult;

/// A running simulator; `stop()` (or the Python wrapper's `with` block) shuts it down.
#[pyclass(module = "ddstream._ddstream", name = "_Simulator")]
pub struct PySimulator {
    inner: Option<SimulatorHandle>,
    base_url: String,
}

#[pymethods]
impl PySimulator {
    /// Starts a simulator from the JSON settings of `ddstream::simulator::SimulatorSpec`.
    #[new]
    fn new(py: Python<'_>, spec_json: &str) -> PyResult<Self> {
        let spec = spec_json.to_string();
        let handle = py
            .detach(move || SimulatorHandle::start(&spec))
            .into_py(py)?;
        Ok(PySimulator {
            base_url: handle.base_url(),
            inner: Some(handle),
        })
    }

    /// `http://127.0.0.1:PORT`
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The request log: one dict per answered request, in arrival order.
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let Some(handle) = &self.inner else {
            return Ok(list);
        };
        for request in handle.requests() {
            let entry = PyDict::new(py);
            entry.set_item("index", request.index)?;
            entry.set_item("method", request.method)?;
            entry.set_item("path", request.path)?;
            entry.set_item("query", request.query)?;
            entry.set_item("body", request.body)?;
            entry.set_item("status", request.status)?;
            entry.set_item("fault", request.fault.map(|f| format!("{f:?}")))?;
            // Seconds since it arrived: the wrapper turns it into a `time.monotonic()` instant.
            entry.set_item("age_s", request.received_at.elapsed().as_secs_f64())?;
            list.append(entry)?;
        }
        Ok(list)
    }

    /// Stops the server (idempotent).
    fn stop(&mut self, py: Python<'_>) {
        if let Some(handle) = self.inner.take() {
            py.detach(move || handle.stop());
        }
    }

    fn __repr__(&self) -> String {
        match self.inner {
            Some(_) => format!("Simulator(base_url={:?})", self.base_url),
            None => "Simulator(stopped)".to_string(),
        }
    }
}

impl Drop for PySimulator {
    fn drop(&mut self) {
        if let Some(handle) = self.inner.take() {
            handle.stop();
        }
    }
}
