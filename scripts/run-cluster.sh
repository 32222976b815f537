#!/usr/bin/env bash
# The reference server as one service of several nodes, on this machine: PostgreSQL 15, three
# `ecsp-server` nodes on loopback addresses of their own (127.0.0.11–13:8443) and HAProxy on
# 127.0.0.1:8443 in front of them (TLS passed through, MQTT told apart by ALPN, nodes checked on
# /ready), with three NATS broker nodes (127.0.0.21–23, each an MQTT process with MQTT over TLS
# on 8883 and NATS on 4222, and a routing process with routes on 6222 and leaf nodes on 7422)
# that HAProxy sends MQTT to. Clients use https://localhost:8443 as with the
# single server; agents ask the server for their broker credential. Prints what the single
# server prints (the demo passwords, the CA's fingerprint); Ctrl-C stops everything and deletes
# the cluster's folder (a throwaway, like the demo).
#
#   scripts/run-cluster.sh     ECSP_CLUSTER_NODES=N for another number of server nodes (1–9),
#                              ECSP_CLUSTER_BROKERS=0 for the nodes' own brokers instead of NATS
#
# On several machines the pieces are the same: PostgreSQL on its own host; each node started with
# --database postgres://…, the same data key (--data-key-file or ECSP_DATA_KEY) and the same CA
# (the first node's DATA_DIR/tls/ca.pem and ca.key copied into each node's DATA_DIR/tls/, or one
# operator certificate with --tls-cert/--tls-key); HAProxy's configuration from
# `ecsp-server haproxy-config --frontend ADDR --node ADDR … [--broker MQTT_ADDR …] --ca CA`. The
# broker nodes: `ecsp-server nats-init DIR` once (the keys, kept like the data key, given to
# every server node with --nats-keys), then for each broker node `ecsp-server nats-config
# --router` (its routing process) and `ecsp-server nats-config` (its MQTT process); each server
# node gets --external-broker mqtts://SERVICE_HOST:PORT --nats-keys DIR --nats-url
# nats://BROKER:4222,… (every MQTT process); across machines give the brokers' routes and leaf
# nodes TLS and credentials.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${ECSP_CLUSTER_NODES:-3}"
case "$nodes" in [1-9]) ;; *) echo "ECSP_CLUSTER_NODES must be 1 to 9" >&2; exit 2 ;; esac
brokers="${ECSP_CLUSTER_BROKERS:-3}"
case "$brokers" in [0-9]) ;; *) echo "ECSP_CLUSTER_BROKERS must be 0 to 9" >&2; exit 2 ;; esac

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

broker_args=()    # for nats-config: NATS,MQTT,ROUTE,LEAF per broker node
haproxy_brokers=() # for haproxy-config: each broker's MQTT address
nats_urls=""
server_broker=()  # what each server node is given to use the brokers
if [ "$brokers" -gt 0 ]; then
    "$bin" nats-init "$dir/nats-keys" >/dev/null
    for b in $(seq 1 "$brokers"); do
        broker_args+=(--broker "127.0.0.2$b:4222,127.0.0.2$b:8883,127.0.0.2$b:6222,127.0.0.2$b:7422")
        haproxy_brokers+=(--broker "127.0.0.2$b:8883")
        nats_urls="${nats_urls:+$nats_urls,}nats://127.0.0.2$b:4222"
    done
    server_broker=(--external-broker mqtts://localhost:8443 --nats-keys "$dir/nats-keys"
        --nats-url "$nats_urls")
fi

# The broker nodes serve the first server node's certificate (the name agents connect to).
start_brokers() {
    for b in $(seq 1 "$brokers"); do
        mkdir -p "$dir/broker$b"
        "$bin" nats-config --index "$b" "${broker_args[@]}" --router >"$dir/broker$b/router.conf"
        nats-server -c "$dir/broker$b/router.conf" >"$dir/broker$b-router.log" 2>&1 &
        pids+=("$!")
        "$bin" nats-config --index "$b" "${broker_args[@]}" --state-dir "$dir/broker$b" \
            --cert "$dir/node1/tls/server.pem" --key "$dir/node1/tls/server.key" \
            --nats-keys "$dir/nats-keys" >"$dir/broker$b/nats.conf"
        nats-server -c "$dir/broker$b/nats.conf" >"$dir/broker$b.log" 2>&1 &
        pids+=("$!")
    done
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
        --metrics-listen "127.0.0.1$i:9464" --proxy-protocol "${server_broker[@]}" \
        >"$dir/node$i.out" 2>"$dir/node$i.log" &
    pids+=("$!")
    wait_listening "$dir/node$i.out" "$!"
    if [ "$i" -eq 1 ] && [ "$brokers" -gt 0 ]; then start_brokers; fi
    node_args+=(--node "127.0.0.1$i:8443")
    addresses+=("127.0.0.1$i:8443")
done

"$bin" haproxy-config --frontend 127.0.0.1:8443 "${node_args[@]}" "${haproxy_brokers[@]}" \
    --ca "$dir/node1/tls/ca.pem" >"$dir/haproxy.cfg"
haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=("$!")
sleep 1
if ! kill -0 "${pids[-1]}" 2>/dev/null; then cat "$dir/haproxy.log" >&2; exit 1; fi

cp "$dir/node1/tls/ca.pem" "$dir/ca.pem"
echo "ECSP service: $nodes server nodes behind HAProxy at https://localhost:8443"
echo "  nodes: ${addresses[*]}; PostgreSQL: ${database#postgres://}"
if [ "$brokers" -gt 0 ]; then
    echo "  MQTT: $brokers NATS broker nodes (${nats_urls}); agents fetch their broker credential"
fi
echo "  trust the CA in $dir/ca.pem (the same for every node); logs in $dir"
echo "What the first node printed (its own address; clients use localhost:8443):"
sed 's/^/  | /' "$dir/node1.out"
echo "Ctrl-C stops the cluster."
wait
