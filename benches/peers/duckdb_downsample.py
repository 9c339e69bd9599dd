"""DuckDB peer for the SQL downsampling benchmark, and the generator of its Parquet input.

  .venv/bin/python duckdb_downsample.py generate FILE ROWS
  .venv/bin/python duckdb_downsample.py query FILE [REPEATS]

`query` runs time_bucket(1 hour) with mean/min/max/stddev_pop/count over the file and prints one
JSON line per run: wall seconds (query only, the interpreter start excluded) and result rows.
"""
import json
import sys
import time

import duckdb


def generate(path, rows):
    con = duckdb.connect()
    # 10 s points from 2026-01-01, one series per host (3 hosts), a smooth value with noise.
    con.execute(f"""
        COPY (
          SELECT TIMESTAMP '2026-01-01 00:00:00' + to_seconds((i // 3) * 10) AS ts,
                 ['web-1', 'web-2', 'db-1'][(i % 3) + 1] AS host,
                 50 + 30 * sin(i / 3000.0) + (hash(i) % 1000) / 100.0 AS value
          FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT PARQUET, ROW_GROUP_SIZE 122880)
    """)


SQL = """
SELECT time_bucket(INTERVAL 1 hour, ts) AS hour, avg(value) AS mean, min(value), max(value),
       stddev_pop(value) AS std_dev, count(value)
FROM read_parquet('{path}') GROUP BY 1
"""


def query(path, repeats):
    con = duckdb.connect()
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = con.execute(SQL.format(path=path)).fetchall()
        wall = time.perf_counter() - t0
        print(json.dumps({"peer": "duckdb", "version": duckdb.__version__, "threads": con.execute("SELECT current_setting('threads')").fetchone()[0], "wall_s": wall, "rows": len(rows)}))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]))
    else:
        query(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)
