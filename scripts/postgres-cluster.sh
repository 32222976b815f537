#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests and benchmarks, in a temporary folder on a free
# loopback port, with trust authentication on loopback only.
#
#   scripts/postgres-cluster.sh start   prints `DIR URL`: the cluster's folder and its admin URL
#   scripts/postgres-cluster.sh stop DIR stops it and deletes the folder
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
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=$durable -c full_page_writes=$durable -c max_connections=400 -c shared_buffers=128MB" \
        start >/dev/null
    echo "$dir postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    dir="${2:?which cluster (its folder)}"
    as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start [--durable] | stop DIR" >&2
    exit 2
    ;;
esac
