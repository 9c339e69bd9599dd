//! Shared helpers: start a simulator, build a v1 engine against it, compute expected rows.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, TimestampMillisecondType};
use ddstream::adapters::datadog::{Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options};
use ddstream::engine::{DefaultPolicy, Engine};
use ddstream::simulator::data::{self, Agg};
use ddstream::simulator::{FaultKind, Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, TransportConfig};

/// 2026-01-01T00:00:00Z in seconds.
pub const JAN1: i64 = 1_767_225_600;

pub async fn simulator(config: SimulatorConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

pub fn v1_adapter(sim: &Simulator, query: &str, granularity_s: i64) -> DatadogV1Adapter {
    DatadogV1Adapter::new(DatadogV1Options {
        query: query.into(),
        granularity_s,
        aggregations: Aggregation::ALL.to_vec(),
        base_url: url::Url::parse(&sim.base_url()).unwrap(),
        credentials: Credentials::default(),
    })
    .unwrap()
}

pub fn fast_policy(depth: usize) -> DefaultPolicy {
    DefaultPolicy {
        prefetch_depth: depth,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..DefaultPolicy::default()
    }
}

pub fn engine(adapter: DatadogV1Adapter, policy: DefaultPolicy, timeout: Duration) -> Engine {
    let transport = ReqwestTransport::new(&TransportConfig {
        request_timeout: timeout,
        ..TransportConfig::default()
    })
    .unwrap();
    Engine::new(Arc::new(adapter), Arc::new(policy), Arc::new(transport))
}

/// One row of the v1 table: (scope, ts_ms, [avg, min, max, sum]).
pub type Row = (String, i64, [Option<f64>; 4]);

pub fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let scope = b.column(2).as_string::<i32>();
        let ts = b.column(3).as_primitive::<TimestampMillisecondType>();
        let vals: Vec<_> = (4..8)
            .map(|i| b.column(i).as_primitive::<Float64Type>())
            .collect();
        for r in 0..b.num_rows() {
            let v = std::array::from_fn(|i| (!vals[i].is_null(r)).then(|| vals[i].value(r)));
            out.push((scope.value(r).to_string(), ts.value(r), v));
        }
    }
    out
}

/// The rows the simulator's data model says `metric{*}` has at `g` seconds in `[from, to)`.
pub fn expected_rows(metric: &str, from_s: i64, to_s: i64, g: i64) -> Vec<Row> {
    let hosts: Vec<&str> = data::HOSTS.iter().map(|(h, _)| *h).collect();
    let mut out = Vec::new();
    let mut b = from_s;
    while b < to_s {
        let v = [Agg::Avg, Agg::Min, Agg::Max, Agg::Sum]
            .map(|a| data::rollup_value(metric, &hosts, a, a, b, g));
        if v.iter().any(Option::is_some) {
            out.push(("*".to_string(), b * 1000, v));
        }
        b += g;
    }
    out
}

/// Compares rows, floats to 1e-9 relative (the API's JSON carries shortest round-trip decimals),
/// and reports the first difference only.
pub fn assert_rows_eq(got: &[Row], want: &[Row], context: &str) {
    assert_eq!(got.len(), want.len(), "{context}: row count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let close = g.2.iter().zip(&w.2).all(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            (None, None) => true,
            _ => false,
        });
        assert!(
            g.0 == w.0 && g.1 == w.1 && close,
            "{context}: row {i} differs: got {g:?}, want {w:?}"
        );
    }
}

/// Every transient fault kind the simulator injects; `wait_s` is the 429s' wait, `slow` the delay
/// of slow responses (longer than the client's timeout).
pub fn transient_faults(wait_s: u64, slow: Duration) -> Vec<FaultKind> {
    vec![
        FaultKind::Status(500),
        FaultKind::Status(502),
        FaultKind::Status(503),
        FaultKind::Status(504),
        FaultKind::Status(408),
        FaultKind::TooManyRequestsRetryAfter { secs: wait_s },
        FaultKind::TooManyRequestsResetOnly { secs: wait_s },
        FaultKind::ConnectionResetBeforeResponse,
        FaultKind::ResetMidBody,
        FaultKind::TruncatedJson,
        FaultKind::Slow { delay: slow },
        FaultKind::PayloadTooLarge,
    ]
}
