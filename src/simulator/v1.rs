//! The `/api/v1` endpoints: `GET /api/v1/query` (QueryMetrics) and `GET /api/v1/validate`,
//! with the v1 response JSON written field for field like Datadog's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;

use super::data::{self, Agg};
use super::json::{self, push_f64, push_str, push_str_array};
use super::pipeline::{self, Answer};
use super::query::{self, SubQuery};
use super::state::{RequestCtx, SimState};

/// Latest accepted timestamp (end of year 9999): keeps `* 1000` far from overflowing.
pub(super) const MAX_TS_S: i64 = 253_402_300_799;

/// `toobig.*` metrics refuse windows longer than this, so clients can exercise splitting.
const TOOBIG_MAX_WINDOW_S: i64 = 3600;

/// `GET /api/v1/validate`: the key check already happened in the front door.
pub(super) async fn validate() -> Response {
    json::json_response(StatusCode::OK, r#"{"valid":true}"#)
}

/// `GET /api/v1/query?from=S&to=S&query=Q`
pub(super) async fn query(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let params = req
        .extensions()
        .get::<RequestCtx>()
        .map(|ctx| ctx.query.clone())
        .unwrap_or_default();
    let max_points = state.max_points;
    pipeline::data_request(
        &state,
        req,
        &state.query_limiter,
        move || match answer_query(&params, max_points) {
            Ok(body) => Answer::new(StatusCode::OK, body),
            Err(message) => Answer::new(StatusCode::BAD_REQUEST, json::error_body(&message)),
        },
    )
    .await
}

/// Validates the parameters and writes the 200 body, or returns the 400 message.
fn answer_query(params: &[(String, String)], max_points: usize) -> Result<String, String> {
    let from = timestamp_param(params, "from")?;
    let to = timestamp_param(params, "to")?;
    let q = param(params, "query")
        .filter(|q| !q.trim().is_empty())
        .ok_or("Missing required parameter 'query'")?;
    if from > to {
        return Err("The 'from' timestamp must be before 'to'".to_string());
    }
    let window = to - from;
    check_retention(window)?;
    let subs = query::parse_query(q).map_err(|e| format!("Error parsing query: {e}"))?;
    check_toobig(window, &subs)?;

    let series: Vec<Series> = subs
        .iter()
        .enumerate()
        .flat_map(|(i, sq)| series_of(sq, i, from, to, max_points))
        .collect();
    let group_by = subs.first().map(|s| s.group_by.as_slice()).unwrap_or(&[]);
    Ok(write_response(q, from, to, group_by, &series))
}

/// Refuses windows longer than the retention ([`data::MAX_WINDOW_S`]). Shared with v2.
pub(super) fn check_retention(window_s: i64) -> Result<(), String> {
    if window_s > data::MAX_WINDOW_S {
        return Err(format!(
            "The query window is too long: at most {} days are retained",
            data::MAX_WINDOW_S / 86_400
        ));
    }
    Ok(())
}

/// Refuses windows over an hour for `toobig.*` metrics, so clients can exercise splitting.
/// Shared with v2.
pub(super) fn check_toobig(window_s: i64, subs: &[SubQuery]) -> Result<(), String> {
    if window_s > TOOBIG_MAX_WINDOW_S && subs.iter().any(|s| s.metric.starts_with("toobig.")) {
        return Err(
            "Query too large: too many points requested; reduce the time window".to_string(),
        );
    }
    Ok(())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn timestamp_param(params: &[(String, String)], name: &str) -> Result<i64, String> {
    let raw = param(params, name).ok_or_else(|| format!("Missing required parameter '{name}'"))?;
    match raw.trim().parse::<i64>() {
        Ok(ts) if (0..=MAX_TS_S).contains(&ts) => Ok(ts),
        _ => Err(format!(
            "Invalid value for parameter '{name}': '{raw}' is not a timestamp in seconds since the Unix epoch"
        )),
    }
}

/// One series of the response.
struct Series<'a> {
    sub: &'a SubQuery,
    query_index: usize,
    /// The group's tags (`host:web-1`), empty without a group-by.
    tag_set: Vec<String>,
    interval: i64,
    points: Vec<(i64, Option<f64>)>,
}

/// The series of one sub-query: one per group of matching hosts (or one without a group-by),
/// sorted by group value; groups without any data are left out, like Datadog does.
fn series_of(
    sub: &SubQuery,
    query_index: usize,
    from: i64,
    to: i64,
    max_points: usize,
) -> Vec<Series<'_>> {
    let interval =
        data::effective_interval(to - from, sub.rollup.and_then(|r| r.interval_s), max_points);
    let time_agg = sub.rollup.map_or(Agg::Avg, |r| r.agg);
    let space_agg = sub.space_agg.unwrap_or(Agg::Avg);

    let mut groups: BTreeMap<Vec<String>, Vec<&str>> = BTreeMap::new();
    for host in sub.matching_hosts() {
        let tags = sub
            .group_by
            .iter()
            .map(|key| format!("{key}:{}", data::host_tag_value(host, key).unwrap_or("N/A")))
            .collect();
        groups.entry(tags).or_default().push(host);
    }

    groups
        .into_iter()
        .filter_map(|(tags, hosts)| {
            let points: Vec<(i64, Option<f64>)> = data::bucket_starts(from, to, interval)
                .map(|b| {
                    let v =
                        data::rollup_value(&sub.metric, &hosts, space_agg, time_agg, b, interval);
                    (b, v)
                })
                .collect();
            let mut tag_set = tags;
            tag_set.sort();
            points.iter().any(|(_, v)| v.is_some()).then_some(Series {
                sub,
                query_index,
                tag_set,
                interval,
                points,
            })
        })
        .collect()
}

impl Series<'_> {
    /// `scope`: the scope as written without a group-by; with one, the scope's tags plus the
    /// group's tags, sorted, without `*` (`bar:baz,host:web-1`).
    fn scope(&self) -> String {
        if self.sub.group_by.is_empty() {
            return self.sub.scope_text();
        }
        let mut tags: Vec<String> = self.sub.scope.iter().map(|t| t.text()).collect();
        tags.extend(self.tag_set.iter().cloned());
        tags.sort();
        tags.dedup();
        tags.join(",")
    }

    /// `expression`: the sub-query expanded for this series, e.g.
    /// `avg:system.cpu.user{env:prod,host:web-1}.rollup(avg,60)`.
    fn expression(&self, scope: &str) -> String {
        let agg = self
            .sub
            .space_agg
            .map(|a| format!("{a}:"))
            .unwrap_or_default();
        format!(
            "{agg}{}{{{scope}}}{}",
            self.sub.metric,
            self.sub.rollup_text()
        )
    }
}

/// Writes the whole 200 body.
fn write_response(q: &str, from: i64, to: i64, group_by: &[String], series: &[Series]) -> String {
    let points: usize = series.iter().map(|s| s.points.len()).sum();
    let mut buf = String::with_capacity(512 + 400 * series.len() + 32 * points);
    buf.push_str(r#"{"status":"ok","res_type":"time_series","resp_version":1,"query":"#);
    push_str(&mut buf, q);
    let _ = write!(
        buf,
        r#","from_date":{},"to_date":{},"group_by":"#,
        from * 1000,
        to * 1000
    );
    push_str_array(&mut buf, group_by);
    buf.push_str(r#","message":"","times":[],"values":[],"series":["#);
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        write_series(&mut buf, s);
    }
    buf.push_str("]}");
    buf
}

fn write_series(buf: &mut String, s: &Series) {
    let metric = &s.sub.metric;
    let scope = s.scope();
    let first = s.points.first().map_or(0, |p| p.0);
    let last = s.points.last().map_or(0, |p| p.0);
    buf.push_str(r#"{"metric":"#);
    push_str(buf, metric);
    buf.push_str(r#","display_name":"#);
    push_str(buf, metric);
    buf.push_str(r#","expression":"#);
    push_str(buf, &s.expression(&scope));
    buf.push_str(r#","scope":"#);
    push_str(buf, &scope);
    buf.push_str(r#","tag_set":"#);
    push_str_array(buf, &s.tag_set);
    buf.push_str(r#","aggr":"#);
    match s.sub.space_agg {
        Some(agg) => push_str(buf, agg.as_str()),
        None => buf.push_str("null"),
    }
    let _ = write!(
        buf,
        r#","query_index":{},"interval":{},"length":{},"start":{},"end":{},"attributes":{{}},"unit":{},"pointlist":["#,
        s.query_index,
        s.interval,
        s.points.len(),
        first * 1000,
        (last + s.interval) * 1000 - 1000,
        json::metric_unit(metric).unwrap_or("null"),
    );
    // Some real responses serialise timestamps as floats (`1623846300000.0`).
    let float_ts = metric.contains("floatts");
    for (i, &(ts, v)) in s.points.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        let _ = write!(buf, "[{}", ts * 1000);
        if float_ts {
            buf.push_str(".0");
        }
        buf.push(',');
        match v {
            Some(v) => push_f64(buf, v),
            None => buf.push_str("null"),
        }
        buf.push(']');
    }
    buf.push_str("]}");
}
