//! Flags and standard input: SQL piped in, global flags on either side of a subcommand,
//! `--partitions N` alone deciding a scan's partitions, `--quiet` and the timing line.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::cli::ddstream;

fn with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddstream"))
        .args(args)
        .env_remove("DD_API_KEY")
        .env_remove("DD_APP_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn sql_from_stdin_runs_the_last_statement_and_fails_on_errors() {
    let out = with_stdin(&["--format", "csv"], "SELECT 1 AS a;\nSELECT 2 AS b\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n1\n\nb\n2\n");

    let out = with_stdin(
        &["--format", "csv"],
        "SELECT 1 AS a;\nSELECT * FROM nope;\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("table nope not found"), "{stderr}");
}

#[test]
fn global_flags_go_before_or_after_the_subcommand() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(ddstream::simulator::Simulator::start(Default::default()))
        .unwrap();
    let url = sim.base_url();
    for args in [
        vec!["--base-url", url.as_str(), "validate"],
        vec!["validate", "--base-url", url.as_str()],
        vec!["--quiet", "validate", "--base-url", url.as_str()],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ddstream"))
            .args(&args)
            .env("DD_API_KEY", "any-key")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("credentials valid for {url}")),
            "{args:?}: {stdout}"
        );
    }
}

#[test]
fn partitions_alone_sets_the_scans_partitions() {
    let explain = |partitions: Option<&str>| {
        let mut args = vec!["--simulate", "--format", "csv"];
        if let Some(n) = partitions {
            args.extend(["--partitions", n]);
        }
        args.push("EXPLAIN SELECT * FROM datadog_v1 WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-03T00:00:00Z'");
        let out = ddstream(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Above the tables' default cap of 4, and below it.
    assert!(
        explain(Some("8")).contains("partitions=8"),
        "{}",
        explain(Some("8"))
    );
    assert!(explain(Some("2")).contains("partitions=2"));
    assert!(explain(None).contains("partitions=4"));
}

#[test]
fn timing_lines_on_stderr_unless_quiet() {
    let out = ddstream(&[
        "--format",
        "csv",
        "SELECT 1 AS a UNION ALL SELECT 2; SELECT 3 AS b",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("2 rows in ") && lines[0].ends_with(" s"),
        "{stderr}"
    );
    assert!(lines[1].starts_with("1 row in "), "{stderr}");

    let out = ddstream(&["--quiet", "--format", "csv", "SELECT 1 AS a"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n1\n");
}
