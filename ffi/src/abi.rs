//! The entry points: streams, queries, validation, the simulator and the version.

use std::ffi::{c_char, CString};
use std::ptr;

use ddstream::embed::arrow::ffi_stream::FFI_ArrowArrayStream as ArrowArrayStream;
use ddstream::embed::{self, EmbedError, SimulatorHandle, Stream};

use crate::error::{ddstream_error, guard, guard_code, quiet, text, text_or};
use crate::reader::SafeReader;

/// A stream of one API table over a range. Free it with `ddstream_stream_free`.
pub struct ddstream_stream {
    stream: Stream,
}

/// A running simulator. Stop and free it with `ddstream_simulator_stop`.
pub struct ddstream_simulator {
    handle: SimulatorHandle,
    base_url: CString,
}

/// Writes a new Arrow C stream over `reader` to `out`.
///
/// # Safety
/// `out` is non-NULL and points to writable memory for one `struct ArrowArrayStream` that holds
/// no live stream (it is overwritten, not released).
unsafe fn export<R>(reader: R, out: *mut ArrowArrayStream)
where
    R: ddstream::embed::arrow::record_batch::RecordBatchReader + Send + 'static,
{
    let stream = ArrowArrayStream::new(Box::new(SafeReader::new(reader)));
    // SAFETY: per the contract above.
    unsafe { ptr::write(out, stream) };
}

/// Creates a stream of `adapter` (`datadog_v1`, `datadog_v2_timeseries`, `datadog_v2_scalar`,
/// `page_api`, `token_api`) configured by `config_json`: the JSON object of `ddstream::register`
/// plus optional `range_start` / `range_end` (epoch seconds or RFC 3339 text). Datadog keys not
/// in the config come from `DD_API_KEY` / `DD_APP_KEY`. Nothing is fetched until the stream is
/// exported and read.
///
/// Returns the stream (free it with `ddstream_stream_free`), or NULL with `*err` set.
///
/// # Safety
/// `adapter` and `config_json` are NULL or NUL-terminated strings; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ddstream_stream_create(
    adapter: *const c_char,
    config_json: *const c_char,
    err: *mut *mut ddstream_error,
) -> *mut ddstream_stream {
    guard(err, ptr::null_mut(), || {
        // SAFETY: the caller's contract on the strings.
        let adapter = unsafe { text(adapter, "adapter") }?;
        let config = unsafe { text(config_json, "config_json") }?;
        let stream = Stream::create(adapter, config)?;
        Ok(Box::into_raw(Box::new(ddstream_stream { stream })))
    })
}

/// Exports the stream's batches to `out` through the Arrow C stream interface (no copy). The
/// exported stream shares the handle's run: reading it advances the handle's progress and
/// metrics, and `ddstream_stream_cancel` ends it. Release `out` with its `release` callback;
/// it stays valid after `ddstream_stream_free`. A failed read reports its message through
/// `get_last_error`, prefixed by Arrow with `External error: `.
///
/// Returns 0, or an error code (`DDSTREAM_ERR_CONFIG` when an argument is NULL).
///
/// # Safety
/// `stream` is NULL or a live handle; `out` is NULL or points to writable memory for one
/// `struct ArrowArrayStream` holding no live stream.
#[no_mangle]
pub unsafe extern "C" fn ddstream_stream_export(
    stream: *mut ddstream_stream,
    out: *mut ArrowArrayStream,
) -> i32 {
    guard_code(ptr::null_mut(), || {
        // SAFETY: NULL or live, per the contract.
        let handle = unsafe { stream.as_ref() }.ok_or_else(|| null_arg("stream"))?;
        if out.is_null() {
            return Err(null_arg("out"));
        }
        // SAFETY: `out` is writable and holds no live stream, per the contract.
        unsafe { export(handle.stream.reader(), out) };
        Ok(())
    })
}

/// The fraction of the stream fetched, 0..1: of the time range for time tables; for page and
/// token sequences 0 until the end, then 1. -1 when `stream` is NULL.
///
/// # Safety
/// `stream` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ddstream_stream_progress(stream: *const ddstream_stream) -> f64 {
    quiet(-1.0, || {
        // SAFETY: NULL or live.
        unsafe { stream.as_ref() }.map_or(-1.0, |s| s.stream.progress())
    })
}

/// The engine counters as a JSON object (`requests`, `retries`, `splits`, `rows`,
/// `bytes_received`, `throttled_ms`, `network_wait_ms`, `consumer_wait_ms`, `range_done_ms`,
/// `range_total_ms`, `progress`, `done`). The caller frees the text with
/// `ddstream_string_free`. NULL when `stream` is NULL.
///
/// # Safety
/// `stream` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ddstream_stream_metrics(stream: *const ddstream_stream) -> *mut c_char {
    quiet(ptr::null_mut(), || {
        // SAFETY: NULL or live.
        let Some(s) = (unsafe { stream.as_ref() }) else {
            return ptr::null_mut();
        };
        CString::new(s.stream.metrics_json()).map_or(ptr::null_mut(), CString::into_raw)
    })
}

/// Stops fetching: requests in flight are dropped and none starts afterwards; the exported
/// stream then fails with a "cancelled" error. Any thread may call it, also while another
/// thread reads. NULL is ignored.
///
/// # Safety
/// `stream` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ddstream_stream_cancel(stream: *const ddstream_stream) {
    quiet((), || {
        // SAFETY: NULL or live.
        if let Some(s) = unsafe { stream.as_ref() } {
            s.stream.cancel();
        }
    })
}

/// Frees a stream handle (an exported `struct ArrowArrayStream` stays valid until released).
/// NULL is ignored.
///
/// # Safety
/// `stream` is NULL or a live handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ddstream_stream_free(stream: *mut ddstream_stream) {
    if !stream.is_null() {
        // SAFETY: from `Box::into_raw` in `ddstream_stream_create`, freed once.
        quiet((), || drop(unsafe { Box::from_raw(stream) }));
    }
}

/// Runs `sql` (one or more `;`-separated statements) in a new session configured by
/// `session_config_json` (NULL means `{}`): `{"tables": {"cpu": {"adapter": "datadog_v1",
/// "query": "..."}}, "simulate": true, "simulator": {...}, "settings": {"ddstream.max_range":
/// "2h"}}`. The SQL surface is the CLI's: `STORED AS`, the table functions, the downsampling
/// functions. The last statement's result is written to `out` (release it with its `release`
/// callback; it keeps the session's simulator alive until then).
///
/// Returns 0, or an error code with `*err` set.
///
/// # Safety
/// `sql` and `session_config_json` are NULL or NUL-terminated strings; `out` is NULL or points
/// to writable memory for one `struct ArrowArrayStream` holding no live stream; `err` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ddstream_query(
    sql: *const c_char,
    session_config_json: *const c_char,
    out: *mut ArrowArrayStream,
    err: *mut *mut ddstream_error,
) -> i32 {
    guard_code(err, || {
        // SAFETY: the caller's contract on the strings.
        let sql = unsafe { text(sql, "sql") }?;
        let config = unsafe { text_or(session_config_json, "session_config_json", "{}") }?;
        if out.is_null() {
            return Err(null_arg("out"));
        }
        let session = embed::Session::from_json(config)?;
        let result = session.sql(sql)?;
        // SAFETY: `out` is writable and holds no live stream, per the contract.
        unsafe { export(result, out) };
        Ok(())
    })
}

/// A NULL pointer where a value is needed.
fn null_arg(what: &str) -> EmbedError {
    EmbedError::config(format!(
        "{what} is NULL; pass a valid pointer (see ddstream.h)"
    ))
}

/// Checks `config_json` for `adapter` as `ddstream_stream_create` would, then, for Datadog
/// adapters, the API key with `GET /api/v1/validate`.
///
/// Returns 0 when valid, or an error code with `*err` set (`DDSTREAM_ERR_API` with status 403
/// for a rejected key).
///
/// # Safety
/// `adapter` and `config_json` are NULL or NUL-terminated strings; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ddstream_validate(
    adapter: *const c_char,
    config_json: *const c_char,
    err: *mut *mut ddstream_error,
) -> i32 {
    guard_code(err, || {
        // SAFETY: the caller's contract on the strings.
        let adapter = unsafe { text(adapter, "adapter") }?;
        let config = unsafe { text(config_json, "config_json") }?;
        embed::validate(adapter, config)
    })
}

/// Starts the built-in API simulator on `127.0.0.1` with its JSON settings (NULL or `""` for
/// the defaults): `{"latency_ms": 200, "rate_limit": "100/10s", "faults": "p=0.1; kinds=500",
/// "api_key": "...", "app_key": "...", "bearer_token": "...", "max_points": 1500}`.
///
/// Returns the handle (stop and free it with `ddstream_simulator_stop`), or NULL with `*err`.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ddstream_simulator_start(
    config_json: *const c_char,
    err: *mut *mut ddstream_error,
) -> *mut ddstream_simulator {
    guard(err, ptr::null_mut(), || {
        // SAFETY: the caller's contract on the string.
        let config = unsafe { text_or(config_json, "config_json", "") }?;
        let handle = SimulatorHandle::start(config)?;
        let base_url = CString::new(handle.base_url())
            .map_err(|_| EmbedError::config("the simulator's URL holds a NUL byte"))?;
        Ok(Box::into_raw(Box::new(ddstream_simulator {
            handle,
            base_url,
        })))
    })
}

/// The simulator's `http://127.0.0.1:PORT`, owned by the handle (valid until
/// `ddstream_simulator_stop`). NULL when `sim` is NULL.
///
/// # Safety
/// `sim` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ddstream_simulator_base_url(
    sim: *const ddstream_simulator,
) -> *const c_char {
    // SAFETY: NULL or live.
    unsafe { sim.as_ref() }.map_or(ptr::null(), |s| s.base_url.as_ptr())
}

/// Stops the simulator and frees its handle. NULL is ignored.
///
/// # Safety
/// `sim` is NULL or a live handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ddstream_simulator_stop(sim: *mut ddstream_simulator) {
    if !sim.is_null() {
        quiet((), || {
            // SAFETY: from `Box::into_raw` in `ddstream_simulator_start`, freed once.
            let sim = unsafe { Box::from_raw(sim) };
            sim.handle.stop();
        });
    }
}

/// Frees a string this library returned to the caller (`ddstream_stream_metrics`). NULL is
/// ignored.
///
/// # Safety
/// `s` is NULL or a string from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ddstream_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: from `CString::into_raw`, freed once.
        quiet((), || drop(unsafe { CString::from_raw(s) }));
    }
}

/// The library's version, e.g. `"0.1.0"`; static, never freed.
#[no_mangle]
pub extern "C" fn ddstream_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
