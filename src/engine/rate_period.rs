//! When the current rate-limit period ends, as far as the responses tell.
//!
//! `X-RateLimit-Reset` counts whole seconds, and Datadog does not say whether it rounds them up
//! or down, so one response places the period's end only within two seconds: waiting for the
//! latest possible end costs up to two seconds per period, all of a 2 s period. The rate gate
//! learns the period's phase instead. When the budget is spent, one request (the gate's probe)
//! goes halfway through what is not known: admitted, the period had ended when it arrived;
//! refused (the one 429 of that period), it had not, and the others wait for the latest end.
//! Either way half of the doubt is gone, and with `X-RateLimit-Period` it carries over to the
//! next period, so within a few periods the gate sends each period's first request just after
//! the period begins. (A process that shares the budget with others does not halve: each of
//! their probes could meet a 429 in the same period.)

use std::time::Duration;

use tokio::time::Instant;

/// Below this much doubt the probe goes just after the latest end: halving further would risk
/// a 429 to save less than a round trip.
const CERTAIN_ENOUGH: Duration = Duration::from_millis(40);

/// How far past the latest end the waiting requests go, so that the server's period has really
/// turned over.
const MARGIN: Duration = Duration::from_millis(20);

/// The period ends after `lo` and by `hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PeriodEnd {
    lo: Instant,
    hi: Instant,
}

impl PeriodEnd {
    /// What one response says: sent at `sent`, answered at `answered`, `reset` seconds left in
    /// the period (whole, rounded one way or the other) when the server counted it.
    fn from_header(sent: Instant, answered: Instant, reset: Duration) -> Self {
        let second = Duration::from_secs(1);
        let lo = sent + reset.saturating_sub(second);
        Self {
            lo,
            hi: (answered + reset + second).max(lo),
        }
    }

    fn intersect(self, other: Self) -> Option<Self> {
        let (lo, hi) = (self.lo.max(other.lo), self.hi.min(other.hi));
        (lo <= hi).then_some(Self { lo, hi })
    }

    fn shifted(self, by: Duration) -> Self {
        Self {
            lo: self.lo + by,
            hi: self.hi + by,
        }
    }

    /// When the probe that finds out whether the period has ended goes. `bisect`: halfway
    /// through the doubt (it may meet the period's one 429); otherwise where a reset rounded up
    /// puts the end, as a process that shares the budget with others does (their probes would
    /// each risk a 429 in the same period).
    pub fn probe_at(&self, bisect: bool) -> Instant {
        let doubt = self.hi - self.lo;
        if doubt <= CERTAIN_ENOUGH {
            self.hi + MARGIN
        } else if bisect {
            self.lo + doubt / 2
        } else {
            (self.lo + Duration::from_secs(1)).min(self.hi) + MARGIN
        }
    }

    /// When the period has certainly ended (and a little after).
    pub fn surely_over(&self) -> Instant {
        self.hi + MARGIN
    }
}

/// The current period's end, carried from period to period.
#[derive(Debug, Default)]
pub(super) struct PeriodClock {
    end: Option<PeriodEnd>,
    /// `X-RateLimit-Period`, once an answer gave it.
    period: Option<Duration>,
}

/// One answer's rate-limit timing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answer {
    pub sent: Instant,
    pub answered: Instant,
    /// `X-RateLimit-Reset`.
    pub reset: Duration,
    /// `X-RateLimit-Period`.
    pub period: Option<Duration>,
    /// The request was the probe sent once the budget was spent, and it was admitted: the
    /// period had ended when it arrived.
    pub turned: bool,
}

impl PeriodClock {
    pub fn end(&self) -> Option<PeriodEnd> {
        self.end
    }

    /// Takes in an admitted request's answer; returns whether it is from the period already
    /// known (so the budget it reports is that period's).
    pub fn admitted(&mut self, a: Answer) -> bool {
        let header = PeriodEnd::from_header(a.sent, a.answered, a.reset);
        if a.period.is_some() {
            self.period = a.period;
        }
        let Some(mut end) = self.end else {
            self.end = Some(header);
            return false;
        };
        if a.turned {
            // The period ended by the time the probe arrived, so by the time it was answered.
            end.hi = end.hi.min(a.answered).max(end.lo);
        } else if let Some(same) = end.intersect(header) {
            self.end = Some(same);
            return true;
        }
        // A later period: the known end one period on, where the answer agrees; else the
        // answer alone.
        self.end = Some(
            self.period
                .and_then(|p| end.shifted(p).intersect(header))
                .unwrap_or(header),
        );
        false
    }

    /// The probe sent at `sent` once the budget was spent was refused: the period had not
    /// ended when it arrived.
    pub fn refused(&mut self, sent: Instant) {
        if let Some(end) = &mut self.end {
            end.lo = end.lo.max(sent).min(end.hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn one_header_leaves_two_seconds_of_doubt() {
        let t = Instant::now();
        let end = PeriodEnd::from_header(t, t + Duration::from_millis(100), 5 * SECOND);
        assert_eq!(end.lo, t + 4 * SECOND);
        assert_eq!(end.hi, t + Duration::from_millis(6100));
        assert_eq!(end.probe_at(true), t + Duration::from_millis(5050));
        assert_eq!(end.probe_at(false), t + Duration::from_millis(5020));
        // A reset of 0 does not put the end before the request.
        let now = PeriodEnd::from_header(t, t, Duration::ZERO);
        assert_eq!((now.lo, now.hi), (t, t + SECOND));
    }

    #[test]
    fn the_doubt_carries_over_to_the_next_period() {
        let t = Instant::now();
        let mut clock = PeriodClock::default();
        let answer = |sent: Instant, reset: u32, turned| Answer {
            sent,
            answered: sent,
            reset: SECOND * reset,
            period: Some(10 * SECOND),
            turned,
        };
        assert!(!clock.admitted(answer(t, 5, false)));
        // Later in the same period: the same end.
        assert!(clock.admitted(answer(t + 2 * SECOND, 3, false)));
        let end = clock.end().unwrap();
        // Refused halfway: the end is later than that.
        clock.refused(end.probe_at(true));
        assert_eq!(clock.end().unwrap().lo, end.probe_at(true));
        // Admitted at 5.7 s: the next period ends 10 s after an end in (5, 5.7].
        let probe = t + Duration::from_millis(5700);
        assert!(!clock.admitted(answer(probe, 10, true)));
        let next = clock.end().unwrap();
        assert_eq!(next.lo, t + 15 * SECOND);
        assert_eq!(next.hi, t + Duration::from_millis(15700));
    }

    #[test]
    fn an_answer_that_fits_no_period_starts_afresh() {
        let t = Instant::now();
        let mut clock = PeriodClock::default();
        let answer = |sent: Instant, reset: u32| Answer {
            sent,
            answered: sent,
            reset: SECOND * reset,
            period: None,
            turned: false,
        };
        clock.admitted(answer(t, 5));
        assert!(!clock.admitted(answer(t + 100 * SECOND, 5)));
        let end = clock.end().unwrap();
        assert_eq!(end.lo, t + 104 * SECOND);
    }
}
