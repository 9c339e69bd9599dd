"""DuckDB peer of the store benchmark (benches/store.rs): `downsample_streams` in SQL.

  .venv/bin/python duckdb_store.py INPUT.parquet OUT.parquet REPEATS THREADS

INPUT holds appended datapoints (`stream_id` VARCHAR, `ts` BIGINT epoch seconds, `value` DOUBLE),
as the bench appended them to the store. Each run computes every granularity coarser than
`seconds` with upstream's seven value downsamplers and the three time downsamplers, with the
store's semantics (docs: ../../../shared/notes/datastream-store.md §7-8, src/store/downsample.rs):

- cascaded: 10seconds from the points, minutes from 10seconds, ..., days from 6hours;
- each level only up to the floor of the finer level's end (`until = g.round(min(until, finer
  end))`, the finest level's end being the stream's latest point), so the bucket holding the
  latest point is not closed;
- c = count, s = sum, q = sum of squares (coarser levels: sums of the finer c/s/q), l = min,
  u = max, m = s / c, d = population σ from c, s, q (c == 1: 0; a variance within 1e-6 of 0 is 0);
- time first a = the first point's (or finer bucket's) a, last z = the last one's z, mean
  tm = int(Σts / n) over the points, then Σ(tm·c) / Σc truncated at coarser levels.

Empty buckets (upstream's null datapoints) are not produced: the bench's streams have a point
every second, so no bucket is empty and the bench checks the bucket counts agree.

Prints one JSON line per run: `compute_s` (all levels into temporary tables, in memory) and
`write_s` (then one Parquet file of every level, as the store persists its buckets). The last
run's file is OUT, which the bench compares with the store's buckets.
"""
import json
import sys
import time

import duckdb

# (index in Granularity::ALL, width in seconds), finest first; index 0 (seconds) is the input.
LEVELS = [(1, 10), (2, 60), (3, 600), (4, 3600), (5, 21600), (6, 86400)]

STD_DEV = """CASE WHEN c = 0 THEN NULL WHEN c = 1 THEN 0.0
     WHEN abs(q / c - (s / c) * (s / c)) < 1e-6 THEN 0.0
     WHEN q / c - (s / c) * (s / c) < 0 THEN 0.0
     ELSE sqrt(q / c - (s / c) * (s / c)) END"""


def run(con, input_path, out_path):
    t0 = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE raw AS SELECT stream_id, ts, value FROM read_parquet('{input_path}')")
    # Per stream, the end of each level: level 1 ends at the 10 s floor of the latest point.
    con.execute("CREATE OR REPLACE TEMP TABLE lim AS SELECT stream_id, max(ts) AS e0 FROM raw GROUP BY 1")
    prev_end = "e0"
    for g, w in LEVELS:
        con.execute(f"ALTER TABLE lim ADD COLUMN e{g} BIGINT")
        con.execute(f"UPDATE lim SET e{g} = ({prev_end} // {w}) * {w}")
        prev_end = f"e{g}"
    # 10seconds from the points.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g1 AS
        SELECT stream_id, ts, c, s, q, l, u, s / c AS m, {STD_DEV} AS d, ta, tm, tz FROM (
          SELECT r.stream_id, (r.ts // 10) * 10 AS ts, count(r.value) AS c, sum(r.value) AS s,
                 sum(r.value * r.value) AS q, min(r.value) AS l, max(r.value) AS u,
                 min(r.ts) AS ta, max(r.ts) AS tz,
                 CAST(CASE WHEN count(r.value) > 0
                      THEN sum(CAST(r.ts AS HUGEINT)) FILTER (WHERE r.value IS NOT NULL) // count(r.value)
                      ELSE (r.ts // 10) * 10 + 5 END AS BIGINT) AS tm
          FROM raw r JOIN lim USING (stream_id) WHERE r.ts < lim.e1 GROUP BY 1, 2)
    """)
    for (g, w), (src, _) in zip(LEVELS[1:], LEVELS):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE g{g} AS
            SELECT stream_id, ts, c, s, q, l, u, CASE WHEN c > 0 THEN s / c END AS m, {STD_DEV} AS d,
                   ta, tm, tz FROM (
              SELECT b.stream_id, (b.ts // {w}) * {w} AS ts, sum(b.c) AS c, sum(b.s) AS s,
                     sum(b.q) AS q, min(b.l) AS l, max(b.u) AS u,
                     arg_min(b.ta, b.ts) AS ta, arg_max(b.tz, b.ts) AS tz,
                     CAST(CASE WHEN sum(b.c) > 0
                          THEN sum(CAST(b.tm AS HUGEINT) * b.c) // sum(b.c)
                          ELSE (b.ts // {w}) * {w} + {w // 2} END AS BIGINT) AS tm
              FROM g{src} b JOIN lim USING (stream_id) WHERE b.ts < lim.e{g} GROUP BY 1, 2)
        """)
    compute = time.perf_counter() - t0
    union = " UNION ALL ".join(
        f"SELECT stream_id, {g}::BIGINT AS g, ts, c::BIGINT AS c, s, q, l, u, m, d, ta, tm, tz FROM g{g}"
        for g, _ in LEVELS
    )
    t1 = time.perf_counter()
    con.execute(f"COPY ({union}) TO '{out_path}' (FORMAT PARQUET, COMPRESSION zstd)")
    write = time.perf_counter() - t1
    rows = sum(con.execute(f"SELECT count(*) FROM g{g}").fetchone()[0] for g, _ in LEVELS)
    points = con.execute("SELECT count(*) FROM raw").fetchone()[0]
    return compute, write, rows, points


def main():
    input_path, out_path = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    con = duckdb.connect()
    if len(sys.argv) > 4 and sys.argv[4] != "default":
        con.execute(f"SET threads = {int(sys.argv[4])}")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    for _ in range(repeats):
        compute, write, rows, points = run(con, input_path, out_path)
        print(json.dumps({"peer": "duckdb", "version": duckdb.__version__, "threads": threads,
                          "compute_s": compute, "write_s": write, "buckets": rows, "points": points}),
              flush=True)


if __name__ == "__main__":
    main()
