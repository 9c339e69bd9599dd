//! Fault injection: which failure a data request gets, decided by its position among the
//! fault-eligible requests (explicit positions, or a seeded deterministic random schedule).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::data::splitmix64;

/// A failure the simulator can inject into a data request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// This HTTP status (500, 502, 503, 504, 408, ...) with a `{"errors":["..."]}` body.
    Status(
        /// The status code.
        u16,
    ),
    /// 429 with `Retry-After: secs` and the `X-RateLimit-*` headers (Remaining 0, Reset secs).
    TooManyRequestsRetryAfter {
        /// Seconds to wait, in both headers.
        secs: u64,
    },
    /// 429 whose only rate-limit header is `X-RateLimit-Reset: secs` (no `Retry-After`).
    TooManyRequestsResetOnly {
        /// Seconds until the (pretended) window resets.
        secs: u64,
    },
    /// The request is read, then the TCP connection is reset without any response.
    ConnectionResetBeforeResponse,
    /// 200 headers with the real `Content-Length` and part of the body, then the connection
    /// is closed.
    ResetMidBody,
    /// A complete 200 response whose body is the real JSON cut in the middle.
    TruncatedJson,
    /// Wait `delay`, then answer normally.
    Slow {
        /// Extra wait before the normal answer.
        delay: Duration,
    },
    /// 413 with a `{"errors":["..."]}` body.
    PayloadTooLarge,
    /// 200 with the body `<html>oops</html>`.
    NotJson,
    /// 200 with JSON of another shape: `{"unexpected": "shape"}`.
    WrongShape,
}

/// Which fault-eligible requests (0-based, in arrival order) get which fault.
#[derive(Debug, Clone)]
pub struct FaultSchedule {
    explicit: BTreeMap<u64, FaultKind>,
    seeded: Option<Seeded>,
    max_consecutive: u32,
}

#[derive(Debug, Clone)]
struct Seeded {
    seed: u64,
    probability: f64,
    kinds: Vec<FaultKind>,
}

impl Default for FaultSchedule {
    fn default() -> Self {
        FaultSchedule::none()
    }
}

impl FaultSchedule {
    /// No faults.
    pub fn none() -> Self {
        FaultSchedule {
            explicit: BTreeMap::new(),
            seeded: None,
            max_consecutive: 2,
        }
    }

    /// Faults at explicit positions among the fault-eligible requests.
    pub fn at(pairs: impl IntoIterator<Item = (u64, FaultKind)>) -> Self {
        FaultSchedule {
            explicit: pairs.into_iter().collect(),
            ..FaultSchedule::none()
        }
    }

    /// Each request faulted independently with `probability`, the kind picked from `kinds`;
    /// both decisions are a pure function of `(seed, request index)`.
    pub fn seeded(seed: u64, probability: f64, kinds: Vec<FaultKind>) -> Self {
        FaultSchedule {
            seeded: Some(Seeded {
                seed,
                probability,
                kinds,
            }),
            ..FaultSchedule::none()
        }
    }

    /// Caps runs of consecutive seeded faults at `n` (default 2), so that a client retrying
    /// more than `n` times always gets through. Explicit positions are not capped.
    pub fn with_max_consecutive(mut self, n: u32) -> Self {
        self.max_consecutive = n;
        self
    }

    /// Adds faults at explicit positions (they win over the seeded schedule at those positions).
    pub fn add_explicit(&mut self, pairs: impl IntoIterator<Item = (u64, FaultKind)>) {
        self.explicit.extend(pairs);
    }

    /// Whether this schedule never injects anything.
    pub fn is_none(&self) -> bool {
        self.explicit.is_empty() && self.seeded.as_ref().is_none_or(|s| s.kinds.is_empty())
    }

    /// The faults the first `n` fault-eligible requests will get: what a simulator running
    /// this schedule does, for tests that want to know it in advance.
    pub fn plan(&self, n: u64) -> Vec<Option<FaultKind>> {
        let mut run = 0;
        (0..n).map(|i| self.decide(i, &mut run)).collect()
    }

    /// The fault of request `index`; `run` is the number of faults just before it.
    fn decide(&self, index: u64, run: &mut u32) -> Option<FaultKind> {
        let fault = match self.explicit.get(&index) {
            Some(kind) => Some(kind.clone()),
            None => self
                .seeded
                .as_ref()
                .filter(|_| *run < self.max_consecutive)
                .and_then(|s| s.pick(index)),
        };
        *run = if fault.is_some() {
            run.saturating_add(1)
        } else {
            0
        };
        fault
    }
}

impl Seeded {
    fn pick(&self, index: u64) -> Option<FaultKind> {
        if self.kinds.is_empty() {
            return None;
        }
        let h = splitmix64(self.seed ^ splitmix64(index));
        // The top 53 bits as a uniform number in [0, 1).
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        if u >= self.probability {
            return None;
        }
        let which = splitmix64(h) % self.kinds.len() as u64;
        self.kinds.get(which as usize).cloned()
    }
}

/// The running state of a schedule inside a simulator: hands out request indices in order
/// and keeps the consecutive-fault count, under one lock so both stay consistent.
pub(super) struct FaultCursor {
    schedule: FaultSchedule,
    state: Mutex<(u64, u32)>,
}

impl FaultCursor {
    pub fn new(schedule: FaultSchedule) -> Self {
        FaultCursor {
            schedule,
            state: Mutex::new((0, 0)),
        }
    }

    /// Takes the next fault-eligible index and its fault.
    pub fn next(&self) -> (u64, Option<FaultKind>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (index, run) = &mut *state;
        let i = *index;
        *index += 1;
        (i, self.schedule.decide(i, run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds() -> Vec<FaultKind> {
        vec![
            FaultKind::Status(503),
            FaultKind::TooManyRequestsResetOnly { secs: 1 },
            FaultKind::TruncatedJson,
        ]
    }

    #[test]
    fn explicit_positions() {
        let s = FaultSchedule::at([(1, FaultKind::NotJson), (3, FaultKind::Status(500))]);
        assert_eq!(
            s.plan(5),
            vec![
                None,
                Some(FaultKind::NotJson),
                None,
                Some(FaultKind::Status(500)),
                None
            ]
        );
        assert!(FaultSchedule::none().plan(10).iter().all(Option::is_none));
        assert!(FaultSchedule::none().is_none());
    }

    #[test]
    fn seeded_is_deterministic_and_uses_the_probability() {
        let a = FaultSchedule::seeded(42, 0.3, kinds()).with_max_consecutive(100);
        let b = FaultSchedule::seeded(42, 0.3, kinds()).with_max_consecutive(100);
        let c = FaultSchedule::seeded(43, 0.3, kinds()).with_max_consecutive(100);
        let (pa, pb, pc) = (a.plan(2000), b.plan(2000), c.plan(2000));
        assert_eq!(pa, pb);
        assert_ne!(pa, pc);
        let n = pa.iter().filter(|f| f.is_some()).count();
        assert!((450..750).contains(&n), "{n} faults of 2000 at p=0.3");
        for k in kinds() {
            assert!(pa.contains(&Some(k)));
        }
        // The cursor used by the server hands out the same sequence.
        let cursor = FaultCursor::new(a);
        let from_cursor: Vec<_> = (0..2000).map(|_| cursor.next().1).collect();
        assert_eq!(from_cursor, pa);
    }

    #[test]
    fn seeded_respects_max_consecutive() {
        for max in [0u32, 1, 2, 3] {
            let plan = FaultSchedule::seeded(7, 0.9, kinds())
                .with_max_consecutive(max)
                .plan(1000);
            let mut run = 0;
            let mut longest = 0;
            for f in &plan {
                run = if f.is_some() { run + 1 } else { 0 };
                longest = longest.max(run);
            }
            assert_eq!(longest, max, "max_consecutive {max}");
        }
    }
}
