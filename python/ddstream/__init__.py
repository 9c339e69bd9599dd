"""ddstream: SQL and Arrow streams over HTTP APIs (Datadog, paginated REST), on DataFusion.

- :func:`stream` reads one API table over a time range as ``pyarrow.RecordBatch`` es
  (``Stream``: iteration, progress, metrics, cancel, the Arrow C stream interface);
- :class:`Session` and :func:`sql` run SQL with the CLI's whole surface;
- :func:`table` and :func:`register_functions` plug ddstream's tables and downsampling
  functions into datafusion-python 55;
- :class:`Simulator` serves a Datadog-style API on loopback, so all of it runs with no keys;
- :class:`DDStreamConfig` and :class:`DDStream` keep the seed's names working;
- :class:`Datastream` is the datastream store (streams at every granularity, upstream's API),
  with :class:`Granularity` and :mod:`ddstream.exceptions`.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import time as _time
from typing import Any, Iterator, Mapping

from . import _ddstream
from ._errors import (
    ApiError,
    CancelledError,
    ConfigError,
    Error,
    InternalError,
    IoError,
    MalformedResponseError,
    NetworkError,
    RateLimitError,
    SqlError,
    StuckCursorError,
    UnknownAdapterError,
    WindowTooSmallError,
)

from . import exceptions
from .datastream import Datapoints, Datastream, Granularity

__version__: str = _ddstream.__version__



def _config_json(config: Mapping[str, Any] | str | None, what: str = "config") -> str:
    """A table config as the JSON text the Rust core takes."""
    if config is None:
        return "{}"
    if isinstance(config, str):
        return config
    if isinstance(config, Mapping):
        try:
            return _json.dumps(dict(config), default=_json_default)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{what}: {e}") from None
    raise ConfigError(
        f"{what} must be a dict of options or JSON text, not {type(config).__name__}"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return _time_arg(value)
    raise TypeError(f"values of type {type(value).__name__} cannot be options")


def _time_arg(value: Any) -> Any:
    """``start``/``end``: epoch seconds, RFC 3339 text, or a ``datetime`` (naive = UTC)."""
    if value is None or isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.isoformat()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc).isoformat()
    raise ConfigError(
        f"start and end must be epoch seconds, RFC 3339 text or a datetime, "
        f"not {type(value).__name__}"
    )


class Stream(_ddstream._Stream):
    """One API table read over a time range, as ``pyarrow.RecordBatch`` es.

    Made by :func:`stream`. Iterate it (a failure raises the matching :class:`Error`), or call
    :meth:`has_next` / :meth:`next_batch` (``None`` on error, then :meth:`last_error`). It is
    also an Arrow C stream: ``pyarrow.table(s)``, ``pyarrow.RecordBatchReader.from_stream(s)``
    and ``polars.DataFrame(s)`` read it with no copy. Waiting for a batch releases the GIL;
    Ctrl-C while waiting cancels the stream. ``close()`` (or leaving a ``with`` block) stops
    fetching: no request starts afterwards.
    """

    def metrics(self) -> dict[str, Any]:
        """The engine counters: ``requests``, ``retries``, ``splits``, ``rows``,
        ``bytes_received``, ``throttled_ms``, ``network_wait_ms``, ``consumer_wait_ms``,
        ``range_done_ms``, ``range_total_ms``, ``progress``, ``done``."""
        return _json.loads(self.metrics_json())

    @property
    def schema(self) -> Any:
        """The batches' ``pyarrow.Schema``."""
        import pyarrow as pa

        return pa.schema(self)

    def numpy_batches(self) -> Iterator[dict[str, Any]]:
        """The seed's batches of parallel numpy arrays (``datadog_v1`` streams): ``timestamps``
        (epoch seconds, float64), ``avg``, ``min``, ``max``, ``sum`` (float64, NaN where the
        API had no value), ``chunk_start_ms`` / ``chunk_end_ms`` (the span of the batch's
        buckets: first bucket start, last bucket end) and ``is_last``."""
        while self.has_next():
            batch = self.next_batch()
            if batch is None:
                raise self.last_exception()
            yield _numpy_batch(batch, is_last=not self.has_next())

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _numpy_batch(batch: Any, is_last: bool) -> dict[str, Any]:
    import numpy as np

    names = batch.schema.names
    missing = [c for c in ("ts", "avg", "min", "max", "sum") if c not in names]
    if missing:
        raise ConfigError(
            "numpy_batches() needs a datadog_v1 stream (columns ts, avg, min, max, sum); "
            f"this one has {', '.join(names)}"
        )
    ts_ms = batch.column("ts").cast("int64").to_numpy(zero_copy_only=False)
    out: dict[str, Any] = {"timestamps": ts_ms.astype(np.float64) / 1000.0}
    for name in ("avg", "min", "max", "sum"):
        out[name] = batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    if len(ts_ms):
        interval_s = 0
        if "interval" in names:
            interval_s = int(batch.column("interval").to_numpy(zero_copy_only=False).max())
        out["chunk_start_ms"] = int(ts_ms.min())
        out["chunk_end_ms"] = int(ts_ms.max()) + interval_s * 1000
    else:
        out["chunk_start_ms"] = out["chunk_end_ms"] = 0
    out["is_last"] = is_last
    return out


def stream(
    adapter: str,
    config: Mapping[str, Any] | str,
    *,
    start: Any = None,
    end: Any = None,
) -> Stream:
    """A :class:`Stream` of ``adapter`` (``datadog_v1``, ``datadog_v2_timeseries``,
    ``datadog_v2_scalar``, ``page_api``, ``token_api``), the seed's ``stream_create``.

    ``config`` is a dict (or JSON text) with the same keys as ``ddstream::register`` and the
    CLI's ``--config`` tables, plus optional ``range_start``/``range_end``. ``start`` and
    ``end`` (epoch seconds, RFC 3339 text or ``datetime``) win over those; without a range,
    time tables read their ``default_range`` (the last hour) up to now.
    """
    return Stream(adapter, _config_json(config), _time_arg(start), _time_arg(end))


def validate(adapter: str, config: Mapping[str, Any] | str) -> None:
    """Checks a stream config as :func:`stream` would, then (Datadog adapters) the API key
    against the API; raises the matching :class:`Error`."""
    _ddstream.validate(adapter, _config_json(config))


def table(adapter: str, config: Mapping[str, Any] | str) -> Any:
    """An API table for datadog-python 55:
    ``datafusion.SessionContext().register_table("cpu", ddstream.table("datadog_v1", {...}))``.

    Filters on time and query are pushed down into the requests; scans run on ddstream's own
    runtime.
    """
    return _ddstream.Table(adapter, _config_json(config))


def register_functions(ctx: Any) -> list[str]:
    """Registers ddstream's downsampling functions in a ``datafusion.SessionContext``
    (datafusion-python 55) through datafusion-ffi: the scalar ``ds_bucket``, the aggregates
    (``mean``, ``std_dev``, ``time_first``, ...) and the window functions (``derivative``,
    ...). Returns the names registered."""
    import datafusion

    registered = []
    for function in _ddstream.functions():
        if function.kind == "scalar":
            ctx.register_udf(
                datafusion.ScalarUDF.from_pycapsule(function.__datafusion_scalar_udf__())
            )
        elif function.kind == "aggregate":
            ctx.register_udaf(
                datafusion.AggregateUDF.from_pycapsule(function.__datafusion_aggregate_udf__())
            )
        elif function.kind == "window":
            ctx.register_udwf(
                datafusion.WindowUDF.from_pycapsule(function.__datafusion_window_udf__())
            )
        else:
            continue
        registered.append(function.name)
    return registered


class QueryResult:
    """The streamed result of :meth:`Session.sql`: an Arrow C stream (``pyarrow.table(r)``,
    ``polars.DataFrame(r)``) and an iterator of ``pyarrow.RecordBatch`` es. It streams once."""

    def __init__(self, inner: Any, session: Any) -> None:
        self._inner = inner
        # The session (and its simulator) must outlive the result's scans.
        self._session = session

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._inner.__arrow_c_stream__(requested_schema)

    def __arrow_c_schema__(self) -> Any:
        return self._inner.__arrow_c_schema__()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._inner)

    def to_arrow(self) -> Any:
        """All rows as a ``pyarrow.Table``."""
        import pyarrow as pa

        return pa.table(self)

    def to_pandas(self) -> Any:
        """All rows as a ``pandas.DataFrame`` (needs pandas)."""
        return self.to_arrow().to_pandas()

    def progress(self) -> float:
        """0..1 over the scans' time ranges."""
        return self._inner.progress()

    def metrics(self) -> dict[str, Any]:
        """The engine counters (as :meth:`Stream.metrics`)."""
        return _json.loads(self._inner.metrics_json())

    def close(self) -> None:
        """Stops the query: no request starts afterwards."""
        self._inner.close()

    def __enter__(self) -> QueryResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._inner)


class Session:
    """A SQL session with the CLI's whole surface: ``CREATE EXTERNAL TABLE ... STORED AS
    DATADOG_V1``, the table functions, the downsampling functions and ``SET ddstream.*``.

    ``tables`` maps names to configs with an ``adapter`` key; ``simulate=True`` (or a
    ``simulator`` dict of :class:`Simulator` settings) starts the simulator, points every
    Datadog table at it and registers ``datadog_v1``, ``datadog_v2_timeseries`` and
    ``datadog_v2_scalar`` as the CLI's ``--simulate`` does; ``settings`` are DataFusion and
    ``ddstream.*`` options.
    """

    def __init__(
        self,
        tables: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        simulate: bool = False,
        simulator: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        config: dict[str, Any] = {"simulate": bool(simulate) or simulator is not None}
        if simulator is not None:
            config["simulator"] = dict(simulator)
        if settings is not None:
            config["settings"] = dict(settings)
        if tables is not None:
            config["tables"] = {name: dict(cfg) for name, cfg in tables.items()}
        self._inner = _ddstream._Session(_config_json(config, "session config"))

    def register(self, name: str, adapter: str, config: Mapping[str, Any] | str) -> None:
        """Registers table ``name`` of ``adapter`` with a config (dict or JSON text)."""
        self._inner.register(name, adapter, _config_json(config))

    def register_config(self, path: Any) -> list[str]:
        """Registers every table of a CLI ``--config`` file (JSON or TOML); returns their
        names."""
        import os

        return self._inner.register_config(os.fspath(path))

    def sql(self, query: str) -> QueryResult:
        """Runs every statement of ``query``; the last one's rows stream from the result."""
        return QueryResult(self._inner.sql(query), self)

    @property
    def simulator_base_url(self) -> str | None:
        """The simulator's ``http://127.0.0.1:PORT`` when the session simulates."""
        return self._inner.simulator_base_url

    def __repr__(self) -> str:
        return repr(self._inner)


def sql(query: str, simulate: bool = False) -> QueryResult:
    """Runs ``query`` in a fresh :class:`Session` (``simulate=True``: against the simulator,
    as the CLI's ``--simulate``)."""
    return Session(simulate=simulate).sql(query)


class DDStreamConfig:
    """The seed's config of a ``datadog_v1`` stream, as attributes.

    ``granularity`` and ``chunk_seconds`` are seconds (``granularity`` also takes text such
    as ``"5m"``); ``range_start``/``range_end`` epoch seconds, RFC 3339 text or ``datetime``;
    ``enable_prefetch=False`` makes one request at a time; ``enable_arrow=True`` makes
    :meth:`DDStream.next_batch` return ``pyarrow.RecordBatch`` es instead of dicts of numpy
    arrays; ``base_url`` points at a proxy or the :class:`Simulator`. ``log_level`` is kept
    for the seed's scripts: the package logs nothing.
    """

    api_key: str | None
    app_key: str | None
    query: str | None
    range_start: Any
    range_end: Any
    granularity: int | str | None
    chunk_seconds: int | None
    enable_prefetch: bool
    log_level: str
    enable_arrow: bool
    site: str | None
    base_url: str | None

    _FIELDS = (
        "api_key",
        "app_key",
        "query",
        "range_start",
        "range_end",
        "granularity",
        "chunk_seconds",
        "enable_prefetch",
        "log_level",
        "enable_arrow",
        "site",
        "base_url",
    )

    def __init__(self, **fields: Any) -> None:
        self.api_key = None
        self.app_key = None
        self.query = None
        self.range_start = None
        self.range_end = None
        self.granularity = None
        self.chunk_seconds = None
        self.enable_prefetch = True
        self.log_level = "warn"
        self.enable_arrow = False
        self.site = None
        self.base_url = None
        for name, value in fields.items():
            if name not in self._FIELDS:
                raise ConfigError(
                    f"unknown DDStreamConfig field '{name}'; fields: {', '.join(self._FIELDS)}"
                )
            setattr(self, name, value)

    def _table_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.query is not None:
            config["query"] = self.query
        if self.granularity is not None:
            g = self.granularity
            config["granularity"] = f"{int(g)}s" if isinstance(g, (int, float)) else str(g)
        if self.chunk_seconds is not None:
            config["chunk"] = f"{int(self.chunk_seconds)}s"
        if not self.enable_prefetch:
            config["prefetch_depth"] = 1
        for name in ("api_key", "app_key", "site", "base_url"):
            value = getattr(self, name)
            if value is not None:
                config[name] = value
        for name in ("range_start", "range_end"):
            value = getattr(self, name)
            if value is not None:
                config[name] = _time_arg(value)
        return config

    def __repr__(self) -> str:
        shown = []
        for name in self._FIELDS:
            value = getattr(self, name)
            if name in ("api_key", "app_key") and value is not None:
                value = "<set>"
            shown.append(f"{name}={value!r}")
        return f"DDStreamConfig({', '.join(shown)})"


class DDStream(Stream):
    """The seed's stream of a :class:`DDStreamConfig` (a ``datadog_v1`` stream): the methods
    of :class:`Stream`; ``next_batch()`` and iteration give dicts of numpy arrays (see
    :meth:`Stream.numpy_batches`) unless ``cfg.enable_arrow``."""

    def __new__(cls, cfg: DDStreamConfig) -> DDStream:
        if not isinstance(cfg, DDStreamConfig):
            raise ConfigError("DDStream takes a DDStreamConfig")
        self = super().__new__(cls, "datadog_v1", _config_json(cfg._table_config()), None, None)
        self._arrow = bool(cfg.enable_arrow)
        return self

    def __init__(self, cfg: DDStreamConfig) -> None:
        pass

    @staticmethod
    def validate(cfg: DDStreamConfig) -> str | None:
        """``None`` if the config and its API key are good, else the error text."""
        try:
            validate("datadog_v1", cfg._table_config())
        except Error as e:
            return e.message
        return None

    def next_batch(self) -> Any:
        batch = super().next_batch()
        if batch is None or self._arrow:
            return batch
        return _numpy_batch(batch, is_last=not self.has_next())

    def __next__(self) -> Any:
        batch = super().__next__()
        if self._arrow:
            return batch
        return _numpy_batch(batch, is_last=not self.has_next())

    def __iter__(self) -> DDStream:
        return self


class Simulator:
    """The built-in Datadog-style API simulator, on loopback (no keys needed).

    ``rate_limit`` is ``REQUESTS/PERIOD`` (``"100/10s"``); ``faults`` a schedule such as
    ``"p=0.1; kinds=500,reset; seed=7"`` or ``"at=0:500,3:reset"``; with ``api_key`` or
    ``app_key`` set, Datadog requests without those keys get 403. Use it as a context manager::

        with ddstream.Simulator(latency_ms=50) as sim:
            stream = ddstream.stream("datadog_v1", {"query": "system.cpu.user{*}",
                                                   "base_url": sim.base_url})
    """

    def __init__(
        self,
        latency_ms: int = 0,
        rate_limit: str | None = None,
        faults: str | None = None,
        api_key: str | None = None,
        app_key: str | None = None,
        bearer_token: str | None = None,
        max_points: int | None = None,
    ) -> None:
        spec: dict[str, Any] = {"latency_ms": int(latency_ms)}
        for key, value in (
            ("rate_limit", rate_limit),
            ("faults", faults),
            ("api_key", api_key),
            ("app_key", app_key),
            ("bearer_token", bearer_token),
            ("max_points", max_points),
        ):
            if value is not None:
                spec[key] = value
        self._inner = _ddstream._Simulator(_json.dumps(spec))

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: give it as ``base_url`` in a table's config."""
        return self._inner.base_url

    def requests(self) -> list[dict[str, Any]]:
        """The requests answered so far, in arrival order: ``index``, ``method``, ``path``,
        ``query`` (list of pairs), ``body``, ``status`` (0: connection dropped), ``fault`` and
        ``received_at`` (when it arrived, on the ``time.monotonic()`` clock)."""
        now = _time.monotonic()
        log = self._inner.requests()
        for entry in log:
            entry["received_at"] = now - entry.pop("age_s")
        return log

    def stop(self) -> None:
        """Shuts the server down (also done on leaving the ``with`` block)."""
        self._inner.stop()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return repr(self._inner)
