#!/usr/bin/env bash
# The server load benchmark with a release wflo built from this package (it builds the root package's `wflo` product):
#
#   bash Benchmarks/server/run.sh [serverbench.py options…]   # e.g. --rounds 5 --big-steps 100000 --many 200
#
# Needs wrk (apt-get install wrk).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=$(cd "$here/.." && pwd)
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
# WFLO_BIN=PATH: measure that release wflo instead (e.g. the root package's .build/release/wflo, same sources and flags).
if [ -n "${WFLO_BIN:-}" ]; then exec python3 "$here/serverbench.py" --wflo "$WFLO_BIN" "$@"; fi
(cd "$bench" && swift build -c release --product wflo 2>&1 | grep -E 'error|warning: ' | grep -v -e '/.build/' -e 'unhandled; explicitly declare' || true)
exec python3 "$here/serverbench.py" --wflo "$bench/.build/release/wflo" "$@"
