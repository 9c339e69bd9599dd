//! Bounded memory: streaming a range ten times longer peaks at about the same heap, because the
//! engine holds at most `prefetch_depth` responses plus the batch being consumed. A test binary
//! of its own: the counting allocator sees every allocation of the process, so no other test
//! may run beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ddstream::adapters::datadog::{Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options};
use ddstream::engine::{DefaultPolicy, Engine, FetchPlan, TimeWindow};
use ddstream::simulator::{Simulator, SimulatorConfig};
use ddstream::transport::{ReqwestTransport, TransportConfig};
use futures::StreamExt;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const JAN1_MS: i64 = 1_767_225_600_000;
const HOUR_MS: i64 = 3_600_000;

/// Streams `hours` of 10 s data for three hosts and returns (rows, peak heap above the start).
async fn stream_hours(sim: &Simulator, hours: i64) -> (usize, usize) {
    let adapter = DatadogV1Adapter::new(DatadogV1Options {
        query: "system.cpu.user{*} by {host}".into(),
        granularity_s: 10,
        aggregations: Aggregation::ALL.to_vec(),
        base_url: url::Url::parse(&sim.base_url()).unwrap(),
        credentials: Credentials::default(),
    })
    .unwrap();
    let policy = DefaultPolicy {
        prefetch_depth: 4,
        min_chunk: Duration::from_secs(10),
        max_chunk: Duration::from_secs(1800),
        ..DefaultPolicy::default()
    };
    let transport = ReqwestTransport::new(&TransportConfig::default()).unwrap();
    let engine = Engine::new(Arc::new(adapter), Arc::new(policy), Arc::new(transport));
    let plan = FetchPlan::Windows {
        ranges: vec![TimeWindow::new(JAN1_MS, JAN1_MS + hours * HOUR_MS)],
        chunk: Duration::from_secs(1800),
    };
    let start = CURRENT.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    let mut stream = engine.stream(plan);
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch.unwrap().num_rows();
    }
    drop(stream);
    (rows, PEAK.load(Ordering::Relaxed).saturating_sub(start))
}

#[test]
fn peak_heap_does_not_grow_with_the_range() {
    // The simulator on a runtime of its own thread: its allocations per request are bounded
    // too, and the client's runtime stays the only one streaming.
    let sim_runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = sim_runtime
        .block_on(Simulator::start(SimulatorConfig::default()))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A warm-up run allocates the connection pool, TLS-free client state and caches.
    runtime.block_on(stream_hours(&sim, 3));
    let (short_rows, short_peak) = runtime.block_on(stream_hours(&sim, 6));
    let (long_rows, long_peak) = runtime.block_on(stream_hours(&sim, 60));
    assert_eq!(short_rows, 3 * 6 * 360);
    assert_eq!(long_rows, 10 * short_rows);
    eprintln!(
        "peak heap above start: 6 h {} KiB, 60 h {} KiB ({:.2}x for 10x the rows)",
        short_peak / 1024,
        long_peak / 1024,
        long_peak as f64 / short_peak as f64
    );
    // Holding the rows would take ~10x; a bounded pipeline stays near 1x.
    assert!(
        long_peak <= short_peak * 3 / 2 + 256 * 1024,
        "peak heap grew with the range: 6 h {short_peak} B, 60 h {long_peak} B"
    );
    drop(sim);
}
