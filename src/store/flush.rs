//! Moving closed ranges out of the SQLite buffer into Parquet segments, and compacting small
//! segments.
//!
//! A range is closed once the next coarser granularity has consumed it (raw points below the
//! finest downsampled state, buckets below the next coarser state; the coarsest buckets at
//! once): downsampling never reads it again, so moving it cannot change any result.
//!
//! Order of a flush (crash-safe at every step): read up to [`SEGMENT_ROWS`] closed rows; write
//! the whole segment object; then, in one SQLite transaction, delete exactly those rows from the
//! buffer and list the segment. A crash before the commit leaves an unlisted object (garbage,
//! never read) and the rows still in the buffer; after it, the rows live only in the segment.
//! Compaction writes the merged segment first, then swaps the listings in one transaction and
//! queues the old objects for deletion after a grace period (readers may still hold them).

use std::collections::HashSet;

use rusqlite::{Connection, TransactionBehavior};

use super::error::StoreError;
use super::granularity::Granularity;
use super::meta;
use super::query::Item;
use super::segments::{encode_items, SegmentWriter, Segments, COMPACT_AT, SEGMENT_ROWS};

/// Rows read from SQLite and encoded at a time while a segment is written (a segment holds up
/// to [`SEGMENT_ROWS`]).
const FLUSH_PAGE_ROWS: usize = 8_192;

/// How long replaced segment objects stay for readers that listed them.
pub(crate) const GARBAGE_GRACE_SECS: i64 = 600;
/// How old an unlisted object must be before it is taken for a dead writer's leftover.
pub(crate) const ORPHAN_AGE_SECS: i64 = 3600;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Flushes the closed ranges of stream `seq` and compacts its segments.
pub(crate) fn flush_stream(
    conn: &mut Connection,
    segments: &Segments,
    seq: i64,
) -> Result<(), StoreError> {
    let Some(row) = meta::stream_by_seq(conn, seq)? else {
        return Ok(());
    };
    let coarser = row.highest.coarser();
    let mut levels: Vec<(Granularity, bool, i64)> = Vec::new();
    if let Some(first) = coarser.first() {
        if let Some(w) = row.downsampled_until[first.index()] {
            levels.push((row.highest, true, w));
        }
    }
    for (i, g) in coarser.iter().enumerate() {
        let watermark = match coarser.get(i + 1) {
            Some(next) => row.downsampled_until[next.index()],
            // Nothing reads the coarsest buckets: they are closed once stored.
            None => Some(i64::MAX),
        };
        if let Some(w) = watermark {
            levels.push((*g, false, w));
        }
    }
    for (g, raw, watermark) in levels {
        loop {
            let moved = flush_chunk(conn, segments, &row.id, seq, g, raw, watermark)?;
            if moved < SEGMENT_ROWS {
                break;
            }
        }
        compact(conn, segments, &row.id, seq, g, raw)?;
    }
    Ok(())
}

/// Moves up to `SEGMENT_ROWS` rows below `watermark` into one segment; returns how many.
fn flush_chunk(
    conn: &mut Connection,
    segments: &Segments,
    id: &str,
    seq: i64,
    g: Granularity,
    raw: bool,
    watermark: i64,
) -> Result<usize, StoreError> {
    // The pages are read in one read transaction: one snapshot, as one query would see.
    let read = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let chunk = if raw {
        read_points(&read, id, seq, watermark)?
    } else {
        read_buckets(&read, id, seq, g, watermark)?
    };
    read.finish()?;
    let Some(Chunk {
        bytes,
        first,
        last,
        max_seq,
        rows: n,
    }) = chunk
    else {
        return Ok(0);
    };
    let path = Segments::new_path(id, (!raw).then_some(g), first.0, last.0);
    let size = bytes.len();
    segments.put(&path, bytes)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let deleted = if raw {
        meta::delete_points(&tx, seq, first, last, max_seq)?
    } else {
        meta::delete_buckets(&tx, seq, g, first.0, last.0)?
    };
    if deleted != n {
        // Another process flushed these rows meanwhile: drop ours.
        drop(tx);
        segments.delete(&[path])?;
        return Ok(0);
    }
    meta::insert_segment(&tx, seq, g, &path, first.0, last.0, n, size)?;
    tx.commit()?;
    Ok(n)
}

/// One segment's worth of closed rows, encoded.
struct Chunk {
    bytes: bytes::Bytes,
    /// (ts, seq) of the first and last rows (seq 0 for buckets).
    first: (i64, i64),
    last: (i64, i64),
    /// The largest seq among the rows (raw points), so that the delete takes exactly them.
    max_seq: i64,
    rows: usize,
}

/// Up to `SEGMENT_ROWS` raw points of stream `seq` below `watermark`, encoded page by page.
fn read_points(
    conn: &Connection,
    id: &str,
    seq: i64,
    watermark: i64,
) -> Result<Option<Chunk>, StoreError> {
    let mut writer = SegmentWriter::points()?;
    let mut max_seq = i64::MIN;
    let pages = in_pages(
        |after, want| meta::points_page(conn, seq, i64::MIN, watermark, after, false, want),
        |r| (r.ts, r.seq),
        |rows| {
            max_seq = rows.iter().map(|r| r.seq).fold(max_seq, i64::max);
            writer.write_points(id, rows)
        },
    )?;
    let Some((first, last, rows)) = pages else {
        return Ok(None);
    };
    Ok(Some(Chunk {
        bytes: writer.finish()?,
        first,
        last,
        max_seq,
        rows,
    }))
}

/// Up to `SEGMENT_ROWS` buckets of stream `seq` at `g` below `watermark`, encoded page by page.
fn read_buckets(
    conn: &Connection,
    id: &str,
    seq: i64,
    g: Granularity,
    watermark: i64,
) -> Result<Option<Chunk>, StoreError> {
    let mut writer = SegmentWriter::buckets()?;
    let pages = in_pages(
        |after, want| meta::buckets_page(conn, seq, g, i64::MIN, watermark, after, false, want),
        |b| b.ts,
        |rows| writer.write_buckets(id, rows),
    )?;
    let Some((first, last, rows)) = pages else {
        return Ok(None);
    };
    Ok(Some(Chunk {
        bytes: writer.finish()?,
        first: (first, 0),
        last: (last, 0),
        max_seq: 0,
        rows,
    }))
}

/// Reads pages of up to `FLUSH_PAGE_ROWS` rows, each after the last row of the one before
/// (`page(after, want)`; `key` is a row's paging key), and hands them to `write`, until
/// `SEGMENT_ROWS` rows or the end. The keys of the first and last rows and how many, if any.
fn in_pages<R, K: Copy>(
    mut page: impl FnMut(Option<K>, usize) -> Result<Vec<R>, StoreError>,
    key: impl Fn(&R) -> K,
    mut write: impl FnMut(&[R]) -> Result<(), StoreError>,
) -> Result<Option<(K, K, usize)>, StoreError> {
    let (mut first, mut after, mut n) = (None, None, 0);
    loop {
        let want = (SEGMENT_ROWS - n).min(FLUSH_PAGE_ROWS);
        let rows = page(after, want)?;
        let (Some(head), Some(tail)) = (rows.first(), rows.last()) else {
            break;
        };
        first.get_or_insert(key(head));
        after = Some(key(tail));
        write(&rows)?;
        n += rows.len();
        if rows.len() < want || n == SEGMENT_ROWS {
            break;
        }
    }
    Ok(first.zip(after).map(|(first, last)| (first, last, n)))
}

/// Merges the small segments of (stream, g) once there are more than `COMPACT_AT`.
fn compact(
    conn: &mut Connection,
    segments: &Segments,
    id: &str,
    seq: i64,
    g: Granularity,
    raw: bool,
) -> Result<(), StoreError> {
    let listed = meta::segments_of(conn, seq, g, i64::MIN, i64::MAX)?;
    if listed.len() <= COMPACT_AT {
        return Ok(());
    }
    let small: Vec<_> = listed
        .into_iter()
        .filter(|s| (s.rows as usize) < SEGMENT_ROWS / 2)
        .take(2 * COMPACT_AT)
        .collect();
    if small.len() < 2 {
        return Ok(());
    }
    let mut items: Vec<Item> = Vec::new();
    for s in &small {
        items.extend(segments.read(&s.path, raw, i64::MIN, i64::MAX)?);
    }
    items.sort_by_key(Item::key);
    let mut written = Vec::new();
    for chunk in items.chunks(SEGMENT_ROWS) {
        let (Some(first), Some(last)) = (chunk.first().map(Item::ts), chunk.last().map(Item::ts))
        else {
            continue;
        };
        let bytes = encode_items(id, chunk)?;
        let path = Segments::new_path(id, (!raw).then_some(g), first, last);
        let size = bytes.len();
        segments.put(&path, bytes)?;
        written.push((path, first, last, chunk.len(), size));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let ids: Vec<i64> = small.iter().map(|s| s.id).collect();
    let old = meta::remove_segments(&tx, seq, Some(&ids))?;
    if old.len() != small.len() {
        // Compacted by another process meanwhile.
        drop(tx);
        segments.delete(&written.into_iter().map(|w| w.0).collect::<Vec<_>>())?;
        return Ok(());
    }
    for (path, first, last, n, size) in &written {
        meta::insert_segment(&tx, seq, g, path, *first, *last, *n, *size)?;
    }
    meta::add_garbage(&tx, &old, now())?;
    tx.commit()?;
    collect_garbage(conn, segments, GARBAGE_GRACE_SECS)
}

/// Deletes the replaced segment objects queued more than `grace` seconds ago.
pub(crate) fn collect_garbage(
    conn: &mut Connection,
    segments: &Segments,
    grace: i64,
) -> Result<(), StoreError> {
    // Only take the write lock when something is due (opening must not wait for writers).
    let due: i64 = conn.query_row(
        "SELECT COUNT(*) FROM garbage WHERE since < ?1",
        [now() - grace],
        |r| r.get(0),
    )?;
    if due == 0 {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let paths = meta::take_garbage(&tx, now() - grace)?;
    tx.commit()?;
    segments.delete(&paths)
}

/// At open: removes objects no listing knows that are older than `ORPHAN_AGE_SECS` (left by a
/// writer killed between writing a segment and listing it) and expired garbage.
pub(crate) fn collect_leftovers(
    conn: &mut Connection,
    segments: &Segments,
) -> Result<usize, StoreError> {
    collect_garbage(conn, segments, GARBAGE_GRACE_SECS)?;
    let known: HashSet<String> = meta::known_paths(conn)?;
    segments.collect_orphans(&known, ORPHAN_AGE_SECS)
}
