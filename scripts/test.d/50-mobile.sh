#!/usr/bin/env bash
# Phone bindings (ecsp-mobile; not a default member). Called by scripts/test.sh with
# $ECSP_TEST_LOG set; appends cargo's test output to it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The Python test drives the generated uniffi bindings against the reference server, which it
# starts through the bindings' `test-server` feature; it needs only python3 (no PyPI package).
echo "== mobile: clippy and the Python bindings test (--features test-server)"
cargo clippy -p ecsp-mobile --features test-server --all-targets --locked -- -D warnings
# The test generates the bindings from target/debug's cdylib: build it with the feature first
# (the workspace build above left one without it there).
cargo build -p ecsp-mobile --features test-server --locked
cargo test -p ecsp-mobile --features test-server --locked 2>&1 | tee -a "$ECSP_TEST_LOG"

