//! `downsample_streams` for one stream (upstream `_downsample_check` and `_downsample`): each
//! granularity coarser than the highest is computed from the next finer one, up to the floor of
//! `min(until, latest datapoint)` (cascaded: a coarser level never passes a finer one's state),
//! with null datapoints for empty buckets between points (and before the first one once the
//! level has a state). A level whose range held no source points stores nothing and keeps its
//! state. Every stored datapoint feeds the derived streams that read this granularity.

use super::datapoint::{to_datetime, Datapoint, StreamDatapoint, Time};
use super::derive::{self, Feed};
use super::downsamplers::{Accumulator, Bucket, DownsamplerSet, TimeDownsampler};
use super::error::StoreError;
use super::granularity::Granularity;
use super::meta;
use super::txn::Txn;

/// Source points read per query.
const PAGE: usize = 4096;

/// A downsampled datapoint in upstream's shape, with every stored key.
pub(crate) fn bucket_datapoint(
    b: &Bucket,
    keys: Option<DownsamplerSet>,
    times: Option<&[TimeDownsampler]>,
) -> Datapoint {
    let at = |ts: i64| to_datetime(ts).unwrap_or_default();
    let t = times.map(|times| {
        let has = |d| times.contains(&d);
        Time::Keys {
            first: has(TimeDownsampler::First).then(|| at(b.time_first)),
            mean: has(TimeDownsampler::Mean).then(|| at(b.time_mean)),
            last: has(TimeDownsampler::Last).then(|| at(b.time_last)),
        }
    });
    Datapoint {
        ts: at(b.ts),
        t,
        v: keys.map(|k| serde_json::Value::Object(b.values_json(k))),
    }
}

/// Downsamples stream `seq` up to `until`; new datapoints are pushed to `out` when given.
pub(crate) fn downsample_stream(
    txn: &mut Txn<'_>,
    seq: i64,
    until: i64,
    mut out: Option<&mut Vec<StreamDatapoint>>,
) -> Result<(), StoreError> {
    let (highest, latest) = {
        let row = txn.row(seq)?;
        if row.downsamplers.is_empty() {
            return Ok(());
        }
        match row.latest {
            Some(latest) => (row.highest, latest),
            None => return Ok(()),
        }
    };
    let mut higher_last = latest;
    for g in highest.coarser() {
        let rounded = g.round(until.min(higher_last));
        if rounded < super::append::MIN_TIMESTAMP {
            break;
        }
        let state = txn.row(seq)?.downsampled_until[g.index()];
        if state.is_none_or(|s| rounded > s) {
            downsample_level(txn, seq, *g, rounded, out.as_deref_mut())?;
        }
        if let Some(s) = txn.row(seq)?.downsampled_until[g.index()] {
            higher_last = s;
        }
    }
    Ok(())
}

/// One source point of a level: a raw point or a finer downsampled one.
enum SourcePoint {
    Raw(meta::PointRow),
    Bucket(Bucket),
}

impl SourcePoint {
    fn ts(&self) -> i64 {
        match self {
            SourcePoint::Raw(p) => p.ts,
            SourcePoint::Bucket(b) => b.ts,
        }
    }
}

/// Computes `g` from the next finer granularity over `[state, until)`.
fn downsample_level(
    txn: &mut Txn<'_>,
    seq: i64,
    g: Granularity,
    until: i64,
    mut out: Option<&mut Vec<StreamDatapoint>>,
) -> Result<(), StoreError> {
    let (id, set, value_type, highest, state) = {
        let row = txn.row(seq)?;
        (
            row.id.clone(),
            row.downsamplers,
            row.value_type,
            row.highest,
            row.downsampled_until[g.index()],
        )
    };
    let Some(source) = g.finer() else {
        return Ok(());
    };
    let width = g.seconds();
    let mut acc = Accumulator::new(set, value_type, &id);
    let mut current: Option<i64> = None;
    let mut null_bucket: Option<i64> = state;
    let lo = state.unwrap_or(i64::MIN);
    let mut after_raw: Option<(i64, i64)> = None;
    let mut after_bucket: Option<i64> = None;
    let mut store =
        |txn: &mut Txn<'_>, acc: &mut Accumulator, start: i64| -> Result<(), StoreError> {
            let b = acc.finish(start, g);
            meta::upsert_bucket(txn.conn, seq, g, &b)?;
            derive::process_contributions(txn, seq, g, Feed::Bucket(&b))?;
            if let Some(out) = out.as_deref_mut() {
                out.push(StreamDatapoint {
                    stream_id: id.clone(),
                    granularity: g,
                    datapoint: bucket_datapoint(&b, Some(set), Some(&TimeDownsampler::ALL)),
                });
            }
            Ok(())
        };
    loop {
        let page: Vec<SourcePoint> = if source == highest {
            let rows = meta::points_page(txn.conn, seq, lo, until, after_raw, false, PAGE)?;
            after_raw = rows.last().map(|p| (p.ts, p.seq));
            rows.into_iter().map(SourcePoint::Raw).collect()
        } else {
            let rows =
                meta::buckets_page(txn.conn, seq, source, lo, until, after_bucket, false, PAGE)?;
            after_bucket = rows.last().map(|b| b.ts);
            rows.into_iter().map(SourcePoint::Bucket).collect()
        };
        let done = page.len() < PAGE;
        for point in page {
            let bucket = g.round(point.ts());
            if null_bucket.is_none() {
                null_bucket = Some(bucket + width);
            }
            if let Some(c) = current.filter(|c| *c != bucket) {
                store(txn, &mut acc, c)?;
            }
            current = Some(bucket);
            while let Some(n) = null_bucket.filter(|n| *n < bucket) {
                acc.add_null(g.middle(n));
                store(txn, &mut acc, n)?;
                null_bucket = Some(n + width);
            }
            null_bucket = Some(bucket + width);
            match &point {
                SourcePoint::Raw(p) => acc.add_raw(p.ts, &p.value),
                SourcePoint::Bucket(b) => acc.add_bucket(b),
            }
        }
        if done {
            break;
        }
    }
    let Some(c) = current else {
        // No source points in the range: nothing stored, the state stays.
        return Ok(());
    };
    store(txn, &mut acc, c)?;
    while let Some(n) = null_bucket.filter(|n| *n < until) {
        acc.add_null(g.middle(n));
        store(txn, &mut acc, n)?;
        null_bucket = Some(n + width);
    }
    txn.row_mut(seq)?.downsampled_until[g.index()] = Some(until);
    Ok(())
}
