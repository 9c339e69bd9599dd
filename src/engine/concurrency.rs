//! The adaptive concurrency limit: one per host in the process, shared by every stream and
//! partition that talks to it, bounding the requests in flight there.
//!
//! It adjusts itself from what it observes, in the way of TCP congestion control (and Netflix's
//! concurrency-limits AIMD limiter): it starts at [`ConcurrencyBounds::initial`], grows by one
//! per answered request while the limit is in use (doubling per round trip, "slow start") until
//! the first sign of trouble, then by one per round trip (additive increase); a 429, a 5xx or a
//! timeout halves it (multiplicative decrease), and a round trip much slower than the fastest
//! seen trims it by a tenth. It never exceeds [`ConcurrencyBounds::ceiling`], nor goes below 1.
//! Cuts happen at most once per round trip, so one burst of 429s counts once.
//!
//! The rate gate ([`super::rate_gate`]) still decides *when* a request may go by the API's
//! budget; this limit decides *how many* may be out at once, so the engine finds the
//! concurrency the server sustains instead of a fixed `partitions × prefetch_depth`.
//!
//! Written here rather than taken from a crate: the crates that implement adaptive limits
//! (e.g. `tower`'s load shedding) bound services they wrap, not a shared per-host budget fed by
//! HTTP status classes, and would still need the signal mapping below.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Where a host's limit starts and how high it may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencyBounds {
    /// Requests in flight allowed before anything was observed.
    pub initial: usize,
    /// Never more than this in flight.
    pub ceiling: usize,
}

impl Default for ConcurrencyBounds {
    /// Starts at 16 in flight and may grow to 64.
    fn default() -> Self {
        ConcurrencyBounds {
            initial: 16,
            ceiling: 64,
        }
    }
}

/// What a request's outcome says about the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// Answered (any status but 429 and 5xx) after this round trip.
    Answered(Duration),
    /// 429, 5xx or a timeout: the host is overloaded or throttling.
    Overloaded,
    /// No information (cancelled, connection refused or reset).
    Ignore,
}

/// A round trip counts as a latency rise when it is more than this many times the fastest one
/// and more than [`LATENCY_SLACK`] slower (loopback round trips of a millisecond vary by more
/// than 2× without meaning anything).
const LATENCY_RISE: f64 = 2.0;
const LATENCY_SLACK: Duration = Duration::from_millis(25);
/// The fastest round trip is forgotten slowly, so a host that got slower for good is re-learned.
const MIN_RTT_DECAY: f64 = 1.01;

#[derive(Debug)]
struct LimitState {
    bounds: ConcurrencyBounds,
    /// The current limit (fractional: additive increase adds 1/limit per answer).
    limit: f64,
    /// Below this the limit grows by one per answer (slow start); set to half the limit at a cut.
    slow_start_below: f64,
    in_flight: usize,
    /// The fastest round trip seen (decaying).
    min_rtt: Option<Duration>,
    /// When the limit was last cut.
    last_cut: Option<Instant>,
    /// When the limit was last reached (every place taken).
    last_full: Option<Instant>,
    /// The most requests in flight at once so far.
    peak_in_flight: usize,
}

impl LimitState {
    fn allowed(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.bounds.ceiling.max(1))
    }

    /// Cuts the limit by `factor`, at most once per round trip; `from_used`: from what was in
    /// flight when that is less than the limit (TCP's FlightSize rule, RFC 5681), so that a limit
    /// opened to a large rate budget but used by 16 requests falls to 8 on throttling, not 32.
    fn cut(&mut self, factor: f64, now: Instant, from_used: bool) {
        let round_trip = self.min_rtt.unwrap_or(Duration::from_millis(100));
        if self
            .last_cut
            .is_some_and(|t| now.duration_since(t) < round_trip)
        {
            return;
        }
        let base = if from_used {
            self.limit.min((self.in_flight + 1).max(2) as f64)
        } else {
            self.limit
        };
        self.limit = (base * factor).max(1.0);
        self.slow_start_below = self.limit;
        self.last_cut = Some(now);
    }

    fn observe(&mut self, signal: Signal, now: Instant) {
        match signal {
            Signal::Ignore => {}
            Signal::Overloaded => self.cut(0.5, now, true),
            Signal::Answered(rtt) => {
                let min = match self.min_rtt {
                    Some(m) => m.mul_f64(MIN_RTT_DECAY).min(rtt),
                    None => rtt,
                };
                self.min_rtt = Some(min);
                if rtt.as_secs_f64() > min.as_secs_f64() * LATENCY_RISE && rtt > min + LATENCY_SLACK
                {
                    self.cut(0.9, now, false);
                    return;
                }
                // Grow only while the limit is what holds requests back (it was reached within
                // about a round trip): an idle limit says nothing about what the host could take.
                let recent = min.saturating_mul(2) + Duration::from_millis(10);
                if self
                    .last_full
                    .is_none_or(|t| now.duration_since(t) > recent)
                {
                    return;
                }
                let step = if self.limit < self.slow_start_below {
                    1.0
                } else {
                    1.0 / self.limit
                };
                self.limit = (self.limit + step).min(self.bounds.ceiling as f64);
            }
        }
    }
}

/// The concurrency limit of one host.
#[derive(Debug)]
pub struct HostLimit {
    state: Mutex<LimitState>,
    freed: Notify,
}

/// One request's place under a [`HostLimit`]; report its outcome with [`LimitSlot::finish`].
/// Dropping it without a report frees the place and teaches the limit nothing.
#[derive(Debug)]
pub struct LimitSlot {
    limit: Arc<HostLimit>,
    done: bool,
}

impl HostLimit {
    /// A limit of its own (tests; the engine uses [`HostLimit::shared`]).
    pub fn new(bounds: ConcurrencyBounds) -> Arc<Self> {
        let bounds = ConcurrencyBounds {
            initial: bounds.initial.clamp(1, bounds.ceiling.max(1)),
            ceiling: bounds.ceiling.max(1),
        };
        Arc::new(HostLimit {
            state: Mutex::new(LimitState {
                bounds,
                limit: bounds.initial as f64,
                slow_start_below: bounds.ceiling as f64,
                in_flight: 0,
                min_rtt: None,
                last_cut: None,
                last_full: None,
                peak_in_flight: 0,
            }),
            freed: Notify::new(),
        })
    }

    /// The process-wide limit of `host` (`authority` of the URL). The first caller's bounds
    /// set it up; a later caller with a higher ceiling raises the ceiling.
    pub fn shared(host: &str, bounds: ConcurrencyBounds) -> Arc<HostLimit> {
        static LIMITS: OnceLock<Mutex<HashMap<String, Arc<HostLimit>>>> = OnceLock::new();
        let limits = LIMITS.get_or_init(Default::default);
        let mut map = limits.lock().unwrap_or_else(|p| p.into_inner());
        let limit = map
            .entry(host.to_string())
            .or_insert_with(|| HostLimit::new(bounds));
        {
            let mut s = limit.lock();
            if bounds.ceiling > s.bounds.ceiling {
                s.bounds.ceiling = bounds.ceiling;
            }
        }
        Arc::clone(limit)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a place under the limit.
    pub async fn acquire(self: &Arc<Self>) -> LimitSlot {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a release between the check and the wait wakes us.
            freed.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.allowed() {
                    s.in_flight += 1;
                    s.peak_in_flight = s.peak_in_flight.max(s.in_flight);
                    if s.in_flight >= s.allowed() {
                        s.last_full = Some(Instant::now());
                    }
                    return LimitSlot {
                        limit: Arc::clone(self),
                        done: false,
                    };
                }
            }
            freed.await;
        }
    }

    /// Opens the limit to `budget` requests (at most the ceiling) at once, skipping slow start,
    /// when the host has said how many it will take (its rate budget) and the limit was never
    /// cut: slow start probes a host that said nothing, and costs round trips (three for 42
    /// windows) against one that said 1599. It never lowers the limit.
    pub fn open_to(&self, budget: usize) {
        {
            let mut s = self.lock();
            let target = budget.min(s.bounds.ceiling) as f64;
            if s.last_cut.is_some() || target <= s.limit {
                return;
            }
            s.limit = target;
        }
        self.freed.notify_waiters();
    }

    /// The requests allowed in flight now.
    pub fn current(&self) -> usize {
        self.lock().allowed()
    }

    /// The most requests that were in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.lock().peak_in_flight
    }

    fn release(&self, signal: Signal) {
        {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
            s.observe(signal, Instant::now());
        }
        // The limit may have grown by more than the place freed: wake every waiter to re-check.
        self.freed.notify_waiters();
    }
}

impl LimitSlot {
    /// Frees the place, teaching the limit what the request's outcome says.
    pub fn finish(mut self, signal: Signal) {
        self.done = true;
        self.limit.release(signal);
    }
}

impl Drop for LimitSlot {
    fn drop(&mut self) {
        if !self.done {
            self.limit.release(Signal::Ignore);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(initial: usize, ceiling: usize) -> ConcurrencyBounds {
        ConcurrencyBounds { initial, ceiling }
    }

    /// Takes `n` slots at once (all must be granted without waiting).
    async fn take(limit: &Arc<HostLimit>, n: usize) -> Vec<LimitSlot> {
        let mut slots = Vec::new();
        for _ in 0..n {
            slots.push(
                tokio::time::timeout(Duration::from_millis(50), limit.acquire())
                    .await
                    .expect("a place under the limit"),
            );
        }
        slots
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_budget_opens_the_limit_until_the_first_cut() {
        let limit = HostLimit::new(bounds(16, 64));
        limit.open_to(1599);
        assert_eq!(limit.current(), 64, "opened to the ceiling");
        limit.open_to(10);
        assert_eq!(limit.current(), 64, "never lowered");
        // Throttled with 16 in flight: halved from the 16 used, not from the 64 allowed.
        let mut slots = take(&limit, 16).await;
        slots.pop().unwrap().finish(Signal::Overloaded);
        assert_eq!(limit.current(), 8);
        // After a cut, only the usual growth raises it again.
        limit.open_to(1599);
        assert_eq!(limit.current(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_doubles_the_limit_per_round_trip_of_full_use() {
        let limit = HostLimit::new(bounds(2, 64));
        let rtt = Duration::from_millis(100);
        let mut expected = 2;
        for _ in 0..4 {
            let slots = take(&limit, expected).await;
            for slot in slots {
                slot.finish(Signal::Answered(rtt));
            }
            expected *= 2;
            assert_eq!(limit.current(), expected);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_limit_does_not_grow() {
        let limit = HostLimit::new(bounds(8, 64));
        for _ in 0..20 {
            let slot = limit.acquire().await;
            slot.finish(Signal::Answered(Duration::from_millis(100)));
        }
        assert_eq!(limit.current(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_once_per_round_trip_then_growth_is_additive() {
        let limit = HostLimit::new(bounds(16, 64));
        let rtt = Duration::from_millis(100);
        // Learn the round trip first.
        take(&limit, 1)
            .await
            .remove(0)
            .finish(Signal::Answered(rtt));
        let slots = take(&limit, 16).await;
        for slot in slots {
            // A burst of 429s within one round trip halves the limit once, not sixteen times.
            slot.finish(Signal::Overloaded);
        }
        assert_eq!(limit.current(), 8);
        // Additive increase: each round trip of answers at full use adds about one (1/limit
        // per answer), so two rounds of 8 reach 9, where slow start would have reached 32.
        tokio::time::advance(Duration::from_millis(200)).await;
        for _ in 0..2 {
            let n = limit.current();
            for slot in take(&limit, n).await {
                slot.finish(Signal::Answered(rtt));
            }
        }
        assert_eq!(limit.current(), 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_latency_rise_trims_the_limit() {
        let limit = HostLimit::new(bounds(10, 64));
        take(&limit, 1)
            .await
            .remove(0)
            .finish(Signal::Answered(Duration::from_millis(50)));
        take(&limit, 1)
            .await
            .remove(0)
            .finish(Signal::Answered(Duration::from_millis(400)));
        assert_eq!(limit.current(), 9);
        // Jitter within the slack on a fast host is not a rise.
        let fast = HostLimit::new(bounds(10, 64));
        take(&fast, 1)
            .await
            .remove(0)
            .finish(Signal::Answered(Duration::from_millis(1)));
        take(&fast, 1)
            .await
            .remove(0)
            .finish(Signal::Answered(Duration::from_millis(9)));
        assert_eq!(fast.current(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn the_ceiling_and_the_floor_hold() {
        let limit = HostLimit::new(bounds(3, 4));
        for _ in 0..5 {
            let n = limit.current();
            for slot in take(&limit, n).await {
                slot.finish(Signal::Answered(Duration::from_millis(10)));
            }
        }
        assert_eq!(limit.current(), 4);
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(1)).await;
            take(&limit, 1).await.remove(0).finish(Signal::Overloaded);
        }
        assert_eq!(limit.current(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_limit_holds_the_next_request_until_a_place_is_freed() {
        let limit = HostLimit::new(bounds(2, 2));
        let mut slots = take(&limit, 2).await;
        let mut waiting = tokio::task::JoinSet::new();
        waiting.spawn({
            let limit = Arc::clone(&limit);
            async move { limit.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            waiting.try_join_next().is_none(),
            "a third request went past a limit of 2"
        );
        drop(slots.pop());
        let third = tokio::time::timeout(Duration::from_millis(50), waiting.join_next())
            .await
            .expect("freed place is taken")
            .expect("the task ran")
            .unwrap();
        assert_eq!(limit.peak_in_flight(), 2);
        drop(third);
    }
}
