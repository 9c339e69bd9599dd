"""The same query through the CLI binary (its own process, simulator and SQL aggregation) and
through a Python stream (summed here with pyarrow) gives the same counts, sums and timestamps."""

from __future__ import annotations

import csv
import io
import subprocess

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import ddstream
from conftest import DAY0, DAY1, cli_binary

WHERE = f"ts >= to_timestamp({DAY0}) AND ts < to_timestamp({DAY1})"


def run_cli(sql: str) -> list[dict[str, str]]:
    binary = cli_binary()
    assert binary.exists(), (
        f"{binary} is missing: build the CLI with `cargo build` (or set DDSTREAM_BIN)"
    )
    out = subprocess.run([str(binary), "--simulate", "--format", "csv", sql],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return list(csv.DictReader(io.StringIO(out)))


@pytest.mark.parametrize(
    ("adapter", "query"),
    [("datadog_v1", "system.cpu.user{*}"),
     ("datadog_v2_timeseries", "avg:system.cpu.user{*} by {host}")],
)
def test_stream_rows_equal_the_clis(sim, adapter, query):
    column = "avg" if adapter == "datadog_v1" else "value"
    [cli] = run_cli(
        f"SELECT count(*) AS n, sum({column}) AS total, count(DISTINCT ts) AS d, "
        f"min(ts) AS first, max(ts) AS last FROM {adapter} WHERE {WHERE}"
    )
    table = pa.table(ddstream.stream(adapter, {"query": query, "base_url": sim.base_url},
                                     start=DAY0, end=DAY1))
    assert table.num_rows == int(cli["n"])
    assert pc.sum(table.column(column)).as_py() == pytest.approx(float(cli["total"]), rel=1e-9)
    ts = table.column("ts").cast(pa.int64())
    assert len(pc.unique(ts)) == int(cli["d"])
    assert pc.min(ts).as_py() == DAY0 * 1000
    assert cli["first"].startswith("2026-01-01T00:00:00")


def test_python_sql_equals_the_clis():
    sql = (f"SELECT ds_bucket('1h', ts) AS hour, count(*) AS n, round(avg(avg), 9) AS a "
           f"FROM datadog_v1 WHERE {WHERE} GROUP BY 1 ORDER BY 1")
    cli = run_cli(sql)
    ours = ddstream.sql(sql, simulate=True).to_arrow().to_pylist()
    assert len(ours) == len(cli) == 24
    for mine, theirs in zip(ours, cli):
        assert mine["n"] == int(theirs["n"]) == 60
        assert mine["a"] == pytest.approx(float(theirs["a"]), rel=1e-12)
