//! The CLI's output end to end: every Arrow type and every table in every format, several
//! statements in one document, files that appear only when complete, closed pipes, capped
//! tables and charts.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimestampMillisecondType};
use serde_json::{json, Value};

use super::cli::{ddstream, ok};

const FORMATS: [&str; 6] = ["table", "csv", "json", "ndjson", "parquet", "arrow"];

/// A day of the simulator, as SQL bounds on `column`.
fn day(column: &str) -> String {
    format!("{column} >= TIMESTAMP '2026-01-01T00:00:00Z' AND {column} < TIMESTAMP '2026-01-02T00:00:00Z'")
}

fn failed(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // The error, after the "N rows in T s" lines of the statements that ran before it.
    let error: Vec<&str> = stderr
        .lines()
        .filter(|l| !(l.contains(" rows in ") || l.contains(" row in ")) || l.starts_with("error"))
        .collect();
    assert_eq!(error.len(), 1, "{stderr}");
    stderr
}

/// The rows of a table's footer (`N rows`, `N rows (first ...)`).
fn table_rows(text: &str) -> usize {
    let footer = text.lines().last().unwrap_or_default();
    footer
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no row count in {footer:?}"))
}

fn csv_records(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn parquet_batches(path: &Path) -> Vec<datafusion::arrow::array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn arrow_batches(path: &Path) -> Vec<datafusion::arrow::array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    datafusion::arrow::ipc::reader::FileReader::try_new(file, None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `ddstream --simulate --format format -o path sql`.
fn simulated_to_file(format: &str, path: &str, sql: &str) -> std::process::Output {
    ddstream(&["--simulate", "--format", format, "-o", path, sql])
}

/// Runs ddstream with `args` writing `format` (parquet or arrow) to `stem.format`, and reads
/// the file back.
fn binary_output(
    format: &str,
    args: &[&str],
    stem: &Path,
) -> Vec<datafusion::arrow::array::RecordBatch> {
    let path = stem.with_extension(format);
    let mut all = vec!["--format", format, "-o", path.to_str().unwrap()];
    all.extend_from_slice(args);
    ok(&ddstream(&all));
    if format == "parquet" {
        parquet_batches(&path)
    } else {
        arrow_batches(&path)
    }
}

/// Runs `sql` with `--format format` and returns the number of rows, read back with a parser
/// of that format (parquet and arrow through a file).
fn rows_in(format: &str, sql: &str, dir: &Path) -> usize {
    match format {
        "table" => table_rows(&ok(&ddstream(&["--simulate", "--max-rows", "inf", sql]))),
        "csv" => csv_records(&ok(&ddstream(&["--simulate", "--format", "csv", sql]))).len(),
        "json" => {
            let text = ok(&ddstream(&["--simulate", "--format", "json", sql]));
            assert!(text.ends_with("]\n"), "{text}");
            let doc: Value = serde_json::from_str(&text).unwrap();
            doc.as_array().unwrap().len()
        }
        "ndjson" => {
            let text = ok(&ddstream(&["--simulate", "--format", "ndjson", sql]));
            assert!(text.is_empty() || text.ends_with('\n'));
            for line in text.lines() {
                assert!(serde_json::from_str::<Value>(line).unwrap().is_object());
            }
            text.lines().count()
        }
        "parquet" | "arrow" => {
            let batches = binary_output(format, &["--simulate", sql], &dir.join("out"));
            batches.iter().map(|b| b.num_rows()).sum()
        }
        other => unreachable!("{other}"),
    }
}

#[test]
fn every_table_and_function_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let six_hours =
        "ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T06:00:00Z'";
    let hour = "ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T01:00:00Z'";
    // The expected counts follow from the granularities: 6 h of 1 min, 1 h of 1 min for 3
    // hosts, 24 hourly chunks for 3 hosts, 24 hours, 3 hosts, 6 h of 5 min for 3 hosts.
    let cases = [
        (format!("SELECT * FROM datadog_v1 WHERE {six_hours}"), 360),
        (format!("SELECT * FROM datadog_v2_timeseries WHERE {hour}"), 180),
        (format!("SELECT * FROM datadog_v2_scalar WHERE {}", day("chunk_start")), 72),
        (
            "SELECT * FROM downsample('datadog_v1', 'hours', 'avg', TIMESTAMP '2026-01-01T00:00:00Z', TIMESTAMP '2026-01-02T00:00:00Z')".to_string(),
            24,
        ),
        (
            format!("SELECT scope, frequencies(round(value)) AS f, most_often(round(value)) AS m FROM datadog_v2_timeseries WHERE {hour} GROUP BY scope"),
            3,
        ),
        (
            format!("SELECT * FROM datadog_v1('system.load.1{{*}} by {{host}}', '5m') WHERE {six_hours}"),
            216,
        ),
        (
            format!("SELECT * FROM datadog_v2_timeseries('avg:system.load.1{{*}} by {{host}}') WHERE {hour}"),
            180,
        ),
        (
            format!("SELECT * FROM datadog_v2_scalar('avg:system.load.1{{*}} by {{host}}') WHERE {}", day("chunk_start")),
            72,
        ),
    ];
    for (sql, want) in &cases {
        for format in FORMATS {
            assert_eq!(rows_in(format, sql, dir.path()), *want, "{format}: {sql}");
        }
    }
}

/// One row of every type the issue lists, and one row of nulls.
const TYPES_SQL: &str = "SELECT \
    CASE WHEN i = 1 THEN make_array(1, 2, NULL) END AS list, \
    CASE WHEN i = 1 THEN arrow_cast(make_array(1, 2), 'LargeList(Int64)') END AS large_list, \
    CASE WHEN i = 1 THEN map([1.5, 2.5], [2, 1]) END AS num_map, \
    CASE WHEN i = 1 THEN map(['a'], [1]) END AS str_map, \
    CASE WHEN i = 1 THEN named_struct('a', 1, 'b', 'x') END AS struct, \
    CASE WHEN i = 1 THEN arrow_cast('view', 'Utf8View') END AS view, \
    arrow_cast(CASE WHEN i = 1 THEN 'dict' END, 'Dictionary(Int32, Utf8)') AS dict, \
    arrow_cast(arrow_cast(CASE WHEN i = 1 THEN TIMESTAMP '2026-01-01T00:00:00Z' END, 'Timestamp(ms, \"UTC\")'), 'Timestamp(ms, \"+02:00\")') AS ts_tz, \
    CASE WHEN i = 1 THEN CAST(12.34 AS DECIMAL(10, 2)) END AS dec, \
    CASE WHEN i = 1 THEN CAST('NaN' AS DOUBLE) END AS nan, \
    CASE WHEN i = 1 THEN CAST('inf' AS DOUBLE) END AS pos_inf, \
    CASE WHEN i = 1 THEN CAST('-inf' AS DOUBLE) END AS neg_inf \
    FROM (VALUES (1), (2)) AS t(i) ORDER BY i";

const COLUMNS: [&str; 12] = [
    "list",
    "large_list",
    "num_map",
    "str_map",
    "struct",
    "view",
    "dict",
    "ts_tz",
    "dec",
    "nan",
    "pos_inf",
    "neg_inf",
];

/// The first row as JSON (NaN and ±Inf have no JSON form: null), written out by hand.
fn json_row() -> Value {
    json!({
        "list": [1, 2, null],
        "large_list": [1, 2],
        "num_map": {"1.5": 2, "2.5": 1},
        "str_map": {"a": 1},
        "struct": {"a": 1, "b": "x"},
        "view": "view",
        "dict": "dict",
        "ts_tz": "2026-01-01T02:00:00+02:00",
        "dec": 12.34,
        "nan": null,
        "pos_inf": null,
        "neg_inf": null,
    })
}

fn null_row() -> Value {
    Value::Object(
        COLUMNS
            .iter()
            .map(|c| (c.to_string(), Value::Null))
            .collect(),
    )
}

#[test]
fn every_arrow_type_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let run = |format: &str| ok(&ddstream(&["--format", format, TYPES_SQL]));

    let doc: Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(doc, json!([json_row(), null_row()]));

    let ndjson = run("ndjson");
    assert!(ndjson.ends_with('\n'));
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, [json_row(), null_row()]);

    // CSV: nested values as JSON text, NaN and infinities as text, nulls empty.
    let csv_text = run("csv");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        COLUMNS
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    let want = json_row();
    for (i, column) in COLUMNS.iter().enumerate().take(5) {
        let parsed: Value = serde_json::from_str(&records[0][i]).unwrap();
        assert_eq!(parsed, want[column], "{column}");
    }
    assert_eq!(
        records[0].iter().skip(5).collect::<Vec<_>>(),
        [
            "view",
            "dict",
            "2026-01-01T02:00:00+02:00",
            "12.34",
            "NaN",
            "inf",
            "-inf"
        ]
    );
    assert!(records[1].iter().all(str::is_empty), "{:?}", &records[1]);

    let table = run("table");
    for text in [
        "[1, 2, NULL]",
        "{1.5: 2, 2.5: 1}",
        "{a: 1, b: x}",
        "2026-01-01T02:00:00+02:00",
        "12.34",
        "NaN",
        "inf",
        "-inf",
    ] {
        assert!(table.contains(text), "{text} in\n{table}");
    }
    assert!(table.ends_with("2 rows\n"), "{table}");

    // Parquet keeps every type; Arrow IPC too, with the dictionary decoded (an IPC file holds
    // one dictionary per column for all batches).
    for format in ["parquet", "arrow"] {
        let batches = binary_output(format, &[TYPES_SQL], &dir.path().join("types"));
        let schema = batches[0].schema();
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::List(_) => "List".into(),
                DataType::LargeList(_) => "LargeList".into(),
                DataType::Map(_, _) => "Map".into(),
                DataType::Struct(_) => "Struct".into(),
                DataType::Dictionary(_, _) => "Dictionary".into(),
                other => other.to_string(),
            })
            .collect();
        let dict = if format == "parquet" {
            "Dictionary"
        } else {
            "Utf8"
        };
        assert_eq!(
            types,
            [
                "List",
                "LargeList",
                "Map",
                "Map",
                "Struct",
                "Utf8View",
                dict,
                "Timestamp(ms, \"+02:00\")",
                "Decimal128(10, 2)",
                "Float64",
                "Float64",
                "Float64"
            ],
            "{format}"
        );
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 2, "{format}");
        let all = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
        let nan = all.column(9).as_primitive::<Float64Type>();
        assert!(nan.value(0).is_nan() && nan.is_null(1), "{format}");
        let ts = all.column(7).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1_767_225_600_000, "{format}");
    }
}

/// CREATE, then two SELECTs of 3 and 24 rows.
fn two_results() -> String {
    format!(
        "CREATE EXTERNAL TABLE load STORED AS DATADOG_V1 LOCATION 'system.load.1{{*}} by {{host}}' OPTIONS ('granularity' '1h'); \
         SELECT scope, count(*) AS n FROM load WHERE {d} GROUP BY scope ORDER BY scope; \
         SELECT ts, avg FROM datadog_v1('system.cpu.user{{*}}', '1h') WHERE {d} ORDER BY ts",
        d = day("ts")
    )
}

#[test]
fn several_statements_make_one_document() {
    let sql = two_results();
    let json_text = ok(&ddstream(&["--simulate", "--format", "json", &sql]));
    assert!(json_text.ends_with("]\n"));
    let doc: Value = serde_json::from_str(&json_text).unwrap();
    let sets = doc.as_array().unwrap();
    assert_eq!(sets.len(), 2, "{json_text}");
    assert_eq!(sets[0].as_array().unwrap().len(), 3);
    assert_eq!(sets[0][0], json!({"scope": "host:db-1", "n": 24}));
    assert_eq!(sets[1].as_array().unwrap().len(), 24);

    // One SELECT (after a CREATE) stays a plain array of rows.
    let one = format!("CREATE EXTERNAL TABLE load STORED AS DATADOG_V1 LOCATION 'system.load.1{{*}}' OPTIONS ('granularity' '1h'); SELECT count(*) AS n FROM load WHERE {}", day("ts"));
    let doc: Value =
        serde_json::from_str(&ok(&ddstream(&["--simulate", "--format", "json", &one]))).unwrap();
    assert_eq!(doc, json!([{"n": 24}]));

    let ndjson = ok(&ddstream(&["--simulate", "--format", "ndjson", &sql]));
    let rows: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 27);
    assert!(rows[..3].iter().all(|r| r.get("n").is_some()));
    assert!(rows[3..].iter().all(|r| r.get("avg").is_some()));

    // CSV: each result set has its header; a blank line separates them.
    let csv_text = ok(&ddstream(&["--simulate", "--format", "csv", &sql]));
    let blocks: Vec<&str> = csv_text.split("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{csv_text}");
    assert!(blocks[0].starts_with("scope,n\n") && blocks[1].starts_with("ts,avg\n"));
    assert_eq!(csv_records(blocks[0]).len(), 3);
    assert_eq!(csv_records(blocks[1]).len(), 24);

    let table = ok(&ddstream(&["--simulate", &sql]));
    assert_eq!(table.matches("| scope").count(), 1);
    assert_eq!(table.matches("| ts").count(), 1);
    assert!(
        table.contains("3 rows\n\n+") && table.ends_with("24 rows\n"),
        "{table}"
    );
}

#[test]
fn several_results_go_to_numbered_files_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sql = two_results();
    let template = dir.path().join("out_{n}.parquet");
    ok(&simulated_to_file(
        "parquet",
        template.to_str().unwrap(),
        &sql,
    ));
    let counts: Vec<usize> = (1..=2)
        .map(|n| {
            parquet_batches(&dir.path().join(format!("out_{n}.parquet")))
                .iter()
                .map(|b| b.num_rows())
                .sum()
        })
        .collect();
    assert_eq!(counts, [3, 24]);

    let json_template = dir.path().join("out_{n}.json");
    ok(&simulated_to_file(
        "json",
        json_template.to_str().unwrap(),
        &sql,
    ));
    for (n, rows) in [(1, 3), (2, 24)] {
        let text = std::fs::read_to_string(dir.path().join(format!("out_{n}.json"))).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc.as_array().unwrap().len(), rows);
    }

    // Without {n}, Parquet and Arrow refuse before running anything: no file, no request.
    for format in ["parquet", "arrow"] {
        let path = dir.path().join(format!("all.{format}"));
        let err = failed(&simulated_to_file(format, path.to_str().unwrap(), &sql));
        assert!(
            err.contains("2 statements that return rows")
                && err.contains(&format!("-o 'out_{{n}}.{format}'")),
            "{err}"
        );
        assert!(!path.exists());
    }
    // Text formats hold them all in one file, as on standard output.
    let path = dir.path().join("all.json");
    ok(&simulated_to_file("json", path.to_str().unwrap(), &sql));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc.as_array().unwrap().len(), 2);
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_failed_run_leaves_no_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    std::fs::write(&path, "old\n").unwrap();
    // The cast fails while rows are being written (the first rows are out already).
    let sql = format!(
        "SELECT ts, CASE WHEN ts < TIMESTAMP '2026-01-01T12:00:00Z' THEN CAST('1' AS INT) ELSE CAST(scope AS INT) END AS bad FROM datadog_v1 WHERE {}",
        day("ts")
    );
    for format in FORMATS {
        let err = failed(&simulated_to_file(format, path.to_str().unwrap(), &sql));
        assert!(err.contains("Cannot cast"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n", "{format}");
        assert_eq!(entries(dir.path()), ["out.csv"], "{format}");
    }
}

#[test]
fn errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/out.csv");
    let err = failed(&ddstream(&[
        "--format",
        "csv",
        "-o",
        missing.to_str().unwrap(),
        "SELECT 1",
    ]));
    assert_eq!(
        err.trim(),
        format!(
            "error: cannot create {}: the directory {} does not exist",
            missing.display(),
            missing.parent().unwrap().display()
        )
    );
    // A directory where the file should go.
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    let err = failed(&ddstream(&[
        "--format",
        "csv",
        "-o",
        taken.to_str().unwrap(),
        "SELECT 1",
    ]));
    assert!(
        err.contains(&format!("cannot write {}", taken.display())),
        "{err}"
    );
    assert_eq!(entries(dir.path()), ["taken"]);

    let err = failed(&ddstream(&[
        "--plot",
        "chart.jpg",
        "SELECT now() AS t, 1 AS v",
    ]));
    assert!(
        err.contains("--plot chart.jpg: the file name must end in .png or .svg"),
        "{err}"
    );
    let chart = dir.path().join("c.png");
    let err = failed(&ddstream(&[
        "--plot",
        chart.to_str().unwrap(),
        "SELECT 1 AS v",
    ]));
    assert!(
        err.contains("needs a timestamp column for the x axis (its columns: v)"),
        "{err}"
    );
    assert!(!chart.exists());
}

#[test]
fn empty_results_print_the_header() {
    let sql = "SELECT ts, avg FROM datadog_v1 WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T01:00:00Z' AND avg < -1";
    assert_eq!(
        ok(&ddstream(&["--simulate", "--format", "csv", sql])),
        "ts,avg\n"
    );
    assert_eq!(
        ok(&ddstream(&["--simulate", sql])),
        "+----+-----+\n| ts | avg |\n+----+-----+\n+----+-----+\n0 rows\n"
    );
    assert_eq!(
        ok(&ddstream(&["--simulate", "--format", "json", sql])),
        "[]\n"
    );
    assert_eq!(
        ok(&ddstream(&["--simulate", "--format", "ndjson", sql])),
        ""
    );
}

#[test]
fn the_table_caps_rows_like_datafusion_cli() {
    let sql = format!(
        "SELECT ts, avg FROM datadog_v1 WHERE {} ORDER BY ts",
        day("ts")
    );
    let data_rows = |text: &str| text.lines().filter(|l| l.starts_with("| 2026")).count();
    let capped = ok(&ddstream(&["--simulate", &sql]));
    assert_eq!(data_rows(&capped), 40);
    assert!(
        capped.ends_with("1440 rows (first 40 shown; --max-rows inf shows all)\n"),
        "{capped}"
    );
    let five = ok(&ddstream(&["--simulate", "--max-rows", "5", &sql]));
    assert_eq!(data_rows(&five), 5);
    assert!(five.contains("| 2026-01-01T00:04:00Z |") && !five.contains("T00:05:00Z"));
    let all = ok(&ddstream(&["--simulate", "--max-rows", "inf", &sql]));
    assert_eq!(data_rows(&all), 1440);
    assert!(all.ends_with("\n1440 rows\n"));
    // A clap error (its exit code is clap's business, not the output's).
    let out = ddstream(&["--simulate", "--max-rows", "lots", &sql]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("expected a number of rows or 'inf'"),
        "{err}"
    );
}

/// Waits for `child` (its stderr piped) to exit: its status and stderr.
fn finish(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (child.wait().unwrap(), stderr)
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // A week of minutes as NDJSON is far more than a pipe holds: ddstream is still writing
    // when the reader goes away after one line.
    let sql = "SELECT * FROM datadog_v1 WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-08T00:00:00Z'";
    for format in ["ndjson", "csv", "table"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ddstream"))
            .args(["--simulate", "--max-rows", "inf", "--format", format, sql])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        let (status, stderr) = finish(child);
        assert!(status.success(), "{format}: {status:?} {stderr}");
        assert_eq!(stderr, "", "{format}");
    }
}

#[test]
fn an_interrupted_run_leaves_no_file() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(ddstream::simulator::Simulator::start(
            ddstream::simulator::SimulatorConfig {
                latency: std::time::Duration::from_millis(300),
                ..Default::default()
            },
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("month.parquet");
    // 30 days are 180 requests of 4 h: far longer than it takes to interrupt.
    let child = Command::new(env!("CARGO_BIN_EXE_ddstream"))
        .args([
            "--base-url",
            &sim.base_url(),
            "--format",
            "parquet",
            "-o",
            path.to_str().unwrap(),
            "SELECT * FROM datadog_v1('system.cpu.user{*}') WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-31T00:00:00Z'",
        ])
        .env_remove("DD_API_KEY")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until the temporary file exists: the run is writing.
    let mut writing = false;
    for _ in 0..600 {
        if !entries(dir.path()).is_empty() {
            writing = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(writing, "no temporary file appeared");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, stderr) = finish(child);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(entries(dir.path()), Vec::<String>::new());
    drop(sim);
}

const HOURLY_BY_HOST: &str = "SELECT date_bin(interval '1 hour', ts) AS hour, scope, avg(value) AS cpu FROM datadog_v2_timeseries WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-02T00:00:00Z' GROUP BY 1, 2 ORDER BY 1, 2";

#[test]
fn plot_draws_the_hourly_by_host_query() {
    let dir = tempfile::tempdir().unwrap();
    let png_path = dir.path().join("cpu.png");
    let table = ok(&ddstream(&[
        "--simulate",
        "--plot",
        png_path.to_str().unwrap(),
        HOURLY_BY_HOST,
    ]));
    // The result is still printed.
    assert!(
        table.ends_with("72 rows (first 40 shown; --max-rows inf shows all)\n"),
        "{table}"
    );

    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(&png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1200, 400));
    let channels = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let colours: std::collections::HashSet<&[u8]> = pixels.chunks(channels).collect();
    assert!(colours.len() > 50, "{} colours", colours.len());
    // Three lines of three clearly different hues (saturated pixels, by hue in 30° bins).
    let mut hues = [0usize; 12];
    for p in pixels.chunks(channels) {
        let (r, g, b) = (p[0] as f64, p[1] as f64, p[2] as f64);
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        if max - min < 80.0 {
            continue;
        }
        let hue = if max == r {
            60.0 * (((g - b) / (max - min)).rem_euclid(6.0))
        } else if max == g {
            60.0 * ((b - r) / (max - min) + 2.0)
        } else {
            60.0 * ((r - g) / (max - min) + 4.0)
        };
        hues[(hue / 30.0) as usize % 12] += 1;
    }
    assert!(hues.iter().filter(|&&n| n > 300).count() >= 3, "{hues:?}");

    let svg_path = dir.path().join("cpu.svg");
    ok(&ddstream(&[
        "--simulate",
        "--plot",
        svg_path.to_str().unwrap(),
        HOURLY_BY_HOST,
    ]));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.contains("width=\"1200\"") && svg.contains("height=\"400\""));
    for text in [
        "host:db-1",
        "host:web-1",
        "host:web-2",
        "time (UTC) from 2026-01-01 00:00",
        "cpu",
    ] {
        assert!(svg.contains(text), "{text}");
    }
    assert!(svg.matches("<polyline").count() >= 3);
}

#[test]
fn plot_takes_one_chart_per_result_set() {
    let dir = tempfile::tempdir().unwrap();
    let sql = format!("{HOURLY_BY_HOST}; {HOURLY_BY_HOST}");
    let single = dir.path().join("c.svg");
    let err = failed(&ddstream(&[
        "--simulate",
        "--plot",
        single.to_str().unwrap(),
        &sql,
    ]));
    assert!(err.contains("--plot 'chart_{n}.png'"), "{err}");
    let numbered = dir.path().join("c_{n}.svg");
    ok(&ddstream(&[
        "--simulate",
        "--format",
        "csv",
        "--plot",
        numbered.to_str().unwrap(),
        &sql,
    ]));
    assert_eq!(entries(dir.path()), ["c_1.svg", "c_2.svg"]);
}
