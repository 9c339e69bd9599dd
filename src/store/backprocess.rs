//! `backprocess_streams` (upstream `_backprocess_stream`): a derived stream created over sources
//! that already hold data is pending; backprocessing first backprocesses pending sources, then
//! replays every source's whole history through the operator, merged by time (a downsampled
//! point's time is its last), sources in `derive_from` order at equal times, and clears the flag.
//! Existing derived data is not cleared first (as upstream).

use std::collections::VecDeque;

use super::append::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use super::derive::{self, Feed};
use super::error::StoreError;
use super::granularity::Granularity;
use super::meta;
use super::query::{Cursor, Item};
use super::txn::Txn;

/// Reads one source's history in order, a page at a time.
struct Source {
    seq: i64,
    name: Option<String>,
    cursor: Cursor,
    page: VecDeque<Item>,
}

impl Source {
    fn head(&mut self, txn: &Txn<'_>) -> Result<Option<&Item>, StoreError> {
        if self.page.is_empty() {
            self.page = self.cursor.next_page(txn.conn, txn.segments)?.into();
        }
        Ok(self.page.front())
    }
}

/// Backprocesses stream `seq` if it is pending.
pub(crate) fn backprocess_stream(txn: &mut Txn<'_>, seq: i64) -> Result<(), StoreError> {
    let Some(derived) = txn.row(seq)?.derived_from.clone() else {
        return Ok(());
    };
    if !txn.row(seq)?.pending_backprocess {
        return Ok(());
    }
    let mut order: Vec<i64> = Vec::new();
    for src in &derived.sources {
        if !order.contains(src) && txn.exists(*src)? {
            order.push(*src);
        }
    }
    let mut sources = Vec::new();
    for src in order {
        if txn.row(src)?.pending_backprocess {
            backprocess_stream(txn, src)?;
        }
        let row = txn.row(src)?;
        let Some(c) = row.contributes_to.get(&seq) else {
            continue;
        };
        let g = Granularity::from_index(c.granularity).unwrap_or(row.highest);
        let name = c.name.clone();
        let raw = g == row.highest;
        let range = (MIN_TIMESTAMP, MAX_TIMESTAMP + 1);
        let listed = meta::segments_of(txn.conn, src, g, range.0, range.1)?;
        sources.push(Source {
            seq: src,
            name,
            cursor: Cursor::new(src, g, raw, range, false, listed),
            page: VecDeque::new(),
        });
    }
    loop {
        let mut current: Option<i64> = None;
        for s in sources.iter_mut() {
            if let Some(item) = s.head(txn)? {
                let t = item.feed_time();
                current = Some(current.map_or(t, |c| c.min(t)));
            }
        }
        let Some(current) = current else {
            break;
        };
        for s in sources.iter_mut() {
            while let Some(item) = s.head(txn)? {
                if item.feed_time() > current {
                    break;
                }
                let item = s.page.pop_front();
                let feed = match &item {
                    Some(Item::Raw(p)) => Feed::Raw {
                        ts: p.ts,
                        value: &p.value,
                    },
                    Some(Item::Bucket(b)) => Feed::Bucket(b),
                    None => break,
                };
                derive::update(txn, seq, s.seq, feed, s.name.as_deref())?;
            }
        }
    }
    txn.row_mut(seq)?.pending_backprocess = false;
    Ok(())
}
