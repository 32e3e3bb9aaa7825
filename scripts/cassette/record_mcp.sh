#!/usr/bin/env bash
# Re-records Examples/mcp/cassette.json: runs the MCP example against scripts/cassette/demo_server.py
# on loopback (the model turns) and the example's real MCP server (Examples/mcp/server.py, the
# official Python SDK, started in the sandbox) with --record. The cassette holds no API key.
source "$(dirname "$0")/serve.sh"
swift build --product wflo-sandbox-launcher >/dev/null
venv=$(scripts/python-venv.sh "$PWD/.build/venv-mcp" mcp==1.26.0)
rm -f Examples/mcp/cassette.json
"$wflo" run Examples/mcp/workflow.yaml --db "$db" --record Examples/mcp/cassette.json \
  --input venv="$venv" --input folder="$PWD/Examples/mcp"
