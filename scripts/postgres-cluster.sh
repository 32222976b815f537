#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests and benchmarks, in a temporary folder on a free
# loopback port, with trust authentication on loopback only.
#
#   scripts/postgres-cluster.sh start [--durable]  prints `DIR URL`: its folder and admin URL
#   scripts/postgres-cluster.sh pause DIR           stops the server, keeps the cluster
#   scripts/postgres-cluster.sh resume DIR          starts it again on the same port
#   scripts/postgres-cluster.sh stop DIR            stops it and deletes the folder
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user (made by
# Debian's package). fsync is off: the tests crash processes, never the machine, and the page
# cache survives a process; the benchmark passes `--durable` to keep it on.
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-}" in
start)
    durable=off
    if [ "${2:-}" = "--durable" ]; then durable=on; fi
    dir="$(mktemp -d "${TMPDIR:-/tmp}/ecsp-pg.XXXXXX")"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    # In its configuration, not on pg_ctl's command line, so that `resume` starts it the same.
    as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = $durable
full_page_writes = $durable
max_connections = 400
shared_buffers = 128MB
CONF
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null
    echo "$dir postgres://postgres@127.0.0.1:$port/postgres"
    ;;
pause)
    dir="${2:?which cluster (its folder)}"
    as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
resume)
    dir="${2:?which cluster (its folder)}"
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null
    ;;
stop)
    dir="${2:?which cluster (its folder)}"
    as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start [--durable] | pause DIR | resume DIR | stop DIR" >&2
    exit 2
    ;;
esac
