#!/usr/bin/env bash
# The Python side of the PostgreSQL benchmarks: a venv in Benchmarks/dbos/.venv (gitignored) built from
# Debian's /usr/bin/python3, with DBOS Transact at the pinned version (it brings psycopg 3, the raw loop's client)
# and aiohttp (the fake provider of the queue benchmarks, queue/fakellm.py).
#
#   bash Benchmarks/dbos/setup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DBOS_VERSION=3.4.0
AIOHTTP_VERSION=3.13.2
if [ ! -x "$here/.venv/bin/python" ]; then
  /usr/bin/python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install -q --disable-pip-version-check "dbos==$DBOS_VERSION" "aiohttp==$AIOHTTP_VERSION"
"$here/.venv/bin/python" -c 'import dbos, psycopg; from importlib.metadata import version; print("dbos", version("dbos"), "psycopg", version("psycopg"))'
