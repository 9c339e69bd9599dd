//! The datastream store's behaviour, ported from upstream's `tests/test_common.py` and
//! `tests/test_mongodb.py` (wlanslovenija/datastream 0.5.19). Expected values are worked out by
//! hand in each test, from the appended data.

mod api;
mod common;
mod derived;
mod downsampling;
mod segments;
mod sql;
