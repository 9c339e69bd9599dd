//! `ddstream simulate`: serves the simulator on loopback until interrupted, with the key
//! check, rate limit, latency, fault schedule and point cap given as flags (mapped onto
//! [`SimulatorSpec`], which parses them as everywhere else), and optionally one line per
//! request on stderr, so users can rehearse failures against the real binary.

use std::io::Write as _;
use std::sync::Arc;

use clap::Args;
use datafusion::error::{DataFusionError, Result as DFResult};

use crate::simulator::{FaultKind, LoggedRequest, Simulator, SimulatorSpec};

/// The flags of `ddstream simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Latency added to each response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Rate limit on each data endpoint, `REQUESTS/PERIOD` (e.g. `100/10s`): a fixed
    /// window with X-RateLimit headers and 429 beyond it. Default: unlimited.
    #[arg(long, value_name = "N/PERIOD")]
    pub rate_limit: Option<String>,
    /// Faults injected into data requests: `at=0:500,3:reset` (those requests, counting from
    /// 0) or `p=0.1; kinds=500,503,reset; seed=7` (at random); see the README.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
    /// Datadog requests must carry this DD-API-KEY (else 403).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Datadog data requests must carry this DD-APPLICATION-KEY (else 403).
    #[arg(long, value_name = "KEY")]
    pub app_key: Option<String>,
    /// The generic REST endpoints require `Authorization: Bearer TOKEN` (else 401).
    #[arg(long, value_name = "TOKEN")]
    pub bearer_token: Option<String>,
    /// Most points per series; the rollup interval grows to respect it (default 1500).
    #[arg(long, value_name = "N")]
    pub max_points: Option<usize>,
    /// Answer 503 to requests beyond N at once (a saturated server).
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<usize>,
    /// Print one line per request on stderr: method, path and query, status, milliseconds.
    #[arg(long)]
    pub log_requests: bool,
}

impl SimulateArgs {
    /// The simulator settings these flags describe.
    fn spec(&self) -> SimulatorSpec {
        SimulatorSpec {
            latency_ms: self.latency_ms,
            rate_limit: self.rate_limit.clone(),
            faults: self.faults.clone(),
            api_key: self.api_key.clone(),
            app_key: self.app_key.clone(),
            bearer_token: self.bearer_token.clone(),
            max_points: self.max_points,
            max_in_flight: self.max_in_flight,
        }
    }
}

/// Serves until Ctrl-C. The first line on stdout is `simulator listening on URL`.
pub async fn run(args: &SimulateArgs) -> DFResult<()> {
    if args.max_points == Some(0) {
        return Err(DataFusionError::Plan(
            "--max-points must be at least 1".to_string(),
        ));
    }
    let mut config = args
        .spec()
        .into_config()
        .map_err(crate::to_datafusion_error)?;
    if args.log_requests {
        config.on_request = Some(Arc::new(|r: &LoggedRequest| {
            // One write per line, so lines of concurrent requests never interleave.
            let line = log_line(r);
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }));
    }
    let sim = Simulator::start_on(config, args.port)
        .await
        .map_err(|e| DataFusionError::Execution(format!("cannot start the simulator: {e}")))?;
    println!("simulator listening on {}", sim.base_url());
    // Scripts read the URL from a pipe: make sure it is not left in a buffer.
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

/// `GET /api/v1/query?from=1&to=2&query=... 200 3ms at=1520.3ms`: status (0: the connection
/// was dropped), time to answer, arrival since the simulator started (where its rate-limit
/// periods begin), then `fault=...` when one was injected.
fn log_line(r: &LoggedRequest) -> String {
    let mut target = r.path.clone();
    if !r.query.is_empty() {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&r.query)
            .finish();
        target.push('?');
        target.push_str(&query);
    }
    let ms = r.received_at.elapsed().as_millis();
    let at = r.since_start.as_secs_f64() * 1000.0;
    let mut line = format!("{} {target} {} {ms}ms at={at:.1}ms", r.method, r.status);
    if let Some(fault) = &r.fault {
        line.push_str(" fault=");
        line.push_str(&fault_name(fault));
    }
    if let Some(agent) = &r.user_agent {
        line.push_str(" agent=");
        line.push_str(&agent.replace(' ', "_"));
    }
    line.push('\n');
    line
}

/// A fault as `--faults` writes it (`503`, `reset`, `slow:2s`, ...).
fn fault_name(fault: &FaultKind) -> String {
    match fault {
        FaultKind::Status(status) => status.to_string(),
        FaultKind::TooManyRequestsRetryAfter { .. } => "429".into(),
        FaultKind::TooManyRequestsResetOnly { .. } => "429-reset".into(),
        FaultKind::ConnectionResetBeforeResponse => "reset".into(),
        FaultKind::ResetMidBody => "reset-mid-body".into(),
        FaultKind::TruncatedJson => "truncated".into(),
        FaultKind::Slow { delay } => format!("slow:{}ms", delay.as_millis()),
        FaultKind::PayloadTooLarge => "413".into(),
        FaultKind::NotJson => "not-json".into(),
        FaultKind::WrongShape => "wrong-shape".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_parse_back_to_the_fault() {
        for name in [
            "503",
            "429",
            "429-reset",
            "reset",
            "reset-mid-body",
            "truncated",
            "slow:250ms",
            "413",
            "not-json",
            "wrong-shape",
        ] {
            let kind: FaultKind = name.parse().unwrap();
            assert_eq!(fault_name(&kind), name);
        }
    }
}
