#!/usr/bin/env bash
# Installs the system packages wflo builds against, when they are missing (Debian).
set -euo pipefail
need=()
# libseccomp-dev: the sandbox launcher links libseccomp (wflo-sandbox-launcher).
for pkg in libsqlite3-dev libseccomp-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH (expected Swift 6.2 or newer)" >&2; exit 1; }
