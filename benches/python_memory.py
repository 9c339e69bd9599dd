#!/usr/bin/env python3
"""Peak RSS of iterating a Python stream over 30 days vs 1 day of 10 s data (issue 15: the
30-day run must stay within 1.2x of the 1-day one, because batches stream through bounded
memory).

Each run is its own process (peak RSS only grows), streaming `system.cpu.user{*}` at 10 s
granularity from the built-in simulator and dropping each batch after counting it.

    python benches/python_memory.py            # after `maturin develop` in python/
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import ddstream
days = int(sys.argv[1])
start = 1_767_225_600
with ddstream.Simulator() as sim:
    config = {"query": "system.cpu.user{*}", "base_url": sim.base_url, "granularity": "10s"}
    rows = 0
    for batch in ddstream.stream("datadog_v1", config, start=start, end=start + days * 86_400):
        rows += batch.num_rows
    requests = len(sim.requests())
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({"days": days, "rows": rows, "requests": requests, "peak_rss_mib": peak_kib / 1024}))
"""


def run(days: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(days)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    one, thirty = run(1), run(30)
    assert one["rows"] == 8640 and thirty["rows"] == 30 * 8640, (one, thirty)
    ratio = thirty["peak_rss_mib"] / one["peak_rss_mib"]
    for r in (one, thirty):
        print(f"{r['days']:>2} day(s): {r['rows']:>7} rows, {r['requests']:>4} requests, "
              f"peak RSS {r['peak_rss_mib']:.1f} MiB")
    print(f"ratio 30 days / 1 day: {ratio:.3f} (limit 1.2)")
    if ratio > 1.2:
        sys.exit(1)


if __name__ == "__main__":
    main()
