//! The seven granularities of a stream, finest first, with datastream's names and one-letter
//! keys. Names and widths come from the SQL functions' table
//! ([`crate::sql::functions::granularity::GRANULARITIES`]), so the store and `ds_bucket` cut
//! buckets alike: epoch-aligned UTC flooring by the width.

use std::fmt;
use std::str::FromStr;

use crate::sql::functions::granularity::GRANULARITIES;

use super::error::StoreError;

/// A granularity, finest (`Seconds`) to coarsest (`Days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    /// `seconds` (1 s).
    Seconds,
    /// `10seconds`.
    Seconds10,
    /// `minutes`.
    Minutes,
    /// `10minutes`.
    Minutes10,
    /// `hours`.
    Hours,
    /// `6hours` (00/06/12/18 UTC).
    Hours6,
    /// `days` (midnight UTC).
    Days,
}

impl Granularity {
    /// Every granularity, finest first (upstream's `Granularity.values`).
    pub const ALL: [Granularity; 7] = [
        Granularity::Seconds,
        Granularity::Seconds10,
        Granularity::Minutes,
        Granularity::Minutes10,
        Granularity::Hours,
        Granularity::Hours6,
        Granularity::Days,
    ];

    /// Position in [`Granularity::ALL`] (0 = finest).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The granularity at `index` of [`Granularity::ALL`].
    pub fn from_index(index: usize) -> Option<Self> {
        Self::ALL.get(index).copied()
    }

    /// datastream's name: `seconds`, `10seconds`, ... `days`.
    pub fn name(self) -> &'static str {
        GRANULARITIES[self.index()].0
    }

    /// Bucket width in seconds.
    pub fn seconds(self) -> i64 {
        GRANULARITIES[self.index()].1
    }

    /// datastream's one-letter key (`s S m M h H d`).
    pub fn key(self) -> char {
        ['s', 'S', 'm', 'M', 'h', 'H', 'd'][self.index()]
    }

    /// Start of the bucket holding `ts` (epoch seconds, UTC).
    pub fn round(self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.seconds())
    }

    /// The middle of the bucket starting at `start` (where datastream puts empty buckets).
    pub fn middle(self, start: i64) -> i64 {
        start + self.seconds() / 2
    }

    /// The granularities strictly coarser than this one, finest first.
    pub fn coarser(self) -> &'static [Granularity] {
        &Self::ALL[self.index() + 1..]
    }

    /// The next finer granularity (the source of this one's downsampling).
    pub fn finer(self) -> Option<Granularity> {
        self.index()
            .checked_sub(1)
            .and_then(Granularity::from_index)
    }

    /// Parses a name (`'10seconds'`); anything else is `UnsupportedGranularity` listing the
    /// valid names.
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        Self::ALL
            .iter()
            .copied()
            .find(|g| g.name() == name)
            .ok_or_else(|| {
                StoreError::UnsupportedGranularity(format!(
                    "'{name}' is not a granularity; use one of {}",
                    Self::ALL.map(|g| g.name()).join(", ")
                ))
            })
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Granularity {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_and_order() {
        // 2000-01-01T12:34:56Z = 946730096.
        let ts = 946_730_096;
        assert_eq!(Granularity::Seconds.round(ts), ts);
        assert_eq!(Granularity::Seconds10.round(ts), 946_730_090);
        assert_eq!(Granularity::Minutes.round(ts), 946_730_040);
        assert_eq!(Granularity::Minutes10.round(ts), 946_729_800);
        assert_eq!(Granularity::Hours.round(ts), 946_728_000);
        assert_eq!(Granularity::Hours6.round(ts), 946_728_000);
        assert_eq!(Granularity::Days.round(ts), 946_684_800);
        assert_eq!(Granularity::Seconds.coarser().len(), 6);
        assert_eq!(Granularity::Minutes.finer(), Some(Granularity::Seconds10));
        assert_eq!(Granularity::Seconds.finer(), None);
        assert_eq!(Granularity::parse("6hours").ok(), Some(Granularity::Hours6));
        let err = Granularity::parse("weeks").map(|_| ()).unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedGranularity(_)));
        assert!(err.to_string().contains("seconds, 10seconds, minutes"));
    }
}
