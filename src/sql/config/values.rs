//! Option values as users write them (`'60s'`, `'15 minutes'`, `'true'`), parsed once, with
//! errors that name the option and the accepted forms.

use std::time::Duration;

use crate::{Error, Result};

/// Parses a duration: a number followed by a unit (`ms`, `s`, `m`/`min`, `h`, `d`, `w`, or the
/// words `seconds`, `minutes`, `hours`, `days`, `weeks`), spaces allowed; a bare number is seconds.
pub fn parse_duration(option: &str, raw: &str) -> Result<Duration> {
    let text = raw.trim().to_ascii_lowercase();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        Error::config(format!(
            "option '{option}': '{raw}' is not a duration; write e.g. '60s', '5m', '1h', '1d' or '15 minutes'"
        ))
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds_per_unit = match unit.trim() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "ms" | "millis" | "milliseconds" => 0.001,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hour" | "hours" => 3_600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        _ => return Err(bad()),
    };
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || !(0.0..=1e10).contains(&seconds) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses `true`/`false` (also `1`/`0`, `yes`/`no`).
pub fn parse_bool(option: &str, raw: &str) -> Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::config(format!(
            "option '{option}': '{raw}' is not a boolean; use true or false"
        ))),
    }
}

/// Parses a positive integer no larger than `max`.
pub fn parse_count(option: &str, raw: &str, max: u64) -> Result<u64> {
    parse_in_range(option, raw, 1, max)
}

/// Parses a whole number from `min` to `max` (inclusive).
pub fn parse_in_range(option: &str, raw: &str, min: u64, max: u64) -> Result<u64> {
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::config(format!(
            "option '{option}': '{raw}' is not a whole number between {min} and {max}"
        ))),
    }
}

/// Formats a duration compactly for EXPLAIN and errors (`4h`, `90s`, `1d12h`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// A JSON option value as text (strings, numbers, booleans); arrays, objects and null are
/// refused, naming only their type (the value may be a key).
pub fn json_scalar_text(key: &str, value: serde_json::Value) -> Result<String> {
    Ok(match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        other => {
            let kind = if other.is_array() {
                "an array"
            } else if other.is_object() {
                "an object"
            } else {
                "null"
            };
            return Err(Error::config(format!(
                "option '{key}': expected a string, number or boolean, got {kind}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("g", "60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("g", "60").unwrap(), Duration::from_secs(60));
        assert_eq!(
            parse_duration("g", "15 minutes").unwrap(),
            Duration::from_secs(900)
        );
        assert_eq!(
            parse_duration("g", "1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_duration("g", "31d").unwrap(),
            Duration::from_secs(31 * 86_400)
        );
        assert_eq!(
            parse_duration("g", "250ms").unwrap(),
            Duration::from_millis(250)
        );
        let err = parse_duration("granularity", "soon")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("granularity") && err.contains("'60s'"),
            "{err}"
        );
        assert!(parse_duration("g", "-5s").is_err());
        assert!(parse_duration("g", "5 fortnights").is_err());
        assert_eq!(format_duration(Duration::from_secs(4 * 3600)), "4h");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 90)), "1d1m30s");
    }

    #[test]
    fn bools_and_counts() {
        assert!(parse_bool("x", "TRUE").unwrap());
        assert!(!parse_bool("x", "0").unwrap());
        assert!(parse_bool("x", "maybe").is_err());
        assert_eq!(parse_count("x", "4", 64).unwrap(), 4);
        assert!(parse_count("x", "0", 64).is_err());
        assert!(parse_count("x", "65", 64)
            .unwrap_err()
            .to_string()
            .contains("between 1 and 64"));
    }
}
