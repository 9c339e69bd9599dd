//! The rate gate: one per (host, endpoint) in the process, shared by every stream and partition.
//! It reads the `X-RateLimit-*` headers of each response and holds requests while the budget is
//! spent, instead of collecting 429s; after a 429 it holds everyone until the server's reset.
//! When the period ends is learned across periods ([`rate_period`](super::rate_period)), at
//! the cost of at most one 429 a period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use http::HeaderMap;

use super::rate_period::{Answer, PeriodClock};

/// The longest the gate holds requests on the word of one response (a Datadog period is at most
/// an hour); larger or malformed figures are clamped so a bad header cannot stall the process.
pub const MAX_GATE_WAIT: Duration = Duration::from_secs(3600);

/// `now + wait`, with the wait clamped to [`MAX_GATE_WAIT`].
fn after(now: Instant, wait: Duration) -> Instant {
    let wait = wait.min(MAX_GATE_WAIT);
    now.checked_add(wait).unwrap_or(now)
}

/// Budget state of one rate limit.
#[derive(Debug, Default)]
struct GateState {
    /// Requests left in the current period, as last reported (minus those sent since).
    remaining: Option<i64>,
    /// When the current period ends.
    clock: PeriodClock,
    /// The budget ran out: the next probe finds out whether the period has ended.
    spent: bool,
    /// Nobody sends before this (after a 429).
    blocked_until: Option<Instant>,
    /// Some response has been seen.
    observed_any: bool,
    /// The API sends `X-RateLimit-Remaining`: it has a budget worth probing for.
    limited: bool,
    /// A probe is in flight while the budget is unknown; others wait for its answer.
    probing: bool,
}

/// What [`RateGate::acquire`] decided.
enum Admission {
    Wait(Instant),
    Go { probe: bool, turn: bool },
}

/// A shared rate limiter fed by response headers.
#[derive(Debug)]
pub struct RateGate {
    state: Mutex<GateState>,
    /// This process uses 1/share of the budget the server reports: N processes (the tasks of
    /// a distributed scan) that each see the same `X-RateLimit-Remaining` then send no more
    /// than it between them.
    share: i64,
}

impl Default for RateGate {
    fn default() -> Self {
        Self::with_share(1)
    }
}

/// Leave to send one request. Feed the response to [`GatePermit::observe`]; dropping the permit
/// of a probe that got no response lets the next request probe instead.
#[derive(Debug)]
pub struct GatePermit {
    gate: Arc<RateGate>,
    probe: bool,
    /// The probe sent once the budget was spent: its answer tells whether the period ended.
    turn: bool,
    /// When the gate let it go.
    sent: Instant,
    /// Time spent waiting for the gate.
    pub waited: Duration,
}

impl GatePermit {
    /// Updates the gate from the response; returns this process's share of the budget left
    /// when a successful response reports one.
    pub fn observe(&self, status: u16, headers: &HeaderMap) -> Option<i64> {
        self.gate
            .observe_answer(self.sent, self.turn, status, headers);
        if !(200..300).contains(&status) {
            return None;
        }
        header_i64(headers, "x-ratelimit-remaining").map(|r| r / self.gate.share)
    }

    /// How long the gate holds requests from now (after a 429 it observed): the retry of this
    /// request waits as long, which can be less than the 429's `X-RateLimit-Reset` says when the
    /// gate has learned when the period ends.
    pub fn hold(&self) -> Option<Duration> {
        let until = self.gate.lock().blocked_until?;
        Some(until.saturating_duration_since(Instant::now()))
    }
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        if self.probe {
            let mut s = self.gate.lock();
            s.probing = false;
            // A probe for the period's end that got no answer: the next one asks again.
            if self.turn && s.remaining.is_none() {
                s.spent = true;
            }
        }
    }
}

impl RateGate {
    /// A gate that uses 1/`share` of the reported budget.
    pub fn with_share(share: u32) -> Self {
        Self {
            state: Mutex::default(),
            share: i64::from(share.max(1)),
        }
    }

    /// The process-wide gate for `key` (host and endpoint) at `share` (1: the whole budget).
    pub fn shared(key: &str, share: u32) -> Arc<RateGate> {
        type Gates = HashMap<(String, u32), Arc<RateGate>>;
        static GATES: OnceLock<Mutex<Gates>> = OnceLock::new();
        let gates = GATES.get_or_init(Default::default);
        let mut map = gates.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            map.entry((key.to_string(), share))
                .or_insert_with(|| Arc::new(RateGate::with_share(share))),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a request may be sent and reserves one unit of budget. While the budget is
    /// unknown (first request, new period, after a 429) of an API that reports one, a single
    /// probe goes first, so that many partitions starting together do not collect 429s.
    pub async fn acquire(self: &Arc<Self>) -> GatePermit {
        let started = Instant::now();
        loop {
            let admission = {
                let mut s = self.lock();
                let now = Instant::now();
                if let Some(until) = s.blocked_until.filter(|u| *u > now) {
                    Admission::Wait(until + Duration::from_millis(20))
                } else if let (Some(r), Some(end)) = (s.remaining, s.clock.end()) {
                    let probe_at = end.probe_at(self.share == 1);
                    if r <= 0 && probe_at > now {
                        Admission::Wait(probe_at)
                    } else if r <= 0 {
                        // The period may be over: one probe finds out, and its answer tells
                        // the new budget.
                        s.remaining = None;
                        s.spent = true;
                        continue;
                    } else {
                        s.remaining = Some(r - 1);
                        Admission::Go {
                            probe: false,
                            turn: false,
                        }
                    }
                } else if s.remaining.is_none() && (!s.observed_any || s.limited) {
                    if s.probing {
                        Admission::Wait(now + Duration::from_millis(10))
                    } else {
                        s.probing = true;
                        Admission::Go {
                            probe: true,
                            turn: std::mem::take(&mut s.spent),
                        }
                    }
                } else {
                    Admission::Go {
                        probe: false,
                        turn: false,
                    }
                }
            };
            match admission {
                Admission::Wait(until) => tokio::time::sleep_until(until).await,
                Admission::Go { probe, turn } => {
                    return GatePermit {
                        gate: Arc::clone(self),
                        probe,
                        turn,
                        sent: Instant::now(),
                        waited: started.elapsed(),
                    }
                }
            }
        }
    }

    /// Updates the budget from the headers of a response to a request sent at `sent`; `turn`:
    /// it was the probe sent once the budget was spent.
    fn observe_answer(&self, sent: Instant, turn: bool, status: u16, headers: &HeaderMap) {
        // This process's share of what the server has left (rounded down, so the shares of
        // all processes never add up to more than the budget).
        let remaining = header_i64(headers, "x-ratelimit-remaining").map(|r| r / self.share);
        let seconds = |name| {
            header_i64(headers, name)
                .map(|s| Duration::from_secs(s.clamp(0, MAX_GATE_WAIT.as_secs() as i64) as u64))
        };
        let (reset, period) = (
            seconds("x-ratelimit-reset"),
            seconds("x-ratelimit-period").filter(|p| !p.is_zero()),
        );
        let mut s = self.lock();
        let now = Instant::now();
        s.observed_any = true;
        s.limited |= remaining.is_some();
        s.probing = false;
        if status == 429 {
            // Only the hold: the budget figures of a 429 may be stale next to those of responses
            // that were in flight with it, and the next success reports the real ones.
            let hint = retry_hint(status, headers).unwrap_or(Duration::from_secs(1));
            let mut until = after(now, hint);
            if turn {
                // The probe went before the period's latest end and found it not over: hold
                // everyone until that end (what a whole-second `X-RateLimit-Reset` says is up
                // to a second off either way), unless the server said `Retry-After`.
                s.clock.refused(sent);
                if let Some(end) = s
                    .clock
                    .end()
                    .filter(|_| !headers.contains_key("retry-after"))
                {
                    let latest = after(now, hint + Duration::from_secs(1));
                    until = end.surely_over().min(latest).max(now);
                }
                // The probe after the hold asks again. (Only a probe's 429 says so: another
                // 429 may be a straggler from a period already over.)
                s.spent = true;
            }
            s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
            // Unknown again: after the hold, one probe learns the new budget.
            s.remaining = None;
            return;
        }
        let same_period = match reset {
            Some(reset) if (200..300).contains(&status) => s.clock.admitted(Answer {
                sent,
                answered: now,
                reset,
                period,
                turned: turn,
            }),
            // An error's figures (a 503's, say) can only lower the budget of the period.
            _ => !(200..300).contains(&status),
        };
        if let Some(r) = remaining {
            // Requests already sent after this one was answered are not in the server's figure;
            // keep the lower of the two so concurrent partitions do not overshoot.
            s.remaining = Some(match s.remaining {
                Some(local) if same_period => local.min(r),
                _ => r,
            });
        }
    }
}

/// The wait an error response asks for: `Retry-After` (seconds), else, on a 429 only,
/// `X-RateLimit-Reset` (Datadog sends it on every response, where it only tells when the
/// period ends, not that we must wait for it).
pub fn retry_hint(status: u16, headers: &HeaderMap) -> Option<Duration> {
    header_f64(headers, "retry-after")
        .or_else(|| {
            (status == 429)
                .then(|| header_f64(headers, "x-ratelimit-reset"))
                .flatten()
        })
        .filter(|s| s.is_finite() && *s >= 0.0)
        // Clamped before converting, so no figure can overflow a Duration.
        .map(|s| Duration::from_secs_f64(s.min(MAX_GATE_WAIT.as_secs_f64())))
}

fn header_i64(headers: &HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::common::runtime::SpawnedTask;

    impl RateGate {
        /// A response to a request sent just now, not a probe.
        fn observe(&self, status: u16, headers: &HeaderMap) {
            self.observe_answer(Instant::now(), false, status, headers);
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_hint_prefers_retry_after() {
        assert_eq!(
            retry_hint(
                429,
                &headers(&[("retry-after", "3"), ("x-ratelimit-reset", "9")])
            ),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_hint(429, &headers(&[("x-ratelimit-reset", "9")])),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            retry_hint(503, &headers(&[("x-ratelimit-reset", "9")])),
            None
        );
        assert_eq!(retry_hint(429, &headers(&[("retry-after", "soon")])), None);
    }

    #[tokio::test(start_paused = true)]
    async fn gate_holds_when_budget_is_spent() {
        let gate = Arc::new(RateGate::default());
        gate.observe(
            200,
            &headers(&[("x-ratelimit-remaining", "1"), ("x-ratelimit-reset", "5")]),
        );
        assert!(gate.acquire().await.waited < Duration::from_millis(1));
        // Budget now 0: the next acquire waits for the reset.
        let waited = gate.acquire().await.waited;
        assert!(waited >= Duration::from_secs(5), "waited {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_share_of_the_budget_is_spent_before_the_gate_holds() {
        // One of 3 processes seeing 9 left: it sends 3, then waits for the reset.
        let gate = Arc::new(RateGate::with_share(3));
        gate.observe(
            200,
            &headers(&[("x-ratelimit-remaining", "9"), ("x-ratelimit-reset", "5")]),
        );
        for _ in 0..3 {
            assert!(gate.acquire().await.waited < Duration::from_millis(1));
        }
        let waited = gate.acquire().await.waited;
        assert!(waited >= Duration::from_secs(5), "waited {waited:?}");
        // The whole budget: 9 go at once.
        let whole = Arc::new(RateGate::with_share(1));
        whole.observe(
            200,
            &headers(&[("x-ratelimit-remaining", "9"), ("x-ratelimit-reset", "5")]),
        );
        for _ in 0..9 {
            assert!(whole.acquire().await.waited < Duration::from_millis(1));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gate_blocks_after_429() {
        let gate = Arc::new(RateGate::default());
        gate.observe(429, &headers(&[("retry-after", "2")]));
        let waited = gate.acquire().await.waited;
        assert!(waited >= Duration::from_secs(2), "waited {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_goes_first_while_the_budget_is_unknown() {
        let gate = Arc::new(RateGate::default());
        let probe = gate.acquire().await;
        // A second request waits for the probe's answer.
        let mut waiter = SpawnedTask::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.acquire().await.waited }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(futures::poll!(&mut waiter).is_pending());
        probe.observe(
            200,
            &headers(&[("x-ratelimit-remaining", "10"), ("x-ratelimit-reset", "60")]),
        );
        drop(probe);
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_secs(1), "{waited:?}");
        // Known budget: no more waiting.
        assert!(gate.acquire().await.waited < Duration::from_millis(1));
    }

    /// A fixed-window server (10 a period of 2 s, periods starting `phase` before the test
    /// begins) with a 25 ms trip each way, whose `X-RateLimit-Reset` rounds `round_up` or down,
    /// and 80 requests through the gate from 16 tasks. Returns, per period, the 429s and how
    /// long after the period began its first request arrived.
    async fn run_against_fixed_windows(phase: Duration, round_up: bool) -> Vec<(u32, Duration)> {
        const LIMIT: u32 = 10;
        const PERIOD: Duration = Duration::from_secs(2);
        const TRIP: Duration = Duration::from_millis(25);
        let origin = Instant::now() - phase;
        let server = Arc::new(Mutex::new(HashMap::<u32, (u32, u32, Duration)>::new()));
        let answer = {
            let server = Arc::clone(&server);
            move || {
                let into = Instant::now() - origin;
                let window = (into.as_nanos() / PERIOD.as_nanos()) as u32;
                let left =
                    PERIOD - Duration::from_nanos((into.as_nanos() % PERIOD.as_nanos()) as u64);
                let mut log = server.lock().unwrap();
                let w = log.entry(window).or_insert((0, 0, into - PERIOD * window));
                let admitted = w.0 < LIMIT;
                if admitted {
                    w.0 += 1;
                } else {
                    w.1 += 1;
                }
                let secs = if round_up {
                    left.as_secs_f64().ceil()
                } else {
                    left.as_secs_f64().floor()
                };
                let remaining = (LIMIT - w.0).to_string();
                let reset = (secs as u64).to_string();
                let pairs = [
                    ("x-ratelimit-limit", "10"),
                    ("x-ratelimit-period", "2"),
                    ("x-ratelimit-remaining", remaining.as_str()),
                    ("x-ratelimit-reset", reset.as_str()),
                ];
                (if admitted { 200 } else { 429 }, headers(&pairs))
            }
        };
        let gate = Arc::new(RateGate::default());
        let left = Arc::new(std::sync::atomic::AtomicU32::new(80));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (gate, left, answer) = (Arc::clone(&gate), Arc::clone(&left), answer.clone());
                SpawnedTask::spawn(async move {
                    use std::sync::atomic::Ordering;
                    while left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        loop {
                            let permit = gate.acquire().await;
                            tokio::time::sleep(TRIP).await;
                            let (status, headers) = answer();
                            tokio::time::sleep(TRIP).await;
                            permit.observe(status, &headers);
                            if status == 200 {
                                break;
                            }
                            let wait = permit.hold().unwrap();
                            drop(permit);
                            tokio::time::sleep(wait).await;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let log = server.lock().unwrap();
        let mut periods: Vec<_> = log
            .iter()
            .map(|(w, (_, refused, first))| (*w, *refused, *first))
            .collect();
        periods.sort();
        assert_eq!(log.values().map(|(admitted, ..)| admitted).sum::<u32>(), 80);
        periods
            .into_iter()
            .map(|(_, refused, first)| (refused, first))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_learns_when_periods_begin() {
        // Periods that begin 370 ms before the first request: its reset says 2 s (rounded up)
        // or 1 s (down) where 1.6 s are left. Waiting for the rounded-up reset would send every
        // period's first request about 0.4 s late; after a few periods of halving the doubt
        // the gate sends it within a round trip and a margin of the period's start.
        for round_up in [true, false] {
            let periods = run_against_fixed_windows(Duration::from_millis(370), round_up).await;
            assert_eq!(periods.len(), 8, "{periods:?}");
            for (refused, _) in &periods {
                assert!(*refused <= 1, "round up {round_up}: {periods:?}");
            }
            for (_, first) in &periods[6..] {
                assert!(
                    *first < Duration::from_millis(120),
                    "round up {round_up}: {periods:?}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn apis_without_limits_are_not_serialised() {
        let gate = Arc::new(RateGate::default());
        let probe = gate.acquire().await;
        probe.observe(200, &HeaderMap::new());
        // No budget headers: everyone goes at once, no probing.
        let a = gate.acquire().await;
        let b = gate.acquire().await;
        assert!(a.waited + b.waited < Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_without_response_lets_the_next_one_probe() {
        let gate = Arc::new(RateGate::default());
        drop(gate.acquire().await); // a connection error: no response to observe
        let next = tokio::time::timeout(Duration::from_secs(1), gate.acquire()).await;
        assert!(next.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_headers_are_clamped_not_trusted() {
        assert_eq!(
            retry_hint(429, &headers(&[("retry-after", "1e20")])),
            Some(MAX_GATE_WAIT)
        );
        assert_eq!(retry_hint(429, &headers(&[("retry-after", "-3")])), None);
        let gate = Arc::new(RateGate::default());
        gate.observe(
            200,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "9223372036854775807"),
            ]),
        );
        let waited = gate.acquire().await.waited;
        assert!(
            waited <= MAX_GATE_WAIT + Duration::from_secs(1),
            "{waited:?}"
        );
        gate.observe(429, &headers(&[("retry-after", "1e18")]));
        let waited = gate.acquire().await.waited;
        assert!(
            waited <= MAX_GATE_WAIT + Duration::from_secs(1),
            "{waited:?}"
        );
    }
}
