#!/usr/bin/env bash
# Re-records Examples/publish/cassette.json: runs the publish workflow against
# scripts/cassette/demo_server.py on loopback with --record, and approves both of its gates
# from a second process, as a person at another terminal would. The cassette holds no API key.
source "$(dirname "$0")/serve.sh"
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
