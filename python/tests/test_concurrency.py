"""The GIL is released while fetching, leaving a loop early and closing stops the requests,
and Ctrl-C while waiting stops the stream."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import ddstream
from conftest import DAY0, DAY1, data_requests


def _drain(base_url: str) -> int:
    # 12 sequential requests (2 h windows, one in flight), each 200 ms behind the latency.
    config = {"query": "system.cpu.user{*}", "base_url": base_url, "chunk": "2h",
              "prefetch_depth": "1"}
    rows = 0
    for batch in ddstream.stream("datadog_v1", config, start=DAY0, end=DAY1):
        rows += batch.num_rows
    return rows


def test_four_streams_in_threads_take_about_the_time_of_one():
    with ddstream.Simulator(latency_ms=200) as sim:
        t0 = time.perf_counter()
        assert _drain(sim.base_url) == 1440
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            rows = list(pool.map(_drain, [sim.base_url] * 4))
        four = time.perf_counter() - t0
    assert rows == [1440] * 4
    # Serialised by the GIL, four would take 4x; released, about 1x.
    assert four / one < 2.0, (one, four)


def test_leaving_a_loop_early_and_closing_stops_the_requests():
    with ddstream.Simulator(latency_ms=20) as sim:
        config = {"query": "system.cpu.user{*}", "base_url": sim.base_url, "chunk": "1h",
                  "prefetch_depth": 2}
        s = ddstream.stream("datadog_v1", config, start=DAY0, end=DAY1)
        for i, _ in enumerate(s):
            if i == 2:
                break
        s.close()
        closed_at = time.monotonic()
        time.sleep(0.5)
        # Requests in flight at close() may still be logged; none arrived after it.
        log = data_requests(sim)
        assert all(r["received_at"] <= closed_at for r in log), log
        # 24 windows of an hour; three batches read, a few prefetched, most never asked for.
        assert 3 <= len(log) < 12
        assert s.is_done()


def test_a_with_block_cancels_on_exit():
    with ddstream.Simulator(latency_ms=20) as sim:
        config = {"query": "system.cpu.user{*}", "base_url": sim.base_url, "chunk": "1h",
                  "prefetch_depth": 2}
        with ddstream.stream("datadog_v1", config, start=DAY0, end=DAY1) as s:
            next(iter(s))
        closed_at = time.monotonic()
        time.sleep(0.5)
        log = data_requests(sim)
        assert all(r["received_at"] <= closed_at for r in log) and len(log) < 24
        assert s.next_batch() is None
        assert "cancel" in (s.last_error() or "")


def test_ctrl_c_while_waiting_stops_the_stream():
    # A child process streams from a slow simulator; SIGINT arrives while it waits.
    script = textwrap.dedent(f"""
        import sys, time, ddstream
        with ddstream.Simulator(latency_ms=2000) as sim:
            s = ddstream.stream("datadog_v1", {{"query": "system.cpu.user{{*}}",
                                "base_url": sim.base_url, "chunk": "1h"}},
                                start={DAY0}, end={DAY1})
            print("ready", flush=True)
            try:
                for batch in s:
                    pass
                print("finished", flush=True)
            except KeyboardInterrupt:
                stopped_at = time.monotonic()
                time.sleep(2.5)
                late = [r for r in sim.requests() if r["received_at"] > stopped_at]
                print("interrupted", s.is_done(), late == [], flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    # Interrupted while waiting (the whole day would take 24 x 2 s), stream done, and no
    # request started afterwards.
    assert out.strip() == "interrupted True True", out
