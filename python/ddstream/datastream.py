"""The datastream store from Python, with upstream ``datastream``'s API.

``Datastream(location)`` opens (creating if needed) a store in a directory, or on S3 with
``s3://bucket/prefix`` and ``meta_dir=`` for its SQLite metadata. Method names, keyword arguments,
defaults and dict shapes are upstream's, so its examples run with only the import changed::

    import datetime
    import ddstream as datastream
    from ddstream.backends import store

    stream = datastream.Datastream(store.Backend("/var/lib/metrics"))
    stream_id = stream.ensure_stream({"name": "foo"}, {}, ["mean", "min", "max"],
                                     datastream.Granularity.Seconds)
    stream.append(stream_id, 42)
    datapoints = stream.get_data(stream_id, datastream.Granularity.Seconds,
                                 datetime.datetime.utcfromtimestamp(0))

Times come back as timezone-aware UTC datetimes; naive datetimes given are taken as UTC (as
upstream). Datapoints are ``{'t': ..., 'v': ...}`` dicts: at the highest granularity ``t`` is
the point's time; downsampled, ``t`` holds ``a``/``m``/``z`` (first, mean, last) and ``v`` the
value keys (``c s q l u m d o r f``). Errors are :mod:`ddstream.exceptions`.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as _dt
import json as _json
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from . import _ddstream
from . import exceptions

_UTC = _dt.timezone.utc
#: Datapoints fetched from the Rust core per call while iterating.
_PAGE = 4096


class _GranularityMeta(type):
    """Orders granularities as upstream: finer is greater (``Seconds > Minutes``)."""

    _order: int

    def __lt__(cls, other: Any) -> bool:
        return cls._order < other._order

    def __le__(cls, other: Any) -> bool:
        return cls._order <= other._order

    def __gt__(cls, other: Any) -> bool:
        return cls._order > other._order

    def __ge__(cls, other: Any) -> bool:
        return cls._order >= other._order

    def __hash__(cls) -> int:
        return hash(cls._order)

    def __repr__(cls) -> str:
        return f"<Granularity.{cls.__name__}>"

    def __str__(cls) -> str:
        return cls.__name__


class _Base(metaclass=_GranularityMeta):
    """One granularity (a class, as upstream: ``Granularity.Seconds.name == 'seconds'``)."""

    _order = 0
    _name = ""
    _key = ""
    _seconds = 0

    @classmethod
    def duration_in_seconds(cls) -> int:
        """The length of one bucket."""
        return cls._seconds

    @classmethod
    def round_timestamp(cls, timestamp: _dt.datetime) -> _dt.datetime:
        """The start of the bucket holding ``timestamp`` (UTC, epoch-aligned)."""
        seconds = _epoch(timestamp)
        return _datetime(seconds - seconds % cls._seconds)


def _granularity(name: str, key: str, seconds: int, order: int) -> type:
    cls = _GranularityMeta(
        {"seconds": "Seconds", "10seconds": "Seconds10", "minutes": "Minutes",
         "10minutes": "Minutes10", "hours": "Hours", "6hours": "Hours6", "days": "Days"}[name],
        (_Base,),
        {"_order": order, "_name": name, "_key": key, "_seconds": seconds},
    )
    cls.name = name  # type: ignore[attr-defined]
    cls.key = key  # type: ignore[attr-defined]
    return cls


class Granularity:
    """The seven granularities, finest first in :attr:`values`."""

    Seconds = _granularity("seconds", "s", 1, 0)
    Seconds10 = _granularity("10seconds", "S", 10, -1)
    Minutes = _granularity("minutes", "m", 60, -10)
    Minutes10 = _granularity("10minutes", "M", 600, -11)
    Hours = _granularity("hours", "h", 3600, -20)
    Hours6 = _granularity("6hours", "H", 21600, -21)
    Days = _granularity("days", "d", 86400, -30)

    values = (Seconds, Seconds10, Minutes, Minutes10, Hours, Hours6, Days)


_GRANULARITY_BY_NAME = {g.name: g for g in Granularity.values}  # type: ignore[attr-defined]


def _granularity_name(granularity: Any, what: str) -> str:
    if isinstance(granularity, type) and issubclass(granularity, _Base):
        return granularity._name
    raise exceptions.UnsupportedGranularity(
        f"{what} must be one of ddstream.Granularity's granularities "
        f"(e.g. Granularity.Seconds), not {granularity!r}"
    )


def _epoch(value: _dt.datetime) -> int:
    """Whole epoch seconds of a datetime (naive = UTC)."""
    if not isinstance(value, _dt.datetime):
        raise exceptions.InvalidArgument(
            f"times must be datetime.datetime objects, not {type(value).__name__}"
        )
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(_UTC)
    return _calendar.timegm(value.utctimetuple())


def _opt_epoch(value: _dt.datetime | None) -> int | None:
    return None if value is None else _epoch(value)


def _datetime(seconds: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(seconds, tz=_UTC)


def _dumps(value: Any, what: str) -> str:
    def default(v: Any) -> Any:
        if isinstance(v, type) and issubclass(v, _Base):
            return v._name
        raise TypeError(f"{type(v).__name__} is not JSON-serializable")

    try:
        return _json.dumps(value, default=default, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise exceptions.InvalidArgument(f"{what}: {e}") from None


def _datapoint(point: dict[str, Any]) -> dict[str, Any]:
    """Upstream's dict from the core's: epoch seconds become datetimes."""
    t = point.get("t")
    if isinstance(t, int):
        point["t"] = _datetime(t)
    elif isinstance(t, dict):
        point["t"] = {k: _datetime(v) for k, v in t.items()}
    return point


_TIME_TAGS = ("earliest_datapoint", "latest_datapoint")


def _tags(tags: dict[str, Any]) -> dict[str, Any]:
    """``get_tags``' dict with upstream's types: datetimes and Granularity classes."""
    for key in _TIME_TAGS:
        if isinstance(tags.get(key), str):
            tags[key] = _parse_time(tags[key])
    until = tags.get("downsampled_until")
    if isinstance(until, dict):
        tags["downsampled_until"] = {
            k: _parse_time(v) if isinstance(v, str) else v for k, v in until.items()
        }
    if isinstance(tags.get("highest_granularity"), str):
        tags["highest_granularity"] = _GRANULARITY_BY_NAME[tags["highest_granularity"]]
    return tags


def _parse_time(text: str) -> _dt.datetime:
    # Python 3.10's fromisoformat does not take the "Z" suffix.
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Datapoints(Sequence):
    """The datapoints of one ``get_data`` call, read lazily a page at a time.

    Iterating streams them in bounded memory; ``len()``, indexing and slicing (upstream's
    result operations) read the rest into memory first.
    """

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._read: list[dict[str, Any]] = []
        self._done = False

    def _fetch(self) -> list[dict[str, Any]]:
        page = [_datapoint(p) for p in _json.loads(self._cursor.next_page(_PAGE))]
        if not page:
            self._done = True
        return page

    def _all(self) -> list[dict[str, Any]]:
        while not self._done:
            self._read.extend(self._fetch())
        return self._read

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self._read
        i = len(self._read)
        while not self._done:
            page = self._fetch()
            self._read.extend(page)
            yield from self._read[i:]
            i = len(self._read)

    def __len__(self) -> int:
        return len(self._all())

    def count(self) -> int:  # type: ignore[override]
        """The number of datapoints (upstream's ``count()``)."""
        return len(self)

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __repr__(self) -> str:
        state = f"{len(self._read)} read" + (", done" if self._done else "")
        return f"ddstream.Datapoints({state})"


class Datastream:
    """The datastream store (upstream's ``Datastream(backend)``).

    ``backend`` is a :class:`ddstream.backends.store.Backend`, or its location directly: a
    directory or ``s3://bucket/prefix`` (then ``meta_dir`` names a local directory for the
    SQLite metadata; S3 credentials come from the usual ``AWS_*`` variables).
    """

    Granularity = Granularity

    def __init__(self, backend: Any, meta_dir: str | None = None) -> None:
        if hasattr(backend, "location"):
            meta_dir = meta_dir or getattr(backend, "meta_dir", None)
            backend = backend.location
        if not isinstance(backend, str):
            backend = str(backend)
        self._store = _ddstream._Store(backend, meta_dir)

    def __repr__(self) -> str:
        return f"ddstream.Datastream({self._store.location!r})"

    def ensure_stream(
        self,
        query_tags: Mapping[str, Any],
        tags: Mapping[str, Any],
        value_downsamplers: Iterable[str],
        highest_granularity: Any,
        derive_from: Any = None,
        derive_op: str | None = None,
        derive_args: Mapping[str, Any] | None = None,
        value_type: str | None = None,
        value_type_options: Mapping[str, Any] | None = None,
        derive_backprocess: bool = True,
    ) -> str:
        """Returns the id of the stream matching ``query_tags``, creating it if needed."""
        if derive_from is not None and not isinstance(derive_from, (list, tuple)):
            derive_from = [derive_from]
        if derive_from is not None:
            derive_from = [_derive_source(s) for s in derive_from]
        args = {
            "query_tags": query_tags,
            "tags": tags,
            "value_downsamplers": list(value_downsamplers or ()),
            "highest_granularity": _granularity_name(highest_granularity, "highest_granularity"),
            "derive_from": derive_from,
            "derive_op": derive_op,
            "derive_args": derive_args,
            "value_type": value_type,
            "value_type_options": value_type_options,
            "derive_backprocess": bool(derive_backprocess),
        }
        return self._store.ensure_stream(_dumps(args, "ensure_stream"))

    def get_tags(self, stream_id: str) -> dict[str, Any]:
        """The stream's tags with the store's own fields (``stream_id``, ...)."""
        return _tags(_json.loads(self._store.get_tags(stream_id)))

    def update_tags(self, stream_id: str, tags: Mapping[str, Any]) -> None:
        """Merges ``tags`` into the stream's tags."""
        self._store.update_tags(stream_id, _dumps(tags, "tags"))

    def remove_tag(self, stream_id: str, tag: Mapping[str, Any]) -> None:
        """Removes the tag paths of ``tag`` (its values are ignored)."""
        self._store.remove_tag(stream_id, _dumps(tag, "tag"))

    def clear_tags(self, stream_id: str) -> None:
        """Removes all of the stream's tags."""
        self._store.clear_tags(stream_id)

    def find_streams(self, query_tags: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The tags of every stream matching ``query_tags`` (all streams with ``None``)."""
        found = _json.loads(self._store.find_streams(_dumps(query_tags, "query_tags")))
        return [_tags(t) for t in found]

    def append(
        self,
        stream_id: str,
        value: Any,
        timestamp: _dt.datetime | None = None,
        check_timestamp: bool = True,
    ) -> dict[str, Any]:
        """Appends ``value`` at ``timestamp`` (now when ``None``); returns the stored point as
        ``{'stream_id', 'granularity', 'datapoint'}``."""
        stored = _json.loads(
            self._store.append(
                stream_id, _dumps(value, "value"), _opt_epoch(timestamp), bool(check_timestamp)
            )
        )
        return _stream_datapoint(stored)

    def append_multiple(self, datapoints: Iterable[Mapping[str, Any]]) -> None:
        """Appends ``[{'stream_id': ..., 'value': ..., 'timestamp': ...}, ...]`` in one
        transaction; on the first bad point the earlier ones stay and its error is raised."""
        batch = []
        for point in datapoints:
            point = dict(point)
            if point.get("timestamp") is not None:
                point["timestamp"] = _epoch(point["timestamp"])
            batch.append(point)
        self._store.append_multiple(_dumps(batch, "datapoints"))

    def downsample_streams(
        self,
        query_tags: Mapping[str, Any] | None = None,
        until: _dt.datetime | None = None,
        return_datapoints: bool = False,
        filter_stream: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Downsamples the matching streams up to ``until`` (now when ``None``); with
        ``return_datapoints`` the new downsampled points. ``filter_stream`` gets each stream's
        tags and says whether to downsample it."""
        callback = None
        if filter_stream is not None:
            def callback(tags_json: str) -> bool:
                return bool(filter_stream(_tags(_json.loads(tags_json))))
        points = self._store.downsample_streams(
            _dumps(query_tags, "query_tags"), _opt_epoch(until), bool(return_datapoints), callback
        )
        return [_stream_datapoint(p) for p in _json.loads(points)]

    def backprocess_streams(self, query_tags: Mapping[str, Any] | None = None) -> None:
        """Feeds the derived streams waiting for their sources' existing data."""
        self._store.backprocess_streams(_dumps(query_tags, "query_tags"))

    def delete_streams(self, query_tags: Mapping[str, Any] | None = None) -> None:
        """Deletes the matching streams (every stream with ``None``)."""
        self._store.delete_streams(_dumps(query_tags, "query_tags"))

    def get_data(
        self,
        stream_id: str,
        granularity: Any,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        start_exclusive: _dt.datetime | None = None,
        end_exclusive: _dt.datetime | None = None,
        reverse: bool = False,
        value_downsamplers: Iterable[str] | None = None,
        time_downsamplers: Iterable[str] | None = None,
    ) -> Datapoints:
        """The stream's datapoints at ``granularity`` (upstream's range rules: ``start`` floored
        to the granularity, ``end`` inclusive); newest first with ``reverse``."""
        query = {
            "start": _opt_epoch(start),
            "end": _opt_epoch(end),
            "start_exclusive": _opt_epoch(start_exclusive),
            "end_exclusive": _opt_epoch(end_exclusive),
            "reverse": bool(reverse),
            "value_downsamplers": None if value_downsamplers is None else list(value_downsamplers),
            "time_downsamplers": None if time_downsamplers is None else list(time_downsamplers),
        }
        cursor = self._store.get_data(
            stream_id, _granularity_name(granularity, "granularity"), _dumps(query, "get_data")
        )
        return Datapoints(cursor)


def _derive_source(source: Any) -> Any:
    if isinstance(source, Mapping):
        source = dict(source)
        if "granularity" in source:
            source["granularity"] = _granularity_name(source["granularity"], "granularity")
    return source


def _stream_datapoint(stored: dict[str, Any]) -> dict[str, Any]:
    stored["granularity"] = _GRANULARITY_BY_NAME[stored["granularity"]]
    stored["datapoint"] = _datapoint(stored["datapoint"])
    return stored
