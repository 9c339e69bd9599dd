#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md in one go, side by side, and prints the figures as
# Markdown tables (also saved under target/bench-results/). Loopback only.
#
#   benches/run_all.sh            # everything
#   benches/run_all.sh latency    # one section: machine latency parse memory peers ratelimit downsample downsample_all rollup store distributed
#
# Needs: a release build (cargo build --release --bins --benches), /usr/bin/time, python3
# (benches/peers/setup.sh installs the Python peers into benches/peers/.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
# BENCH_BIN: another build of the binary (e.g. a debug one, for latency-bound sections).
bin="${BENCH_BIN:-$root/target/release/ddstream}"
out="$root/target/bench-results"
tmp="${BENCH_TMP:-$(mktemp -d)}"
py="$root/benches/peers/.venv/bin/python"
mkdir -p "$out"
sections="${*:-machine latency parse memory peers ratelimit downsample rollup store}"

pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# Starts `ddstream simulate ARGS...` in the background; sets $sim_url and $sim_pid.
start_sim() {
  local log="$tmp/sim.$RANDOM.log"
  "$bin" simulate --port 0 "$@" > "$log" 2>&1 &
  sim_pid=$!
  pids+=("$sim_pid")
  for _ in $(seq 100); do
    sim_url="$(sed -n 's/^simulator listening on //p' "$log")"
    [ -n "$sim_url" ] && return 0
    sleep 0.1
  done
  echo "simulator did not start: $(cat "$log")" >&2
  exit 1
}
stop_sim() { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }

# Wall seconds of a command (stdout to /dev/null).
wall() {
  local t0=$EPOCHREALTIME
  "$@" > /dev/null
  local t1=$EPOCHREALTIME
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}
# Median of its arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
count_rows() { "$bin" --format csv "CREATE EXTERNAL TABLE f STORED AS PARQUET LOCATION '$1'; SELECT count(*) FROM f" | tail -1; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

section_machine() {
  {
    echo "## Machine"
    echo
    echo '```'
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src benches Cargo.toml || echo ' (+ uncommitted changes)')"
    echo "nproc: $(nproc)"
    lscpu | grep -E '^(Model name|Architecture|CPU\(s\)|Thread|Core|Socket|L2|L3)' || true
    free -h | head -2
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    rustc --version
    [ -x "$py" ] && "$py" -c 'import duckdb, datadog_api_client, importlib.metadata as m; print("duckdb", duckdb.__version__, "| datadog-api-client", m.version("datadog-api-client"))' || true
    echo '```'
  } | tee "$out/machine.md"
}

section_latency() {
  cargo bench --bench latency 2>/dev/null | tee "$out/latency.md"
}

section_rollup() {
  cargo bench --bench rollup 2>/dev/null | tee "$out/rollup.md"
}

section_parse() {
  cargo bench --bench parse 2>/dev/null | tee "$out/parse-criterion.txt" \
    | sed -n '/^## Parse throughput/,$p' | tee "$out/parse.md"
}

# Peak RSS of the CLI streaming D days of 10 s data (3 series) to Parquet.
section_memory() {
  start_sim
  local start="TIMESTAMP '2026-01-01T00:00:00Z'"
  {
    echo "## Memory: peak RSS of the CLI streaming 10 s data of system.cpu.user{*} by {host} to Parquet"
    echo
    echo "| days | rows | Parquet bytes | wall (s) | peak RSS (MiB) | peak / 1-day peak |"
    echo "|---:|---:|---:|---:|---:|---:|"
  } | tee "$out/memory.md"
  /usr/bin/time -v "$bin" --base-url "$sim_url" --format csv -o "$tmp/one.csv" "SELECT 1" 2> "$tmp/time-floor.txt"
  local floor
  floor=$(awk '/Maximum resident set size/ {print $6}' "$tmp/time-floor.txt")
  local base=""
  for days in 1 10 30; do
    /usr/bin/time -v "$bin" --base-url "$sim_url" --format parquet -o "$tmp/mem-$days.parquet" \
      "CREATE EXTERNAL TABLE cpu STORED AS DATADOG_V1 LOCATION 'system.cpu.user{*} by {host}' OPTIONS ('granularity' '10s', 'max_range' '31d');
       SELECT * FROM cpu WHERE ts >= $start AND ts < $start + INTERVAL '$days days'" 2> "$tmp/time-$days.txt"
    local kb wallclock rows
    kb=$(awk '/Maximum resident set size/ {print $6}' "$tmp/time-$days.txt")
    wallclock=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time-$days.txt")
    rows=$(count_rows "$tmp/mem-$days.parquet")
    base=${base:-$kb}
    echo "| $days | $rows | $(stat -c %s "$tmp/mem-$days.parquet") | $wallclock | $(python3 -c "print(f'{$kb/1024:.1f}')") | $(ratio "$kb" "$base") |" | tee -a "$out/memory.md"
  done
  echo | tee -a "$out/memory.md"
  echo "Process floor (\`ddstream ... \"SELECT 1\"\`): $(python3 -c "print(f'{$floor/1024:.1f}')") MiB peak RSS." | tee -a "$out/memory.md"
  stop_sim
}

# The official Datadog Python client vs ddstream: 7 days of 1-minute data in 4 h windows.
section_peers() {
  [ -x "$py" ] || benches/peers/setup.sh
  local latency=${PEER_LATENCY_MS:-100} limit=${PEER_RATE_LIMIT:-1600/1h} repeats=${PEER_REPEATS:-3}
  start_sim --latency-ms "$latency" --rate-limit "$limit"
  local start="TIMESTAMP '2026-01-01T00:00:00Z'"
  local create="CREATE EXTERNAL TABLE cpu STORED AS DATADOG_V1 LOCATION 'system.cpu.user{*}' OPTIONS ('granularity' '60s'"
  local select="SELECT ts, avg FROM cpu WHERE ts >= $start AND ts < $start + INTERVAL '7 days'"
  local py_runs=() dd_runs=() naive_runs=() fixed_runs=() py_json=""
  for _ in $(seq "$repeats"); do
    py_json=$("$py" benches/peers/dd_python_client.py --base-url "$sim_url" --days 7 --window-hours 4 --granularity 60)
    py_runs+=("$(python3 -c "import json,sys; print(f\"{json.loads(sys.argv[1])['wall_s']:.3f}\")" "$py_json")")
    dd_runs+=("$(wall "$bin" --base-url "$sim_url" --format parquet -o "$tmp/peer-dd.parquet" "$create); $select")")
    naive_runs+=("$(wall "$bin" --base-url "$sim_url" --partitions 1 --format parquet -o "$tmp/peer-naive.parquet" "$create, 'prefetch_depth' '1'); $select")")
    fixed_runs+=("$(wall "$bin" --base-url "$sim_url" --format parquet -o "$tmp/peer-fixed.parquet" "$create, 'prefetch_depth' '2', 'adaptive_concurrency' 'false'); $select")")
  done
  local dd_req naive_req
  dd_req=$("$bin" --base-url "$sim_url" --format csv "$create); EXPLAIN ANALYZE $select" | grep -o 'requests=[0-9]*' | head -1)
  naive_req=$("$bin" --base-url "$sim_url" --partitions 1 --format csv "$create, 'prefetch_depth' '1'); EXPLAIN ANALYZE $select" | grep -o 'requests=[0-9]*' | head -1)
  local fixed_req
  fixed_req=$("$bin" --base-url "$sim_url" --format csv "$create, 'prefetch_depth' '2', 'adaptive_concurrency' 'false'); EXPLAIN ANALYZE $select" | grep -o 'requests=[0-9]*' | head -1)
  local py_m dd_m naive_m fixed_m rows
  py_m=$(median "${py_runs[@]}"); dd_m=$(median "${dd_runs[@]}"); naive_m=$(median "${naive_runs[@]}"); fixed_m=$(median "${fixed_runs[@]}")
  rows=$(count_rows "$tmp/peer-dd.parquet")
  stop_sim
  # The default run again, each against a fresh simulator that logs its requests: from the
  # first request's arrival to the last answer's departure is what the network and the rate
  # limit govern (the rest of the wall time is process start, planning and output).
  local spans=()
  for _ in $(seq "$repeats"); do
    start_sim --latency-ms "$latency" --rate-limit "$limit" --log-requests
    local log
    log=$(ls -t "$tmp"/sim.*.log | head -1)
    "$bin" --base-url "$sim_url" --format parquet -o "$tmp/peer-span.parquet" "$create); $select" > /dev/null
    stop_sim
    spans+=("$(python3 - "$log" <<'PY'
import re, sys
reqs = [(float(m[2]), int(m[1])) for m in (re.match(r"GET /api/v1/query\S* \d+ (\d+)ms at=([0-9.]+)ms", l) for l in open(sys.argv[1])) if m]
print(f"{(max(at + ms for at, ms in reqs) - min(at for at, _ in reqs)) / 1000:.3f}")
PY
)")
  done
  local span_m
  span_m=$(median "${spans[@]}")
  # The same process and query against a simulator without latency: what is not network wait
  # (process start, planning, parsing, Parquet output).
  start_sim --rate-limit "$limit"
  local zero_runs=()
  for _ in $(seq "$repeats"); do
    zero_runs+=("$(wall "$bin" --base-url "$sim_url" --format parquet -o "$tmp/peer-zero.parquet" "$create); $select")")
  done
  local zero_m
  zero_m=$(median "${zero_runs[@]}")
  {
    echo "## Against the official client: 7 days of 1-minute data, simulator latency $latency ms, rate limit $limit, median of $repeats"
    echo
    echo "| client | wall (s) | runs (s) | requests | rows/points | wall / Python client | wall / ddstream naive |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    echo "| datadog-api-client (Python), 42 sequential 4 h windows | $py_m | ${py_runs[*]} | $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['requests'])" "$py_json") | $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['points'])" "$py_json") | 1.00 | $(ratio "$py_m" "$naive_m") |"
    echo "| ddstream naive (1 partition, prefetch_depth 1) | $naive_m | ${naive_runs[*]} | ${naive_req#requests=} | $rows | $(ratio "$naive_m" "$py_m") | 1.00 |"
    echo "| ddstream fixed concurrency (4 partitions × prefetch_depth 2, adaptive_concurrency false: the old default) | $fixed_m | ${fixed_runs[*]} | ${fixed_req#requests=} | $rows | $(ratio "$fixed_m" "$py_m") | $(ratio "$fixed_m" "$naive_m") |"
    echo "| ddstream default (4 partitions × prefetch_depth 16, adaptive per-host limit from 16) | $dd_m | ${dd_runs[*]} | ${dd_req#requests=} | $rows | $(ratio "$dd_m" "$py_m") | $(ratio "$dd_m" "$naive_m") |"
    echo
    echo "Physical limit: 42 windows × $latency ms / concurrency = $(python3 -c "print(f'{42*$latency/1000:.2f}')") s sequential, $(python3 -c "print(f'{42*$latency/1000/8:.2f}')") s at 8 in flight; the rate limit ($limit) allows all 42 at once: one round trip, $(python3 -c "print(f'{$latency/1000:.2f}')") s (two, $(python3 -c "print(f'{2*$latency/1000:.2f}')") s, with the rate gate's first probe). Default vs the two-round-trip bound: $(python3 -c "print(f'{$dd_m/(2*$latency/1000):.2f}')") ×. The same default run against a simulator without latency takes $zero_m s (${zero_runs[*]}): the default run's time beyond that, $(python3 -c "print(f'{$dd_m-$zero_m:.3f}')") s, is $(python3 -c "print(f'{($dd_m-$zero_m)/(2*$latency/1000):.2f}')") × the two round trips. From the first request's arrival to the last answer (the simulator's request log, runs ${spans[*]} s): $span_m s, $(python3 -c "print(f'{$span_m/(2*$latency/1000):.2f}')") × the two round trips."
  } | tee "$out/peers.md"
  stop_sim
}

# 10 M rows of Parquet bucketed to hours: ddstream's UDAFs, DataFusion's built-ins, DuckDB.
section_downsample() {
  [ -x "$py" ] || benches/peers/setup.sh
  local file="$tmp/ds10m.parquet" repeats=${DS_REPEATS:-3}
  [ -f "$file" ] || "$py" benches/peers/duckdb_downsample.py generate "$file" 10000000
  local create="CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '$file'"
  local ds_sql="$create; SELECT ds_bucket('hours', ts) AS hour, mean(value), min(value), max(value), std_dev(value), count(value) FROM t GROUP BY 1"
  local df_sql="$create; SELECT date_bin(INTERVAL '1 hour', ts) AS hour, avg(value), min(value), max(value), stddev_pop(value), count(value) FROM t GROUP BY 1"
  local ds_runs=() df_runs=() duck_runs=() duck_rows=""
  for _ in $(seq "$repeats"); do
    ds_runs+=("$(wall "$bin" --format csv -o "$tmp/ds.csv" "$ds_sql")")
    df_runs+=("$(wall "$bin" --format csv -o "$tmp/df.csv" "$df_sql")")
  done
  while read -r line; do
    duck_runs+=("$(python3 -c "import json,sys; print(f\"{json.loads(sys.argv[1])['wall_s']:.3f}\")" "$line")")
    duck_rows=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['rows'])" "$line")
  done < <("$py" benches/peers/duckdb_downsample.py query "$file" "$repeats")
  local ds_m df_m duck_m
  ds_m=$(median "${ds_runs[@]}"); df_m=$(median "${df_runs[@]}"); duck_m=$(median "${duck_runs[@]}")
  {
    echo "## SQL downsampling: 10 M rows ($(stat -c %s "$file") bytes of Parquet, 3 series at 10 s) to hours with mean/min/max/std_dev/count, median of $repeats"
    echo
    echo "| engine | wall (s) | runs (s) | result rows | wall / DuckDB | wall / DataFusion built-ins |"
    echo "|---|---:|---:|---:|---:|---:|"
    echo "| DuckDB (time_bucket, avg, stddev_pop), query only | $duck_m | ${duck_runs[*]} | $duck_rows | 1.00 | $(ratio "$duck_m" "$df_m") |"
    echo "| ddstream CLI, ds_bucket + mean/std_dev UDAFs, whole process | $ds_m | ${ds_runs[*]} | $(wc -l < "$tmp/ds.csv" | awk '{print $1-1}') | $(ratio "$ds_m" "$duck_m") | $(ratio "$ds_m" "$df_m") |"
    echo "| ddstream CLI, DataFusion date_bin + avg/stddev_pop, whole process | $df_m | ${df_runs[*]} | $(wc -l < "$tmp/df.csv" | awk '{print $1-1}') | $(ratio "$df_m" "$duck_m") | 1.00 |"
  } | tee "$out/downsample.md"
}

# The datastream store (issue 16): append_multiple vs raw SQLite, downsample_streams vs DuckDB on
# the same points, get_data latency, peak RSS at two sizes (benches/store.rs; it runs the DuckDB
# peer benches/peers/duckdb_store.py itself). Env: BENCH_STORE_POINTS (default 10 M),
# BENCH_STORE_SMALL_POINTS, BENCH_STORE_BATCH, BENCH_STORE_QUERIES, BENCH_STORE_DUCKDB_REPEATS.
section_store() {
  [ -x "$py" ] || benches/peers/setup.sh
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$out/store.log"
  BENCH_TMP="$tmp" cargo bench --bench store 2>> "$out/store.log" | sed -n '/^## Store/,$p' | tee "$out/store.md"
}

# Downsampling with every datastream key (issue 19) on the same 10 M rows, raw and rounded to 0.1:
# downsample() (one count table per bucket), the SQL aggregates one by one (three count tables),
# and DuckDB computing the same keys (histogram for the frequency keys); every result written to
# Parquet; wall and peak RSS of each whole process (DuckDB: its Python process, which also holds
# the interpreter). Env: DS_REPEATS (default 3).
section_downsample_all() {
  [ -x "$py" ] || benches/peers/setup.sh
  local file="$tmp/ds10m.parquet" repeats=${DS_REPEATS:-3}
  [ -f "$file" ] || "$py" benches/peers/duckdb_downsample.py generate "$file" 10000000
  # One run: wall seconds and peak RSS in MiB of a ddstream process.
  measure() {
    local t0=$EPOCHREALTIME
    /usr/bin/time -f '%M' -o "$tmp/rss" "$bin" --format parquet -o "$tmp/ds_all.parquet" "$1" > /dev/null
    local t1=$EPOCHREALTIME
    python3 -c "print(f'{$t1 - $t0:.3f} {$(cat "$tmp/rss") / 1024:.0f}')"
  }
  local keys="count(v) AS count, sum(v) AS sum, sum_squares(v) AS sum_squares, min(v) AS min, max(v) AS max, mean(v) AS mean, std_dev(v) AS std_dev, most_often(v) AS most_often, least_often(v) AS least_often, frequencies(v) AS frequencies, time_first(ts) AS time_first, time_mean(ts) AS time_mean, time_last(ts) AS time_last"
  {
    echo "## Downsampling with every key: 10 M rows, 3 series at 10 s, to hours, median of $repeats"
    echo
    echo "| values | engine | wall s (median) | runs | peak RSS MiB (max) | wall / DuckDB | RSS / DuckDB |"
    echo "|---|---|---:|---|---:|---:|---:|"
    for values in raw rounded; do
      local expr="value"
      [ "$values" = rounded ] && expr="round(value, 1)"
      local create="CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '$file'; CREATE VIEW r AS SELECT host, ts, $expr AS value FROM t"
      local duck_runs=() duck_rss=0
      while read -r line; do
        duck_runs+=("$(python3 -c "import json,sys; print(f\"{json.loads(sys.argv[1])['wall_s']:.3f}\")" "$line")")
        duck_rss=$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['peak_rss_kib'] / 1024))" "$line")
      done < <("$py" benches/peers/duckdb_downsample.py every_key "$file" "$tmp/duck_all.parquet" "$values" "$repeats")
      local duck_m
      duck_m=$(median "${duck_runs[@]}")
      echo "| $values | DuckDB $("$py" -c 'import duckdb; print(duckdb.__version__)'), COPY of every key to Parquet, query only | $duck_m | ${duck_runs[*]} | $duck_rss | 1.00 | 1.00 |"
      for engine in downsample aggregates; do
        local sql="$create; SELECT * FROM downsample('r', 'hours', 'value')"
        [ "$engine" = aggregates ] && sql="$create; SELECT host, ds_bucket('hours', ts) AS ts, $keys FROM (SELECT host, ts, value AS v FROM r) GROUP BY 1, 2"
        local runs=() rss=()
        for _ in $(seq "$repeats"); do
          read -r w m < <(measure "$sql")
          runs+=("$w"); rss+=("$m")
        done
        local m r
        m=$(median "${runs[@]}")
        r=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)
        # The same buckets as DuckDB's, or the figures mean nothing.
        local checked
        checked=$("$py" benches/peers/duckdb_downsample.py compare "$tmp/duck_all.parquet" "$tmp/ds_all.parquet") || {
          echo "ddstream ($engine, $values) and DuckDB disagree: $checked" >&2
          exit 1
        }
        local label="ddstream downsample('r', 'hours', 'value'), whole process"
        [ "$engine" = aggregates ] && label="ddstream SQL aggregates (ds_bucket + the 13 keys one by one), whole process"
        echo "| $values | $label | $m | ${runs[*]} | $r | $(ratio "$m" "$duck_m") | $(ratio "$r" "$duck_rss") |"
      done
    done
  } | tee "$out/downsample_all.md"
}

# Distributed scans (issue 18): 30 days at 60 s (180 windows of 4 h), simulator latency 100 ms, over
# 1 (one process), 2 and 4 worker processes on loopback; each process holds a fixed 4 partitions x
# prefetch 2 = 8 requests in flight (adaptive concurrency off, so the concurrency is known), so the
# discrete latency limit is ceil(180 windows / (8 x workers)) rounds of 100 ms. Then the defaults
# (adaptive concurrency). Env: BENCH_DIST_REPEATS (default 5).
section_distributed() {
  local repeats="${BENCH_DIST_REPEATS:-5}" latency_ms=100 windows=180 per_process=8
  start_sim
  local zero_url="$sim_url"
  start_sim --latency-ms "$latency_ms"
  local addrs=()
  for i in 1 2 3 4; do
    local log="$tmp/worker.$i.log"
    "$bin" worker --listen 127.0.0.1:0 > /dev/null 2> "$log" &
    pids+=("$!")
    for _ in $(seq 100); do
      grep -q 'listening on' "$log" && break
      sleep 0.1
    done
    addrs+=("$(sed -n 's/.*listening on //p' "$log")")
  done
  local range="ts >= TIMESTAMP '2026-10-28T00:00:00Z' AND ts < TIMESTAMP '2026-11-27T00:00:00Z'"
  local fixed="CREATE EXTERNAL TABLE cpu STORED AS DATADOG_V1 LOCATION 'system.cpu.user{*}' OPTIONS ('granularity' '60s', 'max_concurrency' '4', 'prefetch_depth' '2', 'adaptive_concurrency' 'false'); SELECT count(*) FROM cpu WHERE $range"
  local default="SELECT count(*) FROM datadog_v1('system.cpu.user{*}', '60s') WHERE $range"
  {
    echo "## Distributed scans: 30 days at 60 s (180 windows), simulator latency ${latency_ms} ms, median of $repeats"
    echo
    echo "| settings | workers | wall s (median) | runs | rows | discrete limit s | wall / limit | wall at 0 ms latency | (wall − that) / limit |"
    echo "|---|---:|---:|---|---:|---:|---:|---:|---:|"
    for settings in fixed default; do
      local sql="$fixed"
      [ "$settings" = default ] && sql="$default"
      for n in 1 2 4; do
        local list
        list="$(IFS=,; echo "${addrs[*]:0:$n}")"
        local args=(-q --format csv --base-url "$sim_url")
        [ "$n" -gt 1 ] && args+=(--workers "$list")
        local rows
        rows="$("$bin" "${args[@]}" "$sql" | tail -1)"
        local runs=()
        for _ in $(seq "$repeats"); do runs+=("$(wall "$bin" "${args[@]}" "$sql")"); done
        local m limit
        m="$(median "${runs[@]}")"
        if [ "$settings" = fixed ]; then
          limit="$(python3 -c "import math; print(f'{math.ceil($windows / ($per_process * $n)) * $latency_ms / 1000:.3f}')")"
        else
          # Adaptive: the rate gate's probe, then (the budget known) 64 in flight per process.
          limit="$(python3 -c "import math; print(f'{(1 + math.ceil(($windows / $n - 1) / 64)) * $latency_ms / 1000:.3f}')")"
        fi
        # The same run against a simulator without latency: what is not network wait.
        local zero_args=("${args[@]}")
        zero_args[4]="$zero_url"
        local zero_runs=()
        for _ in $(seq "$repeats"); do zero_runs+=("$(wall "$bin" "${zero_args[@]}" "$sql")"); done
        local z
        z="$(median "${zero_runs[@]}")"
        local label="$n"
        [ "$n" = 1 ] && label="1 (one process)"
        echo "| $settings | $label | $m | ${runs[*]} | $rows | $limit | $(ratio "$m" "$limit") | $z | $(python3 -c "print(f'{($m - $z) / $limit:.2f}')") |"
      done
    done
  } | tee "$out/distributed.md"
  stop_sim
}

# A tight rate limit: the extraction of `peers` (42 windows) under 10 requests per 2 s, each
# run against a fresh simulator (a full budget, periods starting at its start) whose request
# log places every request in its period; each run starts at another phase of the period. The
# bound: an ideal client sends 10 per period from
# the first request's period on, so its last 2 go at the start of the fifth period and are
# answered a round trip later. Env: RATE_REPEATS (default 5), RATE_LATENCY_MS (100).
section_ratelimit() {
  local latency=${RATE_LATENCY_MS:-100} repeats=${RATE_REPEATS:-5} limit=10 period=2
  local start="TIMESTAMP '2026-01-01T00:00:00Z'"
  local sql="CREATE EXTERNAL TABLE cpu STORED AS DATADOG_V1 LOCATION 'system.cpu.user{*}' OPTIONS ('granularity' '60s'); SELECT ts, avg FROM cpu WHERE ts >= $start AND ts < $start + INTERVAL '7 days'"
  {
    echo "## Tight rate limit: the same extraction (42 windows) under $limit requests per $period s, latency $latency ms, $repeats runs"
    echo
    echo "| run | wall (s) | first request to last answer (s) | bound (s) | / bound | requests | 429s | most 429s in one period | first request's place in its period (s) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    local spans=() bounds=()
    for r in $(seq "$repeats"); do
      start_sim --latency-ms "$latency" --rate-limit "$limit/${period}s" --log-requests
      local log
      log=$(ls -t "$tmp"/sim.*.log | head -1)
      # Runs start at phases spread over the period (the simulator's periods begin at its
      # start): run r waits (r-1)/repeats of a period first.
      sleep "$(python3 -c "print(($r - 1) / $repeats * $period)")"
      local w
      w=$(wall "$bin" --base-url "$sim_url" --format parquet -o "$tmp/rate.parquet" "$sql" 2>/dev/null)
      stop_sim
      local row
      row=$(python3 - "$log" "$limit" "$period" <<'PY'
import math, re, sys
log, limit, period = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) * 1000
reqs = []
for line in open(log):
    m = re.match(r"GET /api/v1/query\S* (\d+) (\d+)ms at=([0-9.]+)ms", line)
    if m:
        reqs.append((float(m[3]), int(m[2]), int(m[1])))
reqs.sort()
first = reqs[0][0]
done = max(at + ms for at, ms, _ in reqs)
admitted = sum(1 for *_, st in reqs if st == 200)
rtt = min(ms for _, ms, _ in reqs)
w0 = math.floor(first / period)
k = math.ceil(admitted / limit) - 1
bound = (max(first, (w0 + k) * period) + rtt - first) / 1000
per = {}
for at, _, st in reqs:
    if st == 429:
        per[math.floor(at / period)] = per.get(math.floor(at / period), 0) + 1
span = (done - first) / 1000
print(f"{span:.3f} {bound:.3f} {span / bound:.2f} {len(reqs)} {sum(per.values())} {max(per.values(), default=0)} {(first - w0 * period) / 1000:.3f}")
PY
)
      read -r span bound over n r429 most phase <<< "$row"
      spans+=("$span"); bounds+=("$bound")
      echo "| $r | $w | $span | $bound | $over | $n | $r429 | $most | $phase |"
    done
    local total_span total_bound
    total_span=$(python3 -c "print(sum(map(float, '${spans[*]}'.split())))")
    total_bound=$(python3 -c "print(sum(map(float, '${bounds[*]}'.split())))")
    echo
    echo "All runs: $(ratio "$total_span" "$total_bound") × the bound (first request to last answer, summed over the runs)."
  } | tee "$out/ratelimit.md"
}

for s in $sections; do
  "section_$s"
  echo
done
