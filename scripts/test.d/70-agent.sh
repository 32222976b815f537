#!/usr/bin/env bash
# The agents (ecsp-agent): the DC agent against a real SNMP agent, snmpsim from PyPI, serving
# agent/tests/snmprec/. Called by scripts/test.sh with $ECSP_TEST_LOG set; appends cargo's test
# output to it. The rest of ecsp-agent's tests run in `cargo test --workspace`.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== agent: snmpsim venv (scripts/python-snmp.lock)"
ECSP_SNMP_PYTHON="$(scripts/setup-python.sh snmp)"
export ECSP_SNMP_PYTHON
echo "== agent: clippy and the SNMP tests (--features snmpsim-tests)"
# scripts/test.sh lints every crate with this feature in one pass; run alone, lint here.
[ -n "${ECSP_LINTED:-}" ] || cargo clippy -p ecsp-agent --features snmpsim-tests --all-targets --locked -- -D warnings
cargo test -p ecsp-agent --features snmpsim-tests --locked --test integration snmpsim:: 2>&1 \
    | tee -a "$ECSP_TEST_LOG"
exit "${PIPESTATUS[0]}"
