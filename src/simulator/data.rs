//! The simulator's deterministic data model: which hosts exist, what each metric's raw 10 s
//! points are, how the API rolls them up into buckets (v1 and v2 timeseries, [`rollup_value`])
//! and how the v2 scalar endpoint reduces them to one value ([`scalar_value`]).
//!
//! Everything here is a pure function of its arguments, so tests (in this crate and in
//! callers) can compute the exact values the simulator will answer with.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The simulated hosts as `(host, env)`: each host carries the tags `host:<host>` and `env:<env>`.
pub const HOSTS: &[(&str, &str)] = &[("web-1", "prod"), ("web-2", "prod"), ("db-1", "staging")];

/// Native resolution of the raw data, in seconds.
pub const NATIVE_INTERVAL_S: i64 = 10;

/// Default cap on points per series (the current public docs say 1500).
pub const DEFAULT_MAX_POINTS: usize = 1500;

/// The rollup intervals the API picks from, in seconds, smallest first.
pub const AUTO_INTERVALS: &[i64] = &[10, 20, 60, 300, 600, 3600, 14_400, 86_400];

/// The longest window (and the longest `.rollup()` interval) the simulator accepts: about the
/// 15 months of retention Datadog has. It also bounds the work one request can cause.
pub const MAX_WINDOW_S: i64 = 455 * 86_400;

/// A time or space aggregator as written in a query (`avg`, `min`, `max`, `sum`, `count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agg {
    /// Mean of the values.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Sum of the values.
    Sum,
    /// Number of values (time aggregation only in queries).
    Count,
}

impl Agg {
    /// The name as it appears in queries and in the `aggr` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Sum => "sum",
            Agg::Count => "count",
        }
    }

    /// Folds a sequence of values; `None` when it is empty.
    fn fold(self, values: impl Iterator<Item = f64>) -> Option<f64> {
        let mut n = 0u64;
        let mut acc = 0.0f64;
        for v in values {
            acc = match (self, n) {
                (Agg::Min | Agg::Max, 0) => v,
                (Agg::Min, _) => acc.min(v),
                (Agg::Max, _) => acc.max(v),
                (Agg::Avg | Agg::Sum, _) => acc + v,
                (Agg::Count, _) => acc,
            };
            n += 1;
        }
        match (self, n) {
            (_, 0) => None,
            (Agg::Avg, _) => Some(acc / n as f64),
            (Agg::Count, _) => Some(n as f64),
            _ => Some(acc),
        }
    }
}

impl fmt::Display for Agg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Agg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "avg" => Ok(Agg::Avg),
            "min" => Ok(Agg::Min),
            "max" => Ok(Agg::Max),
            "sum" => Ok(Agg::Sum),
            "count" => Ok(Agg::Count),
            other => Err(format!("unknown aggregator '{other}'")),
        }
    }
}

/// The value of tag `key` on `host` (`host` and `env` are known), if the host exists.
pub fn host_tag_value(host: &str, key: &str) -> Option<&'static str> {
    let &(name, env) = HOSTS.iter().find(|(h, _)| *h == host)?;
    match key {
        "host" => Some(name),
        "env" => Some(env),
        _ => None,
    }
}

/// Whether `host` carries `tag` (`key:value`; a bare `key` matches no simulated tag).
pub fn host_has_tag(host: &str, tag: &str) -> bool {
    match tag.split_once(':') {
        Some((key, value)) => host_tag_value(host, key) == Some(value),
        None => false,
    }
}

/// The raw point of `metric` on `host` at `ts_s`, defined only at multiples of 10 s.
///
/// `missing.*` metrics have no data at all, metrics whose name contains `gappy` have no data
/// in every fifth minute (minutes where `(ts / 60) % 5 == 2`), so whole rollup buckets can be
/// null. Values are rounded to 3 decimals.
pub fn raw_value(metric: &str, host: &str, ts_s: i64) -> Option<f64> {
    RawSeries::new(metric, host).value(ts_s)
}

/// One (metric, host) pair with its hash precomputed: rollups evaluate many points of it.
struct RawSeries {
    seed: u64,
    missing: bool,
    gappy: bool,
}

impl RawSeries {
    fn new(metric: &str, host: &str) -> Self {
        RawSeries {
            seed: splitmix64(fnv1a(metric.as_bytes()) ^ fnv1a(host.as_bytes()).rotate_left(29)),
            missing: metric.starts_with("missing."),
            gappy: metric.contains("gappy"),
        }
    }

    fn value(&self, ts_s: i64) -> Option<f64> {
        if self.missing || ts_s.rem_euclid(NATIVE_INTERVAL_S) != 0 {
            return None;
        }
        if self.gappy && ts_s.div_euclid(60).rem_euclid(5) == 2 {
            return None;
        }
        // A per-series level in [10, 90), a daily wave of ±5, and ±1 of per-point noise.
        let base = 10.0 + (self.seed % 80_000) as f64 / 1000.0;
        let phase = ((self.seed >> 24) % 8640) as i64 * NATIVE_INTERVAL_S;
        let slot = (ts_s.rem_euclid(DAY_S) + phase) % DAY_S / NATIVE_INTERVAL_S;
        let wave = daily_sine().get(slot as usize).copied().unwrap_or(0.0);
        let noise = (splitmix64(self.seed ^ ts_s as u64) % 2001) as f64 / 1000.0 - 1.0;
        let v = base + 5.0 * wave + noise;
        Some((v * 1000.0).round() / 1000.0)
    }

    /// `time_agg` over this series' raw points in `[start, start + interval)`.
    fn time_aggregate(&self, time_agg: Agg, start: i64, interval: i64) -> Option<f64> {
        if self.missing {
            return None;
        }
        let first = start.div_euclid(NATIVE_INTERVAL_S) * NATIVE_INTERVAL_S;
        let first = if first < start {
            first + NATIVE_INTERVAL_S
        } else {
            first
        };
        let end = start.saturating_add(interval);
        let points = (0..)
            .map(|i| first + i * NATIVE_INTERVAL_S)
            .take_while(|&ts| ts < end)
            .filter_map(|ts| self.value(ts));
        time_agg.fold(points)
    }
}

/// The value of one rollup bucket: each host's raw points in
/// `[bucket_start_s, bucket_start_s + interval_s)` are aggregated with `time_agg` (null points
/// ignored, `None` if there are none), then the hosts' results with `space_agg` (`None` if no
/// host has a value). The simulator passes `hosts` in [`HOSTS`] order.
pub fn rollup_value(
    metric: &str,
    hosts: &[&str],
    space_agg: Agg,
    time_agg: Agg,
    bucket_start_s: i64,
    interval_s: i64,
) -> Option<f64> {
    if interval_s <= 0 {
        return None;
    }
    let per_host = hosts.iter().filter_map(|host| {
        RawSeries::new(metric, host).time_aggregate(time_agg, bucket_start_s, interval_s)
    });
    space_agg.fold(per_host)
}

/// An aggregator of the v2 scalar endpoint (`aggregator`): reduces a series to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarAgg {
    /// Mean of the non-null points (`avg`, also written `mean`).
    Avg,
    /// Smallest point.
    Min,
    /// Largest point.
    Max,
    /// Sum of the points.
    Sum,
    /// The last non-null point.
    Last,
}

impl ScalarAgg {
    /// The aggregator names the simulator accepts, as listed in its 400 message.
    pub const SUPPORTED: &'static [&'static str] = &["avg", "mean", "min", "max", "sum", "last"];

    /// The canonical name (`mean` is written `avg`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScalarAgg::Avg => "avg",
            ScalarAgg::Min => "min",
            ScalarAgg::Max => "max",
            ScalarAgg::Sum => "sum",
            ScalarAgg::Last => "last",
        }
    }

    /// Folds a sequence of values; `None` when it is empty.
    fn fold(self, values: impl Iterator<Item = f64>) -> Option<f64> {
        match self {
            ScalarAgg::Avg => Agg::Avg.fold(values),
            ScalarAgg::Min => Agg::Min.fold(values),
            ScalarAgg::Max => Agg::Max.fold(values),
            ScalarAgg::Sum => Agg::Sum.fold(values),
            ScalarAgg::Last => values.last(),
        }
    }
}

impl fmt::Display for ScalarAgg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScalarAgg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "avg" | "mean" => Ok(ScalarAgg::Avg),
            "min" => Ok(ScalarAgg::Min),
            "max" => Ok(ScalarAgg::Max),
            "sum" => Ok(ScalarAgg::Sum),
            "last" => Ok(ScalarAgg::Last),
            other => Err(format!("unknown aggregator '{other}'")),
        }
    }
}

/// The raw points of `hosts` at `ts_s` aggregated with `space_agg` (`None` if no host has a
/// point there): one point of a space-aggregated series at native resolution.
pub fn space_value(metric: &str, hosts: &[&str], space_agg: Agg, ts_s: i64) -> Option<f64> {
    space_agg.fold(
        hosts
            .iter()
            .filter_map(|host| raw_value(metric, host, ts_s)),
    )
}

/// The native (10 s) timestamps `t`, in seconds, with `from_ms <= t * 1000 < to_ms`.
pub fn native_timestamps(from_ms: i64, to_ms: i64) -> impl Iterator<Item = i64> {
    let step_ms = NATIVE_INTERVAL_S * 1000;
    // The first multiple of 10 s at or after from_ms.
    let first_slot = from_ms
        .div_euclid(step_ms)
        .saturating_add(i64::from(from_ms.rem_euclid(step_ms) != 0));
    (0..)
        .map(move |i: i64| {
            first_slot
                .saturating_add(i)
                .saturating_mul(NATIVE_INTERVAL_S)
        })
        .take_while(move |&ts| ts.saturating_mul(1000) < to_ms)
}

/// The value the v2 scalar endpoint answers for one query and group: the series of `hosts`
/// space-aggregated with `space_agg` at native resolution ([`space_value`]), over the
/// timestamps of [`native_timestamps`]`(from_ms, to_ms)`, reduced with `agg` (null points
/// ignored; `None` if there are none).
///
/// For whole minutes, the `Avg` of an `Agg::Avg` series equals the mean of the non-null v1
/// `avg` points at 60 s over the same window (every host has all six points of a minute or
/// none).
pub fn scalar_value(
    metric: &str,
    hosts: &[&str],
    space_agg: Agg,
    agg: ScalarAgg,
    from_ms: i64,
    to_ms: i64,
) -> Option<f64> {
    let series: Vec<RawSeries> = hosts.iter().map(|h| RawSeries::new(metric, h)).collect();
    if series.iter().all(|s| s.missing) {
        return None;
    }
    let points = native_timestamps(from_ms, to_ms)
        .filter_map(|ts| space_agg.fold(series.iter().filter_map(|s| s.value(ts))));
    agg.fold(points)
}

/// The window of a v2 request in seconds: `from` rounded down, `to` rounded up.
pub fn window_s_of_ms(from_ms: i64, to_ms: i64) -> (i64, i64) {
    (
        from_ms.div_euclid(1000),
        to_ms.div_euclid(1000) + i64::from(to_ms.rem_euclid(1000) != 0),
    )
}

/// A v2 `interval` in milliseconds as whole seconds, rounded up.
pub fn interval_s_of_ms(interval_ms: i64) -> i64 {
    interval_ms.div_euclid(1000) + i64::from(interval_ms.rem_euclid(1000) != 0)
}

/// The rollup interval the API enforces for a window of `window_s` seconds, with the default
/// limit of [`DEFAULT_MAX_POINTS`] points per series.
pub fn auto_interval(window_s: i64) -> i64 {
    auto_interval_with(window_s, DEFAULT_MAX_POINTS)
}

/// [`auto_interval`] with an explicit point limit: the table's interval, raised to the next of
/// [`AUTO_INTERVALS`] while the window would still hold more than `max_points` points (past
/// one day, to whole days).
pub fn auto_interval_with(window_s: i64, max_points: usize) -> i64 {
    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;
    let window_s = window_s.max(0);
    let table = match window_s {
        // Native 10 s data is served for windows up to 30 minutes, so 10 s extractions work.
        w if w <= HOUR / 2 => 10,
        w if w <= HOUR => 20,
        w if w <= 4 * HOUR => 60,
        w if w <= DAY => 300,
        w if w <= 2 * DAY => 600,
        w if w <= 7 * DAY => 3600,
        w if w <= 31 * DAY => 14_400,
        _ => DAY,
    };
    let max_points = i64::try_from(max_points.max(1)).unwrap_or(i64::MAX);
    let fits = |interval: i64| window_s / interval <= max_points;
    if let Some(&i) = AUTO_INTERVALS.iter().find(|&&i| i >= table && fits(i)) {
        return i;
    }
    // Even a day is too fine: use the smallest whole number of days that fits.
    let per_point = window_s.saturating_add(max_points - 1) / max_points;
    let days = per_point.saturating_add(DAY - 1) / DAY;
    days.saturating_mul(DAY)
}

/// The interval actually used for a sub-query: a `.rollup(_, n)` interval is honoured only
/// when it is at least the enforced one (the method is kept either way).
pub fn effective_interval(window_s: i64, rollup_s: Option<i64>, max_points: usize) -> i64 {
    let auto = auto_interval_with(window_s, max_points);
    match rollup_s {
        Some(n) if n >= auto => n,
        _ => auto,
    }
    .max(NATIVE_INTERVAL_S)
}

/// The first bucket of a window: the interval-aligned bucket containing `from_s`, so it can
/// start before `from_s`.
pub fn first_bucket(from_s: i64, interval_s: i64) -> i64 {
    from_s.div_euclid(interval_s) * interval_s
}

/// The bucket starts of `[from_s, to_s)`: aligned to multiples of `interval_s` in Unix time,
/// from [`first_bucket`] while the start is before `to_s`.
pub fn bucket_starts(from_s: i64, to_s: i64, interval_s: i64) -> impl Iterator<Item = i64> {
    let interval_s = interval_s.max(1);
    let first = first_bucket(from_s, interval_s);
    (0..)
        .map(move |i: i64| first.saturating_add(i.saturating_mul(interval_s)))
        .take_while(move |&b| b < to_s)
}

const DAY_S: i64 = 86_400;

/// `sin` over one day at native resolution, computed once: a table lookup is much cheaper
/// than `sin` for the millions of raw points a long window aggregates.
fn daily_sine() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let slots = DAY_S / NATIVE_INTERVAL_S;
        (0..slots)
            .map(|i| (std::f64::consts::TAU * i as f64 / slots as f64).sin())
            .collect()
    })
}

/// FNV-1a, a stable string hash (std's hashers are not guaranteed stable across releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The splitmix64 finaliser: a cheap, well-mixed, deterministic 64-bit hash step.
pub(super) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_interval_table() {
        let h = 3600;
        let d = 86_400;
        let cases = [
            (60, 10),
            (h / 2, 10),
            (h / 2 + 1, 20),
            (h, 20),
            (h + 1, 60),
            (4 * h, 60),
            (4 * h + 1, 300),
            (d, 300),
            (d + 1, 600),
            (2 * d, 600),
            (2 * d + 1, 3600),
            (7 * d, 3600),
            (7 * d + 1, 14_400),
            (31 * d, 14_400),
            (31 * d + 1, 86_400),
            (365 * d, 86_400),
        ];
        for (window, want) in cases {
            assert_eq!(auto_interval(window), want, "window {window}");
        }
    }

    #[test]
    fn auto_interval_respects_max_points() {
        // 1 h at 20 s = 180 points: with a cap of 100 the next interval (60 s) is used.
        assert_eq!(auto_interval_with(3600, 100), 60);
        assert_eq!(auto_interval_with(3600, 180), 20);
        // 2000 days do not fit in 1500 daily points: two days per point.
        assert_eq!(auto_interval(2000 * 86_400), 2 * 86_400);
        assert_eq!(auto_interval(3000 * 86_400), 2 * 86_400);
        assert_eq!(auto_interval(3001 * 86_400), 3 * 86_400);
    }

    #[test]
    fn effective_interval_honours_only_larger_rollups() {
        assert_eq!(effective_interval(3600, Some(60), 1500), 60);
        assert_eq!(effective_interval(3600, Some(10), 1500), 20);
        assert_eq!(effective_interval(86_400, Some(60), 1500), 300);
        assert_eq!(effective_interval(86_400, None, 1500), 300);
    }

    #[test]
    fn buckets_are_aligned_and_may_start_before_from() {
        let b: Vec<i64> = bucket_starts(1_000_030, 1_000_200, 60).collect();
        assert_eq!(b, vec![1_000_020, 1_000_080, 1_000_140]);
        assert!(b[0] < 1_000_030);
        assert_eq!(bucket_starts(600, 600, 60).count(), 0);
    }

    #[test]
    fn raw_values_are_deterministic_and_realistic() {
        assert_eq!(raw_value("system.cpu.user", "web-1", 15), None);
        let a = raw_value("system.cpu.user", "web-1", 1_700_000_000);
        assert_eq!(a, raw_value("system.cpu.user", "web-1", 1_700_000_000));
        let a = a.expect("defined at multiples of 10");
        assert!((3.0..97.0).contains(&a), "{a}");
        assert_eq!((a * 1000.0).round() / 1000.0, a);
        assert_ne!(
            Some(a),
            raw_value("system.cpu.user", "web-2", 1_700_000_000)
        );
        assert_eq!(raw_value("missing.metric", "web-1", 1_700_000_000), None);
        // Minute 2 of every 5 is empty for gappy metrics.
        assert_eq!(raw_value("x.gappy", "web-1", 120), None);
        assert!(raw_value("x.gappy", "web-1", 180).is_some());
    }

    #[test]
    fn scalar_values_fold_the_native_space_aggregated_series() {
        let m = "system.load.1";
        let hosts = ["web-1", "web-2"];
        let ts: Vec<i64> = native_timestamps(1_000, 60_000).collect();
        assert_eq!(ts, [10, 20, 30, 40, 50]);
        assert_eq!(native_timestamps(0, 1).collect::<Vec<_>>(), [0]);
        assert_eq!(native_timestamps(0, 0).count(), 0);
        let points: Vec<f64> = ts
            .iter()
            .map(|&t| space_value(m, &hosts, Agg::Sum, t).expect("point"))
            .collect();
        let got = |agg| scalar_value(m, &hosts, Agg::Sum, agg, 1_000, 60_000);
        let mean = points.iter().sum::<f64>() / 5.0;
        assert!((got(ScalarAgg::Avg).expect("avg") - mean).abs() < 1e-9);
        assert_eq!(got(ScalarAgg::Last), points.last().copied());
        let max = points.iter().copied().fold(f64::MIN, f64::max);
        assert_eq!(got(ScalarAgg::Max), Some(max));
        // Gappy minutes are skipped; a window inside one is null.
        assert_eq!(
            scalar_value(
                "x.gappy",
                &hosts,
                Agg::Avg,
                ScalarAgg::Avg,
                120_000,
                180_000
            ),
            None
        );
        assert_eq!(
            scalar_value("missing.m", &hosts, Agg::Avg, ScalarAgg::Sum, 0, 60_000),
            None
        );
        assert_eq!("mean".parse::<ScalarAgg>(), Ok(ScalarAgg::Avg));
        assert!("p95".parse::<ScalarAgg>().is_err());
        assert_eq!(window_s_of_ms(1_500, 2_001), (1, 3));
        assert_eq!(window_s_of_ms(1_000, 2_000), (1, 2));
        assert_eq!((interval_s_of_ms(5_000), interval_s_of_ms(5_001)), (5, 6));
    }

    /// What rollup pushdown relies on: a coarse rollup equals the same aggregate of the fine
    /// rollups inside it. min and max exactly, sum up to the order of additions, and avg within
    /// 1e-9 because every minute holds the same number of raw points per host (six, or none in
    /// the gappy minutes, for every host at once); the hourly avg is also the true mean of the
    /// raw points.
    #[test]
    fn coarse_rollups_equal_the_aggregate_of_fine_ones() {
        let hosts = ["web-1", "web-2", "db-1"];
        let hour = 1_767_225_600; // 2026-01-01T00:00:00Z
        for metric in ["system.cpu.user", "app.gappy.rps"] {
            for space in [Agg::Avg, Agg::Min, Agg::Max, Agg::Sum] {
                for time in [Agg::Avg, Agg::Min, Agg::Max, Agg::Sum] {
                    let fine: Vec<f64> = (0..60)
                        .filter_map(|m| {
                            rollup_value(metric, &hosts, space, time, hour + 60 * m, 60)
                        })
                        .collect();
                    let coarse = rollup_value(metric, &hosts, space, time, hour, 3600)
                        .expect("an hour has data");
                    if space != time {
                        continue; // Not a rollup the pushdown asks for.
                    }
                    let folded = time.fold(fine.iter().copied()).expect("minutes");
                    match time {
                        Agg::Min | Agg::Max => assert_eq!(coarse, folded, "{metric} {time}"),
                        _ => assert!(
                            (coarse - folded).abs() <= 1e-9 * folded.abs().max(1.0),
                            "{metric} {time}: {coarse} vs {folded}"
                        ),
                    }
                }
            }
            // The hourly avg of one host is the mean of its raw points.
            let raw: Vec<f64> = (0..360)
                .filter_map(|i| raw_value(metric, "web-1", hour + 10 * i))
                .collect();
            let mean = raw.iter().sum::<f64>() / raw.len() as f64;
            let got =
                rollup_value(metric, &["web-1"], Agg::Avg, Agg::Avg, hour, 3600).expect("avg");
            assert!((got - mean).abs() < 1e-9, "{metric}: {got} vs {mean}");
        }
    }

    #[test]
    fn rollup_aggregates_time_then_space() {
        let m = "system.load.1";
        let raw = |h, ts| raw_value(m, h, ts).expect("raw point");
        let hosts = ["web-1", "web-2"];
        let avg1 = (raw("web-1", 0) + raw("web-1", 10)) / 2.0;
        let avg2 = (raw("web-2", 0) + raw("web-2", 10)) / 2.0;
        let got = rollup_value(m, &hosts, Agg::Sum, Agg::Avg, 0, 20).expect("value");
        assert!((got - (avg1 + avg2)).abs() < 1e-9);
        let max = rollup_value(m, &hosts, Agg::Max, Agg::Max, 0, 20).expect("value");
        let want = [
            raw("web-1", 0),
            raw("web-1", 10),
            raw("web-2", 0),
            raw("web-2", 10),
        ]
        .into_iter()
        .fold(f64::MIN, f64::max);
        assert_eq!(max, want);
        assert_eq!(
            rollup_value(m, &hosts, Agg::Sum, Agg::Count, 0, 60),
            Some(12.0)
        );
        assert_eq!(
            rollup_value("x.gappy", &hosts, Agg::Avg, Agg::Avg, 120, 60),
            None
        );
        assert_eq!(rollup_value(m, &[], Agg::Avg, Agg::Avg, 0, 60), None);
    }
}
