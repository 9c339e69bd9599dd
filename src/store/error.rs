//! The store's error type: one variant per exception of upstream `datastream`
//! (`datastream/exceptions.py`), plus [`StoreError::InvalidArgument`] for the plain Python
//! `ValueError`/`TypeError`/`AttributeError` cases and [`StoreError::Storage`] for SQLite,
//! object-store and Parquet failures. Every message names the stream (when there is one) and
//! what to change.

/// Result alias of the store.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// What can go wrong in the datastream store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No stream has this id (or a derive source does not exist).
    #[error("{0}")]
    StreamNotFound(String),
    /// The query tags of `ensure_stream` match more than one stream.
    #[error("{0}")]
    MultipleStreamsReturned(String),
    /// `ensure_stream` found a stream whose value type, options, derive operator or sources
    /// differ from the call.
    #[error("{0}")]
    InconsistentStreamConfiguration(String),
    /// `delete_streams` cannot delete a stream that derived streams still depend on.
    #[error("{0}")]
    OutstandingDependenciesError(String),
    /// An unknown, unimplemented or type-incompatible value or time downsampler.
    #[error("{0}")]
    UnsupportedDownsampler(String),
    /// A granularity name that is not one of the seven.
    #[error("{0}")]
    UnsupportedGranularity(String),
    /// An unknown derive operator, or one that cannot produce the stream's value type.
    #[error("{0}")]
    UnsupportedDeriveOperator(String),
    /// A value type that is not `numeric`, `nominal` or `graph` (or unsupported options).
    #[error("{0}")]
    UnsupportedValueType(String),
    /// A reserved tag name, or a tag key containing `__`.
    #[error("{0}")]
    ReservedTagNameError(String),
    /// A timestamp out of the supported range, or older than the stream's latest datapoint.
    #[error("{0}")]
    InvalidTimestamp(String),
    /// A derive source whose granularity does not fit the derived stream.
    #[error("{0}")]
    IncompatibleGranularities(String),
    /// A derive source of the wrong value type.
    #[error("{0}")]
    IncompatibleTypes(String),
    /// `append` to a derived stream.
    #[error("{0}")]
    AppendToDerivedStreamNotAllowed(String),
    /// Wrong sources or arguments for a derive operator.
    #[error("{0}")]
    InvalidOperatorArguments(String),
    /// Another writer held the store longer than the busy timeout.
    #[error("{0}")]
    StreamAppendContended(String),
    /// The store could not write an appended datapoint.
    #[error("{0}")]
    StreamAppendFailed(String),
    /// A bad argument: upstream's `ValueError`, `TypeError` and `AttributeError` cases.
    #[error("{0}")]
    InvalidArgument(String),
    /// SQLite, the object store or Parquet failed.
    #[error("datastream store: {context}: {source}")]
    Storage {
        /// What the store was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A storage failure while doing `context`.
    pub(crate) fn storage(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Storage {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The upstream exception name of this error (`StreamNotFound`, ...), for bindings.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::StreamNotFound(_) => "StreamNotFound",
            StoreError::MultipleStreamsReturned(_) => "MultipleStreamsReturned",
            StoreError::InconsistentStreamConfiguration(_) => "InconsistentStreamConfiguration",
            StoreError::OutstandingDependenciesError(_) => "OutstandingDependenciesError",
            StoreError::UnsupportedDownsampler(_) => "UnsupportedDownsampler",
            StoreError::UnsupportedGranularity(_) => "UnsupportedGranularity",
            StoreError::UnsupportedDeriveOperator(_) => "UnsupportedDeriveOperator",
            StoreError::UnsupportedValueType(_) => "UnsupportedValueType",
            StoreError::ReservedTagNameError(_) => "ReservedTagNameError",
            StoreError::InvalidTimestamp(_) => "InvalidTimestamp",
            StoreError::IncompatibleGranularities(_) => "IncompatibleGranularities",
            StoreError::IncompatibleTypes(_) => "IncompatibleTypes",
            StoreError::AppendToDerivedStreamNotAllowed(_) => "AppendToDerivedStreamNotAllowed",
            StoreError::InvalidOperatorArguments(_) => "InvalidOperatorArguments",
            StoreError::StreamAppendContended(_) => "StreamAppendContended",
            StoreError::StreamAppendFailed(_) => "StreamAppendFailed",
            StoreError::InvalidArgument(_) => "InvalidArgument",
            StoreError::Storage { .. } => "Storage",
        }
    }

    /// True when SQLite gave up waiting for another writer (the busy timeout ran out).
    pub(crate) fn is_busy(&self) -> bool {
        match self {
            StoreError::Storage { source, .. } => matches!(
                source.downcast_ref::<rusqlite::Error>(),
                Some(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::storage("SQLite", e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::storage("stored JSON", e)
    }
}
