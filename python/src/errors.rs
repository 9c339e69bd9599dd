//! Rust errors as the Python exceptions of `ddstream/_errors.py`: one class per error kind,
//! built by that module's `_make` so the hierarchy and its docstrings live in Python.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// What Python needs to build an exception: the kind's name, the message, and for API errors
/// the HTTP status and the API's own message.
#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
    pub status: Option<u16>,
    pub api_message: Option<String>,
}

impl Failure {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            status: None,
            api_message: None,
        }
    }

    /// The Python exception for this failure.
    pub fn into_py_err(self, py: Python<'_>) -> PyErr {
        let built = py.import("ddstream._errors").and_then(|module| {
            module.getattr("_make")?.call1((
                self.kind,
                &self.message,
                self.status,
                &self.api_message,
            ))
        });
        match built {
            Ok(exception) => PyErr::from_value(exception),
            // The package is broken (module missing): still say what failed.
            Err(_) => PyRuntimeError::new_err(self.message),
        }
    }
}

impl From<ddstream::Error> for Failure {
    fn from(error: ddstream::Error) -> Self {
        Failure::from(ddstream::embed::EmbedError::from(error))
    }
}

/// `Result<T, Failure>` into `PyResult<T>`.
pub trait IntoPyResult<T> {
    fn into_py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: Into<Failure>> IntoPyResult<T> for Result<T, E> {
    fn into_py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| e.into().into_py_err(py))
    }
}

impl From<ddstream::embed::EmbedError> for Failure {
    fn from(error: ddstream::embed::EmbedError) -> Self {
        Failure {
            kind: error.kind().name(),
            message: error.message().to_string(),
            status: error.status(),
            api_message: error.api_message().map(str::to_string),
        }
    }
}
