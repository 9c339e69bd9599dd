//! The range of a stream: [`TimeArg`] (epoch seconds or RFC 3339 text) and the `range_start` /
//! `range_end` keys of a stream's JSON config, which are not table options and so are taken out
//! before the rest goes to the table.

use serde_json::{Map, Value};

use super::EmbedError;

/// One end of a stream's range: epoch seconds, or text holding epoch seconds or an RFC 3339
/// instant (`2026-01-01T00:00:00Z`).
#[derive(Debug, Clone, PartialEq)]
pub enum TimeArg {
    /// Seconds since the Unix epoch (fractions keep milliseconds).
    Seconds(f64),
    /// Epoch seconds or RFC 3339, as written.
    Text(String),
}

impl From<i64> for TimeArg {
    fn from(seconds: i64) -> Self {
        TimeArg::Seconds(seconds as f64)
    }
}

impl From<f64> for TimeArg {
    fn from(seconds: f64) -> Self {
        TimeArg::Seconds(seconds)
    }
}

impl From<&str> for TimeArg {
    fn from(text: &str) -> Self {
        TimeArg::Text(text.to_string())
    }
}

impl From<String> for TimeArg {
    fn from(text: String) -> Self {
        TimeArg::Text(text)
    }
}

impl TimeArg {
    /// Milliseconds since the epoch; `what` names the argument in errors.
    pub fn to_millis(&self, what: &str) -> Result<i64, EmbedError> {
        match self {
            TimeArg::Seconds(s) => seconds_to_ms(*s, what, &s.to_string()),
            TimeArg::Text(text) => {
                let t = text.trim();
                if let Ok(s) = t.parse::<f64>() {
                    return seconds_to_ms(s, what, t);
                }
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.timestamp_millis())
                    .map_err(|_| {
                        EmbedError::config(format!(
                            "{what} '{t}' is neither epoch seconds nor an RFC 3339 time; write e.g. 1767225600 or 2026-01-01T00:00:00Z"
                        ))
                    })
            }
        }
    }

    fn from_json(value: &Value, what: &str) -> Result<TimeArg, EmbedError> {
        match value {
            Value::Number(n) => n.as_f64().map(TimeArg::Seconds).ok_or_else(|| {
                EmbedError::config(format!("{what} {n} is not a number of seconds"))
            }),
            Value::String(s) => Ok(TimeArg::Text(s.clone())),
            _ => Err(EmbedError::config(format!(
                "{what} must be epoch seconds (a number) or an RFC 3339 time (text), e.g. \"2026-01-01T00:00:00Z\""
            ))),
        }
    }
}

fn seconds_to_ms(seconds: f64, what: &str, written: &str) -> Result<i64, EmbedError> {
    let ms = (seconds * 1000.0).round();
    // Years 0..=9999 (RFC 3339's span) in epoch milliseconds.
    if !ms.is_finite() || !(-62_167_219_200_000.0..=253_402_300_799_000.0).contains(&ms) {
        return Err(EmbedError::config(format!(
            "{what} {written} is out of range; give epoch seconds between years 0 and 9999"
        )));
    }
    Ok(ms as i64)
}

/// A stream's range in epoch milliseconds; an open end is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    /// Inclusive start.
    pub start_ms: Option<i64>,
    /// Exclusive end.
    pub end_ms: Option<i64>,
}

impl Range {
    /// The range of `start` and `end`; the start must come before the end.
    pub fn new(start: Option<&TimeArg>, end: Option<&TimeArg>) -> Result<Range, EmbedError> {
        let start_ms = start.map(|s| s.to_millis("range_start")).transpose()?;
        let end_ms = end.map(|e| e.to_millis("range_end")).transpose()?;
        if let (Some(s), Some(e)) = (start_ms, end_ms) {
            if s >= e {
                return Err(EmbedError::config(format!(
                    "range_start ({}) must be before range_end ({}); swap them or widen the range",
                    fmt_ms(s),
                    fmt_ms(e)
                )));
            }
        }
        Ok(Range { start_ms, end_ms })
    }
}

fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Splits a stream's JSON config into the table's options (as JSON text) and its range keys.
pub fn split_config(
    config_json: &str,
) -> Result<(String, Option<TimeArg>, Option<TimeArg>), EmbedError> {
    let mut map: Map<String, Value> = serde_json::from_str(config_json).map_err(|e| {
        EmbedError::config(format!(
            "the stream config is not a JSON object of options ({e}); expected e.g. {{\"query\": \"system.cpu.user{{*}}\", \"range_start\": \"2026-01-01T00:00:00Z\"}}"
        ))
    })?;
    let mut take = |key: &str| {
        map.remove(key)
            .filter(|v| !v.is_null())
            .map(|v| TimeArg::from_json(&v, key))
            .transpose()
    };
    let start = take("range_start")?;
    let end = take("range_end")?;
    Ok((Value::Object(map).to_string(), start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_rfc3339_agree() {
        // 2026-01-01T00:00:00Z is 1767225600 s: 56 years of 365 days plus 14 leap days.
        let jan1 = (56 * 365 + 14) * 86_400;
        assert_eq!(jan1, 1_767_225_600);
        let ms = jan1 * 1000;
        assert_eq!(TimeArg::from(jan1).to_millis("t").unwrap(), ms);
        assert_eq!(TimeArg::from("1767225600").to_millis("t").unwrap(), ms);
        assert_eq!(
            TimeArg::from("2026-01-01T00:00:00Z")
                .to_millis("t")
                .unwrap(),
            ms
        );
        assert_eq!(
            TimeArg::from("2026-01-01T01:00:00+01:00")
                .to_millis("t")
                .unwrap(),
            ms
        );
        assert_eq!(TimeArg::from(1.5).to_millis("t").unwrap(), 1500);
    }

    #[test]
    fn bad_times_say_what_is_accepted() {
        let e = TimeArg::from("yesterday")
            .to_millis("range_start")
            .unwrap_err();
        assert!(e.message().contains("range_start 'yesterday'"), "{e}");
        assert!(e.message().contains("RFC 3339"), "{e}");
        assert!(TimeArg::from(f64::NAN).to_millis("t").is_err());
        assert!(TimeArg::from(1e300).to_millis("t").is_err());
        let inverted = Range::new(Some(&TimeArg::from(10)), Some(&TimeArg::from(5))).unwrap_err();
        assert!(inverted.message().contains("must be before"), "{inverted}");
    }

    #[test]
    fn the_range_keys_leave_the_table_config() {
        let (rest, start, end) = split_config(
            r#"{"query": "q", "range_start": 60, "range_end": "1970-01-01T00:02:00Z"}"#,
        )
        .unwrap();
        let rest: Value = serde_json::from_str(&rest).unwrap();
        assert_eq!(rest, serde_json::json!({"query": "q"}));
        assert_eq!(start, Some(TimeArg::Seconds(60.0)));
        assert_eq!(end.unwrap().to_millis("e").unwrap(), 120_000);
        assert!(split_config("[1]").is_err());
        assert!(split_config(r#"{"range_start": [1]}"#).is_err());
    }
}
