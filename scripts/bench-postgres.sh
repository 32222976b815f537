#!/usr/bin/env bash
# The ingest benchmark on both engines in one run: SQLite in a temporary data directory, then
# PostgreSQL 15 on a throwaway cluster on this machine with its durability on (fsync), each
# beside its own /health baseline, then side by side.
#   scripts/bench-postgres.sh            (ECSP_BENCH_SECS, ECSP_BENCH_ROUNDS as for the bench)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
read -r cluster admin < <(scripts/postgres-cluster.sh start --durable)
trap 'scripts/postgres-cluster.sh stop "$cluster"' EXIT
cargo bench -p ecsp-server-mock --bench ingest --locked -- --database "$admin"
