#!/usr/bin/env bash
# Phone bindings (ecsp-mobile; not a default member). Called by scripts/test.sh with
# $ECSP_TEST_LOG set; appends cargo's test output to it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The Python and Kotlin tests drive the generated uniffi bindings against the reference server,
# which they start through the bindings' `test-server` feature; Python needs only python3 (no
# PyPI package), Kotlin the npm `kotlin-compiler` and Debian's JNA and JDK.
echo "== mobile: clippy and the Python and Kotlin bindings tests (--features test-server)"
# scripts/test.sh lints every crate with this feature in one pass; run alone, lint here.
[ -n "${ECSP_LINTED:-}" ] || cargo clippy -p ecsp-mobile --features test-server --all-targets --locked -- -D warnings
# The Kotlin test's compiler, from npm (pinned in the lockfile); JNA comes from Debian.
(cd mobile/tests/kotlin && npm ci --no-audit --no-fund --loglevel=error)
# The test generates the bindings from target/debug's cdylib: build it with the feature first
# (the workspace build above left one without it there).
cargo build -p ecsp-mobile --features test-server --locked
cargo test -p ecsp-mobile --features test-server --locked 2>&1 | tee -a "$ECSP_TEST_LOG"

