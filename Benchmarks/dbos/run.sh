#!/usr/bin/env bash
# DBOS's per-step time and the raw INSERT+COMMIT floor on a throwaway PostgreSQL, medians of interleaved rounds.
#
#   bash Benchmarks/dbos/run.sh [STEPS] [ROUNDS]        # defaults 1000 and 7
#
# Makes the venv (setup.sh) if missing, starts a cluster with scripts/postgres.sh, stops it at the end.
# The Swift side beside these two in the same run: PostgresBenchmark (Benchmarks/Package.swift).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -x "$here/.venv/bin/python" ] || bash "$here/setup.sh" >&2
pgdir=$(mktemp -d /tmp/wflo-dbos-bench.XXXXXX)
trap 'bash "$root/scripts/postgres.sh" stop "$pgdir" 2>/dev/null; rm -rf "$pgdir"' EXIT
# A server that fsyncs every commit, as a production one does (the test default skips fsync).
eval "$(WFLO_PG_DURABLE=1 bash "$root/scripts/postgres.sh" start "$pgdir")"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
"$here/.venv/bin/python" "$here/peer.py" run "$WFLO_TEST_POSTGRES_URL" "${1:-1000}" "${2:-7}"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
