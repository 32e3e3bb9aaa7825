#!/usr/bin/env bash
# Re-records the cassettes of Examples/triage, Examples/batch and Examples/sandbox against
# scripts/cassette/demo_server.py on loopback. The batch cassette is recorded in French with
# --no-cache, so it holds every call the English run makes too.
source "$(dirname "$0")/serve.sh"
"$wflo" run Examples/triage/workflow.yaml --db "$db" --record Examples/triage/cassette.json
"$wflo" run Examples/batch/workflow.yaml --db "$db" --record Examples/batch/cassette.json --no-cache --input language=French
"$wflo" run Examples/sandbox/workflow.yaml --db "$db" --record Examples/sandbox/cassette.json --no-cache
