//! One write transaction's view of the streams: rows are loaded once, changed in memory, and
//! written back together before the commit, so an append batch touches each stream row once.

use std::collections::{BTreeSet, HashMap};

use rusqlite::Connection;

use super::error::StoreError;
use super::meta::{self, StreamRow};
use super::segments::Segments;

/// Stream rows cached for the length of one SQLite transaction.
#[derive(Debug)]
pub(crate) struct Txn<'c> {
    pub conn: &'c Connection,
    pub segments: &'c Segments,
    rows: HashMap<i64, StreamRow>,
    ids: HashMap<String, i64>,
    dirty: BTreeSet<i64>,
}

impl<'c> Txn<'c> {
    /// A view over `conn`, which has an open transaction.
    pub(crate) fn new(conn: &'c Connection, segments: &'c Segments) -> Self {
        Txn {
            conn,
            segments,
            rows: HashMap::new(),
            ids: HashMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    fn load(&mut self, seq: i64) -> Result<bool, StoreError> {
        if self.rows.contains_key(&seq) {
            return Ok(true);
        }
        match meta::stream_by_seq(self.conn, seq)? {
            Some(row) => {
                self.ids.insert(row.id.clone(), seq);
                self.rows.insert(seq, row);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The stream with public `id`; `StreamNotFound` when there is none.
    pub(crate) fn seq_of(&mut self, id: &str) -> Result<i64, StoreError> {
        if let Some(seq) = self.ids.get(id) {
            return Ok(*seq);
        }
        match meta::stream_by_id(self.conn, id)? {
            Some(row) => {
                let seq = row.seq;
                self.ids.insert(row.id.clone(), seq);
                self.rows.entry(seq).or_insert(row);
                Ok(seq)
            }
            None => Err(StoreError::StreamNotFound(format!(
                "stream '{id}' not found; check the id (find_streams lists the streams)"
            ))),
        }
    }

    /// Whether stream `seq` exists.
    pub(crate) fn exists(&mut self, seq: i64) -> Result<bool, StoreError> {
        self.load(seq)
    }

    /// Stream `seq` (read only).
    pub(crate) fn row(&mut self, seq: i64) -> Result<&StreamRow, StoreError> {
        self.load(seq)?;
        self.rows.get(&seq).ok_or_else(|| {
            StoreError::storage("reading stream metadata", format!("stream #{seq} vanished"))
        })
    }

    /// Stream `seq`, to change; it is written back by [`Txn::flush`].
    pub(crate) fn row_mut(&mut self, seq: i64) -> Result<&mut StreamRow, StoreError> {
        self.load(seq)?;
        self.dirty.insert(seq);
        self.rows.get_mut(&seq).ok_or_else(|| {
            StoreError::storage("reading stream metadata", format!("stream #{seq} vanished"))
        })
    }

    /// Forgets a deleted stream.
    pub(crate) fn forget(&mut self, seq: i64) {
        if let Some(row) = self.rows.remove(&seq) {
            self.ids.remove(&row.id);
        }
        self.dirty.remove(&seq);
    }

    /// Writes every changed row back.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        for seq in std::mem::take(&mut self.dirty) {
            if let Some(row) = self.rows.get(&seq) {
                row.save(self.conn)?;
            }
        }
        Ok(())
    }
}
