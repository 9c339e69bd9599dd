//! The datastream store (issue 16): `append_multiple` against raw SQLite inserts of the same
//! rows, `downsample_streams` against DuckDB computing the same keys from the same points, the
//! latency of `get_data` of one day at hours, and peak RSS against the number of points.
//!
//! `cargo bench --bench store` (env: `BENCH_STORE_POINTS`, default 10,000,000, the large run;
//! `BENCH_STORE_SMALL_POINTS`, default a tenth of it; `BENCH_STORE_BATCH`, points per
//! `append_multiple`, default 10,000; `BENCH_STORE_QUERIES`, `get_data` calls, default 200;
//! `BENCH_STORE_DUCKDB_REPEATS`, default 3; `BENCH_STORE_PYTHON`, default
//! `benches/peers/.venv/bin/python`; `BENCH_TMP`, where the stores go).
//!
//! Data: 3 numeric streams (highest granularity `seconds`, upstream's seven value downsamplers),
//! a point every second in each from 2026-01-01, a smooth value with noise; N points in all.
//!
//! Each size runs in child processes of this binary (it re-executes itself with `--child`), so
//! peak RSS (`getrusage(RUSAGE_SELF).ru_maxrss`) is that of one phase alone:
//!
//! 1. `append`: writes the points to `input.parquet` (stream id, epoch seconds, value; not timed),
//!    then appends them in batches, each batch once with `append_multiple` and once as raw
//!    SQLite inserts into the same `points` schema in another file (same pragmas, one prepared
//!    statement, one `BEGIN IMMEDIATE` transaction per batch); the two alternate batch by batch,
//!    so machine load hits both alike. Only the calls are timed, not building the batches.
//! 2. `downsample`: opens the store and times one `downsample_streams` (every stream, every
//!    granularity coarser than seconds, including the flush of closed ranges to Parquet).
//! 3. `idle`: opens an empty store: the process floor.
//!
//! Then this process runs `benches/peers/duckdb_store.py` on `input.parquet` (the same points;
//! DuckDB at its default threads and at 1 thread), and checks DuckDB's buckets against the
//! store's `get_data` on a sample (for each stream and granularity: a day in the middle and the
//! last day) before printing any figure: same bucket starts, same counts, min, max and times,
//! sums within 1e-9 relative. The small size is checked before the large one is timed. Last, it
//! times `get_data` of one day at hours on the large store against decoding the same Parquet
//! segment file directly (the floor of that read).
//!
//! In a debug build (`cargo bench` without `--release`, or with `--test`) it runs a smoke pass of
//! 30,000 points.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use ddstream::store::{
    DataQuery, Datapoint, Datastream, Granularity, NewDatapoint, StreamSpec, Time, ValueDownsampler,
};
use serde_json::{json, Value};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;
const STREAMS: usize = 3;
const DAY: i64 = 86_400;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: the noise of the values.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The value of stream `k` at its `i`-th second.
fn value(k: usize, i: i64) -> f64 {
    50.0 + 30.0 * (i as f64 / 3000.0 + k as f64).sin()
        + (mix((i as u64) * STREAMS as u64 + k as u64) % 1000) as f64 / 100.0
}

/// Point `j` of the interleaved sequence (time order, streams round-robin): (stream, ts, value).
fn point(j: i64) -> (usize, i64, f64) {
    let k = (j % STREAMS as i64) as usize;
    let i = j / STREAMS as i64;
    (k, T0 + i, value(k, i))
}

fn max_rss_kb() -> i64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc == 0 {
        usage.ru_maxrss
    } else {
        -1
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn stream_ids(store: &Datastream) -> Vec<String> {
    let mut ids = Vec::new();
    for k in 0..STREAMS {
        let spec = StreamSpec::new(
            json!({"name": format!("bench.{k}")}),
            json!({}),
            ValueDownsampler::upstream_seven(),
            Granularity::Seconds,
        );
        ids.push(store.ensure_stream(spec).await.expect("ensure_stream"));
    }
    ids
}

/// The points as Parquet, for DuckDB: `stream_id`, `ts` (epoch seconds), `value`.
fn write_input(path: &Path, ids: &[String], n: i64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("stream_id", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("zstd level"),
        ))
        .build();
    let file = File::create(path).expect("input.parquet");
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).expect("writer");
    let chunk = 1 << 20;
    let mut j = 0;
    while j < n {
        let end = (j + chunk).min(n);
        let pts: Vec<_> = (j..end).map(point).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    pts.iter().map(|p| ids[p.0].as_str()),
                )),
                Arc::new(Int64Array::from_iter_values(pts.iter().map(|p| p.1))),
                Arc::new(Float64Array::from_iter_values(pts.iter().map(|p| p.2))),
            ],
        )
        .expect("batch");
        writer.write(&batch).expect("write");
        j = end;
    }
    writer.close().expect("close");
}

/// The store's `points` table and its index, as src/store/meta.rs creates them.
const FLOOR_SCHEMA: &str = "
CREATE TABLE points (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stream INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    num REAL,
    json TEXT
);
CREATE INDEX points_by_time ON points (stream, ts, seq);
";

fn child_append(dir: &Path, n: i64, batch: i64) -> Value {
    let rt = runtime();
    rt.block_on(async {
        let store = Datastream::open(dir.join("store")).await.expect("open");
        let ids = stream_ids(&store).await;
        write_input(&dir.join("input.parquet"), &ids, n);

        let floor = rusqlite::Connection::open(dir.join("floor.sqlite")).expect("floor db");
        floor
            .pragma_update(None, "journal_mode", "WAL")
            .expect("WAL");
        floor
            .pragma_update(None, "synchronous", "NORMAL")
            .expect("synchronous");
        floor.execute_batch(FLOOR_SCHEMA).expect("schema");
        let mut floor = floor;

        let (mut t_store, mut t_floor) = (Duration::ZERO, Duration::ZERO);
        let mut j = 0;
        while j < n {
            let end = (j + batch).min(n);
            let rows: Vec<(i64, i64, f64)> = (j..end)
                .map(|j| {
                    let (k, ts, v) = point(j);
                    (k as i64 + 1, ts, v)
                })
                .collect();
            let t = Instant::now();
            {
                let tx = floor
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .expect("begin");
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "INSERT INTO points (stream, ts, num, json) VALUES (?1, ?2, ?3, NULL)",
                        )
                        .expect("prepare");
                    for (s, ts, v) in &rows {
                        stmt.execute(rusqlite::params![s, ts, v]).expect("insert");
                    }
                }
                tx.commit().expect("commit");
            }
            t_floor += t.elapsed();

            let points: Vec<NewDatapoint> = (j..end)
                .map(|j| {
                    let (k, ts, v) = point(j);
                    NewDatapoint {
                        stream_id: ids[k].clone(),
                        value: json!(v),
                        timestamp: DateTime::<Utc>::from_timestamp(ts, 0),
                    }
                })
                .collect();
            let t = Instant::now();
            store
                .append_multiple(points)
                .await
                .expect("append_multiple");
            t_store += t.elapsed();
            j = end;
        }
        json!({
            "points": n,
            "batch": batch,
            "store_s": t_store.as_secs_f64(),
            "floor_s": t_floor.as_secs_f64(),
            "max_rss_kb": max_rss_kb(),
        })
    })
}

fn child_downsample(dir: &Path, n: i64) -> Value {
    let rt = runtime();
    rt.block_on(async {
        let store = Datastream::open(dir.join("store")).await.expect("open");
        let until = DateTime::<Utc>::from_timestamp(T0 + n / STREAMS as i64 + 2 * DAY, 0);
        let t = Instant::now();
        store
            .downsample_streams(None, until, false, None)
            .await
            .expect("downsample_streams");
        let wall = t.elapsed().as_secs_f64();
        let stats = store.storage_stats().await.expect("stats");
        // SAFETY: reads SQLite's global memory statistics; no arguments to check.
        let sqlite_peak = unsafe { rusqlite::ffi::sqlite3_memory_highwater(0) };
        json!({
            "downsample_s": wall,
            "max_rss_kb": max_rss_kb(),
            "sqlite_heap_peak_kb": sqlite_peak / 1024,
            "buffered_points": stats.buffered_points,
            "buffered_buckets": stats.buffered_buckets,
            "segments": stats.segments,
            "segment_rows": stats.segment_rows,
        })
    })
}

fn child_idle(dir: &Path) -> Value {
    let rt = runtime();
    rt.block_on(async {
        let store = Datastream::open(dir.join("store")).await.expect("open");
        let _ = store.storage_stats().await.expect("stats");
        json!({ "max_rss_kb": max_rss_kb() })
    })
}

/// Runs this binary as `--child MODE DIR N BATCH`; its last stdout line is JSON.
fn run_child(mode: &str, dir: &Path, n: i64, batch: i64) -> Value {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .args(["--child", mode])
        .arg(dir)
        .args([n.to_string(), batch.to_string()])
        .output()
        .expect("child");
    if !out.status.success() {
        panic!(
            "child {mode} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).expect("child JSON")
}

/// One DuckDB bucket.
#[derive(Debug, Clone, PartialEq)]
struct DuckRow {
    c: i64,
    s: Option<f64>,
    q: Option<f64>,
    l: Option<f64>,
    u: Option<f64>,
    m: Option<f64>,
    d: Option<f64>,
    ta: i64,
    tm: i64,
    tz: i64,
}

/// DuckDB's buckets by (stream id, granularity index, bucket start).
type DuckBuckets = HashMap<(String, i64, i64), DuckRow>;

/// DuckDB's buckets whose day starts are in `days`.
fn read_duck(path: &Path, days: &[i64]) -> DuckBuckets {
    let file = File::open(path).expect("DuckDB output");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut out = HashMap::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let col = |name: &str, t: &DataType| {
            let c = batch.column_by_name(name).expect("column");
            cast(c, t).expect("cast")
        };
        let sid = col("stream_id", &DataType::Utf8);
        let sid = sid.as_string::<i32>();
        let ints: Vec<_> = ["g", "ts", "c", "ta", "tm", "tz"]
            .iter()
            .map(|n| col(n, &DataType::Int64))
            .collect();
        let floats: Vec<_> = ["s", "q", "l", "u", "m", "d"]
            .iter()
            .map(|n| col(n, &DataType::Float64))
            .collect();
        let i = |k: usize, r: usize| ints[k].as_primitive::<Int64Type>().value(r);
        let f = |k: usize, r: usize| {
            let a = floats[k].as_primitive::<Float64Type>();
            (!a.is_null(r)).then(|| a.value(r))
        };
        for r in 0..batch.num_rows() {
            let g = i(0, r);
            let ts = i(1, r);
            if !days.contains(&(ts - ts.rem_euclid(DAY))) {
                continue;
            }
            out.insert(
                (sid.value(r).to_string(), g, ts),
                DuckRow {
                    c: i(2, r),
                    s: f(0, r),
                    q: f(1, r),
                    l: f(2, r),
                    u: f(3, r),
                    m: f(4, r),
                    d: f(5, r),
                    ta: i(3, r),
                    tm: i(4, r),
                    tz: i(5, r),
                },
            );
        }
    }
    out
}

/// A store datapoint in DuckDB's shape.
fn store_row(p: &Datapoint) -> Option<DuckRow> {
    let v = p.v.as_ref()?.as_object()?;
    let f = |k: &str| v.get(k).and_then(Value::as_f64);
    let Some(Time::Keys {
        first: Some(a),
        mean: Some(m),
        last: Some(z),
    }) = &p.t
    else {
        return None;
    };
    Some(DuckRow {
        c: v.get("c")?.as_i64()?,
        s: f("s"),
        q: f("q"),
        l: f("l"),
        u: f("u"),
        m: f("m"),
        d: f("d"),
        ta: a.timestamp(),
        tm: m.timestamp(),
        tz: z.timestamp(),
    })
}

/// The largest relative difference of two optional floats (None when one is null alone).
fn rel(a: Option<f64>, b: Option<f64>, floor: f64) -> Option<f64> {
    match (a, b) {
        (None, None) => Some(0.0),
        (Some(a), Some(b)) => Some((a - b).abs() / a.abs().max(b.abs()).max(floor)),
        _ => None,
    }
}

/// Checks DuckDB's buckets against the store's on a sample; panics on a difference. Returns a
/// one-line summary.
async fn check_against_duckdb(
    store: &Datastream,
    ids: &[String],
    duck_out: &Path,
    n: i64,
) -> String {
    let days_total = (n / STREAMS as i64) / DAY;
    let last_day = T0 + (n / STREAMS as i64 - 1) / DAY * DAY;
    let mut days = vec![last_day];
    if days_total >= 2 {
        days.push(T0 + (days_total / 2) * DAY);
    }
    days.sort();
    days.dedup();
    let duck = read_duck(duck_out, &days);
    let (mut buckets, mut ranges, mut worst) = (0usize, 0usize, 0.0f64);
    for id in ids {
        for g in Granularity::Seconds.coarser() {
            for day in &days {
                let q = DataQuery::start(DateTime::<Utc>::from_timestamp(*day, 0).expect("day"))
                    .end_exclusive(DateTime::<Utc>::from_timestamp(day + DAY, 0).expect("day"));
                let points = store.get_data_vec(id, *g, q).await.expect("get_data");
                let expected = duck
                    .keys()
                    .filter(|(s, gi, ts)| {
                        s == id && *gi == g.index() as i64 && (*day..day + DAY).contains(ts)
                    })
                    .count();
                assert_eq!(
                    points.len(),
                    expected,
                    "{id} {} day {day}: the store has {} buckets, DuckDB {expected}",
                    g.name(),
                    points.len()
                );
                for p in &points {
                    let ts = p.ts.timestamp();
                    let ours = store_row(p)
                        .unwrap_or_else(|| panic!("{id} {} {ts}: not a bucket: {p:?}", g.name()));
                    let theirs = duck
                        .get(&(id.clone(), g.index() as i64, ts))
                        .unwrap_or_else(|| panic!("{id} {} {ts}: no DuckDB bucket", g.name()));
                    let exact = (ours.c, ours.l, ours.u, ours.ta, ours.tm, ours.tz)
                        == (
                            theirs.c, theirs.l, theirs.u, theirs.ta, theirs.tm, theirs.tz,
                        );
                    let diffs = [
                        rel(ours.s, theirs.s, 1.0),
                        rel(ours.q, theirs.q, 1.0),
                        rel(ours.m, theirs.m, 1.0),
                        rel(ours.d, theirs.d, 1.0),
                    ];
                    let max = diffs
                        .iter()
                        .try_fold(0.0f64, |acc, d| d.map(|d| acc.max(d)));
                    match max {
                        Some(d) if exact && d <= 1e-9 => worst = worst.max(d),
                        _ => panic!(
                            "{id} {} bucket {ts}: store {ours:?} vs DuckDB {theirs:?}",
                            g.name()
                        ),
                    }
                    buckets += 1;
                }
                ranges += 1;
            }
        }
    }
    format!(
        "checked {buckets} buckets in {ranges} (stream, granularity, day) ranges against DuckDB: counts, min, max, a/m/z times equal; sums, mean, std_dev within {worst:.1e} relative"
    )
}

#[derive(Debug, Clone)]
struct DuckRun {
    threads: i64,
    compute_s: f64,
    write_s: f64,
    buckets: i64,
}

fn run_duckdb(
    python: &Path,
    input: &Path,
    out: &Path,
    repeats: usize,
    threads: &str,
) -> Vec<DuckRun> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/duckdb_store.py");
    let output = Command::new(python)
        .arg(script)
        .arg(input)
        .arg(out)
        .args([repeats.to_string(), threads.to_string()])
        .output()
        .expect("DuckDB peer");
    if !output.status.success() {
        panic!(
            "DuckDB peer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("peer JSON");
            DuckRun {
                threads: v["threads"].as_i64().unwrap_or(0),
                compute_s: v["compute_s"].as_f64().unwrap_or(f64::NAN),
                write_s: v["write_s"].as_f64().unwrap_or(f64::NAN),
                buckets: v["buckets"].as_i64().unwrap_or(0),
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[(v.len() - 1) / 2]
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Decodes the store's `hours` segment(s) of `id` overlapping `[day, day + 1 day)` straight from
/// disk and counts the rows in the range: the floor of `get_data` of that day.
fn floor_read(root: &Path, id: &str, day: i64) -> usize {
    let dir = root
        .join("segments/buckets/granularity=hours")
        .join(format!("stream_id={id}"));
    let mut rows = 0;
    // A store shorter than a few hours has no hours segment yet (the smoke pass).
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let mut parts = name.splitn(3, '-');
        let (Some(lo), Some(hi)) = (
            parts.next().and_then(|p| p.parse::<i64>().ok()),
            parts.next().and_then(|p| p.parse::<i64>().ok()),
        ) else {
            continue;
        };
        if hi < day || lo >= day + DAY {
            continue;
        }
        let bytes = bytes::Bytes::from(std::fs::read(&path).expect("segment"));
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet")
            .build()
            .expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let ts = cast(batch.column_by_name("ts").expect("ts"), &DataType::Int64).expect("cast");
            let ts = ts.as_primitive::<Int64Type>();
            rows += ts
                .values()
                .iter()
                .filter(|t| (day..day + DAY).contains(*t))
                .count();
        }
    }
    rows
}

struct SizeResult {
    n: i64,
    append: Value,
    downsample: Value,
    duck: Vec<DuckRun>,
    duck1: Vec<DuckRun>,
    check: String,
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let dir = PathBuf::from(&args[3]);
        let n: i64 = args[4].parse().expect("n");
        let batch: i64 = args[5].parse().expect("batch");
        let out = match args[2].as_str() {
            "append" => child_append(&dir, n, batch),
            "downsample" => child_downsample(&dir, n),
            _ => child_idle(&dir),
        };
        println!("{out}");
        return;
    }
    let smoke = args.iter().any(|a| a == "--test") || cfg!(debug_assertions);
    let large: i64 = if smoke {
        30_000
    } else {
        env_or("BENCH_STORE_POINTS", 10_000_000)
    };
    let small: i64 = if smoke {
        3_000
    } else {
        env_or("BENCH_STORE_SMALL_POINTS", large / 10)
    };
    let batch: i64 = env_or("BENCH_STORE_BATCH", 10_000);
    let queries: usize = if smoke {
        3
    } else {
        env_or("BENCH_STORE_QUERIES", 200)
    };
    let repeats: usize = if smoke {
        1
    } else {
        env_or("BENCH_STORE_DUCKDB_REPEATS", 3)
    };
    let python = PathBuf::from(std::env::var("BENCH_STORE_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/benches/peers/.venv/bin/python",
            env!("CARGO_MANIFEST_DIR")
        )
    }));
    let have_duck = python.exists();
    let tmp_root = std::env::var("BENCH_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let tmp = tempfile::Builder::new()
        .prefix("ddstream-store-bench-")
        .tempdir_in(tmp_root)
        .expect("temporary directory");
    let load_start = loadavg();
    eprintln!(
        "store bench: {small} and {large} points, batches of {batch}, in {}",
        tmp.path().display()
    );

    let idle_dir = tmp.path().join("idle");
    std::fs::create_dir_all(&idle_dir).expect("dir");
    let idle = run_child("idle", &idle_dir, 0, batch);

    let rt = runtime();
    let mut results = Vec::new();
    for n in [small, large] {
        let dir = tmp.path().join(format!("n{n}"));
        std::fs::create_dir_all(&dir).expect("dir");
        eprintln!("store bench: {n} points: append");
        let append = run_child("append", &dir, n, batch);
        eprintln!("store bench: {n} points: downsample_streams");
        let downsample = run_child("downsample", &dir, n, batch);
        // The raw-SQLite floor's file is not needed any more.
        let _ = std::fs::remove_file(dir.join("floor.sqlite"));
        let _ = std::fs::remove_file(dir.join("floor.sqlite-wal"));
        let (mut duck, mut duck1, mut check) = (
            Vec::new(),
            Vec::new(),
            String::from("DuckDB not run (no peers venv: benches/peers/setup.sh)"),
        );
        if have_duck {
            eprintln!("store bench: {n} points: DuckDB");
            let input = dir.join("input.parquet");
            duck1 = run_duckdb(&python, &input, &dir.join("duck1.parquet"), repeats, "1");
            duck = run_duckdb(
                &python,
                &input,
                &dir.join("duck.parquet"),
                repeats,
                "default",
            );
            check = rt.block_on(async {
                let store = Datastream::open(dir.join("store")).await.expect("open");
                let ids = stream_ids(&store).await;
                check_against_duckdb(&store, &ids, &dir.join("duck.parquet"), n).await
            });
            eprintln!("store bench: {n} points: {check}");
        }
        results.push(SizeResult {
            n,
            append,
            downsample,
            duck,
            duck1,
            check,
        });
    }

    // get_data of one day at hours, on the large store, against decoding the segment directly.
    let large_dir = tmp.path().join(format!("n{large}"));
    let days_total = (large / STREAMS as i64) / DAY;
    let (lat, floor_lat) = rt.block_on(async {
        let store = Datastream::open(large_dir.join("store"))
            .await
            .expect("open");
        let ids = stream_ids(&store).await;
        let (mut lat, mut floor_lat) = (Vec::new(), Vec::new());
        // Full days whose hours are all in segments (the last day's are partly in SQLite).
        let usable = (days_total - 1).max(1);
        for q in 0..queries {
            let k = q % STREAMS;
            let day = T0 + (mix(q as u64) % usable as u64) as i64 * DAY;
            let query = DataQuery::start(DateTime::<Utc>::from_timestamp(day, 0).expect("day"))
                .end_exclusive(DateTime::<Utc>::from_timestamp(day + DAY, 0).expect("day"));
            let t = Instant::now();
            let points = store
                .get_data_vec(&ids[k], Granularity::Hours, query)
                .await
                .expect("get_data");
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let rows = floor_read(&large_dir.join("store"), &ids[k], day);
            floor_lat.push(t.elapsed().as_secs_f64() * 1e3);
            if days_total >= 2 {
                assert_eq!(points.len(), 24, "a day at hours");
                assert_eq!(rows, 24, "a day of the hours segment");
            }
        }
        (lat, floor_lat)
    });
    let load_end = loadavg();

    // Tables.
    println!("## Store (issue 16): {STREAMS} streams, a point per second each, upstream's seven value downsamplers, highest granularity seconds");
    println!();
    println!("Load average (1, 5, 15 min) at start: {load_start}; at end: {load_end}. Process floor (an empty store opened): {:.1} MiB peak RSS.", f(&idle, "max_rss_kb") / 1024.0);
    println!();
    println!("### append_multiple vs raw SQLite inserts of the same rows (batches of {batch} points, one transaction each)");
    println!();
    println!("| points | raw SQLite (s) | raw SQLite (rows/s) | append_multiple (s) | append_multiple (rows/s) | append_multiple / raw SQLite (time) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        let (fs, ss) = (f(&r.append, "floor_s"), f(&r.append, "store_s"));
        let n = r.n as f64;
        println!(
            "| {} | {fs:.2} | {:.0} | {ss:.2} | {:.0} | {:.2} |",
            r.n,
            n / fs,
            n / ss,
            ss / fs
        );
    }
    println!();
    println!("### downsample_streams to every granularity (10seconds .. days) vs DuckDB on the same points (Parquet), median of {repeats} for DuckDB");
    println!();
    println!("| points | store downsample_streams (s) | store (points/s) | DuckDB {}t compute (s) | DuckDB {}t compute + write Parquet (s) | DuckDB 1t compute + write (s) | buckets | store / DuckDB {}t compute+write | store / DuckDB 1t compute+write |",
        results.last().and_then(|r| r.duck.first()).map_or(0, |d| d.threads),
        results.last().and_then(|r| r.duck.first()).map_or(0, |d| d.threads),
        results.last().and_then(|r| r.duck.first()).map_or(0, |d| d.threads));
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        let ds = f(&r.downsample, "downsample_s");
        let compute = median(r.duck.iter().map(|d| d.compute_s).collect());
        let total = median(r.duck.iter().map(|d| d.compute_s + d.write_s).collect());
        let total1 = median(r.duck1.iter().map(|d| d.compute_s + d.write_s).collect());
        let buckets = r.duck.first().map_or(0, |d| d.buckets);
        println!(
            "| {} | {ds:.2} | {:.0} | {compute:.2} | {total:.2} | {total1:.2} | {buckets} | {:.2} | {:.2} |",
            r.n,
            r.n as f64 / ds,
            ds / total,
            ds / total1
        );
    }
    println!();
    for r in &results {
        println!("- {} points: {}. DuckDB runs (compute + write, s): {} threads {:?}; 1 thread {:?}. Store after: {} buffered points, {} buffered buckets, {} segments of {} rows.",
            r.n, r.check,
            r.duck.first().map_or(0, |d| d.threads),
            r.duck.iter().map(|d| format!("{:.2}", d.compute_s + d.write_s)).collect::<Vec<_>>(),
            r.duck1.iter().map(|d| format!("{:.2}", d.compute_s + d.write_s)).collect::<Vec<_>>(),
            r.downsample["buffered_points"], r.downsample["buffered_buckets"], r.downsample["segments"], r.downsample["segment_rows"]);
    }
    println!();
    println!("### Peak RSS (getrusage ru_maxrss of a child process per phase)");
    println!();
    println!(
        "| phase | {} points (MiB) | {} points (MiB) | large / small | process floor (MiB) |",
        small, large
    );
    println!("|---|---:|---:|---:|---:|");
    for (phase, key) in [
        ("append (+ raw SQLite floor, input Parquet)", "append"),
        ("downsample_streams", "downsample"),
    ] {
        let get = |r: &SizeResult| {
            f(
                if key == "append" {
                    &r.append
                } else {
                    &r.downsample
                },
                "max_rss_kb",
            ) / 1024.0
        };
        let (a, b) = (get(&results[0]), get(&results[1]));
        println!(
            "| {phase} | {a:.1} | {b:.1} | {:.2} | {:.1} |",
            b / a,
            f(&idle, "max_rss_kb") / 1024.0
        );
    }
    println!();
    println!("### get_data of one day at hours (24 buckets from a Parquet segment), {queries} calls on the {large}-point store");
    println!();
    println!("| read | median (ms) | p90 (ms) | median / floor |");
    println!("|---|---:|---:|---:|");
    let (m, fm) = (median(lat.clone()), median(floor_lat.clone()));
    println!(
        "| decode the segment file directly (floor) | {fm:.3} | {:.3} | 1.00 |",
        quantile(floor_lat, 0.9)
    );
    println!(
        "| `get_data_vec(id, hours, one day)` | {m:.3} | {:.3} | {:.2} |",
        quantile(lat, 0.9),
        m / fm
    );
}
