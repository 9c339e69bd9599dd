//! [`ExecutionPolicy`]: how long to back off, how to resize time windows, how deep to prefetch.
//! [`DefaultPolicy`] is exponential backoff with full jitter and a ceiling-aware chunk controller.

use std::fmt;
use std::time::Duration;

use rand::Rng;

/// What the engine tells the policy after fetching a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkFeedback {
    /// The API refused a window of `failed_ms` as too large.
    TooLarge {
        /// Length of the refused window.
        failed_ms: i64,
    },
    /// A window was fetched quickly; `streak` successes in a row so far.
    FastSuccess {
        /// Consecutive fast successes including this one.
        streak: u32,
    },
}

/// Retry, sizing and prefetch decisions, as in the dd_stream seed.
pub trait ExecutionPolicy: Send + Sync + fmt::Debug {
    /// Delay before retry number `attempt` (0-based), or `None` to give up. `server_hint` is what
    /// the server asked for (Retry-After / X-RateLimit-Reset); it is a floor, not a suggestion.
    fn backoff(&self, attempt: u32, server_hint: Option<Duration>) -> Option<Duration>;

    /// The next window length given the current one and feedback. `ceiling_ms` is the smallest
    /// length the API has refused so far (growing must stay below it).
    fn adjust(&self, chunk_ms: i64, ceiling_ms: Option<i64>, feedback: ChunkFeedback) -> i64;

    /// Requests kept in flight ahead of the consumer (1 = sequential): the most one stream
    /// (one partition) has out at once.
    fn prefetch_depth(&self) -> usize;

    /// The adaptive per-host concurrency limit shared by every stream to the same host, or
    /// `None` for none (each stream keeps `prefetch_depth` in flight).
    fn concurrency(&self) -> Option<super::ConcurrencyBounds> {
        None
    }

    /// This process uses 1/N of the rate budget the API reports (N processes share one key).
    fn rate_share(&self) -> u32 {
        1
    }

    /// Smallest window the engine may split down to.
    fn min_chunk(&self) -> Duration;

    /// Most pages one page/token sequence may fetch: an API that never says "last page" ends
    /// in an error instead of a loop.
    fn max_pages(&self) -> u64 {
        100_000
    }

    /// A response faster than this counts as fast for growing the chunk.
    fn fast_response(&self) -> Duration {
        Duration::from_secs(2)
    }
}

/// Exponential backoff with full jitter, capped; chunk halves on refusal and doubles after
/// `grow_after` fast successes, never reaching a size the API refused.
#[derive(Debug, Clone)]
pub struct DefaultPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff step.
    pub base_delay: Duration,
    /// Largest backoff step (server hints may exceed it up to `max_server_wait`).
    pub max_delay: Duration,
    /// Longest wait honoured from Retry-After / X-RateLimit-Reset.
    pub max_server_wait: Duration,
    /// Prefetch depth.
    pub prefetch_depth: usize,
    /// The adaptive per-host concurrency limit (`None`: fixed, `prefetch_depth` per stream).
    pub concurrency: Option<super::ConcurrencyBounds>,
    /// This process's share of the API's rate budget: 1/N.
    pub rate_share: u32,
    /// Minimum window length.
    pub min_chunk: Duration,
    /// Maximum window length when growing.
    pub max_chunk: Duration,
    /// Fast successes in a row before the window doubles.
    pub grow_after: u32,
    /// Most pages per page/token sequence.
    pub max_pages: u64,
}

impl Default for DefaultPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(20),
            max_server_wait: Duration::from_secs(120),
            prefetch_depth: 2,
            concurrency: None,
            rate_share: 1,
            min_chunk: Duration::from_secs(60),
            max_chunk: Duration::from_secs(7 * 86_400),
            grow_after: 4,
            max_pages: 100_000,
        }
    }
}

impl ExecutionPolicy for DefaultPolicy {
    fn backoff(&self, attempt: u32, server_hint: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        // Full jitter (AWS architecture blog): uniform in [0, exp]. Spreads retries of many
        // partitions that failed together. (A draw too large for a Duration, possible only
        // when `exp` is near Duration::MAX, falls back to `exp`.)
        let jittered =
            Duration::try_from_secs_f64(rand::rng().random_range(0.0..=exp.as_secs_f64()))
                .unwrap_or(exp);
        Some(match server_hint {
            // The server's hint is a floor; a little jitter on top avoids a thundering herd.
            Some(hint) => hint
                .min(self.max_server_wait)
                .saturating_add(jittered.min(Duration::from_millis(250))),
            None => jittered,
        })
    }

    fn adjust(&self, chunk_ms: i64, ceiling_ms: Option<i64>, feedback: ChunkFeedback) -> i64 {
        let min = millis(self.min_chunk);
        let max = millis(self.max_chunk);
        match feedback {
            ChunkFeedback::TooLarge { failed_ms } => (failed_ms / 2).max(min).min(chunk_ms),
            ChunkFeedback::FastSuccess { streak } => {
                if self.grow_after == 0 || streak < self.grow_after || streak % self.grow_after != 0
                {
                    return chunk_ms;
                }
                let grown = chunk_ms.saturating_mul(2).min(max);
                match ceiling_ms {
                    Some(ceiling) if grown >= ceiling => chunk_ms,
                    _ => grown,
                }
            }
        }
    }

    fn prefetch_depth(&self) -> usize {
        self.prefetch_depth.max(1)
    }

    fn concurrency(&self) -> Option<super::ConcurrencyBounds> {
        self.concurrency
    }

    fn rate_share(&self) -> u32 {
        self.rate_share.max(1)
    }

    fn max_pages(&self) -> u64 {
        self.max_pages
    }

    fn min_chunk(&self) -> Duration {
        self.min_chunk
    }
}

/// A duration in ms as the window arithmetic uses them, saturating at `i64::MAX`.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_settings_saturate_instead_of_panicking() {
        let p = DefaultPolicy {
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
            max_server_wait: Duration::MAX,
            min_chunk: Duration::MAX,
            max_chunk: Duration::MAX,
            ..Default::default()
        };
        assert!(p.backoff(0, None).is_some());
        assert_eq!(p.backoff(5, Some(Duration::MAX)), Some(Duration::MAX));
        assert_eq!(
            p.adjust(60_000, None, ChunkFeedback::TooLarge { failed_ms: 60_000 }),
            60_000
        );
        assert_eq!(millis(Duration::MAX), i64::MAX);
    }

    #[test]
    fn backoff_is_bounded_and_gives_up() {
        let p = DefaultPolicy {
            max_retries: 3,
            ..Default::default()
        };
        for attempt in 0..3 {
            let d = p.backoff(attempt, None).unwrap();
            assert!(d <= p.base_delay * 2u32.pow(attempt));
        }
        assert!(p.backoff(3, None).is_none());
        let hinted = p.backoff(0, Some(Duration::from_secs(2))).unwrap();
        assert!(hinted >= Duration::from_secs(2) && hinted <= Duration::from_millis(2250));
        let capped = p.backoff(0, Some(Duration::from_secs(3600))).unwrap();
        assert!(capped <= p.max_server_wait + Duration::from_millis(250));
    }

    #[test]
    fn chunk_halves_and_grows_below_ceiling() {
        let p = DefaultPolicy::default();
        let hour = 3_600_000;
        assert_eq!(
            p.adjust(
                4 * hour,
                None,
                ChunkFeedback::TooLarge {
                    failed_ms: 4 * hour
                }
            ),
            2 * hour
        );
        assert_eq!(
            p.adjust(hour, None, ChunkFeedback::FastSuccess { streak: 3 }),
            hour
        );
        assert_eq!(
            p.adjust(hour, None, ChunkFeedback::FastSuccess { streak: 4 }),
            2 * hour
        );
        // Never grow back to a size that was refused.
        assert_eq!(
            p.adjust(
                2 * hour,
                Some(4 * hour),
                ChunkFeedback::FastSuccess { streak: 4 }
            ),
            2 * hour
        );
        // Never below the minimum.
        assert_eq!(
            p.adjust(60_000, None, ChunkFeedback::TooLarge { failed_ms: 60_000 }),
            60_000
        );
    }
}
