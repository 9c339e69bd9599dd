//! The crate's error type: one enum with semantic variants, converted into DataFusion's error once,
//! at the SQL boundary ([`to_datafusion_error`]), so the source chain survives.

use std::time::Duration;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a query and an API. Messages name what was wrong and how to
/// fix it; they never contain credentials (keys travel only in redacted headers).
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
    #[error("{adapter}: request for {cursor} failed with HTTP {status}: {message}{hint}")]
    Api {
        /// Adapter name, e.g. `datadog_v1`.
        adapter: &'static str,
        /// The window, page or token that was being fetched.
        cursor: String,
        /// HTTP status code.
        status: u16,
        /// The API's own error message.
        message: String,
        /// A suggestion on how to fix it (may be empty).
        hint: &'static str,
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
        last: String,
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

    /// An internal task failed (panicked or was cancelled).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }
}

/// Converts an [`Error`] into DataFusion's error type, keeping it as the source.
pub fn to_datafusion_error(error: Error) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(error))
}
