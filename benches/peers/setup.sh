#!/usr/bin/env bash
# Creates benches/peers/.venv with the comparison peers (idempotent).
# Peers: the official Datadog Python client and DuckDB (+ pyarrow to check Parquet files).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$venv/bin/python" - <<'PY'
import datadog_api_client, duckdb
print("datadog-api-client", datadog_api_client.__version__ if hasattr(datadog_api_client, "__version__") else "?",
      "duckdb", duckdb.__version__)
PY
