//! Downsampling and derive functions with the vocabulary of the `datastream` time-series
//! library, for any table (API tables, Parquet, CSV, VALUES). [`register_functions`] adds them
//! all to a session:
//!
//! - [`bucket`]: `ds_bucket(granularity, ts)`, on the granularities of [`granularity`].
//! - [`value_downsamplers`]: `mean`, `sum_squares`, `std_dev`, `most_often`, `least_often`,
//!   `frequencies` (`count`, `sum`, `min`, `max` are DataFusion's own).
//! - [`time_downsamplers`]: `time_first`, `time_last`, `time_mean`.
//! - [`derive`]: the window functions `derivative`, `counter_reset`, `counter_derivative`.
//! - [`downsample`]: the table function `downsample(table, granularity, value_column [, start, end])`.
//! - [`shared_counts`]: the optimizer rule that counts an argument once for all its frequency
//!   keys in one aggregation.

pub mod bucket;
pub mod derive;
pub mod downsample;
pub mod granularity;
mod grouped_counts;
mod grouped_input;
mod grouped_moments;
mod grouped_times;
pub mod shared_counts;
pub mod time_downsamplers;
mod value_counts;
pub mod value_downsamplers;

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use datafusion::prelude::SessionContext;

use bucket::DsBucket;
use derive::{Derive, DeriveKind};
use downsample::Downsample;
use time_downsamplers::{TimeDownsampler, TimeKind};
use value_downsamplers::{Frequency, FrequencyKind, MomentKind, Moments};

/// Registers every downsampling function in `ctx`. Our `mean` replaces DataFusion's `mean`
/// alias of `avg` (same result on numbers; ours is always Float64 and null on no values).
pub fn register_functions(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(DsBucket::default()));
    for kind in [MomentKind::Mean, MomentKind::SumSquares, MomentKind::StdDev] {
        ctx.register_udaf(AggregateUDF::from(Moments::new(kind)));
    }
    for kind in [
        FrequencyKind::MostOften,
        FrequencyKind::LeastOften,
        FrequencyKind::Frequencies,
        FrequencyKind::Summary,
    ] {
        ctx.register_udaf(AggregateUDF::from(Frequency::new(kind)));
    }
    for kind in [TimeKind::First, TimeKind::Last, TimeKind::Mean] {
        ctx.register_udaf(AggregateUDF::from(TimeDownsampler::new(kind)));
    }
    for kind in [
        DeriveKind::Derivative,
        DeriveKind::CounterReset,
        DeriveKind::CounterDerivative,
    ] {
        ctx.register_udwf(WindowUDF::from(Derive::new(kind)));
    }
    ctx.register_udtf("downsample", Arc::new(Downsample));
    if !ctx
        .state()
        .optimizers()
        .iter()
        .any(|r| r.name() == shared_counts::RULE_NAME)
    {
        ctx.add_optimizer_rule(Arc::new(shared_counts::ShareFrequencyCounts));
    }
}
