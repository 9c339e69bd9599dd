//! Network failures from the `ddstream` binary: what retrying cannot fix fails at once with
//! its cause (a TLS handshake to a plain-HTTP port, a refused connection to a host that never
//! answered), counted in connections and in the engine's "retrying" log lines; `max_retries 0`
//! makes one attempt.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ddstream::simulator::{Simulator, SimulatorConfig};

/// Runs the binary with `DDSTREAM_LOG=ddstream=debug` (each retry logs a "retrying" line).
fn ddstream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddstream"))
        .args(args)
        .env_remove("DD_API_KEY")
        .env_remove("DD_APP_KEY")
        .env("DDSTREAM_LOG", "ddstream=debug")
        .output()
        .expect("ddstream runs")
}

fn rest_table(location: &str, options: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE t (id BIGINT) STORED AS PAGE_API LOCATION '{location}' \
         OPTIONS ('records' '/data', 'page_size_param' 'per_page', 'page_size' '10' {options}); \
         SELECT count(*) FROM t"
    )
}

fn retries(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.contains("retrying")).count()
}

/// The last line of stderr: the one-line error.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn tls_to_a_plain_http_port_is_one_attempt() {
    // A plain-HTTP server that counts its connections and answers each with a 400.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let out = ddstream(&[&rest_table(
        &format!("https://127.0.0.1:{port}/api/page/events"),
        "",
    )]);
    assert_eq!(out.status.code(), Some(1));
    let error = error_line(&out);
    assert!(
        error.contains("TLS handshake failed") && error.contains("http://"),
        "{error}"
    );
    assert!(!error.contains("invalid configuration"), "{error}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection, no retry"
    );
    assert_eq!(retries(&String::from_utf8_lossy(&out.stderr)), 0);
}

#[test]
fn a_refused_connection_to_a_host_that_never_answered_is_one_attempt() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = ddstream(&[&rest_table(
        &format!("http://127.0.0.1:{port}/api/page/events"),
        "",
    )]);
    assert_eq!(out.status.code(), Some(1));
    let error = error_line(&out);
    assert!(
        error.contains("connection refused") && error.contains("got no response"),
        "{error}"
    );
    assert!(!error.contains("invalid configuration"), "{error}");
    assert_eq!(retries(&String::from_utf8_lossy(&out.stderr)), 0);

    // `validate` says the same, not "invalid configuration".
    let out = ddstream(&[
        "validate",
        "--base-url",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let error = error_line(&out);
    assert!(error.contains("connection refused"), "{error}");
    assert!(!error.contains("invalid configuration"), "{error}");
}

#[test]
fn max_retries_zero_makes_one_attempt() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulator::start(SimulatorConfig {
            faults: "at=0:503,1:503".parse().unwrap(),
            ..Default::default()
        }))
        .unwrap();
    let location = format!("{}/api/page/events?total=5", sim.base_url());
    let out = ddstream(&[&rest_table(&location, ", 'max_retries' '0'")]);
    assert_eq!(out.status.code(), Some(1));
    let error = error_line(&out);
    assert!(
        error.contains("after 1 attempts") && error.contains("HTTP 503"),
        "{error}"
    );
    assert_eq!(sim.requests().len(), 1);

    // With retries the same fault is retried once and the query succeeds.
    sim.clear_log();
    let out = ddstream(&[
        "--format",
        "csv",
        &rest_table(&location, ", 'max_retries' '1'"),
    ]);
    assert!(out.status.success(), "{}", error_line(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "count(*)\n5");
}
