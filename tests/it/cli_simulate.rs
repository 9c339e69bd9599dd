//! `ddstream simulate` with its flags, and the listings against it, all with the real
//! binaries: `validate` fails with a wrong key and passes with the right one, `--log-requests`
//! prints one line per request, `--faults`, `--rate-limit`, `--latency-ms` and `--max-points`
//! shape the answers, and `ddstream metrics` / `ddstream tags` list what the account has.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

/// A `ddstream simulate` child, killed when dropped.
struct Served {
    child: Child,
    url: String,
    stderr: Option<ChildStderr>,
}

impl Served {
    fn start(flags: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ddstream"))
            .arg("simulate")
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ddstream simulate starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("simulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let stderr = child.stderr.take();
        Served { child, url, stderr }
    }

    /// Stops the simulator and returns what it wrote on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ddstream(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddstream"));
    cmd.args(args)
        .env_remove("DD_API_KEY")
        .env_remove("DD_APP_KEY")
        .env_remove("DD_SITE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("ddstream runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn error_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn validate_checks_the_key_simulate_was_given() {
    let served = Served::start(&["--api-key", "right-key-123", "--log-requests"]);
    let wrong = ddstream(
        &["validate", "--base-url", &served.url],
        &[("DD_API_KEY", "wrong-key-456")],
    );
    assert_eq!(wrong.status.code(), Some(1));
    let error = error_line(&wrong);
    assert!(
        error.contains("HTTP 403") && error.contains("DD_API_KEY"),
        "{error}"
    );
    assert!(
        !error.contains("wrong-key-456"),
        "the key is never shown: {error}"
    );
    let none = ddstream(&["validate", "--base-url", &served.url], &[]);
    assert_eq!(none.status.code(), Some(1));
    let right = ddstream(
        &["validate", "--base-url", &served.url],
        &[("DD_API_KEY", "right-key-123")],
    );
    assert!(stdout(&right).contains("credentials valid"));
    let log = served.stop();
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("GET ")).collect();
    assert_eq!(lines.len(), 3, "{log}");
    for (line, status) in lines.iter().zip(["403", "403", "200"]) {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts[..3], ["GET", "/api/v1/validate", status], "{line}");
        assert!(parts[3].ends_with("ms"), "{line}");
    }
    assert!(!log.contains("right-key-123"), "{log}");
}

#[test]
fn faults_rate_limit_and_latency_show_in_the_request_log() {
    let served = Served::start(&[
        "--faults",
        "at=0:503",
        "--rate-limit",
        "2/1h",
        "--latency-ms",
        "150",
        "--log-requests",
    ]);
    let query = |n: u32| {
        format!(
            "{}/api/v1/query?from={}&to={}&query=system.cpu.user%7B*%7D",
            served.url,
            1_767_225_600 + n * 60,
            1_767_225_600 + (n + 1) * 60
        )
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let statuses: Vec<u16> = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for n in 0..3 {
            statuses.push(client.get(query(n)).send().await.unwrap().status().as_u16());
        }
        statuses
    });
    // The first is the scheduled fault, the second the last of the budget, the third over it.
    assert_eq!(statuses, [503, 200, 429]);
    let log = served.stop();
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("GET ")).collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].contains(" 503 ") && lines[0].ends_with("fault=503"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("/api/v1/query?from=1767225600&to=1767225660&query=system.cpu.user"),
        "{}",
        lines[0]
    );
    assert!(lines[2].contains(" 429 "), "{}", lines[2]);
    // Each took at least the configured latency (a sleep, so a lower bound), and arrived (time
    // since the simulator started) after the one before it was answered: they were sequential.
    let mut answered_at = 0.0;
    for line in lines {
        let ms: u64 = line
            .split(' ')
            .find_map(|p| p.strip_suffix("ms"))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("no duration in {line}"));
        assert!(ms >= 150, "{line}");
        let at: f64 = line
            .split(' ')
            .find_map(|p| p.strip_prefix("at=")?.strip_suffix("ms"))
            .and_then(|at| at.parse().ok())
            .unwrap_or_else(|| panic!("no arrival time in {line}"));
        assert!(at >= answered_at, "{line} arrived before {answered_at} ms");
        answered_at = at + ms as f64;
    }
}

#[test]
fn max_points_caps_the_points_per_series() {
    let points = |flags: &[&str]| {
        let served = Served::start(flags);
        // Four hours are served at 60 s by default: 240 points.
        let url = format!(
            "{}/api/v1/query?from=1767225600&to=1767240000&query=system.cpu.user%7B*%7D",
            served.url
        );
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let body: serde_json::Value = runtime.block_on(async {
            serde_json::from_slice(&reqwest::get(url).await.unwrap().bytes().await.unwrap())
                .unwrap()
        });
        body["series"][0]["pointlist"].as_array().unwrap().len()
    };
    assert_eq!(points(&[]), 240);
    // With at most 24 points the interval grows to the next one that fits, 600 s.
    assert_eq!(points(&["--max-points", "24"]), 24);
    let out = ddstream(&["simulate", "--faults", "at=0:700"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        error_line(&out).contains("unknown fault '700'"),
        "{}",
        error_line(&out)
    );
}

#[test]
fn metrics_and_tags_list_what_the_account_has() {
    let served = Served::start(&["--api-key", "k1", "--app-key", "a1"]);
    let keys = [("DD_API_KEY", "k1"), ("DD_APP_KEY", "a1")];
    let out = ddstream(
        &["metrics", "--base-url", &served.url, "--search", "CPU"],
        &keys,
    );
    assert_eq!(
        stdout(&out),
        "system.cpu.idle\nsystem.cpu.system\nsystem.cpu.user\n"
    );
    let all = stdout(&ddstream(&["metrics", "--base-url", &served.url], &keys));
    assert!(
        all.lines().count() > 3 && all.contains("system.load.1\n"),
        "{all}"
    );
    let out = ddstream(
        &[
            "metrics",
            "--base-url",
            &served.url,
            "--host",
            "no-such-host",
        ],
        &keys,
    );
    assert_eq!(stdout(&out), "");

    // Every host's host: and env: tags, sorted.
    let out = ddstream(
        &["tags", "system.cpu.user", "--base-url", &served.url],
        &keys,
    );
    assert_eq!(
        stdout(&out),
        "env:prod\nenv:staging\nhost:db-1\nhost:web-1\nhost:web-2\n"
    );
    let out = ddstream(
        &[
            "tags",
            "system.load.1",
            "--base-url",
            &served.url,
            "--format",
            "json",
        ],
        &keys,
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 5);
    assert_eq!(json[0], serde_json::json!({"tag": "env:prod"}));
    let out = ddstream(
        &[
            "metrics",
            "--base-url",
            &served.url,
            "--search",
            "cpu.user",
            "--format",
            "csv",
        ],
        &keys,
    );
    assert_eq!(stdout(&out), "metric\nsystem.cpu.user\n");

    // An unknown metric, and a wrong key, are one clear line each.
    let out = ddstream(
        &["tags", "no.such.metric", "--base-url", &served.url],
        &keys,
    );
    assert_eq!(out.status.code(), Some(1));
    let error = error_line(&out);
    assert!(
        error.contains("no.such.metric")
            && error.contains("HTTP 404")
            && error.contains("ddstream metrics --search"),
        "{error}"
    );
    let out = ddstream(
        &["metrics", "--base-url", &served.url],
        &[("DD_API_KEY", "k1"), ("DD_APP_KEY", "wrong")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        error_line(&out).contains("HTTP 403"),
        "{}",
        error_line(&out)
    );
}
