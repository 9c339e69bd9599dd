//! `ddstream.Stream`: one API table read over a range as Arrow record batches, on
//! `ddstream::embed::Stream`.
//!
//! Every wait for a batch releases the GIL, so streams in other threads fetch at the same time.
//! On the main thread a wait is a loop of bounded waits with `check_signals` between them, so
//! Ctrl-C (KeyboardInterrupt) stops the stream instead of waiting for the API.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ddstream::embed::arrow::array::RecordBatch;
use ddstream::embed::arrow::datatypes::SchemaRef;
use ddstream::embed::arrow::error::ArrowError;
use ddstream::embed::arrow::record_batch::RecordBatchReader;
use ddstream::embed::{EmbedError, ErrorKind, Stream, TimeArg};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyString};

use crate::errors::{Failure, IntoPyResult};

/// How long the main thread waits for a batch before it looks for Ctrl-C again.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Blocking calls that yield a batch: `embed::Stream` and `embed::QueryStream`.
pub trait BatchSource: Clone + Send + Sync + 'static {
    fn next(&self) -> Result<Option<RecordBatch>, EmbedError>;
    fn stop(&self);
}

impl BatchSource for Stream {
    fn next(&self) -> Result<Option<RecordBatch>, EmbedError> {
        self.next_batch()
    }
    fn stop(&self) {
        self.cancel()
    }
}

/// The next batch of `source`, with the GIL released while waiting. On the main thread the
/// wait runs on a helper thread and is interrupted by Ctrl-C (the source is cancelled and
/// `KeyboardInterrupt` raised).
pub fn wait_for_batch<S: BatchSource>(
    py: Python<'_>,
    source: &S,
) -> PyResult<Result<Option<RecordBatch>, EmbedError>> {
    if !is_main_thread(py)? {
        // Signals are delivered to the main thread only: nothing to watch for here.
        let source = source.clone();
        return Ok(py.detach(move || source.next()));
    }
    let (tx, rx) = mpsc::channel();
    let fetcher = source.clone();
    std::thread::Builder::new()
        .name("ddstream-wait".into())
        .spawn(move || {
            let _ = tx.send(fetcher.next());
        })
        .map_err(|e| {
            Failure::new("internal", format!("cannot start a thread to wait on: {e}"))
                .into_py_err(py)
        })?;
    // A Receiver is not Sync: the detached closures borrow it through a Mutex.
    let rx = Mutex::new(rx);
    let recv = |timeout: Option<Duration>| {
        let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
        match timeout {
            Some(t) => rx.recv_timeout(t),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        }
    };
    loop {
        match py.detach(|| recv(Some(SIGNAL_POLL))) {
            Ok(result) => return Ok(result),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    source.stop();
                    // The fetch ends promptly once cancelled; wait so nothing runs on after.
                    let _ = py.detach(|| recv(None));
                    return Err(interrupt);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ok(Err(EmbedError::new(
                    ErrorKind::Internal,
                    "the thread waiting for the next batch ended without an answer",
                )))
            }
        }
    }
}

fn is_main_thread(py: Python<'_>) -> PyResult<bool> {
    let threading = py.import("threading")?;
    let current = threading.call_method0("current_thread")?;
    let main = threading.call_method0("main_thread")?;
    Ok(current.is(&main))
}

/// A batch read ahead (by `has_next`) and the last error, shared by every method.
#[derive(Default)]
struct State {
    peeked: Option<RecordBatch>,
    /// The stream ended (`Ok(None)`) during a peek.
    ended: bool,
    /// An error met by a peek, not yet reported.
    pending_error: Option<EmbedError>,
    last_error: Option<EmbedError>,
}

/// The Rust half of `ddstream.Stream` (see `ddstream/__init__.py` for the documented API).
#[pyclass(module = "ddstream._ddstream", name = "_Stream", subclass, frozen)]
pub struct PyStream {
    stream: Stream,
    adapter: String,
    state: Arc<Mutex<State>>,
}

impl PyStream {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next batch: the one read ahead, else a fresh fetch. Errors are remembered for
    /// `last_error`.
    fn take_next(&self, py: Python<'_>) -> PyResult<Result<Option<RecordBatch>, EmbedError>> {
        {
            let mut state = self.state();
            if let Some(batch) = state.peeked.take() {
                return Ok(Ok(Some(batch)));
            }
            if let Some(error) = state.pending_error.take() {
                return Ok(Err(error));
            }
            if state.ended {
                return Ok(Ok(None));
            }
        }
        let result = wait_for_batch(py, &self.stream)?;
        if let Err(error) = &result {
            self.state().last_error = Some(error.clone());
        }
        Ok(result)
    }
}

#[pymethods]
impl PyStream {
    #[new]
    #[pyo3(signature = (adapter, config_json, start=None, end=None))]
    fn new(
        py: Python<'_>,
        adapter: &str,
        config_json: &str,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let start = start.map(|t| time_arg(&t)).transpose()?;
        let end = end.map(|t| time_arg(&t)).transpose()?;
        let (adapter_owned, config) = (adapter.to_string(), config_json.to_string());
        let stream = py
            .detach(move || Stream::create_with_range(&adapter_owned, &config, start, end))
            .into_py(py)?;
        Ok(PyStream {
            stream,
            adapter: adapter.trim().to_string(),
            state: Arc::default(),
        })
    }

    /// Whether another batch follows: reads it ahead (blocking). An error counts as one more
    /// item (the next `next_batch` reports it).
    fn has_next(&self, py: Python<'_>) -> PyResult<bool> {
        {
            let state = self.state();
            if state.peeked.is_some() || state.pending_error.is_some() {
                return Ok(true);
            }
            if state.ended {
                return Ok(false);
            }
        }
        let result = wait_for_batch(py, &self.stream)?;
        let mut state = self.state();
        Ok(match result {
            Ok(Some(batch)) => {
                state.peeked = Some(batch);
                true
            }
            Ok(None) => {
                state.ended = true;
                false
            }
            Err(error) => {
                state.last_error = Some(error.clone());
                state.pending_error = Some(error);
                true
            }
        })
    }

    /// The next batch as a `pyarrow.RecordBatch`; `None` at the end or on error (then
    /// `last_error()` says what failed).
    fn next_batch<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.take_next(py)? {
            Ok(Some(batch)) => crate::arrow::to_pyarrow(py, batch).map(Some),
            Ok(None) | Err(_) => Ok(None),
        }
    }

    /// The next batch, raising the matching `ddstream` exception on error and `StopIteration`
    /// at the end (the iterator protocol).
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.take_next(py)? {
            Ok(Some(batch)) => crate::arrow::to_pyarrow(py, batch).map(Some),
            Ok(None) => Ok(None),
            Err(error) => Err(Failure::from(error).into_py_err(py)),
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The message of the last error (`None` if none), as `next_batch` returned `None` for it.
    fn last_error(&self) -> Option<String> {
        self.state()
            .last_error
            .as_ref()
            .map(|e| e.message().to_string())
    }

    /// The last error as the exception `for` would have raised (`None` if none).
    fn last_exception(&self, py: Python<'_>) -> Option<PyErr> {
        let error = self.state().last_error.clone()?;
        Some(Failure::from(error).into_py_err(py))
    }

    /// Starts over from the range start.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        let stream = self.stream.clone();
        py.detach(move || stream.reset()).into_py(py)?;
        *self.state() = State::default();
        Ok(())
    }

    /// 0..1: the fraction of the time range fetched (page and token tables: 0, then 1 at the end).
    fn progress(&self) -> f64 {
        self.stream.progress()
    }

    /// The engine counters as JSON text (the Python wrapper returns a dict).
    fn metrics_json(&self) -> String {
        self.stream.metrics_json()
    }

    /// Whether the stream ended (all rows read, an error, or cancelled).
    fn is_done(&self) -> bool {
        let state = self.state();
        state.peeked.is_none() && state.pending_error.is_none() && self.stream.is_done()
    }

    /// Stops fetching: requests in flight are dropped and none starts afterwards. Later reads
    /// report the cancellation (`next_batch` gives `None` with `last_error`, iteration raises
    /// `CancelledError`), never a silent end.
    fn close(&self) {
        self.stream.cancel();
        let mut state = self.state();
        state.peeked = None;
        state.pending_error = None;
    }

    /// The batches' schema as an `arrow_schema` capsule (`pyarrow.schema(stream)` reads it).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        crate::arrow::schema_capsule(py, self.stream.schema().as_ref())
    }

    /// The rest of the stream through the Arrow C stream interface, with no copy: a batch
    /// read ahead by `has_next` comes first.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // Only the stream's own schema is offered; a consumer that asked for another casts.
        let _ = requested_schema;
        let first = self.state().peeked.take();
        let reader = SourceReader::new(self.stream.schema(), first, self.stream.clone());
        crate::arrow::stream_capsule(py, Box::new(reader))
    }

    fn __repr__(&self) -> String {
        // The config may hold keys: show only the adapter and the state.
        format!(
            "ddstream.Stream(adapter={:?}, progress={:.2}, done={})",
            self.adapter,
            self.stream.progress(),
            if self.is_done() { "True" } else { "False" }
        )
    }
}

/// `start` / `end` as epoch seconds (int or float) or text (epoch seconds or RFC 3339);
/// `datetime` objects are turned into RFC 3339 text by the Python wrapper.
fn time_arg(value: &Bound<'_, PyAny>) -> PyResult<TimeArg> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(TimeArg::Text(text.to_str()?.to_string()));
    }
    let seconds: f64 = value.extract().map_err(|_| {
        Failure::new(
            "config",
            "start and end must be epoch seconds, RFC 3339 text or a datetime",
        )
        .into_py_err(value.py())
    })?;
    Ok(TimeArg::Seconds(seconds))
}

/// A `RecordBatchReader` over a [`BatchSource`], with one batch read ahead put first. Used
/// by the Arrow C stream export, whose consumer (pyarrow, polars) calls it without the GIL.
pub struct SourceReader<S> {
    schema: SchemaRef,
    first: Option<RecordBatch>,
    source: S,
}

impl<S: BatchSource> SourceReader<S> {
    pub fn new(schema: SchemaRef, first: Option<RecordBatch>, source: S) -> Self {
        SourceReader {
            schema,
            first,
            source,
        }
    }
}

impl<S: BatchSource> Iterator for SourceReader<S> {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(batch) = self.first.take() {
            return Some(Ok(batch));
        }
        match self.source.next() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => None,
            Err(e) => Some(Err(ArrowError::ExternalError(Box::new(e)))),
        }
    }
}

impl<S: BatchSource> RecordBatchReader for SourceReader<S> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
