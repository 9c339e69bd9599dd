//! The deterministic "events" collection behind the generic REST endpoints
//! (`/api/page/*`, `/api/github/*`, `/api/token/*`, `/api/stripe/*`).
//!
//! Record `i` (0-based) has `id = i + 1` and was created at [`T0_S`]` + i * `[`STEP_S`]
//! seconds, so sorting by id is sorting by time. Everything here is a pure function of `i`,
//! public so that tests outside the simulator can compute the rows they expect:
//!
//! ```
//! use ddstream::simulator::records;
//! let r = records::record(0);
//! assert_eq!((r.id, r.created_at.as_str()), (1, "2026-01-01T00:00:00Z"));
//! assert_eq!(
//!     records::record_json(0),
//!     r#"{"id":1,"created_at":"2026-01-01T00:00:00Z","created_ms":1767225600000,"created_s":1767225600,"name":"event-1","count":7,"score":1.5,"note":"note 1","owner":{"login":"user-1","id":1},"tags":["t1","all"]}"#
//! );
//! ```

use std::fmt::Write as _;
use std::ops::Range;

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use super::json::{push_f64, push_str};

/// When record 0 was created: 2026-01-01T00:00:00Z, in epoch seconds.
pub const T0_S: i64 = 1_767_225_600;

/// Seconds between consecutive records.
pub const STEP_S: i64 = 60;

/// Records in the collection when the request has no `total` parameter.
pub const DEFAULT_TOTAL: u64 = 1000;

/// The largest accepted `total`.
pub const MAX_TOTAL: u64 = 1_000_000;

/// Indices at or above this are never served (the endless endpoints stop there): record
/// times stay within four-digit years.
pub const MAX_INDEX: u64 = 4_000_000_000;

/// One record of the collection, field for field as the endpoints write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `i + 1`.
    pub id: u64,
    /// RFC 3339 UTC, whole seconds (`2026-01-01T00:01:00Z`).
    pub created_at: String,
    /// The same instant in epoch milliseconds.
    pub created_ms: i64,
    /// The same instant in epoch seconds.
    pub created_s: i64,
    /// `event-<id>`.
    pub name: String,
    /// `(id * 7) % 100`.
    pub count: u64,
    /// `id * 1.5`.
    pub score: f64,
    /// `null` when `id % 5 == 0`, else `note <id>`.
    pub note: Option<String>,
    /// `{"login": "user-<id % 3>", "id": id % 3}`.
    pub owner: Owner,
    /// `["t<id % 2>", "all"]`.
    pub tags: Vec<String>,
}

/// The nested `owner` object of a [`Record`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// `user-<id % 3>`.
    pub login: String,
    /// `id % 3`.
    pub id: u64,
}

/// Epoch seconds of record `i`.
pub fn created_s(i: u64) -> i64 {
    T0_S + i as i64 * STEP_S
}

/// Epoch milliseconds of record `i`.
pub fn created_ms(i: u64) -> i64 {
    created_s(i) * 1000
}

/// `created_at` of record `i` (RFC 3339, UTC, `Z`).
pub fn created_at(i: u64) -> String {
    DateTime::from_timestamp(created_s(i), 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Record `i` (0-based; any `i` below [`MAX_INDEX`], also past a request's `total`).
pub fn record(i: u64) -> Record {
    let id = i + 1;
    Record {
        id,
        created_at: created_at(i),
        created_ms: created_ms(i),
        created_s: created_s(i),
        name: format!("event-{id}"),
        count: (id * 7) % 100,
        score: id as f64 * 1.5,
        note: (!id.is_multiple_of(5)).then(|| format!("note {id}")),
        owner: Owner {
            login: format!("user-{}", id % 3),
            id: id % 3,
        },
        tags: vec![format!("t{}", id % 2), "all".to_string()],
    }
}

/// Record `i` as the endpoints write it (compact JSON, fields in [`Record`] order).
pub fn record_json(i: u64) -> String {
    let mut buf = String::with_capacity(256);
    push_record(&mut buf, i, false);
    buf
}

/// Appends record `i`; with `corrupt`, its `count` is the string `"oops"`.
pub(super) fn push_record(buf: &mut String, i: u64, corrupt: bool) {
    let id = i + 1;
    let s = created_s(i);
    let _ = write!(buf, r#"{{"id":{id},"created_at":"#);
    push_str(buf, &created_at(i));
    let _ = write!(
        buf,
        r#","created_ms":{},"created_s":{s},"name":"event-{id}","count":"#,
        s * 1000
    );
    if corrupt {
        buf.push_str(r#""oops""#);
    } else {
        let _ = write!(buf, "{}", (id * 7) % 100);
    }
    buf.push_str(r#","score":"#);
    push_f64(buf, id as f64 * 1.5);
    if id.is_multiple_of(5) {
        buf.push_str(r#","note":null"#);
    } else {
        let _ = write!(buf, r#","note":"note {id}""#);
    }
    let _ = write!(
        buf,
        r#","owner":{{"login":"user-{o}","id":{o}}},"tags":["t{t}","all"]}}"#,
        o = id % 3,
        t = id % 2
    );
}

/// The indices of the records a request selects: those below `total` created in
/// `[start_ms, end_ms)` (either bound optional), in id order.
pub fn window(total: u64, start_ms: Option<i64>, end_ms: Option<i64>) -> Range<u64> {
    let total = total.min(MAX_INDEX);
    // The first index created at or after `ms`, clamped to [0, total].
    let first_at = |ms: i64| -> u64 {
        let step_ms = i128::from(STEP_S * 1000);
        let delta = i128::from(ms) - i128::from(created_ms(0));
        let idx = delta.div_euclid(step_ms) + i128::from(delta.rem_euclid(step_ms) != 0);
        idx.clamp(0, i128::from(total)) as u64
    };
    let lo = start_ms.map_or(0, first_at);
    let hi = end_ms.map_or(total, first_at);
    lo..hi.max(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_follow_the_formulas() {
        let r = record(4);
        assert_eq!(r.id, 5);
        assert_eq!(r.created_at, "2026-01-01T00:04:00Z");
        assert_eq!(r.created_s, T0_S + 240);
        assert_eq!(r.created_ms, (T0_S + 240) * 1000);
        assert_eq!(r.name, "event-5");
        assert_eq!(r.count, 35);
        assert_eq!(r.score, 7.5);
        assert_eq!(r.note, None);
        assert_eq!(r.owner.login, "user-2");
        assert_eq!(r.owner.id, 2);
        assert_eq!(r.tags, ["t1", "all"]);
        assert_eq!(record(1).note.as_deref(), Some("note 2"));
        assert_eq!(record(1).tags, ["t0", "all"]);
        // A day later, across a month boundary much later.
        assert_eq!(record(1440).created_at, "2026-01-02T00:00:00Z");
        assert_eq!(record(44_640).created_at, "2026-02-01T00:00:00Z");
    }

    #[test]
    fn hand_written_json_matches_serde() {
        for i in [0, 1, 2, 4, 9, 14, 99, 999, 123_456, MAX_INDEX - 1] {
            let want = serde_json::to_string(&record(i)).expect("serialises");
            assert_eq!(record_json(i), want, "record {i}");
            let back: Record = serde_json::from_str(&record_json(i)).expect("parses");
            assert_eq!(back, record(i));
        }
        // Whole scores keep a fraction.
        assert!(record_json(1).contains(r#""score":3.0,"#));
        let mut buf = String::new();
        push_record(&mut buf, 2, true);
        let v: serde_json::Value = serde_json::from_str(&buf).expect("parses");
        assert_eq!(v["count"], "oops");
        assert_eq!(v["id"], 3);
    }

    #[test]
    fn windows_select_start_inclusive_end_exclusive() {
        let ms = created_ms;
        assert_eq!(window(1000, None, None), 0..1000);
        assert_eq!(window(1000, Some(ms(10)), Some(ms(20))), 10..20);
        assert_eq!(window(1000, Some(ms(10) + 1), Some(ms(20) + 1)), 11..21);
        assert_eq!(window(1000, Some(ms(10) - 1), Some(ms(20) - 1)), 10..20);
        assert_eq!(window(1000, Some(i64::MIN), Some(i64::MAX)), 0..1000);
        assert_eq!(window(10, Some(ms(50)), None), 10..10);
        assert_eq!(window(10, None, Some(ms(0))), 0..0);
        assert_eq!(window(10, Some(ms(5)), Some(ms(5))), 5..5);
        assert_eq!(window(u64::MAX, None, None), 0..MAX_INDEX);
    }
}
