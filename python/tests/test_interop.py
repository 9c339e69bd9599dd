"""pyarrow, polars, DuckDB and datafusion-python read ddstream: streams and query results through the
Arrow C stream interface, API tables through datafusion-ffi's table provider."""

from __future__ import annotations

import urllib.parse

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import ddstream
from conftest import DAY0, DAY1, data_requests


def cpu(sim, **extra):
    return {"query": "system.cpu.user{*}", "base_url": sim.base_url, **extra}


def test_pyarrow_table_and_reader_read_the_stream(sim):
    table = pa.table(ddstream.stream("datadog_v1", cpu(sim), start=DAY0, end=DAY1))
    assert table.num_rows == 1440
    reader = pa.RecordBatchReader.from_stream(
        ddstream.stream("datadog_v1", cpu(sim), start=DAY0, end=DAY1))
    assert reader.schema == table.schema
    assert reader.read_all().column("avg").equals(table.column("avg"))


def test_a_batch_read_ahead_is_not_lost_by_the_export(sim):
    s = ddstream.stream("datadog_v1", cpu(sim, chunk="4h"), start=DAY0, end=DAY1)
    assert s.has_next()
    assert pa.table(s).num_rows == 1440


def test_batches_share_buffers_with_the_export():
    # A stream's C export hands over Rust's buffers: pyarrow reports them as foreign memory
    # (not allocated by its own pool), which only a no-copy import gives.
    with ddstream.Simulator() as sim:
        before = pa.total_allocated_bytes()
        table = pa.table(ddstream.stream("datadog_v1", cpu(sim), start=DAY0, end=DAY1))
        assert table.num_rows == 1440
        assert pa.total_allocated_bytes() - before < table.nbytes


def test_polars_reads_the_stream(sim):
    pl = pytest.importorskip("polars")
    # polars 2 reads any object with __arrow_c_stream__ as a DataFrame.
    df = pl.DataFrame(ddstream.stream("datadog_v1", cpu(sim), start=DAY0, end=DAY1))
    assert df.height == 1440
    assert df["ts"].n_unique() == 1440


def test_query_results_stream_to_pyarrow_polars_and_pandas():
    session = ddstream.Session(simulate=True)
    q = (f"SELECT count(*) AS n, count(DISTINCT ts) AS d FROM datadog_v1 "
         f"WHERE ts >= to_timestamp({DAY0}) AND ts < to_timestamp({DAY1})")
    assert session.sql(q).to_arrow().to_pylist() == [{"n": 1440, "d": 1440}]
    pl = pytest.importorskip("polars")
    assert pl.DataFrame(session.sql(q)).to_dicts() == [{"n": 1440, "d": 1440}]
    pd = pytest.importorskip("pandas")
    frame = session.sql(q).to_pandas()
    assert isinstance(frame, pd.DataFrame) and int(frame["n"][0]) == 1440


def test_datafusion_python_scans_a_ddstream_table_with_filters_pushed(sim):
    datafusion = pytest.importorskip("datafusion")
    ctx = datafusion.SessionContext()
    ctx.register_table("cpu", ddstream.table("datadog_v1", cpu(sim, granularity="60s")))
    rows = ctx.sql(
        f"SELECT count(*) AS n, count(DISTINCT ts) AS d FROM cpu "
        f"WHERE ts >= to_timestamp({DAY0}) AND ts < to_timestamp({DAY0 + 6 * 3600})"
    ).to_pylist()
    assert rows == [{"n": 360, "d": 360}]
    # The time filter went into the requests: every one asks inside the 6 hours.
    windows = []
    for r in data_requests(sim):
        q = dict(r["query"])
        windows.append((int(q["from"]), int(q["to"])))
    assert windows and min(w[0] for w in windows) == DAY0
    assert max(w[1] for w in windows) == DAY0 + 6 * 3600


def test_datafusion_python_reads_a_ddstream_stream_with_no_copy(sim):
    datafusion = pytest.importorskip("datafusion")
    ctx = datafusion.SessionContext()
    df = ctx.from_arrow(ddstream.stream("datadog_v1", cpu(sim), start=DAY0, end=DAY1))
    assert df.count() == 1440


def test_downsampling_functions_run_in_datafusion_python(sim):
    datafusion = pytest.importorskip("datafusion")
    ctx = datafusion.SessionContext()
    names = ddstream.register_functions(ctx)
    assert {"ds_bucket", "mean", "std_dev", "time_first", "time_last", "derivative"} <= set(names)
    ctx.register_table("cpu", ddstream.table("datadog_v1", cpu(sim, granularity="60s")))
    where = f"ts >= to_timestamp({DAY0}) AND ts < to_timestamp({DAY0 + 3600})"
    got = ctx.sql(
        f"SELECT mean(avg) AS m, time_last(ts) AS last, count(*) AS n FROM cpu WHERE {where}"
    ).to_pylist()[0]
    plain = pa.table(ddstream.stream("datadog_v1", cpu(sim, granularity="60s"),
                                     start=DAY0, end=DAY0 + 3600))
    assert got["n"] == plain.num_rows == 60
    assert got["m"] == pytest.approx(pc.mean(plain.column("avg")).as_py())
    assert got["last"] == plain.column("ts")[-1].as_py()
    assert got["last"].timestamp() == DAY0 + 3600 - 60
    buckets = ctx.sql(
        f"SELECT ds_bucket('15m', ts) AS b, count(*) AS n FROM cpu WHERE {where} "
        "GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert [b["n"] for b in buckets] == [15, 15, 15, 15]


def test_duckdb_reads_the_stream_and_query_results(sim):
    import duckdb

    # DuckDB scans any Python object with __arrow_c_stream__ named in the query.
    stream = ddstream.stream("datadog_v1", cpu(sim), start=DAY0, end=DAY1)
    con = duckdb.connect()
    n, distinct, total = con.execute(
        "SELECT count(*), count(DISTINCT ts), sum(avg) FROM stream").fetchone()
    expected = pa.table(ddstream.stream("datadog_v1", cpu(sim), start=DAY0, end=DAY1))
    assert (n, distinct) == (1440, 1440)
    assert total == pytest.approx(pc.sum(expected.column("avg")).as_py())
    result = ddstream.sql(
        f"SELECT ts, avg FROM datadog_v1 WHERE ts >= to_timestamp({DAY0}) "
        f"AND ts < to_timestamp({DAY1})", simulate=True)
    assert con.execute("SELECT count(*) FROM result").fetchone() == (1440,)
