//! `--config` tables follow `--simulate` and `--base-url` like every other table of the
//! session: a config written for production never reaches production from a rehearsal.

use std::process::Command;

const SQL: &str = "SELECT count(DISTINCT scope) AS hosts, count(*) AS n FROM web WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T01:00:00Z'";

/// One hour at 10 minutes for the two hosts the simulator has in env:prod.
const ROWS: &str = "hosts,n\n2,12";

fn production_config(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("tables.toml");
    std::fs::write(
        &path,
        "[tables.web]\nadapter = \"datadog_v1\"\nquery = \"system.cpu.user{env:prod} by {host}\"\ngranularity = \"10m\"\n",
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn ddstream(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ddstream"))
        .args(args)
        .env_remove("DD_API_KEY")
        .env_remove("DD_APP_KEY")
        .env_remove("DD_SITE")
        .output()
        .expect("ddstream runs")
}

#[test]
fn config_tables_follow_simulate_and_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = production_config(&dir);
    // --simulate: the built-in simulator answers.
    let out = ddstream(&["--simulate", "--config", &config, "--format", "csv", SQL]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ROWS);
    // --base-url: that server answers.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(ddstream::simulator::Simulator::start(Default::default()))
        .unwrap();
    let out = ddstream(&[
        "--base-url",
        &sim.base_url(),
        "--config",
        &config,
        "--format",
        "csv",
        SQL,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ROWS);
    assert!(
        !sim.requests().is_empty(),
        "the --base-url server saw no request"
    );
    // Neither: production, which needs keys, and says so before any request.
    let out = ddstream(&["--config", &config, SQL]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no DD_API_KEY for api.datadoghq.com"),
        "{stderr}"
    );
}
