"""The datastream store's exceptions, with upstream ``datastream.exceptions``' names and bases.

Every one is also a :class:`ddstream.Error`, so ``except ddstream.Error`` catches store failures
too. Upstream's plain ``ValueError``/``TypeError``/``AttributeError`` cases (bad arguments) are
:class:`InvalidArgument`, which is all three. Upstream's warnings (``InvalidValueWarning``,
...) are logged by the Rust core as ``tracing`` events; they are not Python warnings.
"""

from __future__ import annotations

from ._errors import Error


class DatastreamException(Error):
    """Base class of the store's exceptions."""

    kind = "datastream"


class StreamNotFound(DatastreamException):
    """No stream has the given id (or a derive source does not exist)."""


class MultipleStreamsReturned(DatastreamException):
    """``ensure_stream``'s query tags match more than one stream."""


class InconsistentStreamConfiguration(DatastreamException):
    """An existing stream was ensured with a different type, options or derivation."""


class OutstandingDependenciesError(DatastreamException):
    """``delete_streams`` cannot delete a stream that other streams are derived from."""


class UnsupportedDownsampler(DatastreamException, ValueError):
    """An unknown downsampler, or one that does not apply to the stream's value type."""


class UnsupportedGranularity(DatastreamException, ValueError):
    """Not one of :class:`ddstream.Granularity`'s seven granularities."""


class UnsupportedDeriveOperator(DatastreamException, ValueError):
    """An unknown derive operator, or one that cannot produce the stream's value type."""


class UnsupportedValueType(DatastreamException, TypeError):
    """A value type other than ``numeric``, ``nominal`` and ``graph``."""


class ReservedTagNameError(DatastreamException, ValueError):
    """A tag name reserved for the store's own fields, or one containing ``__``."""


class InvalidTimestamp(DatastreamException, ValueError):
    """A timestamp outside 1970..2038-01-19, or older than the stream's latest datapoint."""


class IncompatibleGranularities(DatastreamException, ValueError):
    """A derive source's granularity does not fit the derived stream's."""


class IncompatibleTypes(DatastreamException, TypeError):
    """A derive operator got a non-numeric source."""


class AppendToDerivedStreamNotAllowed(DatastreamException, ValueError):
    """Derived streams are fed by their sources; appending to one directly is refused."""


class InvalidOperatorArguments(DatastreamException, ValueError):
    """The derive operator's sources or arguments are wrong (count, names, ``max_value``)."""


class StreamAppendContended(DatastreamException):
    """Another writer held the store for longer than the busy timeout."""


class StreamAppendFailed(DatastreamException):
    """The store could not write an appended datapoint."""


class InvalidArgument(DatastreamException, ValueError, TypeError, AttributeError):
    """A bad argument: upstream's ``ValueError``, ``TypeError`` and ``AttributeError`` cases."""


class StorageError(DatastreamException, OSError):
    """SQLite, the object store or Parquet failed underneath the store."""


_BY_NAME = {
    cls.__name__: cls
    for cls in (
        StreamNotFound,
        MultipleStreamsReturned,
        InconsistentStreamConfiguration,
        OutstandingDependenciesError,
        UnsupportedDownsampler,
        UnsupportedGranularity,
        UnsupportedDeriveOperator,
        UnsupportedValueType,
        ReservedTagNameError,
        InvalidTimestamp,
        IncompatibleGranularities,
        IncompatibleTypes,
        AppendToDerivedStreamNotAllowed,
        InvalidOperatorArguments,
        StreamAppendContended,
        StreamAppendFailed,
        InvalidArgument,
    )
}
_BY_NAME["Storage"] = StorageError


def _make(name: str, message: str) -> DatastreamException:
    return _BY_NAME.get(name, DatastreamException)(message)
