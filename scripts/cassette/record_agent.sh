#!/usr/bin/env bash
# Re-records Examples/agent/cassette.json: runs the agent workflow against
# scripts/cassette/demo_server.py on loopback (model turns and the city wiki) with --record, and
# approves the note the agent saves from a second process. The cassette holds no API key.
source "$(dirname "$0")/serve.sh"
"$wflo" run Examples/agent/workflow.yaml --db "$db" --record Examples/agent/cassette.json --input port="$port" &
run=$!
for _ in $(seq 100); do
  id=$("$wflo" approvals --db "$db" --json | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["id"] if a else "")')
  [ -n "$id" ] && break
  sleep 0.1
done
"$wflo" approve "$id" --db "$db" --as recorder --comment "recorded note"
wait $run
