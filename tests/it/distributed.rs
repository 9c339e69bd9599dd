//! Distributed queries end to end: worker processes of the built binary on loopback
//! (`ddstream worker --listen 127.0.0.1:0`), a coordinator process (`ddstream --workers ...`),
//! and the simulator in this process, whose request log tells which worker sent each request
//! (a worker names itself in its User-Agent). Every query's rows are compared with the same SQL
//! run in one process.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::common::runtime::SpawnedTask;

use crate::cli::ok;
use crate::common::contains_bytes as contains;
use ddstream::simulator::{LoggedRequest, RateLimit, Simulator, SimulatorConfig};

const BIN: &str = env!("CARGO_BIN_EXE_ddstream");
const KEY: &str = "dist-api-key-5f0c2a";
const APP: &str = "dist-app-key-77b1e9";
const TOKEN: &str = "dist-bearer-token-c4d3";

/// A week at one minute by host: 42 windows of 4 hours.
const WEEK: &str =
    "ts >= TIMESTAMP '2026-11-20T00:00:00Z' AND ts < TIMESTAMP '2026-11-27T00:00:00Z'";

/// A worker process; killed when dropped.
struct Worker {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    fn start(env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(BIN);
        cmd.args(["worker", "--listen", "127.0.0.1:0"])
            .env_remove("DD_API_KEY")
            .env_remove("DD_APP_KEY")
            .env_remove("DD_SITE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the worker starts");
        let pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = Arc::clone(&stderr);
        // Drained for the worker's whole life, so its warnings never block it on a full pipe.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some((_, addr)) = line.trim().split_once("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                keep.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the worker prints the address it listens on");
        Worker {
            child,
            addr,
            stderr,
        }
    }
}

fn start_workers(n: usize, env: &[(&str, &str)]) -> Vec<Worker> {
    (0..n).map(|_| Worker::start(env)).collect()
}

fn list(workers: &[Worker]) -> String {
    workers
        .iter()
        .map(|w| w.addr.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `sql` in a coordinator (`--workers`) or in one process (`None`), as CSV.
fn run(sim: &Simulator, workers: Option<&str>, env: &[(&str, &str)], sql: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["--format", "csv", "-q", "--base-url", &sim.base_url()])
        .env_remove("DD_API_KEY")
        .env_remove("DD_APP_KEY")
        .env_remove("DD_SITE")
        .env_remove("DDSTREAM_WORKERS");
    if let Some(w) = workers {
        cmd.args(["--workers", w]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg(sql).output().expect("ddstream runs")
}

fn runtime_and(config: SimulatorConfig) -> (tokio::runtime::Runtime, Simulator) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(Simulator::start(config)).unwrap();
    (runtime, sim)
}

/// The requests each worker sent (by the address in its User-Agent); `""` for the coordinator.
fn by_worker<'a>(
    requests: &'a [LoggedRequest],
    workers: &[Worker],
) -> BTreeMap<String, Vec<&'a LoggedRequest>> {
    let mut out: BTreeMap<String, Vec<&LoggedRequest>> = BTreeMap::new();
    for r in requests {
        let agent = r.user_agent.clone().unwrap_or_default();
        let who = workers
            .iter()
            .find(|w| agent.contains(&format!("worker {}", w.addr)))
            .map_or(String::new(), |w| w.addr.clone());
        out.entry(who).or_default().push(r);
    }
    out
}

fn param<'a>(r: &'a LoggedRequest, name: &str) -> Option<&'a str> {
    r.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const REST_TABLES: &str = "CREATE EXTERNAL TABLE events (id BIGINT, created_at TIMESTAMP, count BIGINT, score DOUBLE, note VARCHAR) \
     STORED AS PAGE_API LOCATION '{SIM}/api/page/events?total=120' \
     OPTIONS ('records' '/data', 'page_size_param' 'per_page', 'page_size' '25', 'total' '/total'); \
     CREATE EXTERNAL TABLE tokens (id BIGINT, created_at TIMESTAMP) STORED AS TOKEN_API \
     LOCATION '{SIM}/api/token/events?total=95' \
     OPTIONS ('records' '/records', 'next_token' '/next_cursor', 'token_param' 'cursor', 'page_size_param' 'limit', 'page_size' '10');";

#[test]
fn the_same_sql_gives_the_same_rows_on_three_workers_as_in_one_process() {
    let (_rt, sim) = runtime_and(SimulatorConfig::default());
    let workers = start_workers(3, &[]);
    let dir = tempfile::tempdir().unwrap();
    let roles = dir.path().join("roles.parquet");
    let rest = REST_TABLES.replace("{SIM}", &sim.base_url());
    let cpu = "CREATE EXTERNAL TABLE cpu STORED AS DATADOG_V1 LOCATION 'system.cpu.user{*} by {host}' OPTIONS ('granularity' '60s');";
    // A Parquet file to join with, written by the CLI itself.
    ok(&run(
        &sim,
        None,
        &[],
        &format!(
            "COPY (SELECT * FROM (VALUES ('host:web-1', 'web'), ('host:web-2', 'web'), ('host:db-1', 'db')) AS t(scope, role)) TO '{}' STORED AS PARQUET",
            roles.display()
        ),
    ));
    let queries = [
        (
            "v1",
            format!("SELECT * FROM datadog_v1('system.cpu.user{{*}} by {{host}}', '60s') WHERE {WEEK} ORDER BY scope, ts"),
        ),
        (
            "v2 timeseries",
            format!("SELECT scope, ts, value FROM datadog_v2_timeseries('avg:system.cpu.user{{*}} by {{host}}', '5m') WHERE {WEEK} ORDER BY scope, ts"),
        ),
        (
            "v2 scalar",
            "SELECT * FROM datadog_v2_scalar('avg:system.cpu.user{*} by {host}', '1h') WHERE chunk_start >= TIMESTAMP '2026-11-25T00:00:00Z' AND chunk_start < TIMESTAMP '2026-11-26T00:00:00Z' ORDER BY scope, chunk_start".to_string(),
        ),
        ("page", format!("{rest} SELECT * FROM events ORDER BY id")),
        ("token", format!("{rest} SELECT * FROM tokens ORDER BY id")),
        (
            "join with Parquet",
            format!(
                "CREATE EXTERNAL TABLE roles STORED AS PARQUET LOCATION '{}'; \
                 SELECT r.role, count(*) AS n, min(d.ts) AS lo, max(d.ts) AS hi, round(sum(d.avg), 6) AS s \
                 FROM datadog_v1('system.cpu.user{{*}} by {{host}}', '60s') d JOIN roles r ON d.scope = r.scope \
                 WHERE {WEEK} GROUP BY r.role ORDER BY r.role",
                roles.display()
            ),
        ),
        (
            "downsample",
            format!(
                "{cpu} SELECT scope, ts, count, round(mean, 9) AS mean, round(std_dev, 9) AS sd, min, max, time_first, time_last \
                 FROM downsample('cpu', 'hours', 'avg', TIMESTAMP '2026-11-20T00:00:00Z', TIMESTAMP '2026-11-27T00:00:00Z') ORDER BY scope, ts"
            ),
        ),
    ];
    for (name, sql) in &queries {
        let single = ok(&run(&sim, None, &[], sql));
        sim.clear_log();
        let distributed = ok(&run(&sim, Some(&list(&workers)), &[], sql));
        let requests = sim.requests();
        let rows = single.lines().count().saturating_sub(1);
        assert!(rows > 0, "{name}: no rows\n{single}");
        assert!(
            single == distributed,
            "{name}: {rows} rows in one process, {} distributed; first difference at line {:?}",
            distributed.lines().count().saturating_sub(1),
            single
                .lines()
                .zip(distributed.lines())
                .position(|(a, b)| a != b)
        );
        let senders = by_worker(&requests, &workers);
        if matches!(
            *name,
            "v1" | "v2 timeseries" | "join with Parquet" | "downsample"
        ) {
            for w in &workers {
                assert!(
                    senders.get(&w.addr).is_some_and(|r| !r.is_empty()),
                    "{name}: worker {} sent no request; senders: {:?}",
                    w.addr,
                    senders.keys().collect::<Vec<_>>()
                );
            }
            assert!(
                !senders.contains_key(""),
                "{name}: the coordinator fetched data itself"
            );
        }
        if *name == "v1" {
            // Each window once, and the whole week (42 windows of 4 h) between the workers.
            let windows: Vec<(String, String)> = requests
                .iter()
                .filter(|r| r.path == "/api/v1/query")
                .map(|r| {
                    let from = param(r, "from").unwrap_or_default().to_string();
                    (from, param(r, "to").unwrap_or_default().to_string())
                })
                .collect();
            let distinct: BTreeSet<&(String, String)> = windows.iter().collect();
            assert_eq!(distinct.len(), windows.len(), "a window was fetched twice");
            assert_eq!(windows.len(), 42, "{windows:?}");
        }
    }
    for w in &workers {
        let log = w.stderr.lock().unwrap();
        assert!(!log.contains("panicked"), "worker {}: {log}", w.addr);
    }
}

#[test]
fn explain_shows_the_stages_and_each_tasks_slice() {
    let (_rt, sim) = runtime_and(SimulatorConfig::default());
    let workers = start_workers(3, &[]);
    let out = ok(&run(
        &sim,
        Some(&list(&workers)),
        &[],
        &format!(
            "EXPLAIN SELECT count(*) FROM datadog_v1('system.cpu.user{{*}}', '60s') WHERE {WEEK}"
        ),
    ));
    assert!(out.contains("Stage 1 ── tasks=3"), "{out}");
    // Three contiguous slices cut on 4-hour windows, together the week.
    let tasks = out
        .split("tasks=[")
        .nth(1)
        .and_then(|s| s.split("] partitions=").next())
        .unwrap_or_else(|| panic!("no task list in {out}"));
    let bounds: Vec<&str> = tasks
        .split(", t")
        .map(|t| {
            t.split_once(":[")
                .map_or("", |(_, r)| r.trim_end_matches(')'))
        })
        .collect();
    assert_eq!(bounds.len(), 3, "{tasks}");
    let pairs: Vec<(&str, &str)> = bounds.iter().filter_map(|b| b.split_once(", ")).collect();
    assert_eq!(pairs.first().map(|p| p.0), Some("2026-11-20T00:00:00Z"));
    assert_eq!(pairs.last().map(|p| p.1), Some("2026-11-27T00:00:00Z"));
    for w in pairs.windows(2) {
        assert_eq!(w[0].1, w[1].0, "slices are not contiguous: {tasks}");
    }
    for (start, _) in &pairs {
        let hour: u32 = start[11..13].parse().unwrap();
        assert_eq!(
            hour % 4,
            0,
            "a slice starts inside a 4-hour window: {tasks}"
        );
        assert_eq!(&start[13..], ":00:00Z", "{tasks}");
    }
}

/// A TCP relay in front of a worker that keeps every byte the coordinator sends it.
struct Recorder {
    addr: String,
    sent: Arc<Mutex<Vec<u8>>>,
    _relay: SpawnedTask<()>,
}

fn record_in_front_of(runtime: &tokio::runtime::Runtime, upstream: &str) -> Recorder {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let upstream = upstream.to_string();
    let keep = Arc::clone(&sent);
    let _inside = runtime.enter();
    let task = SpawnedTask::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // The relays of every connection, stopped with the accept loop.
        let mut relays = tokio::task::JoinSet::new();
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut c_read, mut c_write) = client.into_split();
            let (mut s_read, mut s_write) = server.into_split();
            let keep = Arc::clone(&keep);
            relays.spawn(async move {
                let mut buf = vec![0u8; 16384];
                while let Ok(n) = c_read.read(&mut buf).await {
                    if n == 0 || s_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    keep.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = s_write.shutdown().await;
            });
            relays.spawn(async move {
                let _ = tokio::io::copy(&mut s_read, &mut c_write).await;
                let _ = c_write.shutdown().await;
            });
        }
    });
    Recorder {
        addr,
        sent,
        _relay: task,
    }
}

#[test]
fn no_key_crosses_the_wire_and_workers_use_their_own() {
    let (rt, sim) = runtime_and(SimulatorConfig {
        api_key: Some(KEY.into()),
        app_key: Some(APP.into()),
        bearer_token: Some(TOKEN.into()),
        ..SimulatorConfig::default()
    });
    let keys = [
        ("DD_API_KEY", KEY),
        ("DD_APP_KEY", APP),
        ("REST_TOKEN", TOKEN),
    ];
    let workers = start_workers(3, &keys);
    let recorders: Vec<Recorder> = workers
        .iter()
        .map(|w| record_in_front_of(&rt, &w.addr))
        .collect();
    let through: String = recorders
        .iter()
        .map(|r| r.addr.as_str())
        .collect::<Vec<_>>()
        .join(",");
    // The keys given as table options, and a bearer token as an ${ENV} reference.
    let sql = format!(
        "CREATE EXTERNAL TABLE cpu STORED AS DATADOG_V1 LOCATION 'system.cpu.user{{*}} by {{host}}' \
         OPTIONS ('granularity' '60s', 'api_key' '{KEY}', 'app_key' '{APP}'); \
         CREATE EXTERNAL TABLE secured (id BIGINT) STORED AS PAGE_API LOCATION '{}/api/page/events?total=60' \
         OPTIONS ('records' '/data', 'page_size_param' 'per_page', 'page_size' '20', 'total' '/total', 'headers.Authorization' 'Bearer ${{REST_TOKEN}}'); \
         SELECT count(*) AS n, min(ts) AS lo, max(ts) AS hi FROM cpu WHERE {WEEK}; \
         SELECT count(*) AS n, max(id) AS hi FROM (SELECT id FROM secured UNION ALL SELECT CAST(avg AS BIGINT) FROM cpu WHERE {WEEK})",
        sim.base_url()
    );
    let single = ok(&run(&sim, None, &[("REST_TOKEN", TOKEN)], &sql));
    let distributed = ok(&run(&sim, Some(&through), &[("REST_TOKEN", TOKEN)], &sql));
    assert_eq!(single, distributed);
    assert!(single.starts_with("n,lo,hi\n30240,"), "{single}");
    // The page scan went to a worker with its reference, which that worker expanded itself.
    assert!(
        recorders
            .iter()
            .any(|r| contains(&r.sent.lock().unwrap(), "Bearer ${REST_TOKEN}")),
        "the page scan was not sent to a worker"
    );
    for r in &recorders {
        let bytes = r.sent.lock().unwrap();
        // The plan went through this relay (so the checks below can fail) ...
        assert!(
            contains(&bytes, "system.cpu.user{*} by {host}"),
            "no plan passed {}",
            r.addr
        );
        // ... and carried no key, only the reference.
        for secret in [KEY, APP, TOKEN] {
            assert!(!contains(&bytes, secret), "a key crossed to {}", r.addr);
        }
    }
    // A literal credential header is refused rather than shipped.
    let literal = format!(
        "CREATE EXTERNAL TABLE t (id BIGINT) STORED AS PAGE_API LOCATION '{}/api/page/events?total=60' \
         OPTIONS ('records' '/data', 'headers.Authorization' 'Bearer {TOKEN}'); \
         SELECT * FROM datadog_v1('system.cpu.user{{*}}', '60s') a JOIN t ON a.avg = t.id WHERE {WEEK}",
        sim.base_url()
    );
    let out = run(&sim, Some(&list(&workers)), &[], &literal);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("'headers.authorization' holds a literal value") && err.contains("${ENV_VAR}"),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_worker_that_dies_fails_the_query_naming_it_and_its_slice() {
    let (_rt, sim) = runtime_and(SimulatorConfig {
        latency: Duration::from_millis(400),
        ..SimulatorConfig::default()
    });
    let mut workers = start_workers(3, &[]);
    let all = list(&workers);
    let victim = workers.remove(1);
    let victim_addr = victim.addr.clone();
    let mut coordinator = Command::new(BIN)
        .args(["--format", "csv", "-q", "--base-url", &sim.base_url(), "--workers", &all])
        .arg(
            "SELECT count(*) FROM datadog_v1('system.cpu.user{*} by {host}', '60s') \
             WHERE ts >= TIMESTAMP '2026-10-28T00:00:00Z' AND ts < TIMESTAMP '2026-11-27T00:00:00Z'",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once its first answer is logged (the log is written as requests finish): its
    // other 59 windows are then in flight for another 400 ms.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sim.requests().iter().any(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|a| a.contains(&format!("worker {victim_addr}")))
    }) {
        assert!(
            Instant::now() < deadline,
            "the worker never started fetching"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(victim);
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = coordinator.try_wait().unwrap() {
            break status;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the query hangs after its worker died"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    coordinator
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{err}");
    assert!(
        err.contains(&format!("the worker at {victim_addr} was lost")),
        "{err}"
    );
    assert!(err.contains("fetching datadog_v1 [2026-1"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("hyper::Error"), "{err}");
}

#[test]
fn three_workers_under_one_rate_limit_collect_no_more_429s_than_one_process() {
    // 20 requests per 2 s for the 42 windows of the week: three budgets' worth.
    let (_rt, sim) = runtime_and(SimulatorConfig {
        rate_limit: Some(RateLimit::new(20, Duration::from_secs(2))),
        ..SimulatorConfig::default()
    });
    let workers = start_workers(3, &[]);
    let sql = format!("SELECT count(*) AS n FROM datadog_v1('system.cpu.user{{*}} by {{host}}', '60s') WHERE {WEEK}");
    let too_many = |requests: &[LoggedRequest]| requests.iter().filter(|r| r.status == 429).count();
    sim.clear_log();
    let single = ok(&run(&sim, None, &[], &sql));
    let single_429 = too_many(&sim.requests());
    // A fresh budget for the second run.
    std::thread::sleep(Duration::from_secs(2));
    sim.clear_log();
    let distributed = ok(&run(&sim, Some(&list(&workers)), &[], &sql));
    let requests = sim.requests();
    assert_eq!(single, distributed);
    assert_eq!(single.trim(), "n\n30240");
    let senders = by_worker(&requests, &workers);
    assert!(
        workers.iter().all(|w| senders.contains_key(&w.addr)),
        "not every worker fetched: {:?}",
        senders.keys().collect::<Vec<_>>()
    );
    assert!(
        too_many(&requests) <= single_429,
        "{} 429s from three workers, {single_429} from one process",
        too_many(&requests)
    );
}

#[test]
fn store_tables_in_a_distributed_query_are_refused_with_what_to_do() {
    let (_rt, sim) = runtime_and(SimulatorConfig::default());
    let workers = start_workers(2, &[]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_string();
    let mut cmd = Command::new(BIN);
    cmd.args(["-q", "--store", &store, "--base-url", &sim.base_url()])
        .args(["--workers", &list(&workers)])
        .arg(format!(
            "SELECT count(*) FROM store.datapoints d JOIN datadog_v1('system.cpu.user{{*}}', '60s') a ON d.ts = a.ts WHERE {}",
            WEEK.replace("ts ", "a.ts ")
        ));
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the datastream store's tables cannot be read by workers")
            && err.contains("without --workers"),
        "{err}"
    );
}
