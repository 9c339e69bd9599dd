#!/usr/bin/env bash
# Builds examples/c/stream.c with cc against the debug libddstream (building it first) and runs
# it, under `valgrind --leak-check=full` when valgrind is installed: no definite leak and no
# invalid access may be reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ddstream-target}"
cargo build -p ddstream-ffi
lib="$CARGO_TARGET_DIR/debug"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cc -std=c99 -Wall -Wextra -Werror -o "$out/stream" examples/c/stream.c -I include \
    -L "$lib" -lddstream -Wl,-rpath,"$lib"
if command -v valgrind >/dev/null; then
    # Only definite leaks fail: the runtime's worker threads are still parked at exit, which
    # valgrind counts as "possibly lost" stacks.
    valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
        "$out/stream" >"$out/stdout"
else
    echo "valgrind not found: running without it" >&2
    "$out/stream" >"$out/stdout"
fi
head -n 3 "$out/stdout"
echo "..."
tail -n 4 "$out/stdout"
