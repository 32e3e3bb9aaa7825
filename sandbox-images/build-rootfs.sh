#!/usr/bin/env bash
# Builds the read-only root filesystem of wflo's namespaces sandbox backend with debootstrap:
# a minimal Debian with python3 and bash (nodejs with --with-node), the mount points the
# launcher needs (/proc, /dev, /tmp, /scratch), and nothing else.
#
#   sudo sandbox-images/build-rootfs.sh [TARGET] [--with-node]    # TARGET: sandbox-images/rootfs
#   export WFLO_SANDBOX_ROOTFS=$PWD/sandbox-images/rootfs          # or backend policy rootfs
#
# The mirror is the first Debian one in this machine's apt sources (override with MIRROR=URL);
# the suite is this machine's (override with SUITE=bookworm). Needs root and debootstrap.
set -euo pipefail
cd "$(dirname "$0")"
target=rootfs
packages=python3,bash,ca-certificates
for arg in "$@"; do
  case "$arg" in
    --with-node) packages="$packages,nodejs" ;;
    -*) echo "build-rootfs: unknown option $arg" >&2; exit 2 ;;
    *) target=$arg ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "build-rootfs: run as root (debootstrap needs it)" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
suite=${SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
mirror=${MIRROR:-$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | head -1 | sed -E 's/^(URIs:|deb) +//; s/ +$//' || true)}
[ -n "$mirror" ] || { echo "build-rootfs: no Debian mirror found in the apt sources; set MIRROR=URL" >&2; exit 1; }
staging="$target.partial"
rm -rf "$staging"
debootstrap --variant=minbase --include="$packages" "$suite" "$staging" "$mirror"
# What the program never needs: package caches, docs, and anything setuid.
rm -rf "$staging"/var/cache/apt/archives/*.deb "$staging"/var/lib/apt/lists/* "$staging"/usr/share/doc/* "$staging"/usr/share/man/*
find "$staging" -xdev -perm /6000 -type f -exec chmod ug-s {} +
mkdir -p "$staging"/proc "$staging"/dev "$staging"/tmp "$staging"/scratch
chmod 1777 "$staging"/tmp
rm -rf "$target"
mv "$staging" "$target"
echo "build-rootfs: $target is ready ($(du -sh "$target" | cut -f1)); export WFLO_SANDBOX_ROOTFS=$(cd "$target" && pwd)"
