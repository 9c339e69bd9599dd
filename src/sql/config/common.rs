//! The fetch knobs every table has, whatever its vendor: requests in flight, retries, HTTP
//! timeouts, and whether plain http may leave the machine.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::values::{parse_bool, parse_count, parse_duration, parse_in_range};
use super::KeyDoc;
use crate::engine::Transport;
use crate::engine::{ConcurrencyBounds, DefaultPolicy};
use crate::transport::given_or_new_reqwest;
use crate::Result;

/// The options every vendor accepts.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommonConfigKey {
    /// `prefetch_depth`: requests kept in flight per partition.
    PrefetchDepth,
    /// `max_retries`: retries per request before failing.
    MaxRetries,
    /// `request_timeout`: time allowed for one request.
    RequestTimeout,
    /// `connect_timeout`: time allowed to connect.
    ConnectTimeout,
    /// `allow_http`: plain http to non-loopback hosts.
    AllowHttp,
    /// `adaptive_concurrency`: a per-host concurrency limit the engine adjusts.
    AdaptiveConcurrency,
    /// `max_host_concurrency`: the ceiling of that limit.
    MaxHostConcurrency,
    /// `rate_limit_share`: use 1/N of the rate budget the API reports.
    RateLimitShare,
}

impl CommonConfigKey {
    /// Every key, in documentation order.
    pub const ALL: [CommonConfigKey; 8] = [
        CommonConfigKey::PrefetchDepth,
        CommonConfigKey::MaxRetries,
        CommonConfigKey::RequestTimeout,
        CommonConfigKey::ConnectTimeout,
        CommonConfigKey::AllowHttp,
        CommonConfigKey::AdaptiveConcurrency,
        CommonConfigKey::MaxHostConcurrency,
        CommonConfigKey::RateLimitShare,
    ];

    /// What the key means, with its default.
    pub fn doc(self) -> KeyDoc {
        let doc = match self {
            CommonConfigKey::PrefetchDepth => {
                "most requests in flight per partition (default 16; the host's adaptive limit decides how many of them go out)"
            }
            CommonConfigKey::MaxRetries => {
                "retries per request before failing (default 8; 0 = no retry)"
            }
            CommonConfigKey::RequestTimeout => "time allowed for one request (default 60s)",
            CommonConfigKey::ConnectTimeout => "time allowed to connect (default 10s)",
            CommonConfigKey::AllowHttp => "allow plain http to non-loopback hosts (default false)",
            CommonConfigKey::AdaptiveConcurrency => {
                "adjust the requests in flight per host from latency, 429s and 5xx, starting at 16 or at the rate budget the host reports (default true; false: partitions x prefetch_depth, fixed)"
            }
            CommonConfigKey::MaxHostConcurrency => {
                "most requests in flight to one host under the adaptive limit (default 64)"
            }
            CommonConfigKey::RateLimitShare => {
                "use 1/N of the rate budget the API reports in X-RateLimit-Remaining, for N processes sharing one key (default 1; a distributed scan sets it to its task count)"
            }
        };
        KeyDoc {
            name: self.name(),
            doc,
        }
    }
}

impl CommonConfigKey {
    /// The key's name.
    pub fn name(&self) -> &'static str {
        match self {
            CommonConfigKey::PrefetchDepth => "prefetch_depth",
            CommonConfigKey::MaxRetries => "max_retries",
            CommonConfigKey::RequestTimeout => "request_timeout",
            CommonConfigKey::ConnectTimeout => "connect_timeout",
            CommonConfigKey::AllowHttp => "allow_http",
            CommonConfigKey::AdaptiveConcurrency => "adaptive_concurrency",
            CommonConfigKey::MaxHostConcurrency => "max_host_concurrency",
            CommonConfigKey::RateLimitShare => "rate_limit_share",
        }
    }
}

impl AsRef<str> for CommonConfigKey {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl FromStr for CommonConfigKey {
    type Err = ();

    /// Accepts the names case-insensitively.
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        Ok(match super::normalized_key(s).as_str() {
            "prefetch_depth" => CommonConfigKey::PrefetchDepth,
            "max_retries" => CommonConfigKey::MaxRetries,
            "request_timeout" => CommonConfigKey::RequestTimeout,
            "connect_timeout" => CommonConfigKey::ConnectTimeout,
            "allow_http" => CommonConfigKey::AllowHttp,
            "adaptive_concurrency" => CommonConfigKey::AdaptiveConcurrency,
            "max_host_concurrency" => CommonConfigKey::MaxHostConcurrency,
            "rate_limit_share" => CommonConfigKey::RateLimitShare,
            _ => return Err(()),
        })
    }
}

/// Requests in flight per partition at most, by default: with 4 partitions, up to 64 at once
/// when the host's adaptive limit allows them.
pub const DEFAULT_PREFETCH_DEPTH: usize = 16;

/// The values of the [`CommonConfigKey`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// Most requests in flight per partition.
    pub prefetch_depth: usize,
    /// A per-host concurrency limit adjusted from what the host answers.
    pub adaptive_concurrency: bool,
    /// That limit's ceiling.
    pub max_host_concurrency: usize,
    /// Retries per request.
    pub max_retries: u32,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Allow http to non-loopback hosts.
    pub allow_http: bool,
    /// This process uses 1/N of the API's reported rate budget.
    pub rate_limit_share: u32,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            prefetch_depth: DEFAULT_PREFETCH_DEPTH,
            adaptive_concurrency: true,
            max_host_concurrency: ConcurrencyBounds::default().ceiling,
            max_retries: 8,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            allow_http: false,
            rate_limit_share: 1,
        }
    }
}

impl FetchSettings {
    /// Sets one key from its text.
    pub fn set(&mut self, key: CommonConfigKey, value: &str) -> Result<()> {
        let name = key.as_ref();
        match key {
            CommonConfigKey::PrefetchDepth => {
                self.prefetch_depth = parse_count(name, value, 64)? as usize
            }
            // 0: one attempt, no retry.
            CommonConfigKey::MaxRetries => {
                self.max_retries = parse_in_range(name, value, 0, 100)? as u32
            }
            CommonConfigKey::RequestTimeout => self.request_timeout = parse_duration(name, value)?,
            CommonConfigKey::ConnectTimeout => self.connect_timeout = parse_duration(name, value)?,
            CommonConfigKey::AllowHttp => self.allow_http = parse_bool(name, value)?,
            CommonConfigKey::AdaptiveConcurrency => {
                self.adaptive_concurrency = parse_bool(name, value)?
            }
            CommonConfigKey::MaxHostConcurrency => {
                self.max_host_concurrency = parse_count(name, value, 1024)? as usize
            }
            CommonConfigKey::RateLimitShare => {
                self.rate_limit_share = parse_count(name, value, 1024)? as u32
            }
        }
        Ok(())
    }

    /// The engine policy these settings give, before a vendor's own limits.
    pub fn policy(&self) -> DefaultPolicy {
        DefaultPolicy {
            max_retries: self.max_retries,
            prefetch_depth: self.prefetch_depth,
            concurrency: self.adaptive_concurrency.then(|| ConcurrencyBounds {
                initial: ConcurrencyBounds::default()
                    .initial
                    .min(self.max_host_concurrency),
                ceiling: self.max_host_concurrency,
            }),
            rate_share: self.rate_limit_share,
            ..DefaultPolicy::default()
        }
    }

    /// `given`, or a new HTTP client with these timeouts.
    pub fn transport(&self, given: Option<Arc<dyn Transport>>) -> Result<Arc<dyn Transport>> {
        given_or_new_reqwest(given, self.connect_timeout, self.request_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_from_its_own_name() {
        for key in CommonConfigKey::ALL {
            assert_eq!(key.as_ref().parse::<CommonConfigKey>(), Ok(key));
            assert_eq!(key.doc().name, key.as_ref());
        }
        assert_eq!(
            "FORMAT.Request_Timeout".parse(),
            Ok(CommonConfigKey::RequestTimeout)
        );
        assert!("granularity".parse::<CommonConfigKey>().is_err());
    }

    #[test]
    fn values_are_checked() {
        let mut s = FetchSettings::default();
        s.set(CommonConfigKey::PrefetchDepth, "8").unwrap();
        s.set(CommonConfigKey::RequestTimeout, "2m").unwrap();
        assert_eq!(
            (s.prefetch_depth, s.request_timeout),
            (8, Duration::from_secs(120))
        );
        let err = s
            .set(CommonConfigKey::PrefetchDepth, "0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'prefetch_depth'") && err.contains("between 1 and 64"),
            "{err}"
        );
        // No retry at all is a valid choice; a negative count is not.
        s.set(CommonConfigKey::MaxRetries, "0").unwrap();
        assert_eq!(s.max_retries, 0);
        assert_eq!(s.policy().max_retries, 0);
        let err = s
            .set(CommonConfigKey::MaxRetries, "-1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("between 0 and 100"), "{err}");
    }
}
