//! The simulator's settings as text: one description shared by `ddstream simulate`'s flags, the C
//! ABI's `ddstream_simulator_start(config_json)` and Python's `ddstream.Simulator(...)`, so a
//! fault schedule or a rate limit is written the same way everywhere.
//!
//! - rate limit: `REQUESTS/PERIOD`, e.g. `100/10s` or `300/1h`;
//! - faults: `;`-separated `key=value` parts, e.g. `at=0:500,3:reset` (the 1st and 4th data
//!   requests fail) or `p=0.1; kinds=500,503,reset; seed=7` (each request fails with
//!   probability 0.1), optionally `max_consecutive=2`. Fault kinds: an HTTP status (`500`,
//!   `503`, `408`, ...), `429` (with `Retry-After: 1`), `429-reset` (only `X-RateLimit-Reset`),
//!   `413`, `reset` (connection reset before the response), `reset-mid-body`, `truncated`,
//!   `slow` (2 s extra) or `slow:DURATION`, `not-json`, `wrong-shape`.

use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::{FaultKind, FaultSchedule, RateLimit, SimulatorConfig};
use crate::sql::config::values::parse_duration;
use crate::{Error, Result};

/// The simulator's settings as JSON (`{"latency_ms": 200, "rate_limit": "100/10s", "faults":
/// "p=0.1; kinds=500,reset; seed=7", "api_key": "..."}`); every field is optional.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSpec {
    /// Added before every response, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// `REQUESTS/PERIOD` on each data endpoint; unlimited when absent.
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// The fault schedule, in the syntax of this module's docs.
    #[serde(default)]
    pub faults: Option<String>,
    /// When set, Datadog requests must carry this `DD-API-KEY` (else 403).
    #[serde(default)]
    pub api_key: Option<String>,
    /// When set, Datadog data requests must carry this `DD-APPLICATION-KEY` (else 403).
    #[serde(default)]
    pub app_key: Option<String>,
    /// When set, the generic REST endpoints require `Authorization: Bearer <token>`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// Maximum points per series (the rollup interval grows to respect it).
    #[serde(default)]
    pub max_points: Option<usize>,
    /// A server that answers 503 to requests beyond this many at once.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
}

// Keys are secrets: Debug shows only whether they are set.
impl std::fmt::Debug for SimulatorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorSpec")
            .field("latency_ms", &self.latency_ms)
            .field("rate_limit", &self.rate_limit)
            .field("faults", &self.faults)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("app_key", &self.app_key.as_ref().map(|_| "<set>"))
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<set>"))
            .field("max_points", &self.max_points)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

impl SimulatorSpec {
    /// Parses the JSON form; an empty text means the defaults.
    pub fn from_json(json: &str) -> Result<SimulatorSpec> {
        if json.trim().is_empty() {
            return Ok(SimulatorSpec::default());
        }
        // serde's message names the field and the position, never a value of a known field.
        serde_json::from_str(json).map_err(|e| Error::config(format!("simulator settings: {e}")))
    }

    /// The [`SimulatorConfig`] these settings describe.
    pub fn into_config(self) -> Result<SimulatorConfig> {
        let defaults = SimulatorConfig::default();
        Ok(SimulatorConfig {
            api_key: self.api_key,
            app_key: self.app_key,
            latency: Duration::from_millis(self.latency_ms),
            rate_limit: self.rate_limit.as_deref().map(str::parse).transpose()?,
            faults: self
                .faults
                .as_deref()
                .map(str::parse)
                .transpose()?
                .unwrap_or_default(),
            max_points: self.max_points.unwrap_or(defaults.max_points),
            bearer_token: self.bearer_token,
            max_in_flight: self.max_in_flight,
            ..defaults
        })
    }
}

impl FromStr for RateLimit {
    type Err = Error;

    /// `REQUESTS/PERIOD`, e.g. `100/10s` or `300/1h`.
    fn from_str(raw: &str) -> Result<RateLimit> {
        let bad = || {
            Error::config(format!(
                "rate limit: expected REQUESTS/PERIOD such as 100/10s, got '{raw}'"
            ))
        };
        let (limit, period) = raw.split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let period = parse_duration("rate_limit", period.trim()).map_err(|_| bad())?;
        if limit == 0 || period.is_zero() {
            return Err(bad());
        }
        Ok(RateLimit::new(limit, period))
    }
}

impl FromStr for FaultKind {
    type Err = Error;

    fn from_str(raw: &str) -> Result<FaultKind> {
        let text = raw.trim().to_ascii_lowercase();
        let kind = match text.as_str() {
            "429" => FaultKind::TooManyRequestsRetryAfter { secs: 1 },
            "429-reset" => FaultKind::TooManyRequestsResetOnly { secs: 1 },
            "413" => FaultKind::PayloadTooLarge,
            "reset" => FaultKind::ConnectionResetBeforeResponse,
            "reset-mid-body" => FaultKind::ResetMidBody,
            "truncated" => FaultKind::TruncatedJson,
            "slow" => FaultKind::Slow {
                delay: Duration::from_secs(2),
            },
            "not-json" => FaultKind::NotJson,
            "wrong-shape" => FaultKind::WrongShape,
            other => match other.strip_prefix("slow:") {
                Some(delay) => FaultKind::Slow {
                    delay: parse_duration("slow", delay)?,
                },
                None => match other.parse::<u16>() {
                    Ok(status) if (400..600).contains(&status) => FaultKind::Status(status),
                    _ => {
                        return Err(Error::config(format!(
                            "unknown fault '{raw}'; use an HTTP status from 400 to 599, 429, \
                             429-reset, 413, reset, reset-mid-body, truncated, slow, \
                             slow:DURATION, not-json or wrong-shape"
                        )))
                    }
                },
            },
        };
        Ok(kind)
    }
}

impl FromStr for FaultSchedule {
    type Err = Error;

    /// `at=0:500,3:reset; p=0.1; kinds=500,503; seed=7; max_consecutive=2` (every part
    /// optional; `p` needs `kinds`).
    fn from_str(raw: &str) -> Result<FaultSchedule> {
        let mut explicit = Vec::new();
        let (mut probability, mut kinds, mut seed, mut max_consecutive) = (None, None, 0, None);
        for part in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                Error::config(format!(
                    "faults: expected key=value parts (at=, p=, kinds=, seed=, \
                     max_consecutive=), got '{part}'"
                ))
            })?;
            let value = value.trim();
            match key.trim() {
                "at" => {
                    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let (index, kind) = pair.split_once(':').ok_or_else(|| {
                            Error::config(format!(
                                "faults: 'at' takes INDEX:KIND pairs such as 0:500, got '{pair}'"
                            ))
                        })?;
                        let index = index.trim().parse::<u64>().map_err(|_| {
                            Error::config(format!(
                                "faults: '{index}' in '{pair}' is not a request index (0, 1, ...)"
                            ))
                        })?;
                        explicit.push((index, kind.parse()?));
                    }
                }
                "p" => {
                    let p = value
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=1.0).contains(p));
                    probability = Some(p.ok_or_else(|| {
                        Error::config(format!(
                            "faults: p must be a probability from 0 to 1, got '{value}'"
                        ))
                    })?);
                }
                "kinds" => {
                    kinds = Some(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|k| !k.is_empty())
                            .map(str::parse)
                            .collect::<Result<Vec<FaultKind>>>()?,
                    );
                }
                "seed" => {
                    seed = value.parse().map_err(|_| {
                        Error::config(format!(
                            "faults: seed must be a whole number, got '{value}'"
                        ))
                    })?;
                }
                "max_consecutive" => {
                    max_consecutive = Some(value.parse().map_err(|_| {
                        Error::config(format!(
                            "faults: max_consecutive must be a whole number, got '{value}'"
                        ))
                    })?);
                }
                other => {
                    return Err(Error::config(format!(
                        "faults: unknown part '{other}'; use at=, p=, kinds=, seed= or \
                         max_consecutive="
                    )))
                }
            }
        }
        let mut schedule = match (probability, kinds) {
            (Some(p), Some(kinds)) if !kinds.is_empty() => FaultSchedule::seeded(seed, p, kinds),
            (Some(_), _) => {
                return Err(Error::config(
                    "faults: p= needs kinds= (e.g. p=0.1; kinds=500,reset)",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "faults: kinds= needs p= (the probability of a fault per request)",
                ))
            }
            (None, None) => FaultSchedule::none(),
        };
        schedule.add_explicit(explicit);
        if let Some(n) = max_consecutive {
            schedule = schedule.with_max_consecutive(n);
        }
        Ok(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse_requests_per_period() {
        let limit: RateLimit = "100/10s".parse().unwrap();
        assert_eq!((limit.limit, limit.period), (100, Duration::from_secs(10)));
        assert_eq!(
            "300/1h".parse::<RateLimit>().unwrap().period,
            Duration::from_secs(3600)
        );
        for bad in ["100", "x/10s", "0/10s", "10/0s", "10/abc"] {
            let err = bad.parse::<RateLimit>().unwrap_err().to_string();
            assert!(err.contains("REQUESTS/PERIOD"), "{bad}: {err}");
        }
    }

    #[test]
    fn explicit_faults_land_on_their_request_indices() {
        let schedule: FaultSchedule = "at=0:500, 3:reset".parse().unwrap();
        assert_eq!(
            schedule.plan(5),
            vec![
                Some(FaultKind::Status(500)),
                None,
                None,
                Some(FaultKind::ConnectionResetBeforeResponse),
                None
            ]
        );
    }

    #[test]
    fn seeded_faults_match_the_schedule_built_in_code() {
        let parsed: FaultSchedule = "p=0.5; kinds=503,truncated; seed=7".parse().unwrap();
        let built = FaultSchedule::seeded(
            7,
            0.5,
            vec![FaultKind::Status(503), FaultKind::TruncatedJson],
        );
        assert_eq!(parsed.plan(200), built.plan(200));
        assert!(parsed.plan(200).iter().any(Option::is_some));
    }

    #[test]
    fn every_fault_kind_has_a_name() {
        for (name, kind) in [
            ("429", FaultKind::TooManyRequestsRetryAfter { secs: 1 }),
            ("429-reset", FaultKind::TooManyRequestsResetOnly { secs: 1 }),
            ("413", FaultKind::PayloadTooLarge),
            ("reset-mid-body", FaultKind::ResetMidBody),
            (
                "slow:250ms",
                FaultKind::Slow {
                    delay: Duration::from_millis(250),
                },
            ),
            ("NOT-JSON", FaultKind::NotJson),
            ("wrong-shape", FaultKind::WrongShape),
            ("408", FaultKind::Status(408)),
        ] {
            assert_eq!(name.parse::<FaultKind>().unwrap(), kind, "{name}");
        }
    }

    #[test]
    fn bad_fault_schedules_say_what_to_write() {
        for (bad, expected) in [
            ("p=0.1", "needs kinds="),
            ("kinds=500", "needs p="),
            ("p=2; kinds=500", "probability from 0 to 1"),
            ("at=x:500", "not a request index"),
            ("at=0:700", "unknown fault '700'"),
            ("when=3", "unknown part 'when'"),
            ("500", "key=value"),
        ] {
            let err = bad.parse::<FaultSchedule>().unwrap_err().to_string();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }

    #[test]
    fn json_settings_build_the_config_and_never_show_keys() {
        let spec = SimulatorSpec::from_json(
            r#"{"latency_ms": 25, "rate_limit": "5/1s", "faults": "at=1:503", "api_key": "sekrit-1"}"#,
        )
        .unwrap();
        assert!(!format!("{spec:?}").contains("sekrit-1"));
        let config = spec.into_config().unwrap();
        assert_eq!(config.latency, Duration::from_millis(25));
        assert_eq!(
            config.rate_limit,
            Some(RateLimit::new(5, Duration::from_secs(1)))
        );
        assert_eq!(
            config.faults.plan(2),
            vec![None, Some(FaultKind::Status(503))]
        );
        assert_eq!(config.api_key.as_deref(), Some("sekrit-1"));

        let err = SimulatorSpec::from_json(r#"{"latency": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `latency`"), "{err}");
        assert!(SimulatorSpec::from_json("").unwrap().into_config().is_ok());
    }
}
