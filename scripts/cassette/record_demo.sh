#!/usr/bin/env bash
# Re-records Examples/brief/cassette.json: runs the brief workflow against scripts/cassette/demo_server.py
# on loopback with --record. The cassette holds no API key.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --product wflo >/dev/null
port_file=$(mktemp)
python3 scripts/cassette/demo_server.py >"$port_file" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(head -1 "$port_file")
db=$(mktemp -d)/record.db
OPENAI_BASE_URL="http://127.0.0.1:$port/v1" OPENAI_API_KEY=recording \
ANTHROPIC_BASE_URL="http://127.0.0.1:$port" ANTHROPIC_API_KEY=recording \
  .build/debug/wflo run Examples/brief/workflow.yaml --budget 0.10 --db "$db" --record Examples/brief/cassette.json
