//! The `ddstream` binary end to end: the README's query, output formats, errors on one line.

use std::process::Command;

pub(crate) fn ddstream(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ddstream"))
        .args(args)
        .env_remove("DD_API_KEY")
        .env_remove("DD_APP_KEY")
        .output()
        .expect("ddstream runs")
}

/// The standard output of a run that must succeed (else its stderr in the failure).
pub(crate) fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn one_simulated_day_is_1440_minutes() {
    let out = ddstream(&[
        "--simulate",
        "--format",
        "csv",
        "SELECT count(*) AS n, count(DISTINCT ts) AS d, min(ts) AS lo, max(ts) AS hi FROM datadog_v1 WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-02T00:00:00Z'",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "n,d,lo,hi\n1440,1440,2026-01-01T00:00:00Z,2026-01-01T23:59:00Z"
    );
}

#[test]
fn simulate_serves_the_v2_tables() {
    let out = ddstream(&[
        "--simulate",
        "--format",
        "csv",
        "SELECT count(*) AS n, count(DISTINCT scope) AS hosts FROM datadog_v2_timeseries WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T01:00:00Z'; \
         SELECT scope, count(*) AS chunks FROM datadog_v2_scalar WHERE chunk_start >= TIMESTAMP '2026-01-01T00:00:00Z' AND chunk_start < TIMESTAMP '2026-01-02T00:00:00Z' GROUP BY scope ORDER BY scope",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "n,hosts\n180,3\n\nscope,chunks\nhost:db-1,24\nhost:web-1,24\nhost:web-2,24"
    );
}

#[test]
fn several_statements_run_in_one_session() {
    let out = ddstream(&[
        "--simulate",
        "--format",
        "ndjson",
        "CREATE EXTERNAL TABLE load STORED AS DATADOG_V1 LOCATION 'system.load.1{*} by {host}' OPTIONS ('granularity' '1h'); SELECT scope, count(*) AS n FROM load WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-02T00:00:00Z' GROUP BY scope ORDER BY scope",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"scope":"host:db-1","n":24}"#,
            r#"{"scope":"host:web-1","n":24}"#,
            r#"{"scope":"host:web-2","n":24}"#
        ]
    );
}

#[test]
fn parquet_output_to_a_file_and_a_sql_file() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("day.parquet");
    let sql = dir.path().join("q.sql");
    std::fs::write(&sql, "SELECT ts, avg, max FROM datadog_v1 WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T06:00:00Z';").unwrap();
    let out = ddstream(&[
        "--simulate",
        "--format",
        "parquet",
        "-o",
        parquet.to_str().unwrap(),
        "-f",
        sql.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = format!("SELECT count(*) AS n FROM '{}'", parquet.display());
    let out = ddstream(&["--format", "csv", &check]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n\n360");
}

#[test]
fn errors_are_one_line_with_a_nonzero_exit() {
    let out = ddstream(&["--simulate", "SELECT * FROM datadog_v1 WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-06-01T00:00:00Z'"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("max_range"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );

    let out = ddstream(&["--config", "/nonexistent/ddstream.toml", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read config file /nonexistent/ddstream.toml"));
}

#[test]
fn tables_from_a_toml_config_file() {
    let dir = tempfile::tempdir().unwrap();
    // The simulator runs inside this ddstream process: point the config at it with --simulate's
    // defaults by leaving base_url out is not possible, so serve a separate simulator.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(ddstream::simulator::Simulator::start(Default::default()))
        .unwrap();
    let config = dir.path().join("tables.toml");
    std::fs::write(
        &config,
        format!("[tables.web]\nadapter = \"datadog_v1\"\nquery = \"system.cpu.user{{env:prod}} by {{host}}\"\ngranularity = \"10m\"\nbase_url = \"{}\"\n", sim.base_url()),
    )
    .unwrap();
    let out = ddstream(&["--config", config.to_str().unwrap(), "--format", "csv", "SELECT count(DISTINCT scope) AS hosts, count(*) AS n FROM web WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T01:00:00Z'"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hosts,n\n2,12");

    // A syntax error on a key line does not echo the key.
    std::fs::write(
        &config,
        "[tables.t]\nadapter = \"datadog_v1\"\napi_key = abcdef0123secret\n",
    )
    .unwrap();
    let out = ddstream(&["--config", config.to_str().unwrap(), "SELECT 1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not valid TOML at line 3"), "{stderr}");
    assert!(!stderr.contains("abcdef0123secret"), "{stderr}");

    std::fs::write(&config, "[tables.bad]\nquery = \"m{*}\"\n").unwrap();
    let out = ddstream(&["--config", config.to_str().unwrap(), "SELECT 1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs an adapter") && stderr.contains("datadog_v2_scalar"),
        "{stderr}"
    );

    // v2 tables from TOML: named queries as a table, formulas as a list.
    std::fs::write(
        &config,
        format!("[tables.ratio]\nadapter = \"datadog_v2_timeseries\"\nbase_url = \"{}\"\nformulas = [\"a / b\"]\n[tables.ratio.queries]\na = \"avg:system.cpu.user{{*}}\"\nb = \"avg:system.load.1{{*}}\"\n", sim.base_url()),
    )
    .unwrap();
    let out = ddstream(&["--config", config.to_str().unwrap(), "--format", "csv", "SELECT name, count(*) AS n, bool_and(value > 0) AS positive FROM ratio WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T01:00:00Z' GROUP BY name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "name,n,positive\na / b,60,true"
    );

    std::fs::write(
        &config,
        "[tables.t]\nadapter = \"datadog_v9\"\nquery = \"m{*}\"\n",
    )
    .unwrap();
    let out = ddstream(&["--config", config.to_str().unwrap(), "SELECT 1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown adapter 'datadog_v9'; available adapters: datadog_v1, datadog_v2_timeseries, datadog_v2_scalar"),
        "{stderr}"
    );
    drop(sim);
}

#[test]
fn validate_checks_the_api_key() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(ddstream::simulator::Simulator::start(
            ddstream::simulator::SimulatorConfig {
                api_key: Some("good-key".into()),
                ..Default::default()
            },
        ))
        .unwrap();
    let run = |key: &str| {
        Command::new(env!("CARGO_BIN_EXE_ddstream"))
            .args(["validate", "--base-url", &sim.base_url()])
            .env("DD_API_KEY", key)
            .output()
            .unwrap()
    };
    let ok = run("good-key");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("credentials valid"));
    let bad = run("bad-key-789");
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("HTTP 403") && stderr.contains("Forbidden"),
        "{stderr}"
    );
    assert!(!stderr.contains("bad-key-789"), "{stderr}");
}

#[test]
fn validate_against_a_closed_port_is_a_network_error_naming_the_url() {
    // A port that was just free: nothing listens there, so the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base_url = format!("http://127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_ddstream"))
        .args(["validate", "--base-url", &base_url])
        .env("DD_API_KEY", "unused-key-123")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("got no response: connection refused")
            && stderr.contains(&format!("{base_url}/api/v1/validate")),
        "{stderr}"
    );
    assert!(!stderr.contains("invalid configuration"), "{stderr}");
    assert!(!stderr.contains("unused-key-123"), "{stderr}");
}

/// The example configs for well-known API shapes work against the simulator emulating them:
/// only the URL changes; the secret comes from the environment and is never printed.
#[test]
fn example_rest_configs_run_against_their_simulated_apis() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(ddstream::simulator::Simulator::start(
            ddstream::simulator::SimulatorConfig {
                bearer_token: Some("tok-example-123".into()),
                ..Default::default()
            },
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rest");
    let cases = [
        (
            "github_issues.json",
            "https://api.github.com/repos/apache/datafusion/issues",
            "/api/github/events?total=250",
            "GITHUB_TOKEN",
            "SELECT count(*) AS n, count(DISTINCT number) AS ids, count(title) AS titles FROM issues",
            "n,ids,titles\n250,0,0",
        ),
        (
            "stripe_charges.toml",
            "https://api.stripe.com/v1/charges",
            "/api/stripe/events?total=230",
            "STRIPE_API_KEY",
            "SELECT count(*) AS n, count(DISTINCT id) AS ids, count(amount) AS amounts FROM charges",
            "n,ids,amounts\n230,230,0",
        ),
    ];
    for (file, real_url, simulated, env, sql, want) in cases {
        let text = std::fs::read_to_string(format!("{examples}/{file}")).unwrap();
        assert!(text.contains(real_url), "{file} points at {real_url}");
        let config = dir.path().join(file);
        std::fs::write(
            &config,
            text.replace(real_url, &format!("{}{simulated}", sim.base_url())),
        )
        .unwrap();
        let run = |token: Option<&str>| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddstream"));
            cmd.args(["--config", config.to_str().unwrap(), "--format", "csv", sql]);
            match token {
                Some(t) => cmd.env(env, t),
                None => cmd.env_remove(env),
            };
            cmd.output().unwrap()
        };
        let out = run(Some("tok-example-123"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {stderr}");
        // GitHub's columns (number, title) are not in the simulated events: nulls, not errors.
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want, "{file}");

        let out = run(Some("wrong-token-456"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && stderr.contains("HTTP 401")
                && stderr.contains("Bad credentials"),
            "{file}: {stderr}"
        );
        assert!(!stderr.contains("wrong-token-456"), "{file}: {stderr}");

        let out = run(None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("environment variable {env}, which is not set")),
            "{file}: {stderr}"
        );
    }
    drop(sim);
}
