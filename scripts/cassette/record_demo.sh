#!/usr/bin/env bash
# Re-records Examples/brief/cassette.json: runs the brief workflow against scripts/cassette/demo_server.py
# on loopback with --record. The cassette holds no API key.
source "$(dirname "$0")/serve.sh"
"$wflo" run Examples/brief/workflow.yaml --budget 0.10 --db "$db" --record Examples/brief/cassette.json
