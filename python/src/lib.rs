//! The `ddstream._ddstream` extension module: the Rust half of the `ddstream` Python package,
//! over `ddstream::embed`. The pure-Python half (`python/ddstream/`) wraps these classes with
//! the documented API, its docstrings and the seed's names.
//!
//! - [`stream`]: `Stream` (one API table over a range) and the GIL-free, Ctrl-C-aware wait;
//! - [`session`]: `Session` and query results;
//! - [`table`]: datafusion-ffi table providers and functions for datafusion-python;
//! - [`simulator`]: the API simulator;
//! - [`store`]: the datastream store (`ddstream.Datastream`);
//! - [`arrow`]: Arrow PyCapsules; [`errors`]: Rust errors as `ddstream` exceptions.

mod arrow;
mod errors;
mod session;
mod simulator;
mod store;
mod stream;
mod table;

use pyo3::prelude::*;

use errors::IntoPyResult;

/// Checks a stream config as `ddstream.stream` would, then (Datadog adapters) the API key.
#[pyfunction]
fn validate(py: Python<'_>, adapter: &str, config_json: &str) -> PyResult<()> {
    let (adapter, config) = (adapter.to_string(), config_json.to_string());
    py.detach(move || ddstream::embed::validate(&adapter, &config))
        .into_py(py)
}

#[pymodule]
fn _ddstream(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<stream::PyStream>()?;
    m.add_class::<session::PySession>()?;
    m.add_class::<session::PyQuery>()?;
    m.add_class::<simulator::PySimulator>()?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<store::PyCursor>()?;
    m.add_class::<table::PyTable>()?;
    m.add_class::<table::PyFunction>()?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(table::functions, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
