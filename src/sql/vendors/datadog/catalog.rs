//! What a Datadog account has: its active metrics (`GET /api/v1/metrics?from=S`,
//! ListActiveMetrics) and a metric's tags (`GET /api/v2/metrics/{name}/all-tags`,
//! ListTagsByMetricName), so a user can find what to query. One request each, sent like the
//! credential check: with the keys, the base URL and the timeouts of a [`DatadogConfig`].

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use serde::Deserialize;

use super::DatadogConfig;
use crate::engine::{default_error_message, ApiRequest, Transport};
use crate::{Error, Result};

/// The adapter name in errors.
const ADAPTER: &str = "datadog";

/// The metrics that reported data since `from_s` (epoch seconds), optionally only on `host`,
/// sorted.
pub async fn list_active_metrics(
    config: &DatadogConfig,
    from_s: i64,
    host: Option<&str>,
    transport: Option<Arc<dyn Transport>>,
) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Active {
        #[serde(default)]
        metrics: Vec<String>,
    }
    let mut url = endpoint(config, "/api/v1/metrics")?;
    url.query_pairs_mut()
        .append_pair("from", &from_s.to_string());
    if let Some(host) = host {
        url.query_pairs_mut().append_pair("host", host);
    }
    let what = "the active metrics (GET /api/v1/metrics)".to_string();
    let body = get(config, url, &what, transport, None).await?;
    let mut active: Active = parse(&body, &what, r#"{"metrics": [...]}"#)?;
    active.metrics.sort();
    Ok(active.metrics)
}

/// The tags of `metric` (`host:web-1`, `env:prod`, ...), sorted. An unknown metric is an error
/// that says how to list the known ones.
pub async fn metric_tags(
    config: &DatadogConfig,
    metric: &str,
    transport: Option<Arc<dyn Transport>>,
) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Attributes {
        #[serde(default)]
        tags: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Data {
        attributes: Attributes,
    }
    #[derive(Deserialize)]
    struct AllTags {
        data: Data,
    }
    let metric = metric.trim();
    if metric.is_empty() || metric.contains(['/', '?', '#', '{', ' ']) {
        return Err(Error::config(format!(
            "'{metric}' is not a metric name; give one such as system.cpu.user (no scope or aggregation)"
        )));
    }
    let url = endpoint(config, &format!("/api/v2/metrics/{metric}/all-tags"))?;
    let what = format!("the tags of {metric} (GET /api/v2/metrics/{metric}/all-tags)");
    let body = get(
        config,
        url,
        &what,
        transport,
        Some("no such metric in this account; `ddstream metrics --search PATTERN` lists them"),
    )
    .await?;
    let mut all: AllTags = parse(&body, &what, r#"{"data": {"attributes": {"tags": [...]}}}"#)?;
    all.data.attributes.tags.sort();
    Ok(all.data.attributes.tags)
}

fn endpoint(config: &DatadogConfig, path: &str) -> Result<url::Url> {
    config
        .resolved_base_url()?
        .join(path)
        .map_err(|e| Error::config(format!("cannot build the URL of {path}: {e}")))
}

/// Sends one GET with the keys; a non-200 is an [`Error::Api`] with the API's message, a 404
/// with `not_found` as its hint.
async fn get(
    config: &DatadogConfig,
    url: url::Url,
    what: &str,
    transport: Option<Arc<dyn Transport>>,
    not_found: Option<&'static str>,
) -> Result<bytes::Bytes> {
    let transport = config.fetch.transport(transport)?;
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    config.credentials.apply(&mut headers)?;
    let request = ApiRequest {
        method: Method::GET,
        url,
        headers,
        body: None,
    };
    let response = transport
        .send(&request)
        .await
        .map_err(|source| Error::Network {
            adapter: ADAPTER,
            cursor: what.to_string(),
            source,
        })?;
    if response.status == 200 {
        return Ok(response.body);
    }
    let hint = match response.status {
        404 => not_found,
        401 | 403 => Some("check DD_API_KEY and DD_APP_KEY, and DD_SITE or --base-url"),
        _ => None,
    };
    Err(Error::Api {
        adapter: ADAPTER,
        cursor: what.to_string(),
        status: response.status,
        message: default_error_message(&response.body),
        hint,
    })
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str, shape: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::MalformedResponse {
        adapter: ADAPTER,
        cursor: what.to_string(),
        message: format!("expected {shape} ({e})"),
        truncated: e.is_eof(),
    })
}
