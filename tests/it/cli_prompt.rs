//! The interactive prompt on a pseudo-terminal: `\`-commands, Tab completion, Ctrl-C cancelling
//! a query (not the prompt) without a stale progress line, Ctrl-D with an unfinished statement.

use std::time::Duration;

use ddstream::simulator::{Simulator, SimulatorConfig};

use super::common::HOSTS;
use super::pty::Pty;

const PROMPT: &str = "ddstream> ";

#[test]
fn commands_list_tables_describe_them_and_toggle_timing() {
    let home = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(&["--simulate"], home.path(), &[]);
    p.expect(PROMPT);

    p.send("\\d\r");
    let tables = p.expect(PROMPT);
    for table in ["datadog_v1", "datadog_v2_timeseries", "datadog_v2_scalar"] {
        assert!(tables.contains(table), "{tables}");
    }

    p.send("\\d datadog_v1\r");
    let columns = p.expect(PROMPT);
    for column in ["query", "metric", "scope", "ts", "avg", "interval"] {
        assert!(columns.contains(&format!("| {column} ")), "{columns}");
    }
    assert!(columns.contains("Timestamp"), "{columns}");

    p.send("\\d nope\r");
    let missing = p.expect(PROMPT);
    assert!(missing.contains("no table named nope"), "{missing}");

    p.send("help\r");
    let help = p.expect(PROMPT);
    assert!(help.contains("\\timing") && help.contains("\\q"), "{help}");
    p.send("\\?\r");
    assert!(p.expect(PROMPT).contains("\\d NAME"));

    // Timing is on by default, off after \timing.
    p.send("SELECT 7 AS seven;\r");
    let timed = p.expect(PROMPT);
    assert!(
        timed.contains("| 7 ") && timed.contains("1 row in "),
        "{timed}"
    );
    p.send("\\timing\r");
    assert!(p.expect(PROMPT).contains("timing is off"));
    p.send("SELECT 8 AS eight;\r");
    let untimed = p.expect(PROMPT);
    assert!(
        untimed.contains("| 8 ") && !untimed.contains(" in "),
        "{untimed}"
    );

    p.send("\\bogus\r");
    assert!(p.expect(PROMPT).contains("unknown command \\bogus"));

    p.send("\\q\r");
    let (status, _) = p.wait();
    assert!(status.success(), "{status}");
}

#[test]
fn tab_completes_keywords_tables_columns_and_functions() {
    let home = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(&["--simulate"], home.path(), &[]);
    p.expect(PROMPT);
    // Keyword, column and table each typed in part: the query only runs if all three complete.
    p.send("SELE\t");
    p.expect("SELECT");
    p.send(" count(DISTINCT group_t\t");
    p.expect("group_tags");
    p.send(") AS series FROM datadog_v2_sc\t");
    p.expect("datadog_v2_scalar");
    p.send(";\r");
    let out = p.expect(" in ");
    assert!(out.contains("series"), "{out}");
    // One series per simulated host (`by {host}`).
    assert!(out.contains(&format!("| {} ", HOSTS.len())), "{out}");
    assert!(!out.contains("error"), "{out}");
    p.expect(PROMPT);

    // A function of ours, from the session's registry.
    p.send("SELECT ds_buck\t");
    p.expect("ds_bucket");
    p.send("('hours', TIMESTAMP '2026-01-01T10:30:00Z') AS b;\r");
    let out = p.expect(" in ");
    assert!(out.contains("2026-01-01T10:00:00"), "{out}");
    p.expect(PROMPT);

    // A table created at the prompt completes on the next line.
    p.send("CREATE TABLE made_here AS VALUES (1);\r");
    p.expect(PROMPT);
    p.send("SELECT count(*) AS n FROM made_h\t");
    p.expect("made_here");
    p.send(";\r");
    let out = p.expect(" in ");
    assert!(out.contains("| 1 ") && !out.contains("error"), "{out}");
    p.expect(PROMPT);
    p.send("\x04");
    assert!(p.wait().0.success());
}

#[test]
fn ctrl_c_cancels_the_query_and_keeps_the_prompt() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Every response takes a minute: the query is surely running when Ctrl-C comes.
    let sim = runtime
        .block_on(Simulator::start(SimulatorConfig {
            latency: Duration::from_secs(60),
            ..Default::default()
        }))
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(
        &["--base-url", &sim.base_url()],
        home.path(),
        &[("DD_API_KEY", "test-key"), ("DD_APP_KEY", "test-app")],
    );
    p.expect(PROMPT);
    p.send("CREATE EXTERNAL TABLE slow STORED AS DATADOG_V1 LOCATION 'system.cpu.user{*}';\r");
    p.expect(PROMPT);
    p.send("SELECT count(*) FROM slow;\r");
    // The progress bar is up: the scan is waiting for the simulator.
    p.expect("requests");
    p.send("\x03");
    let cancelled = p.expect(PROMPT);
    assert!(cancelled.contains("interrupted"), "{cancelled}");
    // The bar's line was erased (indicatif clears it with ESC [2K) before the next prompt.
    let after_bar = cancelled.rsplit("requests").next().unwrap();
    assert!(after_bar.contains("\x1b[2K"), "{cancelled:?}");

    // The prompt still works.
    p.send("SELECT 41 + 1 AS answer;\r");
    let out = p.expect(PROMPT);
    assert!(out.contains("| 42 "), "{out}");
    p.send("\\q\r");
    assert!(p.wait().0.success());
}

#[test]
fn ctrl_d_reports_an_unfinished_statement() {
    let home = tempfile::tempdir().unwrap();
    let mut p = Pty::spawn(&[], home.path(), &[]);
    p.expect(PROMPT);
    p.send("SELECT 1\r");
    p.expect("..> ");
    p.send("\x04");
    let (status, out) = p.wait();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("`SELECT 1` was not ended with ';'") && out.contains("did not run"),
        "{out}"
    );
}
