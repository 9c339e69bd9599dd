//! What a scan was made from, so that another process can make the same scan again: the table's
//! vendor and options ([`TableOrigin`]) and the scan's inputs ([`ScanInputs`]: pushed filters,
//! projection, limit, the query's `now`, a rollup). Distributed execution ships these instead of
//! the engines (which hold an HTTP client and credentials); a worker rebuilds the table from
//! them with its own credentials.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::FieldRef;
use serde::{Deserialize, Serialize};

use super::config::Options;
use super::filters::PushedFilters;
use super::rollup::RollupHint;

/// How a table was built: its vendor, every option applied (session defaults first, then the
/// table's own) and the declared columns of `CREATE EXTERNAL TABLE`. The options may hold keys:
/// Debug shows only the vendor, and [`Vendor::portable_options`] decides what may leave the
/// process.
///
/// [`Vendor::portable_options`]: super::registry::Vendor::portable_options
#[derive(Clone)]
pub struct TableOrigin {
    /// The vendor's adapter name.
    pub vendor: &'static str,
    /// The options, in the order they were applied.
    pub options: Options,
    /// `CREATE EXTERNAL TABLE`'s column list (empty elsewhere).
    pub declared: Vec<FieldRef>,
    /// Whether keys and site came from the environment (`DD_API_KEY`, `DD_SITE`, ...).
    pub from_env: bool,
}

impl fmt::Debug for TableOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableOrigin")
            .field("vendor", &self.vendor)
            .field("options", &self.options.len())
            .finish_non_exhaustive()
    }
}

/// The rollup a scan of a rolled-up table runs: the hint, and which of the spec's scans (the
/// whole buckets, or the cut edges) this one is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupPart {
    /// The rollup pushdown rule's hint.
    pub hint: RollupHint,
    /// The index among the non-empty scans of `plan_rollup`.
    pub index: usize,
}

/// Everything `scan()` decided from the query, besides the table: enough to plan the same
/// requests again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanInputs {
    /// The filters the table accepted.
    pub pushed: PushedFilters,
    /// Column indices of the table's schema to output.
    pub projection: Option<Vec<usize>>,
    /// The LIMIT that reached the scan.
    pub limit: Option<usize>,
    /// The query's start time (DataFusion's `now()`), epoch ms.
    pub now_ms: i64,
    /// The session's target partitions.
    pub target_partitions: usize,
    /// The rollup, for a scan the rollup pushdown rule rewrote.
    pub rollup: Option<RollupPart>,
    /// The time filters that could not be pushed down, as EXPLAIN shows them.
    pub unpushed: Option<String>,
}

/// A scan's table and inputs.
#[derive(Debug, Clone)]
pub struct ScanOrigin {
    /// The table.
    pub table: Arc<TableOrigin>,
    /// The scan's inputs.
    pub inputs: ScanInputs,
}
