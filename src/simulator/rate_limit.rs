//! Fixed-window rate limiting and the `X-RateLimit-*` headers Datadog sends with it.
//!
//! Windows are aligned to the simulator's start instant (Datadog aligns them to the calendar;
//! with a fresh simulator per test, aligning to the start makes the first window full-length
//! and the tests deterministic).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};

use super::RateLimit;

/// The limit advertised when the simulator is configured without one.
const UNLIMITED: u32 = 1_000_000;
const UNLIMITED_PERIOD: Duration = Duration::from_secs(3600);

/// The rate-limit state of one header set (one `X-RateLimit-Name`).
pub(super) struct RateLimiter {
    limit: u32,
    period: Duration,
    name: String,
    enforced: bool,
    start: Instant,
    /// (window number, requests admitted in it)
    window: Mutex<(u128, u32)>,
}

/// The values of the `X-RateLimit-*` headers of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RateHeaders {
    pub limit: u32,
    pub period_s: u64,
    pub remaining: u32,
    pub reset_s: u64,
    pub name: String,
}

impl RateLimiter {
    pub fn new(config: Option<&RateLimit>, start: Instant) -> Self {
        let (limit, period, name, enforced) = match config {
            Some(rl) => (rl.limit, rl.period, rl.name.clone(), true),
            None => (
                UNLIMITED,
                UNLIMITED_PERIOD,
                "query_metrics".to_string(),
                false,
            ),
        };
        RateLimiter {
            limit,
            period: period.max(Duration::from_millis(1)),
            name,
            enforced,
            start,
            window: Mutex::new((0, 0)),
        }
    }

    /// Counts a request at `now` against the current window; returns whether it is admitted
    /// and the headers to answer with (Remaining after counting it).
    pub fn acquire(&self, now: Instant) -> (bool, RateHeaders) {
        let elapsed = now.saturating_duration_since(self.start);
        let period_ns = self.period.as_nanos();
        let window_no = elapsed.as_nanos() / period_ns;
        let (allowed, used) = {
            let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
            if w.0 != window_no {
                *w = (window_no, 0);
            }
            // Without a configured limit nothing is refused; the count only feeds Remaining.
            let allowed = w.1 < self.limit || !self.enforced;
            if allowed {
                w.1 = w.1.saturating_add(1);
            }
            (allowed, w.1)
        };
        // Time left in the window, rounded up to whole seconds, at least 1.
        let left_ns = period_ns - elapsed.as_nanos() % period_ns;
        let reset_s = u64::try_from(left_ns.div_ceil(1_000_000_000))
            .unwrap_or(u64::MAX)
            .max(1);
        let headers = RateHeaders {
            limit: self.limit,
            period_s: self.period.as_secs_f64().ceil().max(1.0) as u64,
            remaining: self.limit.saturating_sub(used),
            reset_s,
            name: self.name.clone(),
        };
        (allowed, headers)
    }
}

impl RateHeaders {
    /// Adds all five `X-RateLimit-*` headers.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-period", HeaderValue::from(self.period_s));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset_s));
        if let Ok(name) = HeaderValue::from_str(&self.name) {
            headers.insert("x-ratelimit-name", name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_counts_and_resets() {
        let start = Instant::now();
        let rl = RateLimit {
            limit: 3,
            period: Duration::from_secs(10),
            name: "query_metrics".into(),
        };
        let limiter = RateLimiter::new(Some(&rl), start);
        let t = start + Duration::from_millis(2500);
        let got: Vec<_> = (0..4).map(|_| limiter.acquire(t)).collect();
        assert!(got[..3].iter().all(|(ok, _)| *ok));
        assert_eq!(
            got.iter().map(|(_, h)| h.remaining).collect::<Vec<_>>(),
            vec![2, 1, 0, 0]
        );
        assert!(!got[3].0);
        assert_eq!(got[3].1.reset_s, 8);
        assert_eq!(got[3].1.period_s, 10);
        // The next window starts afresh.
        let (ok, h) = limiter.acquire(start + Duration::from_secs(10));
        assert!(ok);
        assert_eq!((h.remaining, h.reset_s), (2, 10));
    }

    #[test]
    fn unlimited_still_sends_headers() {
        let limiter = RateLimiter::new(None, Instant::now());
        let (ok, h) = limiter.acquire(Instant::now());
        assert!(ok);
        assert_eq!(h.limit, UNLIMITED);
        assert_eq!(h.remaining, UNLIMITED - 1);
        assert_eq!(h.name, "query_metrics");
    }
}
