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

/// reqwest-based transport. Cloning shares the connection pools.
///
/// Two clients: one for `http://` URLs that has no root certificates at all, built at once, and
/// one for `https://` URLs, built on the first https request. Loading the system's root
/// certificates (rustls-platform-verifier reads and parses every one) was 7 % of a short run,
/// and a transport that only talks to a loopback simulator or proxy never needs them.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    plain: reqwest::Client,
    tls: Arc<tokio::sync::OnceCell<reqwest::Client>>,
    config: TransportConfig,
}

impl ReqwestTransport {
    /// Builds the transport with the given timeouts. Root certificates are loaded on the first
    /// `https://` request, not here.
    pub fn new(config: &TransportConfig) -> crate::Result<Self> {
        // An empty root store: no certificate is read, and no https server would be trusted
        // (this client never sees an https URL).
        let plain = Self::builder(config)
            .tls_certs_only(std::iter::empty())
            .build()
            .map_err(|e| crate::Error::HttpClient(Box::new(e.without_url())))?;
        Ok(Self {
            plain,
            tls: Arc::default(),
            config: config.clone(),
        })
    }

    /// What both clients share.
    fn builder(config: &TransportConfig) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .gzip(true)
            // Never follow redirects: reqwest keeps custom headers (DD-API-KEY) across hosts and
            // would follow https -> http. A 3xx is reported as an error naming the status.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(super::user_agent())
    }

    /// The client for `url`: the https one (built now if this is the first https request).
    async fn client_for(&self, url: &url::Url) -> Result<&reqwest::Client, TransportError> {
        if url.scheme() != "https" {
            return Ok(&self.plain);
        }
        self.tls
            .get_or_try_init(|| async {
                // The system's roots (rustls-platform-verifier), as reqwest loads them by
                // default. A system without any is a permanent error, as a failed handshake is.
                Self::builder(&self.config)
                    .build()
                    .map_err(|e| TransportError::Tls(Box::new(e)))
            })
            .await
    }

    /// Whether the https client, and with it the system's root certificates, has been loaded.
    pub fn tls_loaded(&self) -> bool {
        self.tls.initialized()
    }

    fn classify(&self, error: reqwest::Error, reading_body: bool) -> TransportError {
        // reqwest's Display includes the URL, whose query string may hold a secret parameter
        // (REST tables take `${ENV}` values there): drop it. Header values are never shown.
        let error = error.without_url();
        if error.is_timeout() {
            TransportError::Timeout(self.config.request_timeout)
        } else if error.is_connect() {
            match connect_failure(&error) {
                ConnectFailure::Refused => TransportError::Refused(Box::new(error)),
                ConnectFailure::Tls => TransportError::Tls(Box::new(error)),
                ConnectFailure::Other => TransportError::Connect(Box::new(error)),
            }
        } else if reading_body || error.is_body() || error.is_decode() || error.is_request() {
            TransportError::Body(Box::new(error))
        } else {
            TransportError::Other(Box::new(error))
        }
    }
}

/// What kind of connect error reqwest reported, read from its source chain.
enum ConnectFailure {
    Refused,
    Tls,
    Other,
}

/// Finds the cause of a connect error in its source chain: an `io::Error` of kind
/// `ConnectionRefused`, or a `rustls::Error`. An `io::Error`'s `source()` skips the error it
/// wraps (hyper wraps tokio-rustls's `io::Error(InvalidData, rustls::Error)` in another), so
/// wrapped errors are followed with `get_ref()`.
fn connect_failure(error: &(dyn std::error::Error + 'static)) -> ConnectFailure {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            return ConnectFailure::Tls;
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                return ConnectFailure::Refused
            }
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => e.source(),
            },
            None => e.source(),
        };
    }
    ConnectFailure::Other
}

#[async_trait::async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let started = Instant::now();
        let mut builder = self
            .client_for(&request.url)
            .await?
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

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> ApiRequest {
        ApiRequest {
            method: http::Method::GET,
            url: url::Url::parse(url).unwrap(),
            headers: http::HeaderMap::new(),
            body: None,
        }
    }

    #[tokio::test]
    async fn refused_and_tls_failures_are_told_apart() {
        let transport = ReqwestTransport::new(&TransportConfig::default()).unwrap();
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = transport
            .send(&get(&format!("http://127.0.0.1:{port}/x")))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Refused(_)), "{err}");
        assert!(!err.is_permanent());

        // https:// at a port that answers plain HTTP.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = datafusion::common::runtime::SpawnedTask::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            if let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let err = transport
            .send(&get(&format!("https://{addr}/x")))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Tls(_)), "{err}");
        assert!(err.is_permanent());
        assert!(err.to_string().contains("http://"), "{err}");
        drop(server);
    }

    #[tokio::test]
    async fn root_certificates_are_loaded_on_the_first_https_request_only() {
        let transport = ReqwestTransport::new(&TransportConfig::default()).unwrap();
        assert!(!transport.tls_loaded(), "built without roots");
        // A loopback http server answering 204 to each of two requests.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = datafusion::common::runtime::SpawnedTask::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        let clone = transport.clone();
        for t in [&transport, &clone] {
            let response = t.send(&get(&format!("http://{addr}/x"))).await.unwrap();
            assert_eq!(response.status, 204);
        }
        assert!(!transport.tls_loaded(), "http requests load no roots");
        // The first https request builds the https client; clones share it.
        let err = clone
            .send(&get(&format!("https://{addr}/x")))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Tls(_)), "{err}");
        assert!(transport.tls_loaded() && clone.tls_loaded());
        drop(server);
    }
}
