#!/usr/bin/env bash
# The test suite: installs what is missing, builds (a warning in wflo's own code fails the run),
# runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
if ! swift build --build-tests >"$log" 2>&1; then
  grep -vE '^\[[0-9]+/[0-9]+\]' "$log"; exit 1
fi
warnings=$(grep -E "^$(pwd)/(Sources|Tests)/.*warning:" "$log" | sort -u || true)
if [ -n "$warnings" ]; then
  echo "Warnings in wflo's code (fix them):"; echo "$warnings"; exit 1
fi
swift test --skip-build 2>&1
