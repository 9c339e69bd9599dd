//! The Rust half of `ddstream.Datastream`: the datastream store (`ddstream::store`) with JSON
//! text in and out and times as epoch seconds, so the Python half (`ddstream/datastream.py`)
//! only converts datetimes and builds upstream's dicts.
//!
//! Every call releases the GIL while the store works (SQLite, Parquet), so other Python threads
//! run meanwhile. Errors become `ddstream.exceptions.*` through `_errors._make_store`.

use std::sync::{Arc, Mutex};

use ddstream::store::{
    DataQuery, DatapointStream, Datastream, DeriveSource, Granularity, NewDatapoint, StoreError,
    StoreLocation, StoreOptions, StreamDatapoint, StreamFilter, StreamSpec, Time,
};
use futures::StreamExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use serde_json::{Map, Value};

/// Runs a store call on ddstream's runtime (the caller has released the GIL). A call from
/// inside the runtime (a `filter_stream` callback calling the store again) would have to block
/// the runtime on itself: it is an error instead of tokio's panic.
fn run<T, F>(future: F) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(invalid(
            "ddstream.Datastream cannot be called from inside a filter_stream callback; read what the filter needs (e.g. with find_streams) before calling downsample_streams",
        ));
    }
    ddstream::embed::runtime().block_on(future)
}

/// A store error as the `ddstream.exceptions` class named by upstream's exception.
fn store_err(py: Python<'_>, error: StoreError) -> PyErr {
    let built = py.import("ddstream._errors").and_then(|module| {
        module
            .getattr("_make_store")?
            .call1((error.kind(), error.to_string()))
    });
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(_) => PyRuntimeError::new_err(error.to_string()),
    }
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::InvalidArgument(message.into())
}

fn parse_json(text: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| invalid(format!("{what} is not valid JSON: {e}")))
}

/// `null` as None, anything else as Some.
fn optional(value: Value) -> Option<Value> {
    (!value.is_null()).then_some(value)
}

fn time(ts: i64, what: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    chrono::DateTime::from_timestamp(ts, 0).ok_or_else(|| {
        StoreError::InvalidTimestamp(format!(
            "{what} {ts} (epoch seconds) is outside the range of dates"
        ))
    })
}

fn opt_time(
    ts: Option<i64>,
    what: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
    ts.map(|t| time(t, what)).transpose()
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, StoreError> {
    let Value::Array(items) = value else {
        return Err(invalid(format!("{what} must be a list of names")));
    };
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("{what} must be a list of names, not {v}")))
        })
        .collect()
}

/// One `derive_from` entry: a stream id, or `{"stream": id, "name": ..., "granularity": ...}`.
fn derive_source(value: &Value) -> Result<DeriveSource, StoreError> {
    match value {
        Value::String(id) => Ok(DeriveSource::new(id.clone())),
        Value::Object(entry) => {
            let Some(Value::String(id)) = entry.get("stream") else {
                return Err(invalid(
                    "a derive_from entry that is a dict needs 'stream' (the source stream id)",
                ));
            };
            let mut source = DeriveSource::new(id.clone());
            if let Some(Value::String(name)) = entry.get("name") {
                source = source.named(name.clone());
            }
            if let Some(Value::String(g)) = entry.get("granularity") {
                source = source.at(Granularity::parse(g)?);
            }
            Ok(source)
        }
        other => Err(invalid(format!(
            "derive_from entries are stream ids or dicts with 'stream', not {other}"
        ))),
    }
}

/// `ensure_stream`'s arguments (one JSON object with upstream's names) as a [`StreamSpec`].
fn stream_spec(args: &Value) -> Result<StreamSpec, StoreError> {
    let get = |key: &str| args.get(key).cloned().unwrap_or(Value::Null);
    let granularity = match get("highest_granularity") {
        Value::String(name) => Granularity::parse(&name)?,
        other => {
            return Err(StoreError::UnsupportedGranularity(format!(
                "highest_granularity must be a Granularity (e.g. Granularity.Seconds), not {other}"
            )))
        }
    };
    let downsamplers = match get("value_downsamplers") {
        Value::Null => Vec::new(),
        v => strings(&v, "value_downsamplers")?,
    };
    let mut spec = StreamSpec::new(
        get("query_tags"),
        optional(get("tags")).unwrap_or_else(|| Value::Object(Map::new())),
        downsamplers,
        granularity,
    );
    spec.derive_from = match get("derive_from") {
        Value::Null => None,
        Value::Array(items) => Some(items.iter().map(derive_source).collect::<Result<_, _>>()?),
        single => Some(vec![derive_source(&single)?]),
    };
    spec.derive_op = get("derive_op").as_str().map(str::to_string);
    spec.derive_args = optional(get("derive_args"));
    spec.value_type = get("value_type").as_str().map(str::to_string);
    spec.value_type_options = optional(get("value_type_options"));
    spec.derive_backprocess = get("derive_backprocess").as_bool().unwrap_or(true);
    Ok(spec)
}

/// A datapoint as JSON with epoch-second times: `{"t": 12, "v": ...}` or
/// `{"t": {"a": 1, "m": 2, "z": 3}, "v": {...}}`, keys left out as the selection says.
fn datapoint_json(point: &ddstream::store::Datapoint) -> Value {
    let mut out = Map::new();
    match &point.t {
        Some(Time::At(t)) => {
            out.insert("t".into(), Value::from(t.timestamp()));
        }
        Some(Time::Keys { first, mean, last }) => {
            let mut keys = Map::new();
            for (key, t) in [("a", first), ("m", mean), ("z", last)] {
                if let Some(t) = t {
                    keys.insert(key.into(), Value::from(t.timestamp()));
                }
            }
            out.insert("t".into(), Value::Object(keys));
        }
        None => {}
    }
    if let Some(v) = &point.v {
        out.insert("v".into(), v.clone());
    }
    Value::Object(out)
}

fn stream_datapoint_json(point: &StreamDatapoint) -> Value {
    serde_json::json!({
        "stream_id": point.stream_id,
        "granularity": point.granularity.name(),
        "datapoint": datapoint_json(&point.datapoint),
    })
}

/// The Rust half of `ddstream.Datastream`.
#[pyclass(module = "ddstream._ddstream", name = "_Store", frozen)]
pub struct PyStore {
    store: Datastream,
    location: String,
}

impl PyStore {
    /// Runs `f` with the GIL released; its store error becomes a Python exception.
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(Datastream) -> Result<T, StoreError> + Send,
    ) -> PyResult<T> {
        let store = self.store.clone();
        py.detach(move || f(store)).map_err(|e| store_err(py, e))
    }
}

#[pymethods]
impl PyStore {
    /// Opens (creating if needed) the store at `location`: a directory, or `s3://bucket/prefix`
    /// with `meta_dir` for the SQLite metadata.
    #[new]
    #[pyo3(signature = (location, meta_dir=None))]
    fn new(py: Python<'_>, location: &str, meta_dir: Option<&str>) -> PyResult<Self> {
        let (text, meta) = (location.to_string(), meta_dir.map(std::path::PathBuf::from));
        let store = py
            .detach(move || {
                let location = StoreLocation::parse(&text)?;
                run(location.open(meta.as_deref(), StoreOptions::default()))
            })
            .map_err(|e| store_err(py, e))?;
        Ok(PyStore {
            store,
            location: location.to_string(),
        })
    }

    /// `ensure_stream` with its arguments as one JSON object; returns the stream id.
    fn ensure_stream(&self, py: Python<'_>, args_json: &str) -> PyResult<String> {
        let args = args_json.to_string();
        self.call(py, move |store| {
            let spec = stream_spec(&parse_json(&args, "ensure_stream's arguments")?)?;
            run(store.ensure_stream(spec))
        })
    }

    /// The stream's tags as JSON text.
    fn get_tags(&self, py: Python<'_>, stream_id: &str) -> PyResult<String> {
        let id = stream_id.to_string();
        self.call(py, move |store| {
            run(store.get_tags(&id)).map(|tags| Value::Object(tags).to_string())
        })
    }

    fn update_tags(&self, py: Python<'_>, stream_id: &str, tags_json: &str) -> PyResult<()> {
        let (id, tags) = (stream_id.to_string(), tags_json.to_string());
        self.call(py, move |store| {
            run(store.update_tags(&id, parse_json(&tags, "tags")?))
        })
    }

    fn remove_tag(&self, py: Python<'_>, stream_id: &str, tag_json: &str) -> PyResult<()> {
        let (id, tag) = (stream_id.to_string(), tag_json.to_string());
        self.call(py, move |store| {
            run(store.remove_tag(&id, parse_json(&tag, "tag")?))
        })
    }

    fn clear_tags(&self, py: Python<'_>, stream_id: &str) -> PyResult<()> {
        let id = stream_id.to_string();
        self.call(py, move |store| run(store.clear_tags(&id)))
    }

    /// The tags of every matching stream, as JSON text of a list.
    fn find_streams(&self, py: Python<'_>, query_json: &str) -> PyResult<String> {
        let query = query_json.to_string();
        self.call(py, move |store| {
            let query = optional(parse_json(&query, "query_tags")?);
            let found = run(store.find_streams(query))?;
            Ok(Value::from(found.into_iter().map(Value::Object).collect::<Vec<_>>()).to_string())
        })
    }

    /// Appends one value (JSON text) at `timestamp` (epoch seconds, None: now); returns the
    /// stored datapoint as JSON text.
    #[pyo3(signature = (stream_id, value_json, timestamp=None, check_timestamp=true))]
    fn append(
        &self,
        py: Python<'_>,
        stream_id: &str,
        value_json: &str,
        timestamp: Option<i64>,
        check_timestamp: bool,
    ) -> PyResult<String> {
        let (id, value) = (stream_id.to_string(), value_json.to_string());
        self.call(py, move |store| {
            let value = parse_json(&value, "value")?;
            let at = opt_time(timestamp, "timestamp")?;
            let point = run(store.append(&id, value, at, check_timestamp))?;
            Ok(stream_datapoint_json(&point).to_string())
        })
    }

    /// Appends `[{"stream_id", "value", "timestamp"}, ...]` (JSON text) in one transaction.
    fn append_multiple(&self, py: Python<'_>, datapoints_json: &str) -> PyResult<()> {
        let text = datapoints_json.to_string();
        self.call(py, move |store| {
            let Value::Array(items) = parse_json(&text, "datapoints")? else {
                return Err(invalid("datapoints must be a list of dicts"));
            };
            let mut points = Vec::with_capacity(items.len());
            for item in items {
                let Value::Object(mut item) = item else {
                    return Err(invalid(
                        "each datapoint must be a dict with 'stream_id', 'value' and optionally 'timestamp'",
                    ));
                };
                let Some(Value::String(stream_id)) = item.remove("stream_id") else {
                    return Err(invalid("each datapoint needs 'stream_id' (a stream id)"));
                };
                let Some(value) = item.remove("value") else {
                    return Err(invalid(format!("the datapoint of stream {stream_id} has no 'value'")));
                };
                let timestamp = match item.remove("timestamp") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => match n.as_i64() {
                        Some(ts) => Some(time(ts, "timestamp")?),
                        None => return Err(invalid(format!("timestamp {n} is not whole epoch seconds"))),
                    },
                    Some(other) => {
                        return Err(invalid(format!("timestamp must be a datetime, not {other}")))
                    }
                };
                points.push(NewDatapoint {
                    stream_id,
                    value,
                    timestamp,
                });
            }
            run(store.append_multiple(points))
        })
    }

    /// Downsamples the matching streams up to `until` (epoch seconds, None: now); the new
    /// datapoints as JSON text when `return_datapoints`. `filter_stream` is called with each
    /// candidate's tags (as JSON text) and returns whether to downsample it.
    #[pyo3(signature = (query_json, until=None, return_datapoints=false, filter_stream=None))]
    fn downsample_streams(
        &self,
        py: Python<'_>,
        query_json: &str,
        until: Option<i64>,
        return_datapoints: bool,
        filter_stream: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let query = query_json.to_string();
        // The first exception the filter raised: re-raised once the call returns.
        let raised: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let filter: Option<StreamFilter> = filter_stream.map(|callable| {
            let raised = Arc::clone(&raised);
            let filter: StreamFilter = Arc::new(move |tags: &Map<String, Value>| {
                Python::attach(|py| {
                    let text = Value::Object(tags.clone()).to_string();
                    match callable.call1(py, (text,)).and_then(|r| r.is_truthy(py)) {
                        Ok(keep) => keep,
                        Err(e) => {
                            raised
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                            false
                        }
                    }
                })
            });
            filter
        });
        let out = self.call(py, move |store| {
            let query = optional(parse_json(&query, "query_tags")?);
            let until = opt_time(until, "until")?;
            let points = run(store.downsample_streams(query, until, return_datapoints, filter))?;
            Ok(
                Value::from(points.iter().map(stream_datapoint_json).collect::<Vec<_>>())
                    .to_string(),
            )
        });
        if let Some(e) = raised.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        out
    }

    fn backprocess_streams(&self, py: Python<'_>, query_json: &str) -> PyResult<()> {
        let query = query_json.to_string();
        self.call(py, move |store| {
            run(store.backprocess_streams(optional(parse_json(&query, "query_tags")?)))
        })
    }

    fn delete_streams(&self, py: Python<'_>, query_json: &str) -> PyResult<()> {
        let query = query_json.to_string();
        self.call(py, move |store| {
            run(store.delete_streams(optional(parse_json(&query, "query_tags")?)))
        })
    }

    /// `get_data`: the query as JSON (`start`, `start_exclusive`, `end`, `end_exclusive` in
    /// epoch seconds, `reverse`, `value_downsamplers`, `time_downsamplers`); a cursor over the
    /// datapoints.
    fn get_data(
        &self,
        py: Python<'_>,
        stream_id: &str,
        granularity: &str,
        query_json: &str,
    ) -> PyResult<PyCursor> {
        let (id, granularity, text) = (
            stream_id.to_string(),
            granularity.to_string(),
            query_json.to_string(),
        );
        let stream = self.call(py, move |store| {
            let granularity = Granularity::parse(&granularity)?;
            let q = parse_json(&text, "get_data's arguments")?;
            let ts = |key: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
                match q.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => match v.as_i64() {
                        Some(t) => time(t, key).map(Some),
                        None => Err(invalid(format!("{key} must be a datetime, not {v}"))),
                    },
                }
            };
            let names = |key: &str| -> Result<Option<Vec<String>>, StoreError> {
                match q.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => strings(v, key).map(Some),
                }
            };
            let query = DataQuery {
                start: ts("start")?,
                start_exclusive: ts("start_exclusive")?,
                end: ts("end")?,
                end_exclusive: ts("end_exclusive")?,
                reverse: q.get("reverse").and_then(Value::as_bool).unwrap_or(false),
                value_downsamplers: names("value_downsamplers")?,
                time_downsamplers: names("time_downsamplers")?,
            };
            run(store.get_data(&id, granularity, query))
        })?;
        Ok(PyCursor {
            stream: Mutex::new(Some(stream)),
        })
    }

    #[getter]
    fn location(&self) -> &str {
        &self.location
    }
}

/// The datapoints of one `get_data` call, read a page at a time.
#[pyclass(module = "ddstream._ddstream", name = "_Cursor", frozen)]
pub struct PyCursor {
    /// None once the stream ended (or failed).
    stream: Mutex<Option<DatapointStream>>,
}

#[pymethods]
impl PyCursor {
    /// Up to `n` more datapoints as JSON text of a list; an empty list at the end.
    fn next_page(&self, py: Python<'_>, n: usize) -> PyResult<String> {
        let mut guard = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut stream) = guard.take() else {
            return Ok("[]".to_string());
        };
        let (stream, page) = py.detach(move || {
            let mut page = Vec::new();
            let result = run(async {
                while page.len() < n {
                    match stream.next().await {
                        Some(Ok(point)) => page.push(datapoint_json(&point)),
                        Some(Err(e)) => return Err(e),
                        None => return Ok(false),
                    }
                }
                Ok(true)
            });
            match result {
                Ok(more) => (more.then_some(stream), Ok(page)),
                Err(e) => (None, Err(e)),
            }
        });
        *guard = stream;
        page.map(|p| Value::from(p).to_string())
            .map_err(|e| store_err(py, e))
    }
}
