#!/usr/bin/env bash
# PostgresBenchmark on a throwaway PostgreSQL: wflo's per-step durable overhead beside DBOS and the raw
# INSERT+COMMIT loops, interleaved, in one run (release build).
#
#   bash Benchmarks/postgres.sh            # BENCH_STEPS (1000) and BENCH_REPS (7) in the environment
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ -x "$here/dbos/.venv/bin/python" ] || bash "$here/dbos/setup.sh" >&2
pgdir=$(mktemp -d /tmp/wflo-pg-bench.XXXXXX)
trap 'bash "$root/scripts/postgres.sh" stop "$pgdir" 2>/dev/null; rm -rf "$pgdir"' EXIT
# A server that fsyncs every commit, as a production one does (the test default skips fsync).
eval "$(WFLO_PG_DURABLE=1 bash "$root/scripts/postgres.sh" start "$pgdir")"
cd "$here"
swift build -c release --product PostgresBenchmark 2>&1 | grep -E 'error|warning: ' | grep -v '/.build/' || true
WFLO_BENCH_POSTGRES_URL=$WFLO_TEST_POSTGRES_URL "$here/.build/release/PostgresBenchmark"
