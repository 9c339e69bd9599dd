//! `POST /api/v2/query/scalar` (QueryScalarData): one value per query (or formula) and
//! group, in Datadog's v2 column layout:
//!
//! ```json
//! {"data":{"type":"scalar_response","attributes":{"columns":[
//!   {"name":"host","type":"group","values":[["web-1"],["web-2"]]},
//!   {"name":"a","type":"number","values":[12.5,13.25],"meta":{"unit":null}}]}}}
//! ```
//!
//! A query's value is its `aggregator` (avg = mean, min, max, sum, last) over its
//! space-aggregated series at native resolution in `[from, to)` ([`data::scalar_value`]); a
//! `.rollup()` in the query string does not change it. Rows are the groups (one `group`
//! column per group-by key, holding each row's tag value as a one-element array), sorted by
//! group tags; rows whose values are all null are left out. The first formula with a
//! `limit` then orders the rows by its column (`desc` by default, nulls last, ties in group
//! order) and keeps `count` of them.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::Value;

use super::data::{self, Agg, ScalarAgg};
use super::json::{self, push_f64, push_str};
use super::pipeline;
use super::state::{RequestCtx, SimState};
use super::v2::{self, Output, Query, QueryValues, V2Request, INVALID};

/// `POST /api/v2/query/scalar`
pub(super) async fn query(State(state): State<Arc<SimState>>, req: Request) -> Response {
    let body = req
        .extensions()
        .get::<RequestCtx>()
        .and_then(|ctx| ctx.body.clone());
    pipeline::data_request(&state, req, &state.scalar_limiter, move || {
        v2::answer(answer_scalar(body.as_deref()))
    })
    .await
}

/// A formula's `limit`: sort by output `column`, keep `count` rows.
struct Limit {
    column: usize,
    count: Option<usize>,
    descending: bool,
}

/// One row of the table: its group tags and one value per number column.
struct Row<'a> {
    tags: &'a [String],
    values: Vec<Option<f64>>,
}

/// Validates the body and writes the 200 body, or returns the 400 message.
fn answer_scalar(body: Option<&str>) -> Result<String, String> {
    let req = v2::parse_request(body, "scalar_request")?;
    let aggs = req
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| aggregator(i, q))
        .collect::<Result<Vec<_>, _>>()?;
    let mut limit = None;
    for (i, f) in req.formulas.iter().enumerate() {
        if let Some(l) = parse_limit(i, f.limit.as_ref())? {
            limit = limit.or(Some(l));
        }
    }

    let values = req
        .queries
        .iter()
        .zip(aggs)
        .map(|(q, agg)| query_values(q, agg, req.from_ms, req.to_ms))
        .collect();
    let outputs = v2::outputs(&req, values, 1);

    let all_tags: BTreeSet<&Vec<String>> = outputs.iter().flat_map(|o| o.groups.keys()).collect();
    let mut rows: Vec<Row> = all_tags
        .into_iter()
        .map(|tags| Row {
            tags,
            values: outputs
                .iter()
                .map(|o| o.groups.get(tags).and_then(|row| row[0]))
                .collect(),
        })
        .filter(|row| v2::has_data(&row.values))
        .collect();
    if let Some(limit) = limit {
        rows.sort_by(|a, b| compare(a.values[limit.column], b.values[limit.column], &limit));
        if let Some(count) = limit.count {
            rows.truncate(count);
        }
    }
    Ok(write_response(&group_keys(&req), &outputs, &rows))
}

fn aggregator(i: usize, q: &Query) -> Result<ScalarAgg, String> {
    let supported = ScalarAgg::SUPPORTED.join(", ");
    let name = q.aggregator.as_deref().ok_or_else(|| {
        format!("{INVALID}queries[{i}]: 'aggregator' is required (one of {supported})")
    })?;
    name.parse().map_err(|_| {
        format!("{INVALID}queries[{i}]: unsupported aggregator '{name}' (supported: {supported})")
    })
}

fn parse_limit(i: usize, limit: Option<&Value>) -> Result<Option<Limit>, String> {
    let Some(limit) = limit.filter(|l| !l.is_null()) else {
        return Ok(None);
    };
    let bad = |what: &str| format!("{INVALID}formulas[{i}].limit: {what}");
    let limit = limit.as_object().ok_or_else(|| bad("must be an object"))?;
    let count = match limit.get("count").filter(|c| !c.is_null()) {
        None => None,
        Some(c) => Some(
            c.as_u64()
                .and_then(|c| usize::try_from(c).ok())
                .ok_or_else(|| bad("'count' must be a non-negative integer"))?,
        ),
    };
    let descending = match limit.get("order").filter(|o| !o.is_null()) {
        None => true,
        Some(o) => match o.as_str() {
            Some("desc") => true,
            Some("asc") => false,
            _ => return Err(bad("'order' must be \"asc\" or \"desc\"")),
        },
    };
    Ok(Some(Limit {
        column: i,
        count,
        descending,
    }))
}

/// Row order under a limit: by value in the limit's order, nulls last.
fn compare(a: Option<f64>, b: Option<f64>, limit: &Limit) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) if limit.descending => b.total_cmp(&a),
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn query_values(q: &Query, agg: ScalarAgg, from_ms: i64, to_ms: i64) -> QueryValues {
    let sub = &q.sub;
    let space_agg = sub.space_agg.unwrap_or(Agg::Avg);
    let groups = v2::host_groups(sub)
        .into_iter()
        .map(|(tags, hosts)| {
            let v = data::scalar_value(&sub.metric, &hosts, space_agg, agg, from_ms, to_ms);
            (tags, vec![v])
        })
        .collect();
    QueryValues {
        grouped: !sub.group_by.is_empty(),
        unit: json::metric_unit(&sub.metric),
        groups,
    }
}

/// The group-by keys of the queries the columns come from, in the order written.
fn group_keys(req: &V2Request) -> Vec<&str> {
    let used: Vec<usize> = if req.formulas.is_empty() {
        (0..req.queries.len()).collect()
    } else {
        req.formulas
            .iter()
            .flat_map(|f| f.vars.iter().map(|&(_, i)| i))
            .collect()
    };
    let mut keys: Vec<&str> = Vec::new();
    for i in used {
        for key in &req.queries[i].sub.group_by {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
    }
    keys
}

fn write_response(keys: &[&str], outputs: &[Output], rows: &[Row]) -> String {
    let mut buf = String::with_capacity(256 + 64 * rows.len() * (keys.len() + outputs.len()));
    buf.push_str(r#"{"data":{"type":"scalar_response","attributes":{"columns":["#);
    let mut first = true;
    let mut sep = |buf: &mut String| {
        if !std::mem::take(&mut first) {
            buf.push(',');
        }
    };
    for key in keys {
        sep(&mut buf);
        buf.push_str(r#"{"name":"#);
        push_str(&mut buf, key);
        buf.push_str(r#","type":"group","values":["#);
        for (k, row) in rows.iter().enumerate() {
            if k > 0 {
                buf.push(',');
            }
            // The row's value of this key, as a one-element array (empty if it has none).
            let value = row
                .tags
                .iter()
                .find_map(|t| t.strip_prefix(key).and_then(|v| v.strip_prefix(':')));
            match value {
                Some(v) => {
                    buf.push('[');
                    push_str(&mut buf, v);
                    buf.push(']');
                }
                None => buf.push_str("[]"),
            }
        }
        buf.push_str("]}");
    }
    for (c, out) in outputs.iter().enumerate() {
        sep(&mut buf);
        buf.push_str(r#"{"name":"#);
        push_str(&mut buf, &out.name);
        buf.push_str(r#","type":"number","values":["#);
        for (k, row) in rows.iter().enumerate() {
            if k > 0 {
                buf.push(',');
            }
            match row.values[c] {
                Some(v) => push_f64(&mut buf, v),
                None => buf.push_str("null"),
            }
        }
        buf.push_str(r#"],"meta":{"unit":"#);
        json::push_unit(&mut buf, out.unit);
        buf.push_str("}}");
    }
    buf.push_str("]}}}");
    buf
}
