//! `ddstream.Session` and query results, on `ddstream::embed::Session`: SQL with the CLI's
//! whole surface (`STORED AS`, table functions, downsampling functions, `SET ddstream.*`).

use std::sync::{Arc, Mutex};

use ddstream::embed::arrow::array::RecordBatch;
use ddstream::embed::{EmbedError, QueryStream, Session};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::{Failure, IntoPyResult};
use crate::stream::{wait_for_batch, BatchSource, SourceReader};

impl BatchSource for Arc<QueryStream> {
    fn next(&self) -> Result<Option<RecordBatch>, EmbedError> {
        self.next_batch()
    }
    fn stop(&self) {
        self.cancel()
    }
}

/// The Rust half of `ddstream.Session`.
#[pyclass(module = "ddstream._ddstream", name = "_Session", subclass, frozen)]
pub struct PySession {
    session: Arc<Session>,
}

#[pymethods]
impl PySession {
    /// A session from its JSON config (`{"tables": {...}, "simulate": true, "simulator":
    /// {...}, "settings": {...}}`).
    #[new]
    #[pyo3(signature = (config_json=""))]
    fn new(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let config = config_json.to_string();
        let session = py.detach(move || Session::from_json(&config)).into_py(py)?;
        Ok(PySession {
            session: Arc::new(session),
        })
    }

    /// Registers table `name` of `adapter` with a JSON config.
    fn register(
        &self,
        py: Python<'_>,
        name: &str,
        adapter: &str,
        config_json: &str,
    ) -> PyResult<()> {
        let session = Arc::clone(&self.session);
        let (name, adapter, config) = (
            name.to_string(),
            adapter.to_string(),
            config_json.to_string(),
        );
        py.detach(move || session.register(&name, &adapter, &config))
            .into_py(py)
    }

    /// Registers every table of a `--config` file (JSON or TOML); returns their names.
    fn register_config(&self, py: Python<'_>, path: &str) -> PyResult<Vec<String>> {
        let session = Arc::clone(&self.session);
        let path = std::path::PathBuf::from(path);
        py.detach(move || session.register_config(&path))
            .into_py(py)
    }

    /// Runs every statement of `query`; the last one's result streams from the returned object.
    fn sql(&self, py: Python<'_>, query: &str) -> PyResult<PyQuery> {
        let session = Arc::clone(&self.session);
        let query = query.to_string();
        let stream = py.detach(move || session.sql(&query)).into_py(py)?;
        Ok(PyQuery {
            stream: Arc::new(stream),
            exported: Mutex::new(false),
        })
    }

    /// The simulator's base URL when the session simulates, else `None`.
    #[getter]
    fn simulator_base_url(&self) -> Option<String> {
        self.session.simulator_base_url()
    }

    fn __repr__(&self) -> String {
        match self.session.simulator_base_url() {
            Some(url) => format!("ddstream.Session(simulator={url:?})"),
            None => "ddstream.Session()".to_string(),
        }
    }
}

/// The streamed result of a query (the Rust half of `ddstream.QueryResult`).
#[pyclass(module = "ddstream._ddstream", name = "_QueryResult", subclass, frozen)]
pub struct PyQuery {
    stream: Arc<QueryStream>,
    /// Set once the rows went to a consumer: a second export would see only what is left.
    exported: Mutex<bool>,
}

#[pymethods]
impl PyQuery {
    /// The rows through the Arrow C stream interface, with no copy. A result streams once.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        {
            let mut exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
            if *exported {
                return Err(Failure::new(
                    "sql",
                    "this query result was already read; run session.sql(...) again for its rows",
                )
                .into_py_err(py));
            }
            *exported = true;
        }
        let reader = SourceReader::new(self.stream.schema(), None, Arc::clone(&self.stream));
        crate::arrow::stream_capsule(py, Box::new(reader))
    }

    /// The schema as an `arrow_schema` capsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        crate::arrow::schema_capsule(py, self.stream.schema().as_ref())
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next `pyarrow.RecordBatch`; raises the matching `ddstream` exception on error.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        *self.exported.lock().unwrap_or_else(|p| p.into_inner()) = true;
        match wait_for_batch(py, &self.stream)? {
            Ok(Some(batch)) => crate::arrow::to_pyarrow(py, batch).map(Some),
            Ok(None) => Ok(None),
            Err(error) => Err(Failure::from(error).into_py_err(py)),
        }
    }

    /// 0..1 over the scans' time ranges.
    fn progress(&self) -> f64 {
        self.stream.progress()
    }

    /// The engine counters as JSON text.
    fn metrics_json(&self) -> String {
        self.stream.metrics_json()
    }

    /// Stops the query: no request starts afterwards.
    fn close(&self) {
        self.stream.cancel();
    }

    fn __repr__(&self) -> String {
        format!(
            "ddstream.QueryResult(columns={}, done={})",
            self.stream.schema().fields().len(),
            if self.stream.is_done() {
                "True"
            } else {
                "False"
            }
        )
    }
}
