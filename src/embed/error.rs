//! [`EmbedError`]: the one error of the embedding surface, with a stable numeric [`ErrorKind`]
//! (the C ABI's `ddstream_error_code`, the Python exception classes), one sentence of message,
//! and the HTTP status and API message when an API refused a request.

use std::fmt;

use datafusion::error::DataFusionError;

use crate::error::RetryCause;
use crate::Error;

/// What kind of failure an [`EmbedError`] is. The numbers are part of the C ABI: never reuse one.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration value (adapter option, range, session key, simulator setting) is missing
    /// or invalid, or an argument was null or not UTF-8.
    Config = 1,
    /// The adapter name is none of `datadog_v1`, `datadog_v2_timeseries`, `datadog_v2_scalar`,
    /// `page_api`, `token_api`.
    UnknownAdapter = 2,
    /// The API answered with an error status that is not worth retrying (400, 401, 403, ...).
    Api = 3,
    /// The API kept answering 429 until the retries were spent.
    RateLimited = 4,
    /// A page or token cursor repeated: the API would loop forever.
    StuckCursor = 5,
    /// The stream or query was cancelled.
    Cancelled = 6,
    /// A request got no response (connection refused, timeout, broken transfer).
    Network = 7,
    /// The SQL could not be parsed, planned or run.
    Sql = 8,
    /// A file could not be read or written.
    Io = 9,
    /// A 2xx response whose body could not be understood.
    MalformedResponse = 10,
    /// A bug or a broken invariant in ddstream (or a panic caught at the boundary).
    Internal = 11,
    /// The API refused a window as too large down to the smallest window allowed.
    WindowTooSmall = 12,
}

impl ErrorKind {
    /// The stable number of this kind.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// A short lowercase name (`config`, `api`, ...), for logs and bindings.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::UnknownAdapter => "unknown_adapter",
            ErrorKind::Api => "api",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::StuckCursor => "stuck_cursor",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Network => "network",
            ErrorKind::Sql => "sql",
            ErrorKind::Io => "io",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::Internal => "internal",
            ErrorKind::WindowTooSmall => "window_too_small",
        }
    }
}

/// An error of the embedding surface. Its message is one line with no DataFusion prefix, no NUL
/// byte (it crosses the C ABI as a C string) and never a key.
#[derive(Clone, PartialEq, Eq)]
pub struct EmbedError {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    api_message: Option<String>,
}

impl EmbedError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: clean(&message.into()),
            status: None,
            api_message: None,
        }
    }

    /// A [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// The [`ErrorKind::Cancelled`] error of a cancelled stream.
    pub fn cancelled() -> Self {
        Self::new(
            ErrorKind::Cancelled,
            "the stream was cancelled; reset it or create a new one to fetch again",
        )
    }

    /// A [`ErrorKind::Internal`] error for a panic caught at the boundary.
    pub fn panicked(payload: &(dyn std::any::Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Self::new(
            ErrorKind::Internal,
            format!("internal error: ddstream panicked ({what}); please report it"),
        )
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message: one line, no key.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, when an API answered with an error.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The API's own error message, when an API answered with an error.
    pub fn api_message(&self) -> Option<&str> {
        self.api_message.as_deref()
    }

    fn with_api(mut self, status: u16, api_message: &str) -> Self {
        self.status = Some(status);
        self.api_message = Some(clean(api_message));
        self
    }
}

// The message is the whole story and never holds a key, so Debug shows it as Display does.
impl fmt::Debug for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EmbedError {}

/// One line without NUL bytes.
fn clean(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\0', " ")
}

impl From<Error> for EmbedError {
    fn from(error: Error) -> Self {
        EmbedError::from(&error)
    }
}

impl From<&Error> for EmbedError {
    fn from(error: &Error) -> Self {
        let message = error.to_string();
        match error {
            Error::Config(_) | Error::UnknownOption { .. } => {
                EmbedError::new(ErrorKind::Config, message)
            }
            Error::Api {
                status,
                message: api,
                ..
            } => EmbedError::new(ErrorKind::Api, message).with_api(*status, api),
            Error::Network { .. } => EmbedError::new(ErrorKind::Network, message),
            Error::RetriesExhausted { last, .. } => match last {
                RetryCause::Status {
                    status: 429,
                    message: api,
                } => EmbedError::new(ErrorKind::RateLimited, message).with_api(429, api),
                RetryCause::Status {
                    status,
                    message: api,
                } => EmbedError::new(ErrorKind::Api, message).with_api(*status, api),
                RetryCause::Transport(_) => EmbedError::new(ErrorKind::Network, message),
                RetryCause::Truncated(_) => EmbedError::new(ErrorKind::MalformedResponse, message),
            },
            Error::MalformedResponse { .. } => {
                EmbedError::new(ErrorKind::MalformedResponse, message)
            }
            Error::WindowTooSmall { .. } => EmbedError::new(ErrorKind::WindowTooSmall, message),
            Error::StuckCursor { .. } => EmbedError::new(ErrorKind::StuckCursor, message),
            Error::HttpClient(_) | Error::TaskFailed(_) | Error::NoRuntime | Error::Internal(_) => {
                EmbedError::new(ErrorKind::Internal, message)
            }
            // `Error` is non-exhaustive: a variant added later is at least reported.
            #[allow(unreachable_patterns)]
            _ => EmbedError::new(ErrorKind::Internal, message),
        }
    }
}

impl From<DataFusionError> for EmbedError {
    fn from(error: DataFusionError) -> Self {
        EmbedError::from(&error)
    }
}

impl From<&DataFusionError> for EmbedError {
    fn from(error: &DataFusionError) -> Self {
        if let Some(inner) = find_error(error) {
            return EmbedError::from(inner);
        }
        if let Some(inner) = find_source::<EmbedError>(error) {
            return inner.clone();
        }
        let kind = match error.find_root() {
            DataFusionError::IoError(_) => ErrorKind::Io,
            DataFusionError::ObjectStore(_) => ErrorKind::Io,
            DataFusionError::Internal(_) | DataFusionError::ExecutionJoin(_) => ErrorKind::Internal,
            _ => ErrorKind::Sql,
        };
        EmbedError::new(kind, crate::one_line(error))
    }
}

/// The crate's [`Error`] somewhere in the chain of `error` (through `External`, `Context`,
/// `Shared` and Arrow's external errors), if any.
pub fn find_error(error: &DataFusionError) -> Option<&Error> {
    find_source::<Error>(error)
}

fn find_source<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        // `External(Box<dyn Error>)`'s source is the boxed error itself, but a box of our
        // error downcasts only through the box's contents: try them explicitly.
        if let Some(DataFusionError::External(inner)) = e.downcast_ref::<DataFusionError>() {
            if let Some(found) = inner.downcast_ref::<T>() {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::to_datafusion_error;

    #[test]
    fn crate_errors_keep_their_kind_through_datafusion_wrappers() {
        let api = Error::Api {
            adapter: "datadog_v1",
            cursor: "window".into(),
            status: 403,
            message: "Forbidden".into(),
            hint: None,
        };
        let wrapped = to_datafusion_error(api).context("while scanning");
        let shared = DataFusionError::Shared(std::sync::Arc::new(wrapped));
        let e = EmbedError::from(&shared);
        assert_eq!(e.kind(), ErrorKind::Api);
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.api_message(), Some("Forbidden"));
        assert_eq!(
            e.message(),
            "datadog_v1: request for window failed with HTTP 403: Forbidden"
        );
    }

    #[test]
    fn exhausted_429s_are_rate_limited_and_transport_failures_network() {
        let exhausted = |last| Error::RetriesExhausted {
            adapter: "page_api",
            cursor: "page 1".into(),
            attempts: 3,
            elapsed: std::time::Duration::from_secs(1),
            last,
        };
        let limited = exhausted(RetryCause::Status {
            status: 429,
            message: "slow down".into(),
        });
        assert_eq!(EmbedError::from(limited).kind(), ErrorKind::RateLimited);
        let net = exhausted(RetryCause::Transport(
            crate::engine::TransportError::Connect("refused".into()),
        ));
        assert_eq!(EmbedError::from(net).kind(), ErrorKind::Network);
    }

    #[test]
    fn plain_datafusion_errors_are_sql_errors_on_one_line_without_prefix() {
        let e = EmbedError::from(DataFusionError::Plan(
            "table 'x' not found\nat line 1".into(),
        ));
        assert_eq!(e.kind(), ErrorKind::Sql);
        assert_eq!(e.message(), "table 'x' not found at line 1");
        assert!(!EmbedError::config("a\0b").message().contains('\0'));
    }
}
