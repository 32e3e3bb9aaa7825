#!/usr/bin/env bash
# The queue benchmarks with a release wflo built from this package (it builds the root package's `wflo` product):
#
#   bash Benchmarks/queue/run.sh throughput [queuebench.py options…]   # e.g. --db postgres --rounds 3
#   bash Benchmarks/queue/run.sh failover   [queuebench.py options…]   # e.g. --db sqlite --trials 100
#   bash Benchmarks/queue/run.sh spread     [queuebench.py options…]   # e.g. --db postgres --items 200 --rounds 3
#
# Makes the venv (dbos/setup.sh) if missing; with --db postgres, starts a throwaway cluster (scripts/postgres.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=$(cd "$here/.." && pwd)
root=$(cd "$bench/.." && pwd)
[ -x "$bench/dbos/.venv/bin/python" ] || bash "$bench/dbos/setup.sh" >&2
(cd "$bench" && swift build -c release --product wflo 2>&1 | grep -E 'error|warning: ' | grep -v -e '/.build/' -e 'unhandled; explicitly declare' || true)
if [[ " $* " == *" --db postgres "* ]]; then
  pgdir=$(mktemp -d /tmp/wflo-queue-bench.XXXXXX)
  trap 'bash "$root/scripts/postgres.sh" stop "$pgdir" 2>/dev/null; rm -rf "$pgdir"' EXIT
  # A server that fsyncs every commit, as a production one does (the test default skips fsync).
  eval "$(WFLO_PG_DURABLE=1 bash "$root/scripts/postgres.sh" start "$pgdir")"
fi
"$bench/dbos/.venv/bin/python" "$here/queuebench.py" "$@" --wflo "$bench/.build/release/wflo"
