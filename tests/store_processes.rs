//! The store across processes: 8 processes appending to one store (4 to the same stream) lose
//! nothing, and a writer killed at seeded random points (while appending, downsampling or
//! writing segments) leaves a store that reopens with every acknowledged datapoint exactly once.
//!
//! This target has its own `main` (no libtest harness) because the test re-runs its own binary
//! as the child processes (`STORE_CHILD=...`). `DDSTREAM_CRASH_SCHEDULES=N` sets the number of
//! kill schedules (default 100).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::DateTime;
use ddstream::store::{DataQuery, Datastream, Granularity, StoreOptions, StreamSpec};
use serde_json::json;

const BASE: i64 = 946_684_800; // 2000-01-01T00:00:00Z

fn at(ts: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(ts, 0).unwrap_or_default()
}

async fn open(dir: &str) -> Datastream {
    let options = StoreOptions {
        busy_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    Datastream::open_with(dir, options)
        .await
        .expect("open store")
}

async fn ensure(ds: &Datastream, name: &str) -> String {
    ds.ensure_stream(StreamSpec::new(
        json!({ "name": name }),
        json!({}),
        ["count", "sum"],
        Granularity::Seconds,
    ))
    .await
    .expect("ensure stream")
}

/// A child: appends `count` values to stream `name`, printing `ack <value>` after each.
async fn child_append(dir: &str, name: &str, first: i64, count: i64, ts: i64) {
    let ds = open(dir).await;
    let id = ensure(&ds, name).await;
    for v in first..first + count {
        ds.append(&id, json!(v), Some(at(ts)), true)
            .await
            .expect("append");
        println!("ack {v}");
    }
}

/// A child that runs until killed: appends increasing values at increasing times, downsampling
/// (and so writing segments) every 40 appends.
async fn child_crash(dir: &str, first: i64) {
    let ds = open(dir).await;
    let id = ensure(&ds, "crash").await;
    println!("ready");
    let mut v = first;
    loop {
        ds.append(&id, json!(v), Some(at(BASE + v)), true)
            .await
            .expect("append");
        println!("ack {v}");
        if (v - first) % 40 == 39 {
            ds.downsample_streams(None, Some(at(BASE + v + 1)), false, None)
                .await
                .expect("downsample");
        }
        v += 1;
    }
}

fn spawn(env: &[(&str, String)]) -> std::process::Child {
    let exe = std::env::current_exe().expect("own executable");
    let mut cmd = Command::new(exe);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

fn acks(out: impl std::io::Read) -> Vec<i64> {
    BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("ack ").and_then(|v| v.parse().ok()))
        .collect()
}

async fn stored_values(ds: &Datastream, name: &str) -> Vec<i64> {
    let id = ensure(ds, name).await;
    ds.get_data_vec(
        &id,
        Granularity::Seconds,
        DataQuery::start(DateTime::UNIX_EPOCH),
    )
    .await
    .expect("get_data")
    .iter()
    .filter_map(|p| p.v.as_ref().and_then(|v| v.as_f64()))
    .map(|v| v as i64)
    .collect()
}

async fn eight_processes(dir: &str) -> Result<(), String> {
    let per_child = 150;
    let mut children = Vec::new();
    for i in 0..8i64 {
        let name = if i < 4 {
            "shared".to_string()
        } else {
            format!("own{i}")
        };
        children.push((
            name.clone(),
            spawn(&[
                ("STORE_CHILD", "append".into()),
                ("STORE_DIR", dir.into()),
                ("STORE_NAME", name),
                ("STORE_FIRST", (i * 1_000_000).to_string()),
                ("STORE_COUNT", per_child.to_string()),
            ]),
        ));
    }
    let mut acked: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (name, mut child) in children {
        let out = child.stdout.take().ok_or("no stdout")?;
        let got = acks(out);
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("child for {name} failed: {status}"));
        }
        acked.entry(name).or_default().extend(got);
    }
    let ds = open(dir).await;
    for (name, mut want) in acked {
        let mut got = stored_values(&ds, &name).await;
        want.sort_unstable();
        got.sort_unstable();
        let expected_len = if name == "shared" {
            4 * per_child
        } else {
            per_child
        } as usize;
        if want.len() != expected_len {
            return Err(format!(
                "{name}: {} acknowledged, expected {expected_len}",
                want.len()
            ));
        }
        if got != want {
            return Err(format!(
                "{name}: stored {} points (sum {}), acknowledged {} (sum {})",
                got.len(),
                got.iter().sum::<i64>(),
                want.len(),
                want.iter().sum::<i64>()
            ));
        }
    }
    Ok(())
}

/// xorshift64: the kill schedule.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

async fn crash_schedules(dir: &str, schedules: usize) -> Result<(), String> {
    let mut seed = 0x5eed_u64;
    let mut acked: Vec<i64> = Vec::new();
    let mut in_flight = 0usize;
    for k in 0..schedules {
        let first = k as i64 * 100_000;
        let mut child = spawn(&[
            ("STORE_CHILD", "crash".into()),
            ("STORE_DIR", dir.into()),
            ("STORE_FIRST", first.to_string()),
        ]);
        let Some(out) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("no stdout".into());
        };
        let mut lines = BufReader::new(out).lines();
        // Wait until the child has opened the store, then kill it after a random delay.
        for line in lines.by_ref() {
            if matches!(line.as_deref(), Ok("ready")) {
                break;
            }
        }
        let delay = 5 + next(&mut seed) % 400;
        let reader = std::thread::spawn(move || {
            lines
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("ack ").and_then(|v| v.parse::<i64>().ok()))
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(delay));
        // Already exited (it should not) or killed: either way it is waited for.
        let _ = child.kill();
        let status = child.wait().map_err(|e| e.to_string())?;
        if let Some(code) = status.code() {
            return Err(format!(
                "schedule {k}: the writer exited by itself with {code} before the kill"
            ));
        }
        acked.extend(reader.join().map_err(|_| "reader thread panicked")?);
        in_flight += 1;
        // The store must reopen and read after every kill.
        let ds = open(dir).await;
        let got = stored_values(&ds, "crash").await;
        let set: HashSet<i64> = got.iter().copied().collect();
        if set.len() != got.len() {
            return Err(format!(
                "schedule {k}: duplicated datapoints after the kill"
            ));
        }
        if let Some(lost) = acked.iter().find(|v| !set.contains(v)) {
            return Err(format!("schedule {k}: acknowledged datapoint {lost} lost"));
        }
        // Only the append in flight at each kill may be stored without an acknowledgement.
        if got.len() > acked.len() + in_flight {
            return Err(format!(
                "schedule {k}: {} stored, {} acknowledged",
                got.len(),
                acked.len()
            ));
        }
    }
    // A last downsampling over everything agrees with the raw points.
    let ds = open(dir).await;
    let id = ensure(&ds, "crash").await;
    let last = acked.iter().max().copied().unwrap_or(0);
    ds.downsample_streams(None, Some(at(BASE + last + 100)), false, None)
        .await
        .map_err(|e| e.to_string())?;
    let raw = stored_values(&ds, "crash").await;
    let tags = ds.get_tags(&id).await.map_err(|e| e.to_string())?;
    let until = tags["downsampled_until"]["10seconds"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .ok_or("no 10seconds state")?;
    let tens = ds
        .get_data_vec(
            &id,
            Granularity::Seconds10,
            DataQuery::start(DateTime::UNIX_EPOCH),
        )
        .await
        .map_err(|e| e.to_string())?;
    let counted: i64 = tens
        .iter()
        .filter_map(|p| p.key("c").and_then(|c| c.as_i64()))
        .sum();
    let below = raw.iter().filter(|v| BASE + **v < until).count() as i64;
    if counted != below {
        return Err(format!(
            "10-second counts {counted} != {below} raw points below {until}"
        ));
    }
    println!(
        "crash schedules: {schedules}, acknowledged {}, stored {}",
        acked.len(),
        raw.len()
    );
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    match env("STORE_CHILD").as_str() {
        "append" => {
            let n = |k| env(k).parse::<i64>().unwrap_or(0);
            runtime.block_on(child_append(
                &env("STORE_DIR"),
                &env("STORE_NAME"),
                n("STORE_FIRST"),
                n("STORE_COUNT"),
                BASE,
            ));
            return;
        }
        "crash" => {
            runtime.block_on(child_crash(
                &env("STORE_DIR"),
                env("STORE_FIRST").parse().unwrap_or(0),
            ));
            return;
        }
        _ => {}
    }
    let schedules = env("DDSTREAM_CRASH_SCHEDULES").parse().unwrap_or(100);
    let rt = &runtime;
    type Test<'a> = (&'a str, Box<dyn Fn(&str) -> Result<(), String> + 'a>);
    let tests: Vec<Test> = vec![
        (
            "eight_processes_lose_nothing",
            Box::new(move |d: &str| rt.block_on(eight_processes(d))),
        ),
        (
            "killed_writer_leaves_a_consistent_store",
            Box::new(move |d: &str| rt.block_on(crash_schedules(d, schedules))),
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in &tests {
        let dir = tempfile::tempdir().expect("temporary directory");
        match test(&dir.path().to_string_lossy()) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED: {e}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
