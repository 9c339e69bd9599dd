//! The engine's HTTP port: requests and responses as plain values, and the [`Transport`] trait
//! that sends them. Adapters build [`ApiRequest`]s and parse [`ApiResponse`]s without knowing the
//! HTTP client; the engine sends through a `dyn Transport`, so tests can substitute one. The
//! production implementation lives in `crate::transport`.

use std::fmt;
use std::time::Duration;

use ::http::{HeaderMap, Method};
use bytes::Bytes;

/// Any error an HTTP client reports, kept as the source of a [`TransportError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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

impl ApiResponse {
    /// A response with `status` and `body`, no headers and no elapsed time: what test
    /// transports, fuzzers and benchmarks hand to an adapter.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
            elapsed: Duration::ZERO,
        }
    }
}

/// Why a request produced no response. Most are worth retrying; [`TransportError::Tls`] never
/// is, and [`TransportError::Refused`] only on a host that has answered before (see
/// [`TransportError::is_permanent`]).
///
/// The client's error is kept as the [`source`](std::error::Error::source); `Display` also
/// shows its chain, because DataFusion and the CLI print only the top error's text. A
/// transport must strip URLs from what it keeps (query strings may hold secrets).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection could not be opened.
    #[error("connection failed: {}", chain(.0.as_ref()))]
    Connect(#[source] BoxError),
    /// Nothing listens at the host and port (TCP connection refused).
    #[error("connection refused: nothing is listening at that host and port ({})", chain(.0.as_ref()))]
    Refused(#[source] BoxError),
    /// The TLS handshake failed: a certificate the client does not trust, or an `https://`
    /// URL at a port that speaks plain HTTP. Retrying cannot help.
    #[error("TLS handshake failed ({}); if the server speaks plain HTTP, write its URL with http://", chain(.0.as_ref()))]
    Tls(#[source] BoxError),
    /// No complete response within the request timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The connection broke while the response was being read.
    #[error("connection broken while reading the response: {}", chain(.0.as_ref()))]
    Body(#[source] BoxError),
    /// Anything else the client reported.
    #[error("{}", chain(.0.as_ref()))]
    Other(#[source] BoxError),
}

impl TransportError {
    /// Whether retrying the same request cannot help (a failed TLS handshake).
    pub fn is_permanent(&self) -> bool {
        matches!(self, TransportError::Tls(_))
    }
}

/// An error and its sources, joined by `": "`.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Sends requests. Cancelling is dropping the future.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Sends one request and reads the whole body.
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn transport_errors_keep_and_show_their_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = TransportError::Connect(Box::new(Outer(io)));
        assert_eq!(e.to_string(), "connection failed: outer: refused");
        let source = std::error::Error::source(&e).expect("the client's error is kept");
        assert!(source.downcast_ref::<Outer>().is_some());
        // Plain text still converts, as test transports write it.
        let e = TransportError::Body("reset".into());
        assert_eq!(
            e.to_string(),
            "connection broken while reading the response: reset"
        );
    }
}
