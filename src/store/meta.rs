//! The SQLite side of the store: schema, pragmas (WAL, busy timeout), the stream row and its
//! (de)serialisation, and the tables of the append buffer (`points`) and of downsampled datapoints
//! not yet in a segment (`buckets`).
//!
//! Tables:
//! - `streams`: one row per stream (`seq` is the creation order; `id` the public UUID); tags,
//!   derive descriptors and derive state as JSON text; `downsampled_until` as a JSON object.
//! - `points(seq, stream, ts, num, json)`: appended datapoints at the highest granularity;
//!   `seq` (AUTOINCREMENT, never reused) orders points of one second by insertion.
//! - `buckets(stream, granularity, ts, c, s, q, l, u, m, d, o, r, f, ta, tm, tz)`: downsampled
//!   datapoints; `o`, `r`, `f` are JSON text.
//! - `segments`: the Parquet segments that hold closed ranges (see `segments.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::derive::DeriveOp;
use super::downsamplers::{parse_frequencies, Bucket, DownsamplerSet};
use super::error::StoreError;
use super::granularity::Granularity;
use super::value::{RawValue, ValueType};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS streams (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tags TEXT NOT NULL,
    value_type TEXT NOT NULL,
    value_type_options TEXT NOT NULL,
    downsamplers INTEGER NOT NULL,
    highest INTEGER NOT NULL,
    derived_from TEXT,
    derive_state TEXT,
    contributes_to TEXT NOT NULL,
    pending_backprocess INTEGER NOT NULL,
    earliest INTEGER,
    latest INTEGER,
    downsampled_until TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stream INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    num REAL,
    json TEXT
);
CREATE INDEX IF NOT EXISTS points_by_time ON points (stream, ts, seq);
CREATE TABLE IF NOT EXISTS buckets (
    stream INTEGER NOT NULL,
    granularity INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    c INTEGER, s REAL, q REAL, l REAL, u REAL, m REAL, d REAL,
    o TEXT, r TEXT, f TEXT,
    ta INTEGER NOT NULL, tm INTEGER NOT NULL, tz INTEGER NOT NULL,
    PRIMARY KEY (stream, granularity, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream INTEGER NOT NULL,
    granularity INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,
    min_ts INTEGER NOT NULL,
    max_ts INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_by_stream ON segments (stream, granularity, min_ts);
CREATE TABLE IF NOT EXISTS garbage (
    path TEXT PRIMARY KEY,
    since INTEGER NOT NULL
);
";

/// Opens (creating if needed) the SQLite database at `path` in WAL mode.
pub(crate) fn open(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::storage(format!("opening {}", path.display()), e))?;
    conn.busy_timeout(busy_timeout)?;
    // WAL: readers never block the writer; NORMAL: a commit survives a killed process (the WAL is
    // in the OS page cache), a power loss may undo the last commits but never corrupts.
    // Opening an existing store takes no write lock, so it never waits for another writer.
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('streams', 'points', 'buckets', 'segments', 'garbage')",
        [],
        |r| r.get(0),
    )?;
    if tables < 5 {
        conn.execute_batch(SCHEMA)?;
    }
    Ok(conn)
}

/// Another connection to an existing store's database, for reading.
pub(crate) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::storage(format!("opening {}", path.display()), e))?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// The derive descriptor of a derived stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct DerivedFrom {
    /// Source streams (`seq`), in `derive_from` order.
    pub sources: Vec<i64>,
    pub op: DeriveOp,
    pub args: Map<String, Value>,
}

/// What a source stream feeds to one derived stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Contribution {
    pub name: Option<String>,
    pub granularity: usize,
    pub op: DeriveOp,
    pub args: Map<String, Value>,
}

/// A stream's metadata row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamRow {
    pub seq: i64,
    pub id: String,
    pub tags: Map<String, Value>,
    pub value_type: ValueType,
    pub value_type_options: Map<String, Value>,
    pub downsamplers: DownsamplerSet,
    pub highest: Granularity,
    pub derived_from: Option<DerivedFrom>,
    pub derive_state: Value,
    /// Destination `seq` → contribution.
    pub contributes_to: BTreeMap<i64, Contribution>,
    pub pending_backprocess: bool,
    pub earliest: Option<i64>,
    pub latest: Option<i64>,
    /// By granularity index; only the coarser-than-highest entries are meaningful.
    pub downsampled_until: [Option<i64>; 7],
}

const STREAM_COLUMNS: &str = "seq, id, tags, value_type, value_type_options, downsamplers, highest, derived_from, derive_state, contributes_to, pending_backprocess, earliest, latest, downsampled_until";

fn corrupt(what: &str) -> StoreError {
    StoreError::storage("reading stream metadata", format!("corrupt {what}"))
}

fn from_row(row: &Row<'_>) -> Result<StreamRow, StoreError> {
    let json = |i: usize| -> Result<Option<Value>, StoreError> {
        let text: Option<String> = row.get(i)?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    };
    let object = |i: usize| -> Result<Map<String, Value>, StoreError> {
        match json(i)? {
            Some(Value::Object(m)) => Ok(m),
            _ => Err(corrupt("tags")),
        }
    };
    let value_type: String = row.get(3)?;
    let highest: i64 = row.get(6)?;
    let derived_from = match json(7)? {
        Some(v) => Some(serde_json::from_value(v)?),
        None => None,
    };
    let contributes: BTreeMap<String, Contribution> = match json(9)? {
        Some(v) => serde_json::from_value(v)?,
        None => BTreeMap::new(),
    };
    let until: BTreeMap<String, Option<i64>> = match json(13)? {
        Some(v) => serde_json::from_value(v)?,
        None => BTreeMap::new(),
    };
    let mut downsampled_until = [None; 7];
    for (name, ts) in until {
        if let Ok(g) = Granularity::parse(&name) {
            downsampled_until[g.index()] = ts;
        }
    }
    let bits: i64 = row.get(5)?;
    Ok(StreamRow {
        seq: row.get(0)?,
        id: row.get(1)?,
        tags: object(2)?,
        value_type: ValueType::parse(&value_type).map_err(|_| corrupt("value type"))?,
        value_type_options: object(4)?,
        downsamplers: DownsamplerSet::from_bits(
            u16::try_from(bits).map_err(|_| corrupt("downsamplers"))?,
        ),
        highest: usize::try_from(highest)
            .ok()
            .and_then(Granularity::from_index)
            .ok_or_else(|| corrupt("granularity"))?,
        derived_from,
        derive_state: json(8)?.unwrap_or(Value::Null),
        contributes_to: contributes
            .into_iter()
            .filter_map(|(k, v)| k.parse().ok().map(|k| (k, v)))
            .collect(),
        pending_backprocess: row.get::<_, i64>(10)? != 0,
        earliest: row.get(11)?,
        latest: row.get(12)?,
        downsampled_until,
    })
}

impl StreamRow {
    fn until_json(&self) -> String {
        let map: Map<String, Value> = self
            .highest
            .coarser()
            .iter()
            .map(|g| {
                (
                    g.name().to_string(),
                    self.downsampled_until[g.index()].map_or(Value::Null, Value::from),
                )
            })
            .collect();
        Value::Object(map).to_string()
    }

    fn contributes_json(&self) -> Result<String, StoreError> {
        let map: BTreeMap<String, &Contribution> = self
            .contributes_to
            .iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Ok(serde_json::to_string(&map)?)
    }

    /// Inserts a new stream; returns its `seq`.
    pub(crate) fn insert(&self, conn: &Connection) -> Result<i64, StoreError> {
        conn.execute(
            "INSERT INTO streams (id, tags, value_type, value_type_options, downsamplers, highest, derived_from, derive_state, contributes_to, pending_backprocess, earliest, latest, downsampled_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                self.id,
                Value::Object(self.tags.clone()).to_string(),
                self.value_type.name(),
                Value::Object(self.value_type_options.clone()).to_string(),
                i64::from(self.downsamplers.bits()),
                self.highest.index() as i64,
                self.derived_from.as_ref().map(serde_json::to_string).transpose()?,
                (!self.derive_state.is_null()).then(|| self.derive_state.to_string()),
                self.contributes_json()?,
                i64::from(self.pending_backprocess),
                self.earliest,
                self.latest,
                self.until_json(),
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Writes back every mutable column.
    pub(crate) fn save(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.execute(
            "UPDATE streams SET tags = ?2, derive_state = ?3, contributes_to = ?4, pending_backprocess = ?5,
                earliest = ?6, latest = ?7, downsampled_until = ?8 WHERE seq = ?1",
            params![
                self.seq,
                Value::Object(self.tags.clone()).to_string(),
                (!self.derive_state.is_null()).then(|| self.derive_state.to_string()),
                self.contributes_json()?,
                i64::from(self.pending_backprocess),
                self.earliest,
                self.latest,
                self.until_json(),
            ],
        )?;
        Ok(())
    }
}

/// The stream with public id `id`, if any.
pub(crate) fn stream_by_id(conn: &Connection, id: &str) -> Result<Option<StreamRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {STREAM_COLUMNS} FROM streams WHERE id = ?1"
    ))?;
    let row = stmt.query_row([id], |r| Ok(from_row(r))).optional()?;
    row.transpose()
}

/// The stream with internal `seq`, if any.
pub(crate) fn stream_by_seq(conn: &Connection, seq: i64) -> Result<Option<StreamRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {STREAM_COLUMNS} FROM streams WHERE seq = ?1"
    ))?;
    let row = stmt.query_row([seq], |r| Ok(from_row(r))).optional()?;
    row.transpose()
}

/// Every stream, in creation order.
pub(crate) fn all_streams(conn: &Connection) -> Result<Vec<StreamRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {STREAM_COLUMNS} FROM streams ORDER BY seq"
    ))?;
    let rows = stmt.query_map([], |r| Ok(from_row(r)))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

/// Removes a stream row and its buffered points and buckets.
pub(crate) fn delete_stream(conn: &Connection, seq: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM streams WHERE seq = ?1", [seq])?;
    conn.execute("DELETE FROM points WHERE stream = ?1", [seq])?;
    conn.execute("DELETE FROM buckets WHERE stream = ?1", [seq])?;
    Ok(())
}

/// Appends a raw point; returns its `seq`.
pub(crate) fn insert_point(
    conn: &Connection,
    stream: i64,
    ts: i64,
    value: &RawValue,
) -> Result<i64, StoreError> {
    let (num, json) = match value {
        RawValue::Null => (None, None),
        RawValue::Num(x) => (Some(*x), None),
        RawValue::Json(v) => (None, Some(v.to_string())),
    };
    let mut stmt =
        conn.prepare_cached("INSERT INTO points (stream, ts, num, json) VALUES (?1, ?2, ?3, ?4)")?;
    stmt.execute(params![stream, ts, num, json])?;
    Ok(conn.last_insert_rowid())
}

/// A raw point read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PointRow {
    pub ts: i64,
    pub seq: i64,
    pub value: RawValue,
}

pub(crate) fn raw_value(num: Option<f64>, json: Option<String>) -> Result<RawValue, StoreError> {
    Ok(match (num, json) {
        (Some(x), _) => RawValue::Num(x),
        (None, Some(text)) => RawValue::Json(serde_json::from_str(&text)?),
        (None, None) => RawValue::Null,
    })
}

/// Up to `limit` raw points of `stream` with `lo <= ts < hi`, after the key `after` (ts, seq)
/// in the direction of `reverse`.
pub(crate) fn points_page(
    conn: &Connection,
    stream: i64,
    lo: i64,
    hi: i64,
    after: Option<(i64, i64)>,
    reverse: bool,
    limit: usize,
) -> Result<Vec<PointRow>, StoreError> {
    let sql = match (reverse, after.is_some()) {
        (false, false) => "SELECT ts, seq, num, json FROM points WHERE stream = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts, seq LIMIT ?6",
        (false, true) => "SELECT ts, seq, num, json FROM points WHERE stream = ?1 AND ts >= ?2 AND ts < ?3 AND (ts, seq) > (?4, ?5) ORDER BY ts, seq LIMIT ?6",
        (true, false) => "SELECT ts, seq, num, json FROM points WHERE stream = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts DESC, seq DESC LIMIT ?6",
        (true, true) => "SELECT ts, seq, num, json FROM points WHERE stream = ?1 AND ts >= ?2 AND ts < ?3 AND (ts, seq) < (?4, ?5) ORDER BY ts DESC, seq DESC LIMIT ?6",
    };
    let (at, aseq) = after.unwrap_or((0, 0));
    // The key bounds the time range too, so SQLite seeks to it instead of scanning the index
    // from `lo` on every page: without this, paging through a stream was quadratic.
    let (lo, hi) = match (after, reverse) {
        (Some(_), false) => (lo.max(at), hi),
        (Some(_), true) => (lo, hi.min(at.saturating_add(1))),
        (None, _) => (lo, hi),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![stream, lo, hi, at, aseq, limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<f64>>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (ts, seq, num, json) = row?;
        out.push(PointRow {
            ts,
            seq,
            value: raw_value(num, json)?,
        });
    }
    Ok(out)
}

/// Whether `stream` has any raw point (in the buffer).
pub(crate) fn has_points(conn: &Connection, stream: i64) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM points WHERE stream = ?1 LIMIT 1")?;
    Ok(stmt.exists([stream])?)
}

/// Inserts (or replaces) a downsampled datapoint.
pub(crate) fn upsert_bucket(
    conn: &Connection,
    stream: i64,
    g: Granularity,
    b: &Bucket,
) -> Result<(), StoreError> {
    let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    let freq = b
        .frequencies
        .as_ref()
        .map(|f| super::downsamplers::frequencies_json(f).to_string());
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO buckets (stream, granularity, ts, c, s, q, l, u, m, d, o, r, f, ta, tm, tz)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    stmt.execute(params![
        stream,
        g.index() as i64,
        b.ts,
        b.count,
        b.sum,
        b.sum_squares,
        b.min,
        b.max,
        b.mean,
        b.std_dev,
        text(&b.most_often),
        text(&b.least_often),
        freq,
        b.time_first,
        b.time_mean,
        b.time_last
    ])?;
    Ok(())
}

/// Up to `limit` downsampled datapoints of `stream` at `g` with `lo <= ts < hi`, after bucket
/// `after`, in the direction of `reverse`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn buckets_page(
    conn: &Connection,
    stream: i64,
    g: Granularity,
    lo: i64,
    hi: i64,
    after: Option<i64>,
    reverse: bool,
    limit: usize,
) -> Result<Vec<Bucket>, StoreError> {
    let (lo, hi) = match (after, reverse) {
        (Some(a), false) => (lo.max(a.saturating_add(1)), hi),
        (Some(a), true) => (lo, hi.min(a)),
        (None, _) => (lo, hi),
    };
    let sql = if reverse {
        "SELECT ts, c, s, q, l, u, m, d, o, r, f, ta, tm, tz FROM buckets WHERE stream = ?1 AND granularity = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts DESC LIMIT ?5"
    } else {
        "SELECT ts, c, s, q, l, u, m, d, o, r, f, ta, tm, tz FROM buckets WHERE stream = ?1 AND granularity = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts LIMIT ?5"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(
        params![stream, g.index() as i64, lo, hi, limit as i64],
        |r| {
            Ok((
                Bucket {
                    ts: r.get(0)?,
                    count: r.get(1)?,
                    sum: r.get(2)?,
                    sum_squares: r.get(3)?,
                    min: r.get(4)?,
                    max: r.get(5)?,
                    mean: r.get(6)?,
                    std_dev: r.get(7)?,
                    most_often: None,
                    least_often: None,
                    frequencies: None,
                    time_first: r.get(11)?,
                    time_mean: r.get(12)?,
                    time_last: r.get(13)?,
                },
                [
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ],
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (mut b, [o, r, f]) = row?;
        let parse = |t: Option<String>| -> Result<Option<Value>, StoreError> {
            Ok(match t {
                Some(t) => Some(serde_json::from_str(&t)?),
                None => None,
            })
        };
        b.most_often = parse(o)?;
        b.least_often = parse(r)?;
        b.frequencies = match parse(f)? {
            Some(v) => Some(parse_frequencies(&v).ok_or_else(|| corrupt("frequencies"))?),
            None => None,
        };
        out.push(b);
    }
    Ok(out)
}

/// The segments of `stream` at `g` overlapping `[lo, hi)`, oldest first.
pub(crate) fn segments_of(
    conn: &Connection,
    stream: i64,
    g: Granularity,
    lo: i64,
    hi: i64,
) -> Result<Vec<super::segments::SegmentMeta>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, path, min_ts, max_ts, rows FROM segments
         WHERE stream = ?1 AND granularity = ?2 AND max_ts >= ?3 AND min_ts < ?4 ORDER BY min_ts, id",
    )?;
    let rows = stmt.query_map(params![stream, g.index() as i64, lo, hi], |r| {
        Ok(super::segments::SegmentMeta {
            id: r.get(0)?,
            path: r.get(1)?,
            min_ts: r.get(2)?,
            max_ts: r.get(3)?,
            rows: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Lists a new segment.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_segment(
    conn: &Connection,
    stream: i64,
    g: Granularity,
    path: &str,
    min_ts: i64,
    max_ts: i64,
    rows: usize,
    bytes: usize,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO segments (stream, granularity, path, min_ts, max_ts, rows, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![stream, g.index() as i64, path, min_ts, max_ts, rows as i64, bytes as i64],
    )?;
    Ok(())
}

/// Unlists the segments of `stream` (all of them, or those with the given ids); returns their
/// paths.
pub(crate) fn remove_segments(
    conn: &Connection,
    stream: i64,
    ids: Option<&[i64]>,
) -> Result<Vec<String>, StoreError> {
    let mut paths = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT id, path FROM segments WHERE stream = ?1")?;
    let rows = stmt.query_map([stream], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (id, path) = row?;
        if ids.is_none_or(|ids| ids.contains(&id)) {
            paths.push((id, path));
        }
    }
    for (id, _) in &paths {
        conn.execute("DELETE FROM segments WHERE id = ?1", [id])?;
    }
    Ok(paths.into_iter().map(|(_, p)| p).collect())
}

/// Every listed segment path and every path waiting in `garbage`.
pub(crate) fn known_paths(
    conn: &Connection,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut out = std::collections::HashSet::new();
    for sql in ["SELECT path FROM segments", "SELECT path FROM garbage"] {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for row in rows {
            out.insert(row?);
        }
    }
    Ok(out)
}

/// Queues paths of replaced segments for deletion once readers are done with them.
pub(crate) fn add_garbage(conn: &Connection, paths: &[String], now: i64) -> Result<(), StoreError> {
    for p in paths {
        conn.execute(
            "INSERT OR REPLACE INTO garbage (path, since) VALUES (?1, ?2)",
            params![p, now],
        )?;
    }
    Ok(())
}

/// Takes the garbage queued before `before`.
pub(crate) fn take_garbage(conn: &Connection, before: i64) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT path FROM garbage WHERE since < ?1")?;
    let paths = stmt
        .query_map([before], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    conn.execute("DELETE FROM garbage WHERE since < ?1", [before])?;
    Ok(paths)
}

/// Whether `stream` holds any appended datapoint, in the buffer or in a segment.
pub(crate) fn has_raw_data(
    conn: &Connection,
    stream: i64,
    highest: Granularity,
) -> Result<bool, StoreError> {
    if has_points(conn, stream)? {
        return Ok(true);
    }
    let mut stmt = conn
        .prepare_cached("SELECT 1 FROM segments WHERE stream = ?1 AND granularity = ?2 LIMIT 1")?;
    Ok(stmt.exists(params![stream, highest.index() as i64])?)
}

/// Deletes the buffered raw points of `stream` between the keys `first` and `last` (inclusive)
/// with `seq <= max_seq`; returns how many.
pub(crate) fn delete_points(
    conn: &Connection,
    stream: i64,
    first: (i64, i64),
    last: (i64, i64),
    max_seq: i64,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM points WHERE stream = ?1 AND (ts, seq) >= (?2, ?3) AND (ts, seq) <= (?4, ?5) AND seq <= ?6",
        params![stream, first.0, first.1, last.0, last.1, max_seq],
    )?)
}

/// Deletes the buffered downsampled datapoints of `stream` at `g` with `first <= ts <= last`;
/// returns how many.
pub(crate) fn delete_buckets(
    conn: &Connection,
    stream: i64,
    g: Granularity,
    first: i64,
    last: i64,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM buckets WHERE stream = ?1 AND granularity = ?2 AND ts >= ?3 AND ts <= ?4",
        params![stream, g.index() as i64, first, last],
    )?)
}
