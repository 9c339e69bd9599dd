"""The official Datadog Python client (datadog-api-client, v1 MetricsApi.query_metrics) fetching
a range window by window, as its docs suggest, from the ddstream simulator.

  .venv/bin/python dd_python_client.py --base-url http://127.0.0.1:PORT \
      --start 2026-01-01T00:00:00Z --days 7 --window-hours 4 --granularity 60

Prints one JSON line: wall seconds, requests, points.
"""
import argparse
import datetime as dt
import json
import time

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v1.api.metrics_api import MetricsApi


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--start", default="2026-01-01T00:00:00Z")
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--window-hours", type=float, default=4)
    ap.add_argument("--granularity", type=int, default=60)
    ap.add_argument("--query", default="system.cpu.user{*}")
    args = ap.parse_args()

    start = int(dt.datetime.fromisoformat(args.start.replace("Z", "+00:00")).timestamp())
    end = start + int(args.days * 86400)
    step = int(args.window_hours * 3600)
    # The same query string ddstream's v1 table sends when only `avg` is selected.
    query = f"avg:{args.query}.rollup(avg,{args.granularity})"

    cfg = Configuration(host=args.base_url)
    cfg.api_key["apiKeyAuth"] = "dummy"
    cfg.api_key["appKeyAuth"] = "dummy"
    # The client retries 429s itself when enabled; the docs' default is off, keep it on so a
    # rate limit is honoured rather than failing.
    cfg.enable_retry = True
    cfg.max_retries = 8

    points = 0
    requests = 0
    t0 = time.perf_counter()
    with ApiClient(cfg) as client:
        api = MetricsApi(client)
        t = start
        while t < end:
            to = min(t + step, end)
            resp = api.query_metrics(_from=t, to=to, query=query)
            requests += 1
            for series in resp.series:
                # Keep the points as a user would (timestamp, value) pairs.
                pts = [(p.value[0], p.value[1]) for p in series.pointlist]
                points += len(pts)
            t = to
    wall = time.perf_counter() - t0
    print(json.dumps({"peer": "datadog-api-client", "wall_s": wall, "requests": requests, "points": points}))


if __name__ == "__main__":
    main()
