//! Error wording, as a table of bad inputs: each gives one line on stderr, exit code 1, and a
//! sentence that says what was wrong (and what to write instead), never a Rust `Debug` form, a
//! doubled prefix, a "file a bug report" tail, or an option's value.

use super::cli::ddstream;

/// A key-like value typed into OPTIONS: no error may show it.
const SECRET: &str = "sk0123456789abcdef0123456789abcd";

/// (SQL, fragments the error must contain).
fn cases() -> Vec<(String, Vec<&'static str>)> {
    vec![
        (
            "SELEC 1".into(),
            vec!["SQL syntax error", "found: SELEC", "Line: 1, Column: 1"],
        ),
        ("SELECT 1 +".into(), vec!["SQL syntax error", "expression"]),
        (
            "SELECT * FROM downsample('datadog_v1', 'hours', 'scope')".into(),
            vec![
                "value column 'scope' is Utf8, not a number",
                "avg",
                "most_often()",
            ],
        ),
        (
            "SELECT derivative(avg, ts) FROM datadog_v1".into(),
            vec!["derivative() is a window function", "OVER (PARTITION BY"],
        ),
        (
            "SELECT ds_bucket(ts) FROM datadog_v1".into(),
            vec!["ds_bucket takes two arguments", "ds_bucket('hours', ts)"],
        ),
        (
            "CREATE EXTERNAL TABLE t STORED AS DATADOG_V9 LOCATION 'x'".into(),
            vec![
                "STORED AS DATADOG_V9 is not a table type",
                "DATADOG_V1",
                "DATADOG_V2_SCALAR",
                "PAGE_API",
            ],
        ),
        (
            "SELECT * FROM nope".into(),
            vec!["table nope not found", "CREATE EXTERNAL TABLE", "--simulate"],
        ),
        (
            "SELECT * FROM 'no/such/file.parquet'".into(),
            vec!["no table or file named 'no/such/file.parquet'", "check the path"],
        ),
        (
            "SELECT counter_reset(avg) FROM datadog_v1".into(),
            vec!["counter_reset() is a window function", "OVER (PARTITION BY"],
        ),
        (
            "SELECT mean(scope) FROM datadog_v1".into(),
            vec!["mean(x) takes a numeric argument; got Utf8"],
        ),
        (
            "SELECT nofunc(1)".into(),
            vec!["Invalid function 'nofunc'"],
        ),
        (
            format!("CREATE EXTERNAL TABLE t STORED AS DATADOG_V1 LOCATION 'm{{*}}' OPTIONS ('api_key' '{SECRET}' 'granularity' '60s')"),
            vec![
                "SQL syntax error",
                "after option definition",
                "found: a quoted string (not shown)",
            ],
        ),
        (
            format!("CREATE EXTERNAL TABLE t STORED AS DATADOG_V1 LOCATION 'm{{*}}' OPTIONS ('granularity' '60s' api_key {SECRET})"),
            vec!["SQL syntax error"],
        ),
    ]
}

#[test]
fn bad_inputs_get_one_clear_sentence() {
    for (sql, fragments) in cases() {
        let out = ddstream(&["--simulate", &sql]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{sql}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{sql}: {stderr}");
        assert!(stderr.starts_with("error: "), "{sql}: {stderr}");
        for fragment in fragments {
            assert!(
                stderr.contains(fragment),
                "{sql}: no {fragment:?} in {stderr}"
            );
        }
        assert_clean(&sql, &stderr);
    }
}

/// What no error may contain.
fn assert_clean(input: &str, stderr: &str) {
    for bad in [
        "Error(",
        "(\"",
        "please file",
        "filing a bug report",
        "Error during planning",
        "Execution error",
        "Internal error",
        "coercion failed",
        "Candidate functions",
        SECRET,
    ] {
        assert!(!stderr.contains(bad), "{input}: {bad:?} in {stderr}");
    }
}

#[test]
fn usage_errors_exit_1_and_bad_partitions_are_refused() {
    let out = ddstream(&["--bogus-flag", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus-flag"));

    let out = ddstream(&["--partitions", "0", "SELECT 1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("at least 1 partition"), "{stderr}");

    let out = ddstream(&["--partitions", "many", "SELECT 1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("'many' is not a number of partitions"),
        "{stderr}"
    );

    // --help is not an error.
    let out = ddstream(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--quiet"));
}
