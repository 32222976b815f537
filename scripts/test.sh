#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, lints, unit and integration tests.
# Needs only the Rust toolchain (SQLite is bundled, TLS is rustls/ring); later parts that need
# Debian packages install them from scripts/setup-debian.sh, called from here.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
