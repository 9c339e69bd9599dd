//! The production [`Transport`]: reqwest with rustls, gzip, connection pooling and timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{ApiRequest, ApiResponse, Transport, TransportError};

/// Timeouts and pool settings for [`ReqwestTransport`].
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included.
    pub request_timeout: Duration,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
}

/// The `given` transport (tests, shared pools), or else a new [`ReqwestTransport`] with these
/// timeouts: how every table gets its transport.
pub fn given_or_new_reqwest(
    given: Option<Arc<dyn Transport>>,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> crate::Result<Arc<dyn Transport>> {
    Ok(match given {
        Some(t) => t,
        None => Arc::new(ReqwestTransport::new(&TransportConfig {
            connect_timeout,
            request_timeout,
            ..TransportConfig::default()
        })?),
    })
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            pool_max_idle_per_host: 16,
        }
    }
}

/// reqwest-based transport. Cloning shares the connection pool.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    request_timeout: Duration,
}

impl ReqwestTransport {
    /// Builds a client with the given timeouts.
    pub fn new(config: &TransportConfig) -> crate::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .gzip(true)
            // Never follow redirects: reqwest keeps custom headers (DD-API-KEY) across hosts and
            // would follow https -> http. A 3xx is reported as an error naming the status.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ddstream/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::HttpClient(Box::new(e.without_url())))?;
        Ok(Self {
            client,
            request_timeout: config.request_timeout,
        })
    }

    fn classify(&self, error: reqwest::Error, reading_body: bool) -> TransportError {
        // reqwest's Display includes the URL, whose query string may hold a secret parameter
        // (REST tables take `${ENV}` values there): drop it. Header values are never shown.
        let error = error.without_url();
        if error.is_timeout() {
            TransportError::Timeout(self.request_timeout)
        } else if error.is_connect() {
            TransportError::Connect(Box::new(error))
        } else if reading_body || error.is_body() || error.is_decode() || error.is_request() {
            TransportError::Body(Box::new(error))
        } else {
            TransportError::Other(Box::new(error))
        }
    }
}

#[async_trait::async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let started = Instant::now();
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().await.map_err(|e| self.classify(e, false))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| self.classify(e, true))?;
        Ok(ApiResponse {
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        })
    }
}
