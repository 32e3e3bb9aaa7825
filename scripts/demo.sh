#!/usr/bin/env bash
# The main job, offline: builds wflo, runs the research-brief workflow under a $0.10 budget with
# the model answers served from a recorded cassette (no network, no API key), then prints its
# cost report. The journal goes to a fresh file so the demo never touches ~/.wflo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
echo "Building wflo and its sandbox launcher (the first build fetches nothing but compiles the dependencies: a few minutes)…" >&2
swift build --product wflo >"$log" 2>&1 || { cat "$log"; exit 1; }
# The sandbox and agent examples run code under the launcher: build it too.
swift build --product wflo-sandbox-launcher >"$log" 2>&1 || { cat "$log"; exit 1; }
wflo=".build/debug/wflo"
db="${WFLO_DEMO_DB:-$(mktemp -d)/wflo.db}"
set +e
"$wflo" run Examples/brief/workflow.yaml --budget 0.10 --replay Examples/brief/cassette.json --db "$db"
status=$?
set -e
run_id=$("$wflo" runs --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
echo
"$wflo" report "$run_id" --db "$db"
exit $status
