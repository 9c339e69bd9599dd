"""The seed's Python guide, step by step with its own names, against the simulator (only the
base URL differs from the guide)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

import ddstream
from ddstream import DDStream, DDStreamConfig
from conftest import DAY0, DAY1


def test_guide_config_validate_iterate_arrow_and_threads():
    with ddstream.Simulator(api_key="demo-api-key", app_key="demo-app-key") as sim:
        # 1. Configure.
        cfg = DDStreamConfig()
        cfg.api_key = "demo-api-key"
        cfg.app_key = "demo-app-key"
        cfg.query = "avg:system.cpu.user{*}"
        cfg.range_start = DAY0
        cfg.range_end = DAY1
        cfg.granularity = 60
        cfg.chunk_seconds = 3600
        cfg.enable_prefetch = True
        cfg.log_level = "info"
        cfg.base_url = sim.base_url

        # 2. Validate before streaming.
        error = DDStream.validate(cfg)
        assert error is None, error

        # 3. Iterate with progress: batches of parallel numpy arrays.
        stream = DDStream(cfg)
        points = 0
        last_progress = 0.0
        while stream.has_next():
            batch = stream.next_batch()
            if batch is None:
                raise RuntimeError(stream.last_error())
            points += len(batch["timestamps"])
            assert batch["avg"].shape == batch["timestamps"].shape
            assert stream.progress() >= last_progress
            last_progress = stream.progress()
        assert points == 1440 and stream.progress() == 1.0
        assert stream.metrics()["requests"] >= 1

        # 4. Arrow output with no copy.
        cfg.enable_arrow = True
        table = pa.table(DDStream(cfg))
        assert table.num_rows == 1440
        arrow_stream = DDStream(cfg)
        assert isinstance(arrow_stream.next_batch(), pa.RecordBatch)
        arrow_stream.close()

        # 5. Many streams at once from a thread pool (the GIL is released while fetching).
        def fetch(query: str) -> int:
            c = DDStreamConfig(api_key="demo-api-key", app_key="demo-app-key", query=query,
                               range_start=DAY0, range_end=DAY1, granularity=300,
                               enable_arrow=True, base_url=sim.base_url)
            return pa.table(DDStream(c)).num_rows

        queries = ["system.cpu.user{*}", "system.load.1{*}", "system.mem.used{*}",
                   "system.cpu.user{host:web-1}"]
        with ThreadPoolExecutor(max_workers=4) as pool:
            counts = list(pool.map(fetch, queries))
        assert counts == [288] * 4

        # A wrong key: validate() says why, as text.
        cfg.api_key = "WRONG-KEY-31337"
        message = DDStream.validate(cfg)
        assert message is not None and "403" in message and "WRONG-KEY-31337" not in message


def test_guide_stream_create_and_sql():
    with ddstream.Simulator() as sim:
        s = ddstream.stream("datadog_v1", {"query": "system.cpu.user{*}",
                                           "base_url": sim.base_url},
                            start="2026-01-01T00:00:00Z", end="2026-01-01T06:00:00Z")
        for batch in s:
            assert batch.num_rows > 0
        session = ddstream.Session(simulate=True)
        session.register("cpu", "datadog_v1", {"query": "system.cpu.user{*}",
                                               "granularity": "5m"})
        rows = session.sql(
            f"SELECT count(*) AS n FROM cpu WHERE ts >= to_timestamp({DAY0}) "
            f"AND ts < to_timestamp({DAY1})").to_arrow()
        assert rows.column("n").to_pylist() == [288]
