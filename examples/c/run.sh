#!/usr/bin/env bash
# Builds examples/c/stream.c with cc against the debug libddstream (building it first) and runs
# it under `valgrind --leak-check=full` (no definite leak and no invalid access may be
# reported), then checks its row count against the CLI's for the same query.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ddstream-target}"
# The library with the tests, as .ci/test builds them: the same features, so no second build of
# DataFusion.
cargo build --locked --lib --bins --tests
lib="$CARGO_TARGET_DIR/debug"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cc -std=c99 -Wall -Wextra -Werror -o "$out/stream" examples/c/stream.c -I include \
    -L "$lib" -lddstream -Wl,-rpath,"$lib"
if command -v valgrind >/dev/null; then
    # Only definite leaks fail: the runtime's worker threads are still parked at exit, which
    # valgrind counts as "possibly lost" stacks.
    valgrind -q --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite --error-exitcode=1 \
        "$out/stream" >"$out/stdout"
else
    echo "valgrind not found: running without it" >&2
    "$out/stream" >"$out/stdout"
fi
head -n 3 "$out/stdout"
echo "..."
tail -n 4 "$out/stdout"

# The same query through the CLI: its count must equal the rows the example streamed.
sql="$(sed -n 's/^sql: //p' "$out/stdout")"
cli_count="$("$lib/ddstream" --simulate -q --format csv "$sql" | tail -n 1)"
rows="$(sed -n 's/^rows: //p' "$out/stdout")"
if [ "$cli_count" != "$rows" ]; then
    echo "the C example streamed $rows rows; the CLI counts $cli_count for: $sql" >&2
    exit 1
fi
echo "CLI count for the same query: $cli_count (equal)"
