# Sourced by the record_*.sh scripts: builds wflo, starts scripts/cassette/demo_server.py on a
# free loopback port (stopped on exit), and sets $wflo, $port and a fresh journal path $db.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
swift build --product wflo >/dev/null
wflo=.build/debug/wflo
port_file=$(mktemp)
python3 scripts/cassette/demo_server.py >"$port_file" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(head -1 "$port_file")
db=$(mktemp -d)/record.db
export OPENAI_BASE_URL="http://127.0.0.1:$port/v1" OPENAI_API_KEY=recording
export ANTHROPIC_BASE_URL="http://127.0.0.1:$port" ANTHROPIC_API_KEY=recording
