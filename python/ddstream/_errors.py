"""The exceptions ddstream raises: one class per kind of failure, all under :class:`Error`.

Messages say what was wrong and how to fix it; they never contain API keys or tokens.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every ddstream error."""

    #: The kind of failure, as the Rust core names it (``"config"``, ``"api"``, ...).
    kind: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(Error, ValueError):
    """A configuration value is missing or invalid (bad option, bad range, bad JSON)."""

    kind = "config"


class UnknownAdapterError(ConfigError):
    """The adapter name is not one of ddstream's adapters."""

    kind = "unknown_adapter"


class ApiError(Error):
    """The API answered with an error status that is not worth retrying (400, 401, 403, 404).

    ``status`` is the HTTP status and ``api_message`` the API's own message.
    """

    kind = "api"

    def __init__(
        self, message: str, status: int | None = None, api_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.api_message = api_message


class RateLimitError(ApiError):
    """The API kept answering 429 (rate limited) until the retries were spent."""

    kind = "rate_limited"


class NetworkError(Error):
    """A request got no response (connection refused, timeout, broken transfer)."""

    kind = "network"


class IoError(Error, OSError):
    """A file could not be read or written (a config file, a Parquet table)."""

    kind = "io"


class MalformedResponseError(Error):
    """The API answered 2xx with a body ddstream could not read."""

    kind = "malformed_response"


class StuckCursorError(Error):
    """A page or token cursor repeated: the API would have looped forever."""

    kind = "stuck_cursor"


class WindowTooSmallError(Error):
    """The API refused a time window that cannot be split any further."""

    kind = "window_too_small"


class CancelledError(Error):
    """The stream was cancelled (``close()``, leaving a ``with`` block, Ctrl-C)."""

    kind = "cancelled"


class SqlError(Error):
    """A SQL statement could not be planned or run."""

    kind = "sql"


class InternalError(Error):
    """A broken invariant inside ddstream (a bug: please report it)."""

    kind = "internal"


_BY_KIND = {
    cls.kind: cls
    for cls in (
        ConfigError,
        UnknownAdapterError,
        ApiError,
        RateLimitError,
        NetworkError,
        IoError,
        MalformedResponseError,
        StuckCursorError,
        WindowTooSmallError,
        CancelledError,
        SqlError,
        InternalError,
    )
}


def _make(kind: str, message: str, status: int | None, api_message: str | None) -> Error:
    """Builds the exception for an error of ``kind`` (called by the extension module)."""
    cls = _BY_KIND.get(kind, InternalError)
    if issubclass(cls, ApiError):
        return cls(message, status, api_message)
    return cls(message)


def _make_store(name: str, message: str) -> Exception:
    """Builds the ``ddstream.exceptions`` class named ``name`` (called by the extension module)."""
    from . import exceptions

    return exceptions._make(name, message)
