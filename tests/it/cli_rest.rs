//! REST tables from the `ddstream` binary against json-server-style pages (`X-Total-Count`,
//! `Link` with `rel="last"`), counted in the requests the simulator saw: the total from a
//! header and the last page from a link end the scan without asking for an empty page; a full
//! page without a next link warns; the time parameters follow the time column's format.

use std::process::{Command, Output};

use ddstream::simulator::{LoggedRequest, Simulator};

fn ddstream(sql: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddstream"))
        .args(["--format", "csv", sql])
        .env_remove("DD_API_KEY")
        .env_remove("DD_APP_KEY")
        .output()
        .expect("ddstream runs")
}

fn csv(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `sql` after `CREATE EXTERNAL TABLE t ... LOCATION '<sim><path>' OPTIONS (<options>)`;
/// returns the output and the requests the simulator saw.
fn run(
    sim: &Simulator,
    kind: &str,
    columns: &str,
    path: &str,
    options: &str,
    sql: &str,
) -> (Output, Vec<LoggedRequest>) {
    sim.clear_log();
    let out = ddstream(&format!(
        "CREATE EXTERNAL TABLE t ({columns}) STORED AS {kind} LOCATION '{}{path}' OPTIONS ({options}); {sql}",
        sim.base_url()
    ));
    (out, sim.requests())
}

fn pages_asked(requests: &[LoggedRequest]) -> Vec<u64> {
    let mut pages: Vec<u64> = requests
        .iter()
        .map(|r| {
            r.query
                .iter()
                .find(|(k, _)| k == "_page")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(1)
        })
        .collect();
    pages.sort();
    pages
}

const PAGES: &str = "'page_param' '_page', 'page_size_param' '_limit', 'page_size' '10', 'stop_on_short_page' 'false'";
const COUNT: &str = "SELECT count(*) AS n, count(DISTINCT id) AS d, max(id) AS hi FROM t";

#[test]
fn a_total_header_or_a_last_link_ends_page_numbers_without_an_empty_page() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulator::start(Default::default()))
        .unwrap();
    // 95 records at 10 a page are pages 1 to 10.
    let want: Vec<u64> = (1..=10).collect();

    // No total and no link: the scan ends on the first empty page, 11.
    let (out, requests) = run(
        &sim,
        "PAGE_API",
        "id BIGINT",
        "/api/jsonserver/events?total=95&link=false",
        PAGES,
        COUNT,
    );
    assert_eq!(csv(&out), "n,d,hi\n95,95,95");
    assert_eq!(pages_asked(&requests), (1..=11).collect::<Vec<u64>>());

    // X-Total-Count.
    let (out, requests) = run(
        &sim,
        "PAGE_API",
        "id BIGINT",
        "/api/jsonserver/events?total=95&link=false",
        &format!("{PAGES}, 'total_header' 'X-Total-Count'"),
        COUNT,
    );
    assert_eq!(csv(&out), "n,d,hi\n95,95,95");
    assert_eq!(pages_asked(&requests), want);
    let (out, _) = run(
        &sim,
        "PAGE_API",
        "id BIGINT",
        "/api/jsonserver/events?total=95&link=false",
        &format!("{PAGES}, 'total_header' 'X-Total-Count'"),
        "EXPLAIN SELECT id FROM t",
    );
    assert!(csv(&out).contains("total=header X-Total-Count"));

    // Link: <...?_page=10>; rel="last".
    let (out, requests) = run(
        &sim,
        "PAGE_API",
        "id BIGINT",
        "/api/jsonserver/events?total=95",
        PAGES,
        COUNT,
    );
    assert_eq!(csv(&out), "n,d,hi\n95,95,95");
    assert_eq!(pages_asked(&requests), want);
}

#[test]
fn a_full_page_without_a_next_link_warns() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulator::start(Default::default()))
        .unwrap();
    let options = "'next_link' 'true', 'page_size_param' '_limit', 'page_size' '10'";
    // With links: every record, no warning (the last page is short).
    let (out, requests) = run(
        &sim,
        "TOKEN_API",
        "id BIGINT",
        "/api/jsonserver/events?total=25",
        options,
        COUNT,
    );
    assert_eq!(csv(&out), "n,d,hi\n25,25,25");
    assert_eq!(requests.len(), 3);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("full page"));
    // Without: the first page is full and has no rel="next": it ends there, with a warning.
    let (out, requests) = run(
        &sim,
        "TOKEN_API",
        "id BIGINT",
        "/api/jsonserver/events?total=25&link=false",
        options,
        COUNT,
    );
    assert_eq!(csv(&out), "n,d,hi\n10,10,10");
    assert_eq!(requests.len(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN")
            && stderr.contains("full page (10 records = page_size)")
            && stderr.contains("Link header"),
        "{stderr}"
    );
}

#[test]
fn time_parameters_default_to_the_time_columns_format() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulator::start(Default::default()))
        .unwrap();
    // 2026-01-01T01:00:00Z is record 60 (one a minute from 00:00), id 61.
    let sql = "SELECT count(*) AS n, min(id) AS lo FROM t WHERE created >= TIMESTAMP '2026-01-01T01:00:00Z'";
    let start_sent = |format: &str, time_format: &str| {
        let (out, requests) = run(
            &sim,
            "PAGE_API",
            "id BIGINT, created TIMESTAMP",
            "/api/page/events?total=100",
            &format!(
                "'records' '/data', 'page_size_param' 'per_page', 'page_size' '50', \
                 'column.created' '{}', 'column.created.format' '{format}', \
                 'time_column' 'created', 'start_param' 'start' {time_format}",
                if format == "epoch_s" {
                    "/created_s"
                } else if format == "epoch_ms" {
                    "/created_ms"
                } else {
                    "/created_at"
                }
            ),
            sql,
        );
        assert_eq!(csv(&out), "n,lo\n40,61");
        requests[0]
            .query
            .iter()
            .find(|(k, _)| k == "start")
            .map(|(_, v)| v.clone())
            .expect("a start parameter")
    };
    assert_eq!(start_sent("epoch_s", ""), "1767229200");
    assert_eq!(start_sent("epoch_ms", ""), "1767229200000");
    assert_eq!(start_sent("rfc3339", ""), "2026-01-01T01:00:00Z");
    assert_eq!(start_sent("auto", ""), "2026-01-01T01:00:00Z");
    // An explicit time_format wins.
    assert_eq!(
        start_sent("epoch_s", ", 'time_format' 'rfc3339'"),
        "2026-01-01T01:00:00Z"
    );
}
