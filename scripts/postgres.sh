#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, on a free loopback port.
#
#   eval "$(bash scripts/postgres.sh start DIR)"   # exports WFLO_TEST_POSTGRES_URL (and PGDIR)
#   bash scripts/postgres.sh stop DIR
#
# Installs Debian's `postgresql` package when the server is missing. The server refuses to run
# as root, so when this script runs as root the cluster belongs to the `postgres` OS user. The
# cluster trusts loopback connections (it is a test cluster: nothing else listens there).
#
# Tests kill wflo processes, never the server, so what the server has committed survives them
# without fsync: by default the cluster skips fsync (a test suite that creates a database per test
# would otherwise wait on the disk). Benchmarks set WFLO_PG_DURABLE=1 for a server that fsyncs
# every commit, as a production one does.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2; exit 2
fi

find_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$found" ] && [ -x "$found/pg_ctl" ] && echo "$found"
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    # runuser keeps no tty and needs no password; the cluster's files belong to postgres. From /:
    # the postgres user may not enter the caller's folder (a fresh clone under mktemp -d is 0700).
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

case "$cmd" in
start)
  bin=$(find_bin || true)
  if [ -z "$bin" ]; then
    echo "postgres.sh: installing postgresql" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >/dev/null
    bin=$(find_bin)
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    # The postgres user must be able to reach DIR through its parents.
    p="$dir"
    while [ "$p" != "/" ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # A free port: ask the kernel for one.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${WFLO_PG_DURABLE:-0}" = "1" ] && durability=""
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=300 -c shared_buffers=128MB $durability" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }
  as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE wflo_test" >&2
  echo "export WFLO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/wflo_test"
  echo "export WFLO_TEST_POSTGRES_ADMIN_URL=postgres://postgres@127.0.0.1:$port/postgres"
  echo "export PGDIR=$dir"
  ;;
stop)
  bin=$(find_bin)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >&2 || true
  fi
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2; exit 2
  ;;
esac
