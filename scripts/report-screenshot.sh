#!/usr/bin/env bash
# Renders a `wflo report` as HTML and screenshots it with headless Chromium, to check by eye
# that the page and its SVG charts render. Not run in CI.
#
# Usage:
#   scripts/report-screenshot.sh [-o OUT.png] [-w WIDTHxHEIGHT] REPORT-ARGUMENTS...
#
#   scripts/report-screenshot.sh 7f3c                         # one run (id or unique prefix)
#   scripts/report-screenshot.sh -o /tmp/week.png --since 7d --by day
#
# REPORT-ARGUMENTS go to `wflo report` as they are (add --db FILE for another journal);
# `--format html --output FILE` is added here. Writes OUT.png (default /tmp/wflo-report.png)
# and keeps the HTML next to it (OUT.html).
#
# Needs: Debian's chromium (apt-get install -y chromium) or $CHROMIUM, and a built wflo:
# $WFLO when set, else `wflo` on PATH, else .build/debug/wflo (swift build).
set -euo pipefail

out=/tmp/wflo-report.png
size=1200,1600
# -o and -w come first; everything after them is the report's (so --since is not taken for ours).
while [ $# -gt 0 ]; do
    case "$1" in
        -o) [ $# -ge 2 ] || { echo "error: -o needs a file (-o /tmp/report.png)" >&2; exit 2; }; out=$2; shift 2 ;;
        -w) [ $# -ge 2 ] || { echo "error: -w needs a size (-w 1200x1600)" >&2; exit 2; }; size=${2/x/,}; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
if [ $# -eq 0 ]; then
    echo "error: give the report to draw: a run id, or --since 7d [--by day]" >&2
    sed -n '2,16p' "$0" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
wflo=${WFLO:-}
if [ -z "$wflo" ]; then
    if command -v wflo >/dev/null 2>&1; then wflo=$(command -v wflo); else wflo=$root/.build/debug/wflo; fi
fi
[ -x "$wflo" ] || { echo "error: no wflo executable at $wflo; run swift build or set WFLO" >&2; exit 2; }
chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$chromium" ] || { echo "error: chromium not found; apt-get install -y chromium, or set CHROMIUM" >&2; exit 2; }

html=${out%.png}.html
"$wflo" report "$@" --format html --output "$html"
# A throwaway profile, no network use beyond the file itself (the page fetches nothing).
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --screenshot="$out" --window-size="$size" "file://$html" >/dev/null 2>&1
echo "$out (from $html)"
