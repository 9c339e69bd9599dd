//! `POST /api/v2/query/timeseries` (QueryTimeseriesData): the queries' rollups on one shared
//! time axis, or formulas over them, in Datadog's v2 response shape:
//!
//! ```json
//! {"data":{"id":"0","type":"timeseries_response","attributes":{
//!   "series":[{"group_tags":["host:web-1"],"query_index":0,"unit":null}],
//!   "times":[1700438400000,1700438460000],
//!   "values":[[12.5,null]]}}}
//! ```
//!
//! The interval is the v1 one for the window ([`data::effective_interval`]): the requested
//! one (the largest `.rollup(_, s)` interval of the queries if any, else `interval` rounded
//! up to seconds) when the window allows it, else the enforced one. `times` are the v1
//! bucket starts of the window (`from` rounded down, `to` up, to seconds); `values[i]` is
//! parallel to `series[i]`. Groups whose values are all null are left out; without any
//! series `times` is empty too, as in Datadog's empty responses.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;

use super::data::{self, Agg};
use super::json::{self, push_f64, push_str_array};
use super::pipeline;
use super::state::{RequestCtx, SimState};
use super::v2::{self, Output, Query, QueryValues, V2Request};

/// `POST /api/v2/query/timeseries`
pub(super) async fn query(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let body = req
        .extensions()
        .get::<RequestCtx>()
        .and_then(|ctx| ctx.body.clone());
    let max_points = state.max_points;
    pipeline::data_request(&state, req, &state.timeseries_limiter, move || {
        v2::answer(answer_timeseries(body.as_deref(), max_points))
    })
    .await
}

/// Validates the body and writes the 200 body, or returns the 400 message.
fn answer_timeseries(body: Option<&str>, max_points: usize) -> Result<String, String> {
    let req = v2::parse_request(body, "timeseries_request")?;
    let interval = interval_of(&req, max_points);
    let buckets: Vec<i64> = data::bucket_starts(req.from_s, req.to_s, interval).collect();
    let values = req
        .queries
        .iter()
        .map(|q| query_values(q, &buckets, interval))
        .collect();
    let outputs = v2::outputs(&req, values, buckets.len());
    Ok(write_response(&buckets, &outputs))
}

/// The one interval of the response (see the module docs).
fn interval_of(req: &V2Request, max_points: usize) -> i64 {
    let from_rollups = req
        .queries
        .iter()
        .filter_map(|q| q.sub.rollup.and_then(|r| r.interval_s))
        .max();
    let requested = from_rollups.or(req.interval_ms.map(data::interval_s_of_ms));
    data::effective_interval(req.to_s - req.from_s, requested, max_points)
}

/// One value per bucket and group, exactly as v1 computes its points.
fn query_values(q: &Query, buckets: &[i64], interval: i64) -> QueryValues {
    let sub = &q.sub;
    let time_agg = sub.rollup.map_or(Agg::Avg, |r| r.agg);
    let space_agg = sub.space_agg.unwrap_or(Agg::Avg);
    let groups = v2::host_groups(sub)
        .into_iter()
        .map(|(tags, hosts)| {
            let row = buckets
                .iter()
                .map(|&b| data::rollup_value(&sub.metric, &hosts, space_agg, time_agg, b, interval))
                .collect();
            (tags, row)
        })
        .collect();
    QueryValues {
        grouped: !sub.group_by.is_empty(),
        unit: json::metric_unit(&sub.metric),
        groups,
    }
}

/// One series answered: its output (`query_index`), group tags and values.
struct Series<'a> {
    index: usize,
    tags: &'a [String],
    values: &'a [Option<f64>],
}

fn write_response(buckets: &[i64], outputs: &[Output]) -> String {
    let series: Vec<Series> = outputs
        .iter()
        .enumerate()
        .flat_map(|(index, out)| {
            out.groups
                .iter()
                .filter(|(_, row)| v2::has_data(row))
                .map(move |(tags, values)| Series {
                    index,
                    tags,
                    values,
                })
        })
        .collect();
    let times: &[i64] = if series.is_empty() { &[] } else { buckets };

    let mut buf = String::with_capacity(256 + 24 * times.len() * (series.len() + 1));
    buf.push_str(r#"{"data":{"id":"0","type":"timeseries_response","attributes":{"series":["#);
    for (k, s) in series.iter().enumerate() {
        if k > 0 {
            buf.push(',');
        }
        buf.push_str(r#"{"group_tags":"#);
        push_str_array(&mut buf, s.tags);
        let _ = write!(buf, r#","query_index":{},"unit":"#, s.index);
        json::push_unit(&mut buf, outputs[s.index].unit);
        buf.push('}');
    }
    buf.push_str(r#"],"times":["#);
    for (j, t) in times.iter().enumerate() {
        if j > 0 {
            buf.push(',');
        }
        let _ = write!(buf, "{}", t * 1000);
    }
    buf.push_str(r#"],"values":["#);
    for (k, s) in series.iter().enumerate() {
        if k > 0 {
            buf.push(',');
        }
        buf.push('[');
        for (j, v) in s.values.iter().enumerate() {
            if j > 0 {
                buf.push(',');
            }
            match v {
                Some(v) => push_f64(&mut buf, *v),
                None => buf.push_str("null"),
            }
        }
        buf.push(']');
    }
    buf.push_str("]}}}");
    buf
}
