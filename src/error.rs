//! The crate's error type: one enum with semantic variants, converted into DataFusion's error once,
//! at the SQL boundary ([`to_datafusion_error`]), so the source chain survives.

use std::time::Duration;

use crate::engine::{BoxError, TransportError};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a query and an API. Messages name what was wrong and how to
/// fix it; they never contain credentials (keys travel only in redacted headers).
///
/// Variants keep the error that caused them as their [`source`](std::error::Error::source). Their
/// `Display` also shows it, because DataFusion and the CLI print only the outermost message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// An option name that the adapter does not know.
    #[error("unknown option '{key}' for {adapter}; accepted options: {accepted}")]
    UnknownOption {
        /// Adapter or table kind the option was given to.
        adapter: &'static str,
        /// The option as written.
        key: String,
        /// Comma-separated list of valid option names.
        accepted: String,
    },

    /// The API answered with an error status that is not worth retrying (400, 401, 403, 404, ...).
    #[error("{adapter}: request for {cursor} failed with HTTP {status}: {message}{}", Hint(*.hint))]
    Api {
        /// Adapter name, e.g. `datadog_v1`.
        adapter: &'static str,
        /// The window, page or token that was being fetched.
        cursor: String,
        /// HTTP status code.
        status: u16,
        /// The API's own error message.
        message: String,
        /// A suggestion on how to fix it, shown in parentheses after the message.
        hint: Option<&'static str>,
    },

    /// A request got no response (connection refused, timeout, broken transfer) and was not
    /// retried.
    #[error("{adapter}: request for {cursor} got no response: {source}")]
    Network {
        /// Adapter name.
        adapter: &'static str,
        /// What was being fetched.
        cursor: String,
        /// What the transport reported.
        #[source]
        source: TransportError,
    },

    /// Retries were spent on a fault that did not go away.
    #[error("{adapter}: request for {cursor} still failing after {attempts} attempts over {elapsed:?}; last error: {last}")]
    RetriesExhausted {
        /// Adapter name.
        adapter: &'static str,
        /// The window, page or token that was being fetched.
        cursor: String,
        /// How many requests were made.
        attempts: u32,
        /// Time spent including backoff.
        elapsed: Duration,
        /// The last failure seen.
        #[source]
        last: RetryCause,
    },

    /// A 2xx response whose body could not be understood.
    #[error("{adapter}: malformed response for {cursor}: {message}")]
    MalformedResponse {
        /// Adapter name.
        adapter: &'static str,
        /// The window, page or token that was being fetched.
        cursor: String,
        /// What was wrong with the body.
        message: String,
        /// The body ended early (a broken transfer): worth another try.
        truncated: bool,
    },

    /// The API kept saying a window was too large, down to the smallest window allowed.
    #[error("{adapter}: window {cursor} is still too large for the API ({reason}) and cannot be split below the minimum chunk of {min_chunk:?}; ask for a coarser granularity or lower the minimum chunk")]
    WindowTooSmall {
        /// Adapter name.
        adapter: &'static str,
        /// The window that could not be fetched.
        cursor: String,
        /// Why the API refused it.
        reason: String,
        /// The minimum chunk size in force.
        min_chunk: Duration,
    },

    /// A page or token cursor that repeats: the API would loop forever.
    #[error("{adapter}: stuck cursor: {detail}")]
    StuckCursor {
        /// Adapter name.
        adapter: &'static str,
        /// Which cursor repeated.
        detail: String,
    },

    /// A page or token sequence reached the table's `max_pages` without a last page.
    #[error("{adapter}: stopped after max_pages={max_pages} pages without reaching the last page; raise max_pages (a table option) if the data really is that large, or check how the API signals its last page")]
    TooManyPages {
        /// Adapter name.
        adapter: &'static str,
        /// The limit in force.
        max_pages: u64,
    },

    /// The HTTP client could not be set up (TLS backend, system configuration).
    #[error("cannot build the HTTP client: {}", crate::engine::http::chain(.0.as_ref()))]
    HttpClient(#[source] BoxError),

    /// A fetch task failed (panicked or was cancelled).
    #[error("internal error: fetch task failed: {0}")]
    TaskFailed(#[source] tokio::task::JoinError),

    /// An engine stream was polled outside a tokio runtime.
    #[error("ddstream's engine runs on tokio: poll its streams inside a tokio runtime (e.g. under #[tokio::main])")]
    NoRuntime,

    /// A broken internal invariant (a bug): the message says which.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A failure worth retrying, as [`Error::RetriesExhausted`] reports the last one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryCause {
    /// The request got no response.
    #[error("{0}")]
    Transport(#[source] TransportError),
    /// A transient status (408, 429, 5xx by default).
    #[error("HTTP {status}: {message}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The API's own error message.
        message: String,
    },
    /// A 2xx body cut short by a broken transfer.
    #[error("{0}")]
    Truncated(#[source] Box<Error>),
}

/// Shows an optional hint as ` (hint)`.
struct Hint(Option<&'static str>);

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(hint) => write!(f, " ({hint})"),
            None => Ok(()),
        }
    }
}

impl Error {
    /// Shorthand for [`Error::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }
}

/// A DataFusion error as one line without DataFusion's wrapper prefixes (`Error during
/// planning: `, `External error: `, ...): the message of the innermost error, which is the
/// crate's own when an API table failed. The CLI and `ddstream::embed` print errors this way.
pub fn one_line(error: &datafusion::error::DataFusionError) -> String {
    use datafusion::error::DataFusionError as E;
    let text = match error.find_root() {
        E::External(inner) => inner.to_string(),
        E::Plan(s)
        | E::Execution(s)
        | E::Configuration(s)
        | E::NotImplemented(s)
        | E::ResourcesExhausted(s) => s.clone(),
        E::SQL(e, _) => e.to_string(),
        E::SchemaError(e, _) => e.to_string(),
        E::ArrowError(e, _) => e.to_string(),
        E::IoError(e) => e.to_string(),
        root => root.strip_backtrace(),
    };
    let text = text
        .split(E::BACK_TRACE_SEP)
        .next()
        .unwrap_or_default()
        .to_string();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Converts an [`Error`] into DataFusion's error type, keeping it as the source.
pub fn to_datafusion_error(error: Error) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(error))
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn one_line_drops_datafusion_prefixes_and_joins_lines() {
        use datafusion::error::DataFusionError as E;
        assert_eq!(
            one_line(&E::Plan("table 'x' not found".into())),
            "table 'x' not found"
        );
        let ours = to_datafusion_error(Error::config("bad\nvalue")).context("scanning");
        assert_eq!(one_line(&ours), "invalid configuration: bad value");
    }

    #[test]
    fn hints_show_in_parentheses_only_when_given() {
        let api = |hint| Error::Api {
            adapter: "datadog_v1",
            cursor: "page 1 (size 10)".into(),
            status: 403,
            message: "Forbidden".into(),
            hint,
        };
        assert_eq!(
            api(Some("check DD_API_KEY")).to_string(),
            "datadog_v1: request for page 1 (size 10) failed with HTTP 403: Forbidden (check DD_API_KEY)"
        );
        assert_eq!(
            api(None).to_string(),
            "datadog_v1: request for page 1 (size 10) failed with HTTP 403: Forbidden"
        );
    }

    #[test]
    fn retries_exhausted_keeps_the_transport_error_as_its_source() {
        let e = Error::RetriesExhausted {
            adapter: "page_api",
            cursor: "first page".into(),
            attempts: 3,
            elapsed: Duration::from_secs(2),
            last: RetryCause::Transport(TransportError::Timeout(Duration::from_secs(1))),
        };
        assert!(
            e.to_string()
                .ends_with("last error: request timed out after 1s"),
            "{e}"
        );
        let cause = e.source().and_then(|s| s.downcast_ref::<RetryCause>());
        assert!(matches!(
            cause,
            Some(RetryCause::Transport(TransportError::Timeout(_)))
        ));
        let transport = cause.and_then(|c| c.source());
        assert!(transport.is_some_and(|t| t.downcast_ref::<TransportError>().is_some()));
    }

    #[test]
    fn network_failures_are_not_configuration_errors() {
        let e = Error::Network {
            adapter: "datadog_v1",
            cursor: "credential check".into(),
            source: TransportError::Connect("refused".into()),
        };
        assert!(!matches!(e, Error::Config(_)));
        assert_eq!(
            e.to_string(),
            "datadog_v1: request for credential check got no response: connection failed: refused"
        );
        assert!(e.source().is_some_and(|s| s.is::<TransportError>()));
    }
}
