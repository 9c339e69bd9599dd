//! The C ABI called as C would: NULL and non-UTF-8 arguments, unknown adapters, keys absent from
//! errors, cancellation (the simulator's request log), SQL through the Arrow C stream, and the C
//! example's row count against the Rust API and the simulator's raw data.

use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::Duration;

use crate::*;
use ddstream::embed::arrow::array::{AsArray, RecordBatch};
use ddstream::embed::arrow::datatypes::Int64Type;
use ddstream::embed::arrow::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use ddstream::embed::{Session, SimulatorHandle};

const SECRET: &str = "sekrit-key-do-not-print-42";
const DAY_SQL: &str = "SELECT count(*) AS n FROM datadog_v1 WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-02T00:00:00Z'";

fn c(text: &str) -> CString {
    CString::new(text).unwrap()
}

/// Takes the error out of `err`: (code, message), freeing it.
fn take(err: &mut *mut ddstream_error) -> (i32, String) {
    assert!(!err.is_null(), "no error was reported");
    let code = unsafe { ddstream_error_code(*err) };
    let message = unsafe { CStr::from_ptr(ddstream_error_message(*err)) }
        .to_str()
        .unwrap()
        .to_string();
    unsafe { ddstream_error_free(*err) };
    *err = ptr::null_mut();
    (code, message)
}

fn create(adapter: &CStr, config: &str, err: &mut *mut ddstream_error) -> *mut ddstream_stream {
    let config = c(config);
    unsafe { ddstream_stream_create(adapter.as_ptr(), config.as_ptr(), err) }
}

fn export(stream: *mut ddstream_stream) -> ArrowArrayStreamReader {
    let mut out = FFI_ArrowArrayStream::empty();
    assert_eq!(unsafe { ddstream_stream_export(stream, &mut out) }, 0);
    ArrowArrayStreamReader::try_new(out).unwrap()
}

#[test]
fn null_and_non_utf8_arguments_are_errors() {
    let mut err = ptr::null_mut();
    let s = unsafe { ddstream_stream_create(ptr::null(), c"{}".as_ptr(), &mut err) };
    assert!(s.is_null());
    let (code, message) = take(&mut err);
    assert_eq!(code, DDSTREAM_ERR_CONFIG);
    assert!(message.contains("adapter is NULL"), "{message}");

    let bad = [b'd', 0xff, b'x', 0];
    let s =
        unsafe { ddstream_stream_create(bad.as_ptr().cast::<c_char>(), c"{}".as_ptr(), &mut err) };
    assert!(s.is_null());
    let (code, message) = take(&mut err);
    assert_eq!(code, DDSTREAM_ERR_CONFIG);
    assert!(message.contains("not valid UTF-8"), "{message}");

    // NULL `err` is allowed: the failure is still reported by the result.
    let s = unsafe { ddstream_stream_create(c"datadog_v1".as_ptr(), ptr::null(), ptr::null_mut()) };
    assert!(s.is_null());
    assert_eq!(
        unsafe { ddstream_validate(ptr::null(), ptr::null(), ptr::null_mut()) },
        DDSTREAM_ERR_CONFIG
    );
    let mut out = FFI_ArrowArrayStream::empty();
    assert_eq!(
        unsafe { ddstream_stream_export(ptr::null_mut(), &mut out) },
        DDSTREAM_ERR_CONFIG
    );
    assert_eq!(
        unsafe { ddstream_query(c"SELECT 1".as_ptr(), ptr::null(), ptr::null_mut(), &mut err) },
        DDSTREAM_ERR_CONFIG
    );
    assert!(take(&mut err).1.contains("out is NULL"));
    assert_eq!(unsafe { ddstream_stream_progress(ptr::null()) }, -1.0);
    assert!(unsafe { ddstream_stream_metrics(ptr::null()) }.is_null());
    assert!(unsafe { ddstream_simulator_base_url(ptr::null()) }.is_null());
    assert!(unsafe { ddstream_error_message(ptr::null()) }.is_null());
    assert_eq!(unsafe { ddstream_error_code(ptr::null()) }, 0);
    // Freeing NULL is a no-op.
    unsafe {
        ddstream_stream_cancel(ptr::null());
        ddstream_stream_free(ptr::null_mut());
        ddstream_simulator_stop(ptr::null_mut());
        ddstream_string_free(ptr::null_mut());
    }
    unsafe { ddstream_error_free(ptr::null_mut()) };
    let version = unsafe { CStr::from_ptr(ddstream_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn unknown_adapters_and_bad_configs_have_their_codes_and_no_keys() {
    let mut err = ptr::null_mut();
    assert!(create(c"datadog_v9", "{}", &mut err).is_null());
    let (code, message) = take(&mut err);
    assert_eq!(code, DDSTREAM_ERR_UNKNOWN_ADAPTER);
    assert!(
        message.contains("datadog_v1, datadog_v2_timeseries"),
        "{message}"
    );

    let sim = SimulatorHandle::start(r#"{"api_key": "expected"}"#).unwrap();
    let with_key = |extra: &str| {
        format!(
            r#"{{"query": "q{{*}}", "base_url": "{}", "api_key": "{SECRET}", "app_key": "{SECRET}"{extra}}}"#,
            sim.base_url()
        )
    };
    let mut messages = Vec::new();
    assert!(create(c"datadog_v1", &with_key(r#", "bogus": 1"#), &mut err).is_null());
    let (code, message) = take(&mut err);
    assert_eq!(code, DDSTREAM_ERR_CONFIG);
    messages.push(message);

    // The simulator wants another key: validate reports the 403 with the API's message.
    let config = c(&with_key(""));
    let code = unsafe { ddstream_validate(c"datadog_v1".as_ptr(), config.as_ptr(), &mut err) };
    assert_eq!(code, DDSTREAM_ERR_API);
    assert_eq!(unsafe { ddstream_error_status(err) }, 403);
    assert!(!unsafe { ddstream_error_api_message(err) }.is_null());
    messages.push(take(&mut err).1);

    // Reading: the error comes through the Arrow stream's get_last_error.
    let config = with_key(r#", "range_start": 1767225600, "range_end": 1767229200"#);
    let s = create(c"datadog_v1", &config, &mut err);
    assert!(!s.is_null());
    let mut reader = export(s);
    let failure = reader.next().expect("an item").unwrap_err().to_string();
    assert!(failure.contains("HTTP 403"), "{failure}");
    messages.push(failure);
    unsafe { ddstream_stream_free(s) };
    for m in &messages {
        assert!(!m.contains(SECRET), "a key in: {m}");
    }
}

#[test]
fn cancel_stops_requests_and_fails_the_exported_stream() {
    let sim = SimulatorHandle::start(r#"{"latency_ms": 100}"#).unwrap();
    let config = format!(
        r#"{{"query": "system.cpu.user{{*}}", "base_url": "{}", "range_start": "2026-01-01T00:00:00Z", "range_end": "2026-01-31T00:00:00Z", "chunk": "3h", "prefetch_depth": 2}}"#,
        sim.base_url()
    );
    let mut err = ptr::null_mut();
    let s = create(c"datadog_v1", &config, &mut err);
    assert!(!s.is_null() && err.is_null());
    let mut reader = export(s);
    assert!(reader.next().unwrap().unwrap().num_rows() > 0);
    let progress = unsafe { ddstream_stream_progress(s) };
    assert!(progress > 0.0 && progress < 1.0, "{progress}");
    // Cancel from another thread, as C may.
    let handle = s as usize;
    std::thread::spawn(move || unsafe { ddstream_stream_cancel(handle as *const ddstream_stream) })
        .join()
        .unwrap();
    let failure = reader.next().expect("an item").unwrap_err().to_string();
    assert!(failure.contains("cancelled"), "{failure}");
    std::thread::sleep(Duration::from_millis(400));
    let settled = sim.requests().len();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(sim.requests().len(), settled, "a request after cancel");
    assert!(
        settled < 10,
        "{settled} requests: cancel did not stop the stream"
    );
    let metrics = unsafe { ddstream_stream_metrics(s) };
    let text = unsafe { CStr::from_ptr(metrics) }
        .to_str()
        .unwrap()
        .to_string();
    unsafe { ddstream_string_free(metrics) };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["done"], true);
    // Requests cancelled in flight count as sent but never reach the simulator's log, which
    // records a request once it is answered.
    let sent = json["requests"].as_u64().unwrap() as usize;
    assert!(
        sent >= settled && sent < 10,
        "{sent} sent, {settled} answered"
    );
    unsafe { ddstream_stream_free(s) };
    // The exported stream outlives the handle.
    assert!(reader.next().unwrap().is_err());
}

/// v1 buckets of the day with a raw point on some host: the rows of `system.cpu.user{*}` at
/// 60 s, from the simulator's documented raw data alone.
fn expected_day_rows() -> i64 {
    let jan1 = 1_767_225_600i64;
    (jan1..jan1 + 86_400)
        .step_by(60)
        .filter(|b| {
            ["web-1", "web-2", "db-1"].iter().any(|h| {
                (*b..b + 60)
                    .step_by(10)
                    .any(|t| raw_value("system.cpu.user", h, t).is_some())
            })
        })
        .count() as i64
}

use ddstream::simulator::data::raw_value;

fn count(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[test]
fn sql_through_the_abi_counts_what_the_rust_api_counts() {
    let mut err = ptr::null_mut();
    let mut out = FFI_ArrowArrayStream::empty();
    let sql = c(DAY_SQL);
    let code = unsafe {
        ddstream_query(
            sql.as_ptr(),
            c(r#"{"simulate": true}"#).as_ptr(),
            &mut out,
            &mut err,
        )
    };
    assert_eq!(code, 0);
    assert!(err.is_null());
    let batches: Vec<RecordBatch> = ArrowArrayStreamReader::try_new(out)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let rust = Session::from_json(r#"{"simulate": true}"#)
        .unwrap()
        .sql(DAY_SQL)
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(count(&batches), count(&rust));
    assert_eq!(count(&batches), expected_day_rows());

    let mut failed = FFI_ArrowArrayStream::empty();
    let code = unsafe { ddstream_query(c"SELEC 1".as_ptr(), ptr::null(), &mut failed, &mut err) };
    assert_eq!(code, DDSTREAM_ERR_SQL);
    assert_eq!(take(&mut err).0, DDSTREAM_ERR_SQL);
}

/// The directory holding the built libddstream (`target/debug` or its `deps`).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        if dir.join("libddstream.so").exists() || dir.join("libddstream.dylib").exists() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "no libddstream.so next to {}; build it with cargo build -p ddstream-ffi",
        exe.display()
    );
}

#[test]
fn the_c_example_streams_as_many_rows_as_sql_counts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lib = library_dir();
    let dir = std::env::temp_dir().join(format!("ddstream-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("stream");
    let built = std::process::Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(root.join("examples/c/stream.c"))
        .arg("-I")
        .arg(root.join("include"))
        .arg("-L")
        .arg(&lib)
        .arg("-lddstream")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .status()
        .expect("cc runs (the C toolchain is needed for this test)");
    assert!(built.success(), "examples/c/stream.c does not compile");
    let run = std::process::Command::new(&exe).output().unwrap();
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        run.status.success(),
        "the C example failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let value = |key: &str| -> i64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no '{key}' line in:\n{stdout}"))
            .trim()
            .parse()
            .unwrap()
    };
    let expected = expected_day_rows();
    assert_eq!(value("rows:"), expected);
    assert_eq!(value("sql count:"), expected);
    // One printed line per row: "<epoch seconds> <avg>".
    let printed = stdout
        .lines()
        .filter(|l| l.split(' ').count() == 2 && l.starts_with("17"))
        .count() as i64;
    assert_eq!(printed, expected);
    std::fs::remove_dir_all(&dir).ok();
}
