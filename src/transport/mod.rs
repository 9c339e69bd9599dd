//! HTTP transport: requests and responses as plain values, and the [`Transport`] trait that sends
//! them. Adapters build [`ApiRequest`]s and parse [`ApiResponse`]s without knowing the HTTP client;
//! the engine sends through a `dyn Transport`, so tests can substitute one.

mod reqwest_transport;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

pub use reqwest_transport::{given_or_http, ReqwestTransport, TransportConfig};

/// One HTTP request, built by an adapter. Header values that carry credentials are marked
/// sensitive, so `Debug` prints them as `Sensitive`.
#[derive(Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Full URL including the query string.
    pub url: url::Url,
    /// Request headers (credentials marked sensitive).
    pub headers: HeaderMap,
    /// Body for POST requests.
    pub body: Option<Bytes>,
}

impl fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .finish()
    }
}

/// One HTTP response, body fully read.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body bytes (decompressed).
    pub body: Bytes,
    /// Time from sending to the last body byte.
    pub elapsed: Duration,
}

/// Why a request produced no response. All of these are worth retrying.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The connection could not be opened.
    #[error("connection failed: {0}")]
    Connect(String),
    /// No complete response within the request timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The connection broke while the response was being read.
    #[error("connection broken while reading the response: {0}")]
    Body(String),
    /// Anything else the client reported.
    #[error("{0}")]
    Other(String),
}

/// Sends requests. Cancelling is dropping the future.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Sends one request and reads the whole body.
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError>;
}
