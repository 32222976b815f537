#!/usr/bin/env bash
# The cluster benchmark: uploads through HAProxy to 1, 2 and 3 server nodes beside one node
# reached directly, on a throwaway PostgreSQL 15 cluster on this machine with its durability on.
#   scripts/bench-cluster.sh            (ECSP_BENCH_SECS, ECSP_BENCH_ROUNDS, ECSP_BENCH_CLIENTS)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
read -r cluster admin < <(scripts/postgres-cluster.sh start --durable)
trap 'scripts/postgres-cluster.sh stop "$cluster"' EXIT
cargo bench -p ecsp-server-mock --bench cluster --locked -- --database "$admin"
