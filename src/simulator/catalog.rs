//! What the simulated account has: `GET /api/v1/metrics?from=S[&host=H]` (ListActiveMetrics,
//! `{"metrics":[..],"from":"S"}`) and `GET /api/v2/metrics/{name}/all-tags`
//! (ListTagsByMetricName, `{"data":{"type":"metrics","id":..,"attributes":{"tags":[..]}}}`),
//! from the fixed [`METRICS`] list, each reported by every host of [`data::HOSTS`].

use axum::extract::{Path, Request};
use axum::response::Response;
use http::StatusCode;

use super::data;
use super::json::{self, push_str, push_str_array};
use super::state::RequestCtx;

/// The metrics the simulated account reports (every host reports every one). Queries accept
/// any metric name; these are the ones `GET /api/v1/metrics` lists.
pub const METRICS: &[&str] = &[
    "system.cpu.idle",
    "system.cpu.system",
    "system.cpu.user",
    "system.disk.used",
    "system.load.1",
    "system.load.15",
    "system.load.5",
    "system.mem.free",
    "system.mem.used",
    "system.net.bytes_rcvd",
    "system.net.bytes_sent",
];

/// The tags of every metric: `env:<env>` and `host:<host>` of each host, sorted.
pub fn metric_tags() -> Vec<String> {
    let mut tags: Vec<String> = data::HOSTS
        .iter()
        .flat_map(|(host, env)| [format!("host:{host}"), format!("env:{env}")])
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// `GET /api/v1/metrics?from=S[&host=H]`: `from` (epoch seconds) is required; a `host` the
/// account does not have reports no metrics.
pub(super) async fn list_active(req: Request) -> Response {
    let query = req
        .extensions()
        .get::<RequestCtx>()
        .map(|c| c.query.clone())
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(from) = param("from") else {
        return json::error_response(StatusCode::BAD_REQUEST, "Missing required parameter 'from'");
    };
    if from.trim().parse::<i64>().is_err() {
        return json::error_response(
            StatusCode::BAD_REQUEST,
            "Invalid parameter 'from': expected a POSIX timestamp in seconds",
        );
    }
    let known_host = param("host").is_none_or(|h| data::HOSTS.iter().any(|(name, _)| *name == h));
    let metrics: &[&str] = if known_host { METRICS } else { &[] };
    let mut buf = String::from(r#"{"metrics":"#);
    push_str_array(&mut buf, metrics);
    buf.push_str(r#","from":"#);
    push_str(&mut buf, from.trim());
    buf.push('}');
    json::json_response(StatusCode::OK, buf)
}

/// `GET /api/v2/metrics/{name}/all-tags`: 404 for a metric the account does not have.
pub(super) async fn all_tags(Path(name): Path<String>) -> Response {
    if !METRICS.contains(&name.as_str()) {
        return json::error_response(StatusCode::NOT_FOUND, "Metric not found");
    }
    let mut buf = String::from(r#"{"data":{"type":"metrics","id":"#);
    push_str(&mut buf, &name);
    buf.push_str(r#","attributes":{"tags":"#);
    push_str_array(&mut buf, &metric_tags());
    buf.push_str("}}}");
    json::json_response(StatusCode::OK, buf)
}
