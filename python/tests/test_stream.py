"""ddstream.stream over every adapter, against the simulator: rows, iteration protocols,
progress, metrics, reset and ranges."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import ddstream
from conftest import DAY0, DAY1, data_requests


def v1(sim, **extra):
    return {"query": "system.cpu.user{*}", "base_url": sim.base_url, "granularity": "60s", **extra}


def test_v1_day_has_one_row_per_minute(sim):
    s = ddstream.stream("datadog_v1", v1(sim), start=DAY0, end=DAY1)
    table = pa.Table.from_batches(list(s))
    # One series (`{*}`), one bucket per minute of the day, each distinct.
    assert table.num_rows == 1440
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    assert ts == [DAY0 * 1000 + i * 60_000 for i in range(1440)]
    assert set(table.column_names) >= {"ts", "avg", "min", "max", "sum", "scope", "metric"}
    assert s.is_done() and s.progress() == 1.0
    assert s.metrics()["requests"] == len(data_requests(sim)) > 1


def test_every_adapter_streams(sim):
    scalar = {"query": "avg:system.cpu.user{*} by {host}", "base_url": sim.base_url,
              "granularity": "1h"}
    timeseries = {"query": "avg:system.cpu.user{*} by {host}", "base_url": sim.base_url}
    page = {"url": f"{sim.base_url}/api/page/events?total=45", "records": "/data",
            "page_param": "page", "page_size_param": "per_page", "page_size": "10",
            "total": "/total",
            "columns": [{"name": "id", "type": "int64"}, {"name": "score", "type": "float64"}]}
    token = {"url": f"{sim.base_url}/api/token/events?total=33", "records": "/records",
             "token_param": "cursor", "next_token": "/next_cursor",
             "page_size_param": "limit", "page_size": "10",
             "columns": [{"name": "id", "type": "int64"}, {"name": "count", "type": "int64"}]}
    start, end = DAY0, DAY0 + 6 * 3600
    rows = {
        name: pa.Table.from_batches(list(ddstream.stream(name, cfg, start=start, end=end)))
        for name, cfg in [("datadog_v2_timeseries", timeseries), ("datadog_v2_scalar", scalar)]
    }
    # 3 hosts; timeseries at the default 60 s granularity over 6 h; scalar one row per hour.
    assert rows["datadog_v2_timeseries"].num_rows == 3 * 6 * 60
    assert rows["datadog_v2_scalar"].num_rows == 3 * 6
    assert set(rows["datadog_v2_scalar"].column("scope").to_pylist()) == {
        "host:web-1", "host:web-2", "host:db-1"}

    pages = pa.Table.from_batches(list(ddstream.stream("page_api", page)))
    assert sorted(pages.column("id").to_pylist()) == list(range(1, 46))
    assert pc.sum(pages.column("score")).as_py() == pytest.approx(1.5 * 45 * 46 / 2)
    tokens = pa.Table.from_batches(list(ddstream.stream("token_api", token)))
    assert sorted(tokens.column("id").to_pylist()) == list(range(1, 34))
    assert tokens.column("count").to_pylist() == [(i * 7) % 100 for i in
                                                  sorted(tokens.column("id").to_pylist())]


def test_has_next_and_next_batch_walk_the_stream(sim):
    s = ddstream.stream("datadog_v1", v1(sim), start=DAY0, end=DAY0 + 12 * 3600)
    rows = 0
    while s.has_next():
        batch = s.next_batch()
        assert isinstance(batch, pa.RecordBatch)
        rows += batch.num_rows
    assert rows == 720
    assert s.next_batch() is None and s.last_error() is None
    assert not s.has_next()


def test_reset_starts_over(sim):
    s = ddstream.stream("datadog_v1", v1(sim), start=DAY0, end=DAY0 + 4 * 3600)
    first = pa.Table.from_batches(list(s))
    s.reset()
    assert s.progress() < 1.0
    again = pa.Table.from_batches(list(s))
    assert again.num_rows == first.num_rows == 240
    assert again.column("avg").equals(first.column("avg"))


def test_ranges_as_text_datetime_and_config_keys_agree(sim):
    as_text = ddstream.stream("datadog_v1", v1(sim), start="2026-01-01T00:00:00Z",
                              end="2026-01-01T02:00:00Z")
    as_dt = ddstream.stream("datadog_v1", v1(sim),
                            start=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
                            end=dt.datetime(2026, 1, 1, 2))
    in_cfg = ddstream.stream("datadog_v1", v1(sim, range_start=DAY0, range_end=DAY0 + 7200))
    counts = [pa.Table.from_batches(list(s)).num_rows for s in (as_text, as_dt, in_cfg)]
    assert counts == [120, 120, 120]


def test_progress_grows_while_iterating(sim):
    s = ddstream.stream("datadog_v1", v1(sim, prefetch_depth=1, chunk="2h"),
                        start=DAY0, end=DAY1)
    seen = []
    for _ in s:
        seen.append(s.progress())
    assert seen == sorted(seen)
    assert 0.0 < seen[0] < 1.0 and s.progress() == 1.0


def test_numpy_batches_are_the_seeds_parallel_arrays(sim):
    np = pytest.importorskip("numpy")
    s = ddstream.stream("datadog_v1", v1(sim, chunk="4h"), start=DAY0, end=DAY1)
    batches = list(s.numpy_batches())
    assert [b["is_last"] for b in batches] == [False] * (len(batches) - 1) + [True]
    ts = np.concatenate([b["timestamps"] for b in batches])
    assert ts[0] == DAY0 and ts[-1] == DAY1 - 60 and len(ts) == 1440
    for b in batches:
        assert b["timestamps"].dtype == np.float64
        assert len(b["avg"]) == len(b["min"]) == len(b["max"]) == len(b["sum"]) == len(
            b["timestamps"])
        assert b["chunk_start_ms"] == int(b["timestamps"][0] * 1000)
        assert b["chunk_end_ms"] == int(b["timestamps"][-1] * 1000) + 60_000
        assert np.all(b["min"] <= b["avg"]) and np.all(b["avg"] <= b["max"])
