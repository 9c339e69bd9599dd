"""ddstream.Session: tables from dicts and --config files, settings, the simulator."""

from __future__ import annotations

import pytest

import ddstream
from conftest import DAY0, DAY1

WHERE = f"ts >= to_timestamp({DAY0}) AND ts < to_timestamp({DAY1})"


def test_register_config_reads_the_clis_toml(tmp_path):
    path = tmp_path / "tables.toml"
    path.write_text(
        '[tables.cpu]\nadapter = "datadog_v1"\nquery = "system.cpu.user{*}"\n'
        'granularity = "5m"\n\n'
        '[tables.ratio]\nadapter = "datadog_v2_timeseries"\nformulas = ["a / b"]\n'
        'granularity = "1h"\n'
        '[tables.ratio.queries]\na = "avg:system.cpu.user{*}"\nb = "avg:system.load.1{*}"\n'
    )
    session = ddstream.Session(simulate=True)
    assert sorted(session.register_config(path)) == ["cpu", "ratio"]
    assert session.sql(f"SELECT count(*) AS n FROM cpu WHERE {WHERE}").to_arrow()[
        "n"].to_pylist() == [288]
    assert session.sql(f"SELECT count(*) AS n FROM ratio WHERE {WHERE}").to_arrow()[
        "n"].to_pylist() == [24]
    with pytest.raises(ddstream.ConfigError) as e:
        session.register_config(tmp_path / "missing.toml")
    assert "missing.toml" in str(e.value)


def test_tables_and_settings_in_the_constructor():
    with ddstream.Simulator() as sim:
        session = ddstream.Session(
            {"cpu": {"adapter": "datadog_v1", "query": "system.cpu.user{*}",
                     "base_url": sim.base_url}},
            settings={"ddstream.max_range": "2h"},
        )
        rows = session.sql(f"SELECT count(*) AS n FROM cpu WHERE ts >= to_timestamp({DAY0}) "
                           f"AND ts < to_timestamp({DAY0 + 3600})").to_arrow()
        assert rows["n"].to_pylist() == [60]
        assert session.simulator_base_url is None


def test_sql_simulate_has_the_clis_tables():
    result = ddstream.sql(f"SELECT count(*) AS n FROM datadog_v2_scalar "
                          f"WHERE chunk_start >= to_timestamp({DAY0}) "
                          f"AND chunk_start < to_timestamp({DAY1})", simulate=True)
    # 24 hourly chunks for each of the 3 hosts.
    assert result.to_arrow()["n"].to_pylist() == [72]


def test_a_result_streams_once():
    result = ddstream.sql("SELECT 1 AS one")
    assert [b.num_rows for b in result] == [1]
    with pytest.raises(ddstream.Error):
        result.to_arrow()


def test_simulator_settings_are_checked():
    with pytest.raises(ddstream.ConfigError) as e:
        ddstream.Simulator(rate_limit="lots")
    assert "REQUESTS/PERIOD" in str(e.value)
    with pytest.raises(ddstream.ConfigError):
        ddstream.Simulator(faults="p=0.5")
    with ddstream.Simulator(faults="at=0:503") as sim:
        rows = ddstream.stream("datadog_v1", {"query": "system.cpu.user{*}",
                                              "base_url": sim.base_url},
                               start=DAY0, end=DAY0 + 3600)
        assert sum(b.num_rows for b in rows) == 60
        statuses = [r["status"] for r in sim.requests()]
        assert statuses[0] == 503 and statuses[-1] == 200
