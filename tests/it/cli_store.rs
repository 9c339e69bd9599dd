//! `--store`, `INSERT INTO store.datapoints` and the `ddstream store` commands through the real
//! binary: the API's rows land in the store, `store streams` lists them, `store downsample`
//! makes the hourly tier that `store.datapoints` then serves.

use crate::cli::{ddstream, ok};

const RANGE: &str =
    "ts >= TIMESTAMP '2026-11-01T00:00:00Z' AND ts < TIMESTAMP '2026-11-01T03:00:00Z'";

#[test]
fn api_rows_go_into_the_store_and_come_back_downsampled() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("metrics");
    let store = store.to_str().unwrap();
    // The API's own answer for the first two hours, for comparison: downsampling closes an
    // hour only once a later point exists, so of the 3 hours appended 2 get an hourly bucket.
    let api = ok(&ddstream(&[
        "--simulate",
        "--format",
        "csv",
        "SELECT count(*) AS n, sum(avg) AS s FROM datadog_v1 \
         WHERE ts >= TIMESTAMP '2026-11-01T00:00:00Z' AND ts < TIMESTAMP '2026-11-01T02:00:00Z'",
    ]));
    let api_line = api.lines().nth(1).unwrap().to_string();
    let (api_n, api_sum) = api_line.split_once(',').unwrap();
    let api_n: i64 = api_n.parse().unwrap();
    let api_sum: f64 = api_sum.parse().unwrap();
    assert_eq!(api_n, 120);

    let inserted = ok(&ddstream(&[
        "--simulate",
        "--store",
        store,
        "--format",
        "csv",
        &format!(
            "INSERT INTO store.datapoints (stream_id, ts, value) \
             SELECT '{{\"metric\": \"cpu\"}}', ts, avg FROM datadog_v1 WHERE {RANGE} ORDER BY ts"
        ),
    ]));
    assert_eq!(inserted.trim(), "count\n180");

    let streams = ok(&ddstream(&[
        "--format", "csv", "store", "streams", "--store", store,
    ]));
    let mut lines = streams.lines();
    assert!(lines.next().unwrap().starts_with("stream_id,tags,"));
    let row = lines.next().expect("one stream");
    assert!(row.contains("metric") && row.contains("cpu"), "{row}");
    assert_eq!(lines.next(), None);

    let out = ddstream(&[
        "store",
        "downsample",
        "--store",
        store,
        "--until",
        "2026-11-02T00:00:00Z",
    ]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("downsampled datapoints written"));

    let hours = ok(&ddstream(&[
        "--store",
        store,
        "--format",
        "csv",
        "SELECT count(*) AS hours, sum(count) AS points, sum(sum) AS total FROM store.datapoints WHERE granularity = 'hours'",
    ]));
    let line = hours.lines().nth(1).unwrap().to_string();
    let fields: Vec<&str> = line.split(',').collect();
    assert_eq!(fields[0], "2", "{hours}");
    assert_eq!(fields[1].parse::<i64>().unwrap(), api_n);
    let total: f64 = fields[2].parse().unwrap();
    assert!(
        (total - api_sum).abs() < 1e-6 * api_sum.abs(),
        "{total} vs {api_sum}"
    );
}

#[test]
fn store_errors_name_the_flag_to_give() {
    for (args, expected) in [
        (vec!["store", "streams"], "--store PATH_OR_URL"),
        (
            vec!["store", "streams", "--store", "s3://bucket/p"],
            "--store-meta",
        ),
        (
            vec!["store", "streams", "--store", "gs://bucket/p"],
            "scheme 'gs'",
        ),
    ] {
        let out = ddstream(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = ddstream(&[
        "store",
        "downsample",
        "--store",
        dir.path().to_str().unwrap(),
        "--until",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}
