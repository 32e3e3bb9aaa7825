#!/usr/bin/env bash
# Builds wflo in release mode and installs it under PREFIX (default /usr/local):
#   PREFIX/bin/wflo                                  the command
#   PREFIX/libexec/wflo/wflo-sandbox-launcher        found by wflo next to itself (../libexec/wflo/)
#   PREFIX/share/wflo/pricing/                       the shipped pricing table (../share/wflo/pricing/)
# wflo then runs from any folder. --pricing, WFLO_PRICING and WFLO_PRICING_TABLE still override
# the table; WFLO_SANDBOX_LAUNCHER overrides the launcher.
#   scripts/install.sh [PREFIX]      e.g. scripts/install.sh ~/.local
set -euo pipefail
prefix="${1:-/usr/local}"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
log=$(mktemp)
echo "Building wflo and wflo-sandbox-launcher (release)…" >&2
swift build -c release --product wflo >"$log" 2>&1 || { cat "$log"; exit 1; }
swift build -c release --product wflo-sandbox-launcher >"$log" 2>&1 || { cat "$log"; exit 1; }
bin=$(swift build -c release --show-bin-path)
install -d "$prefix/bin" "$prefix/libexec/wflo" "$prefix/share/wflo/pricing"
install -m 0755 "$bin/wflo" "$prefix/bin/wflo"
install -m 0755 "$bin/wflo-sandbox-launcher" "$prefix/libexec/wflo/wflo-sandbox-launcher"
install -m 0644 pricing/model_prices_and_context_window.json pricing/SOURCE.json "$prefix/share/wflo/pricing/"
echo "Installed $prefix/bin/wflo ($("$prefix/bin/wflo" --version | head -1)); check the sandbox with: wflo sandbox check" >&2
