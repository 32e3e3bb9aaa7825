#!/usr/bin/env bash
# Re-records Examples/publish/cassette.json: runs the publish workflow against
# scripts/cassette/demo_server.py on loopback with --record, and approves both of its gates
# from a second process, as a person at another terminal would. The cassette holds no API key.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --product wflo >/dev/null
wflo=.build/debug/wflo
port_file=$(mktemp)
python3 scripts/cassette/demo_server.py >"$port_file" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(head -1 "$port_file")
db=$(mktemp -d)/record.db
OPENAI_BASE_URL="http://127.0.0.1:$port/v1" OPENAI_API_KEY=recording \
  "$wflo" run Examples/publish/workflow.yaml --db "$db" --record Examples/publish/cassette.json &
run=$!
for gate in review publish; do
  for _ in $(seq 100); do
    id=$("$wflo" approvals --db "$db" --json | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["id"] if a else "")')
    [ -n "$id" ] && break
    sleep 0.1
  done
  "$wflo" approve "$id" --db "$db" --as recorder --comment "recorded $gate"
done
wait $run
