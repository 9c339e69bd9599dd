//! Granularities: datastream's names (`seconds`, `10seconds`, `minutes`, `10minutes`, `hours`,
//! `6hours`, `days`) and interval strings such as `'15 minutes'`, as a bucket width in seconds.

use datafusion::common::{plan_err, Result};

/// The named granularities and their width in seconds.
pub const GRANULARITIES: &[(&str, i64)] = &[
    ("seconds", 1),
    ("10seconds", 10),
    ("minutes", 60),
    ("10minutes", 600),
    ("hours", 3600),
    ("6hours", 6 * 3600),
    ("days", 86400),
];

/// Parses a granularity name or an interval string (`'15 minutes'`, `'30s'`, `'2 hours'`) into
/// a bucket width in whole seconds.
pub fn parse_granularity(text: &str) -> Result<i64> {
    let t = text.trim().to_ascii_lowercase();
    if let Some((_, secs)) = GRANULARITIES.iter().find(|(name, _)| *name == t) {
        return Ok(*secs);
    }
    if let Some(secs) = parse_interval(&t) {
        return Ok(secs);
    }
    let names: Vec<&str> = GRANULARITIES.iter().map(|(n, _)| *n).collect();
    plan_err!(
        "unknown granularity '{text}'; valid granularities: {}, or an interval such as '15 minutes'",
        names.join(", ")
    )
}

/// An interval in whole seconds, read by the same parser as duration options (`'15 minutes'`,
/// `'30s'`, `'2h'`, `'1w'`), so a granularity means the same in a table option and in SQL.
fn parse_interval(t: &str) -> Option<i64> {
    let d = crate::sql::config::values::parse_duration("granularity", t).ok()?;
    let secs = i64::try_from(d.as_secs()).ok()?;
    (secs > 0 && d.subsec_nanos() == 0).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_intervals() {
        assert_eq!(parse_granularity("6hours").ok(), Some(21600));
        assert_eq!(parse_granularity("10seconds").ok(), Some(10));
        assert_eq!(parse_granularity(" Days ").ok(), Some(86400));
        assert_eq!(parse_granularity("15 minutes").ok(), Some(900));
        assert_eq!(parse_granularity("30s").ok(), Some(30));
        assert!(parse_granularity("0 minutes").is_err());
        // The units of duration options, too; not a fraction of a second.
        assert_eq!(parse_granularity("1w").ok(), Some(7 * 86400));
        assert_eq!(parse_granularity("2 hr").ok(), Some(7200));
        assert!(parse_granularity("1500ms").is_err());
        let err = parse_granularity("weeks")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("seconds, 10seconds, minutes, 10minutes, hours, 6hours, days"));
    }
}
