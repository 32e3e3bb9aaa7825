#!/usr/bin/env bash
# Builds (once) a Python virtual environment for the tests' real peers — the MCP SDK's servers, an
# OTLP receiver, selenium — from Debian's /usr/bin/python3, world-readable so the sandbox's
# unprivileged user can run it. Prints the venv's folder.
#
# Usage: scripts/python-venv.sh DIR PACKAGE==VERSION...
#   scripts/python-venv.sh .build/venv-mcp mcp==1.26.0
# Installs python3-venv from Debian when it is missing. Re-running with the same packages is a no-op
# (a stamp file lists what was installed).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: scripts/python-venv.sh DIR PACKAGE==VERSION..." >&2; exit 2; }
dir=$1; shift
want=$(printf '%s\n' "$@" | sort)
if [ -f "$dir/.wflo-packages" ] && [ "$(cat "$dir/.wflo-packages")" = "$want" ] && [ -x "$dir/bin/python" ]; then
  echo "$dir"; exit 0
fi
if ! /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "python-venv: installing python3-venv" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
fi
rm -rf "$dir"
/usr/bin/python3 -m venv "$dir" >&2
"$dir/bin/pip" install -q --disable-pip-version-check "$@" >&2
printf '%s\n' "$want" > "$dir/.wflo-packages"
chmod -R a+rX "$dir"
echo "$dir"
