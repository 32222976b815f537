#!/usr/bin/env bash
# The reference server as one service of several nodes, on this machine: PostgreSQL 15, three
# `ecsp-server` nodes on loopback addresses of their own (127.0.0.11–13:8443) and HAProxy on
# 127.0.0.1:8443 in front of them (TLS passed through, MQTT told apart by ALPN, nodes checked on
# /ready). Clients use https://localhost:8443 as with the single server. Prints what the single
# server prints (the demo passwords, the CA's fingerprint); Ctrl-C stops everything and deletes
# the cluster's folder (a throwaway, like the demo).
#
#   scripts/run-cluster.sh            ECSP_CLUSTER_NODES=N for another number of nodes (1–9)
#
# On several machines the pieces are the same: PostgreSQL on its own host; each node started with
# --database postgres://…, the same data key (--data-key-file or ECSP_DATA_KEY) and the same CA
# (the first node's DATA_DIR/tls/ca.pem and ca.key copied into each node's DATA_DIR/tls/, or one
# operator certificate with --tls-cert/--tls-key); HAProxy's configuration from
# `ecsp-server haproxy-config --frontend ADDR --node ADDR … --ca CA`.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${ECSP_CLUSTER_NODES:-3}"
case "$nodes" in [1-9]) ;; *) echo "ECSP_CLUSTER_NODES must be 1 to 9" >&2; exit 2 ;; esac

scripts/setup-debian.sh
cargo build --release --locked -p ecsp-server-mock --bin ecsp-server
bin="$PWD/target/release/ecsp-server"

dir="$(mktemp -d "${TMPDIR:-/tmp}/ecsp-cluster.XXXXXX")"
pids=()
pg=""
stop() {
    trap - EXIT INT TERM
    echo
    echo "stopping the cluster"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$pg" ]; then scripts/postgres-cluster.sh stop "$pg"; fi
    rm -rf "$dir"
}
trap stop EXIT INT TERM

read -r pg admin < <(scripts/postgres-cluster.sh start --durable)
psql -q "$admin" -c 'CREATE DATABASE ecsp' >/dev/null
database="${admin%/postgres}/ecsp"

# Waits until a node's log says it listens (or its process died).
wait_listening() {
    local log="$1" pid="$2"
    for _ in $(seq 1 300); do
        if grep -q "listening on" "$log" 2>/dev/null; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then cat "${log%.out}.log" >&2; return 1; fi
        sleep 0.2
    done
    echo "a node did not start within a minute: $log" >&2
    return 1
}

node_args=()
addresses=()
for i in $(seq 1 "$nodes"); do
    data="$dir/node$i"
    if [ "$i" -gt 1 ]; then
        # One data key and one CA for the whole service (each node issues its own certificate).
        mkdir -p "$data/keys" "$data/tls"
        cp "$dir/node1/keys/data.key" "$data/keys/"
        cp "$dir/node1/tls/ca.pem" "$dir/node1/tls/ca.key" "$data/tls/"
    fi
    ECSP_DATABASE_URL="$database" "$bin" --listen "127.0.0.1$i:8443" --data-dir "$data" \
        --metrics-listen "127.0.0.1$i:9464" --proxy-protocol >"$dir/node$i.out" 2>"$dir/node$i.log" &
    pids+=("$!")
    wait_listening "$dir/node$i.out" "$!"
    node_args+=(--node "127.0.0.1$i:8443")
    addresses+=("127.0.0.1$i:8443")
done

"$bin" haproxy-config --frontend 127.0.0.1:8443 "${node_args[@]}" --ca "$dir/node1/tls/ca.pem" \
    >"$dir/haproxy.cfg"
haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=("$!")
sleep 1
if ! kill -0 "${pids[-1]}" 2>/dev/null; then cat "$dir/haproxy.log" >&2; exit 1; fi

cp "$dir/node1/tls/ca.pem" "$dir/ca.pem"
echo "ECSP service: $nodes server nodes behind HAProxy at https://localhost:8443"
echo "  nodes: ${addresses[*]}; PostgreSQL: ${database#postgres://}"
echo "  trust the CA in $dir/ca.pem (the same for every node); logs in $dir"
echo "What the first node printed (its own address; clients use localhost:8443):"
sed 's/^/  | /' "$dir/node1.out"
echo "Ctrl-C stops the cluster."
wait
