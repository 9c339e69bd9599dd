"""DuckDB peer for the SQL downsampling benchmark, and the generator of its Parquet input.

  .venv/bin/python duckdb_downsample.py generate FILE ROWS
  .venv/bin/python duckdb_downsample.py query FILE [REPEATS]
  .venv/bin/python duckdb_downsample.py every_key FILE OUT.parquet raw|rounded [REPEATS]
  .venv/bin/python duckdb_downsample.py compare A.parquet B.parquet

`query` runs time_bucket(1 hour) with mean/min/max/stddev_pop/count over the file and prints one
JSON line per run: wall seconds (query only, the interpreter start excluded) and result rows.
`every_key` computes datastream's every key per host and hour (count, sum, sum_squares, min, max,
mean, std_dev, most_often, least_often, frequencies as a map, time first/mean/last) from the raw
values or from the values rounded to 0.1, writes them to OUT.parquet, and prints the same JSON
with the process's peak RSS. `compare` checks two such results bucket by bucket (counts, min,
max, the frequency keys and times exactly; sums, means and sigmas within 1e-9 relative) and
exits 1 on any difference.
"""
import resource
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


# Ties: most_often and least_often take the smallest value among the best counts, as ddstream
# does (histogram's map is ordered by key).
EVERY_KEY = """
COPY (
  WITH g AS (
    SELECT host, time_bucket(INTERVAL 1 hour, ts) AS ts, count(v) AS count, sum(v) AS sum,
           sum(v * v) AS sum_squares, min(v) AS min, max(v) AS max, avg(v) AS mean,
           stddev_pop(v) AS std_dev, histogram(v) AS frequencies, min(t) AS time_first,
           to_timestamp(floor(avg(epoch(t))))::TIMESTAMP AS time_mean, max(t) AS time_last
    FROM (SELECT host, ts, ts AS t, {value} AS v FROM read_parquet('{path}'))
    GROUP BY ALL
  )
  SELECT host, ts, count, sum, sum_squares, min, max, mean, std_dev,
         map_keys(frequencies)[list_position(map_values(frequencies), list_max(map_values(frequencies)))] AS most_often,
         map_keys(frequencies)[list_position(map_values(frequencies), list_min(map_values(frequencies)))] AS least_often,
         frequencies, time_first, time_mean, time_last
  FROM g
) TO '{out}' (FORMAT PARQUET)
"""


def every_key(path, out, values, repeats):
    con = duckdb.connect()
    value = "value" if values == "raw" else "round(value, 1)"
    for _ in range(repeats):
        t0 = time.perf_counter()
        con.execute(EVERY_KEY.format(path=path, out=out, value=value))
        wall = time.perf_counter() - t0
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"peer": "duckdb", "version": duckdb.__version__, "threads": con.execute("SELECT current_setting('threads')").fetchone()[0], "wall_s": wall, "rows": rows, "peak_rss_kib": peak_kib}))


def compare(a, b):
    con = duckdb.connect()
    # Exact: counts, extremes, the frequency keys, times. Sums, means and sigmas: within 1e-9
    # relative (ddstream's sigma is datastream's sqrt(Σx²/n − mean²), DuckDB's a running one).
    q = """SELECT count(*) FROM '{a}' l FULL JOIN '{b}' r USING (host, ts)
           WHERE l.count IS DISTINCT FROM r.count OR l.min IS DISTINCT FROM r.min
              OR l.max IS DISTINCT FROM r.max OR l.most_often IS DISTINCT FROM r.most_often
              OR l.least_often IS DISTINCT FROM r.least_often
              OR cardinality(l.frequencies) IS DISTINCT FROM cardinality(r.frequencies)
              OR l.time_first::VARCHAR IS DISTINCT FROM r.time_first::VARCHAR
              OR l.time_mean::VARCHAR IS DISTINCT FROM r.time_mean::VARCHAR
              OR l.time_last::VARCHAR IS DISTINCT FROM r.time_last::VARCHAR
              OR abs(l.sum - r.sum) > 1e-9 * greatest(1, abs(l.sum))
              OR abs(l.sum_squares - r.sum_squares) > 1e-9 * greatest(1, abs(l.sum_squares))
              OR abs(l.mean - r.mean) > 1e-9 * greatest(1, abs(l.mean))
              OR abs(l.std_dev - r.std_dev) > 1e-9 * greatest(1, abs(l.std_dev))"""
    diff = con.execute(q.format(a=a, b=b)).fetchone()[0]
    buckets = con.execute(f"SELECT count(*) FROM '{a}'").fetchone()[0]
    print(json.dumps({"buckets": buckets, "differences": diff}))
    sys.exit(1 if diff or not buckets else 0)


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "every_key":
        every_key(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 3)
    else:
        query(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)
