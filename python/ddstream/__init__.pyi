"""Type stubs of the ddstream package (see ``__init__.py`` for the full docs)."""

from __future__ import annotations

import datetime
from typing import Any, Iterator, Mapping

import pyarrow

from . import exceptions as exceptions
from .datastream import Datapoints as Datapoints
from .datastream import Datastream as Datastream
from .datastream import Granularity as Granularity

__version__: str

TimeArg = int | float | str | datetime.datetime | None
Config = Mapping[str, Any] | str

class Error(Exception):
    """Base class of every ddstream error."""

    kind: str
    message: str

class ConfigError(Error, ValueError):
    """A configuration value is missing or invalid."""

class UnknownAdapterError(ConfigError):
    """The adapter name is not one of ddstream's adapters."""

class ApiError(Error):
    """The API refused a request; ``status`` and ``api_message`` say how."""

    status: int | None
    api_message: str | None

class RateLimitError(ApiError):
    """The API kept answering 429 until the retries were spent."""

class NetworkError(Error):
    """A request got no response."""

class IoError(Error, OSError):
    """A file could not be read or written."""

class MalformedResponseError(Error):
    """A 2xx body ddstream could not read."""

class StuckCursorError(Error):
    """A page or token cursor repeated."""

class WindowTooSmallError(Error):
    """The API refused a window that cannot be split further."""

class CancelledError(Error):
    """The stream was cancelled."""

class SqlError(Error):
    """A SQL statement could not be planned or run."""

class InternalError(Error):
    """A bug in ddstream."""

class Stream:
    """One API table read over a time range, as ``pyarrow.RecordBatch`` es."""

    def __iter__(self) -> Iterator[pyarrow.RecordBatch]: ...
    def __next__(self) -> pyarrow.RecordBatch: ...
    def has_next(self) -> bool:
        """Whether another batch follows (reads it ahead)."""
    def next_batch(self) -> pyarrow.RecordBatch | None:
        """The next batch; ``None`` at the end or on error (see ``last_error``)."""
    def last_error(self) -> str | None:
        """The text of the last error."""
    def last_exception(self) -> Error | None:
        """The last error as the exception iteration would raise."""
    def reset(self) -> None:
        """Starts over from the range start."""
    def progress(self) -> float:
        """0..1: the fraction of the time range fetched."""
    def metrics(self) -> dict[str, Any]:
        """The engine counters."""
    def metrics_json(self) -> str: ...
    def is_done(self) -> bool:
        """Whether the stream ended (read, failed or cancelled)."""
    def close(self) -> None:
        """Stops fetching: no request starts afterwards."""
    @property
    def schema(self) -> pyarrow.Schema: ...
    def numpy_batches(self) -> Iterator[dict[str, Any]]:
        """The seed's dicts of numpy arrays (``datadog_v1``)."""
    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...
    def __arrow_c_schema__(self) -> Any: ...
    def __enter__(self) -> Stream: ...
    def __exit__(self, *exc: object) -> None: ...

def stream(adapter: str, config: Config, *, start: TimeArg = None, end: TimeArg = None) -> Stream:
    """A stream of ``adapter`` configured like ``ddstream::register``."""

def validate(adapter: str, config: Config) -> None:
    """Checks a config (and the Datadog key); raises on error."""

def table(adapter: str, config: Config) -> Any:
    """An API table for datafusion-python's ``SessionContext.register_table``."""

def register_functions(ctx: Any) -> list[str]:
    """Registers the downsampling functions in a datafusion-python ``SessionContext``."""

class QueryResult:
    """The streamed result of ``Session.sql``."""

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...
    def __arrow_c_schema__(self) -> Any: ...
    def __iter__(self) -> Iterator[pyarrow.RecordBatch]: ...
    def to_arrow(self) -> pyarrow.Table: ...
    def to_pandas(self) -> Any: ...
    def progress(self) -> float: ...
    def metrics(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
    def __enter__(self) -> QueryResult: ...
    def __exit__(self, *exc: object) -> None: ...

class Session:
    """A SQL session with the CLI's whole surface."""

    def __init__(
        self,
        tables: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        simulate: bool = False,
        simulator: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None: ...
    def register(self, name: str, adapter: str, config: Config) -> None: ...
    def register_config(self, path: Any) -> list[str]: ...
    def sql(self, query: str) -> QueryResult: ...
    @property
    def simulator_base_url(self) -> str | None: ...

def sql(query: str, simulate: bool = False) -> QueryResult:
    """Runs ``query`` in a fresh session."""

class Simulator:
    """The Datadog-style API simulator on loopback."""

    def __init__(
        self,
        latency_ms: int = 0,
        rate_limit: str | None = None,
        faults: str | None = None,
        api_key: str | None = None,
        app_key: str | None = None,
        bearer_token: str | None = None,
        max_points: int | None = None,
    ) -> None: ...
    @property
    def base_url(self) -> str: ...
    def requests(self) -> list[dict[str, Any]]: ...
    def stop(self) -> None: ...
    def __enter__(self) -> Simulator: ...
    def __exit__(self, *exc: object) -> None: ...

class DDStreamConfig:
    """The seed's stream config."""

    api_key: str | None
    app_key: str | None
    query: str | None
    range_start: TimeArg
    range_end: TimeArg
    granularity: int | str | None
    chunk_seconds: int | None
    enable_prefetch: bool
    log_level: str
    enable_arrow: bool
    site: str | None
    base_url: str | None
    def __init__(self, **fields: Any) -> None: ...

class DDStream(Stream):
    """The seed's stream of a ``DDStreamConfig``."""

    def __init__(self, cfg: DDStreamConfig) -> None: ...
    @staticmethod
    def validate(cfg: DDStreamConfig) -> str | None: ...
    def next_batch(self) -> Any: ...  # type: ignore[override]
