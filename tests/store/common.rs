//! Helpers: a store in a temporary directory, UTC times, upstream's seven downsamplers.
//!
//! With `DDSTREAM_STORE_TESTS=s3` every store of the suite keeps its segments on S3: the first
//! store starts moto's S3 server (`moto_server` from PyPI, found through `DDSTREAM_MOTO_SERVER`
//! or `PATH`) on loopback and each store gets its own prefix in one bucket, opened through
//! [`StoreLocation`] from the `AWS_*` variables as a user's `s3://` store is.

use chrono::{DateTime, TimeZone, Utc};
use ddstream::store::{
    DataQuery, Datapoint, Datastream, Granularity, NewDatapoint, StoreLocation, StoreOptions,
    StreamSpec,
};
use serde_json::{json, Value};

/// Upstream's seven value downsamplers (the MongoDB backend's set).
pub const SEVEN: [&str; 7] = [
    "count",
    "sum",
    "sum_squares",
    "min",
    "max",
    "mean",
    "std_dev",
];

/// A fresh store; keep the directory alive as long as the store.
pub async fn store() -> (tempfile::TempDir, Datastream) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = match std::env::var("DDSTREAM_STORE_TESTS").as_deref() {
        Ok("s3") => {
            let bucket = moto::bucket();
            let prefix = format!("suite/{}", moto::unique());
            StoreLocation::parse(&format!("s3://{bucket}/{prefix}"))
                .expect("s3 location")
                .open(Some(dir.path()), StoreOptions::default())
                .await
                .expect("open s3 store")
        }
        _ => Datastream::open(dir.path()).await.expect("open store"),
    };
    (dir, store)
}

/// moto's S3 server for the suite, started once per test process.
pub mod moto {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    const BUCKET: &str = "ddstream-tests";

    /// A number no other store of this process has.
    pub fn unique() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// The bucket, after starting the server and pointing the `AWS_*` variables at it.
    pub fn bucket() -> &'static str {
        static STARTED: OnceLock<()> = OnceLock::new();
        STARTED.get_or_init(start);
        BUCKET
    }

    fn start() {
        let server = std::env::var("DDSTREAM_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // A watchdog shell stops the server when this test process is gone, however it ends;
        // it outlives this process, so it is not waited for.
        let script = format!(
            "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill $m",
            pid = std::process::id()
        );
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script, &server])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the S3 test server {server}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto's S3 server ({server}) did not start on port {port}: install it with \
                 pip install 'moto[server]' or set DDSTREAM_MOTO_SERVER"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Set once, before the first store reads them; moto takes any credentials.
        for (key, value) in [
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ] {
            std::env::set_var(key, value);
        }
        let mut http = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
        write!(
            http,
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        )
        .expect("create bucket");
        let mut answer = String::new();
        http.read_to_string(&mut answer).expect("moto's answer");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "creating the bucket: {answer}"
        );
    }
}

/// 2000-01-01 (or another day) at h:m:s UTC.
pub fn at(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, day, h, m, s)
        .single()
        .expect("valid time")
}

/// A stream with `name` and upstream's seven downsamplers at `highest`.
pub async fn stream(store: &Datastream, name: &str, highest: Granularity) -> String {
    store
        .ensure_stream(StreamSpec::new(
            json!({ "name": name }),
            json!({}),
            SEVEN,
            highest,
        ))
        .await
        .expect("ensure stream")
}

/// Appends `(value, time)` pairs in one batch.
pub async fn append_all(
    store: &Datastream,
    id: &str,
    points: impl IntoIterator<Item = (Value, DateTime<Utc>)>,
) {
    let batch = points
        .into_iter()
        .map(|(value, t)| NewDatapoint {
            stream_id: id.to_string(),
            value,
            timestamp: Some(t),
        })
        .collect();
    store.append_multiple(batch).await.expect("append_multiple");
}

/// get_data collected.
pub async fn data(store: &Datastream, id: &str, g: Granularity, q: DataQuery) -> Vec<Datapoint> {
    store.get_data_vec(id, g, q).await.expect("get_data")
}

/// The `v` of each datapoint.
pub fn values(points: &[Datapoint]) -> Vec<Value> {
    points
        .iter()
        .map(|p| p.v.clone().unwrap_or(Value::Null))
        .collect()
}

/// Key `k` of each downsampled datapoint.
pub fn key(points: &[Datapoint], k: &str) -> Vec<Value> {
    points
        .iter()
        .map(|p| p.key(k).cloned().unwrap_or(Value::Null))
        .collect()
}

/// Downsamples everything up to `until`.
pub async fn downsample(store: &Datastream, until: DateTime<Utc>) -> usize {
    store
        .downsample_streams(None, Some(until), true, None)
        .await
        .expect("downsample_streams")
        .len()
}
