#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, lints, unit, integration and
# end-to-end tests. Installs what it needs from Debian (scripts/setup-debian.sh) and runs the
# tests inside a private D-Bus session with a GNOME Keyring, so the OS-keyring code is tested
# against a real Secret Service without touching the user's own keyring.
set -euo pipefail
cd "$(dirname "$0")/.."

# Minutes and seconds since the start, on each stage's heading: where a run's time goes.
start_seconds=$SECONDS
elapsed() { printf '[%02d:%02d]' $(((SECONDS - start_seconds) / 60)) $(((SECONDS - start_seconds) % 60)); }

# CI builds from a fresh clone once: incremental compilation's caches would only take disk
# (gigabytes across the test binaries; a full disk failed a run), never time.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
disk_free() { df -h --output=avail . | tail -n 1 | tr -d ' '; }
echo "== disk free at the start: $(disk_free)"

scripts/setup-debian.sh
# The independent reference (colour-science, colormath) the colorimetry tests compare against.
ECSP_PYTHON="$(scripts/setup-python.sh)"
export ECSP_PYTHON
# aiosmtpd, the SMTP server the alert e-mail tests send to.
ECSP_PYTHON_SMTP="$(scripts/setup-python.sh smtp)"
export ECSP_PYTHON_SMTP

echo "== cargo fmt --check $(elapsed)"
cargo fmt --all -- --check

# Every crate but the desktop app (linted by its part, after its front end is built), once, with
# the features its part's tests turn on: one pass instead of one per part with its own features.
echo "== cargo clippy -D warnings $(elapsed)"
cargo clippy --workspace --exclude ecsp-desktop --all-targets --locked \
    --features ecsp-mobile/test-server,ecsp-instrument-ble/bluez-double,ecsp-agent/snmpsim-tests \
    -- -D warnings
# Tells the parts below their crates are linted already.
export ECSP_LINTED=1

echo "== cargo build (binaries the end-to-end tests run) $(elapsed)"
cargo build --workspace --exclude ecsp-desktop --bins --locked

# ---- API conformance (server-mock) -------------------------------------------------------
# The served OpenAPI document is valid OpenAPI 3.1, and schemathesis's generated requests, valid
# and invalid, get no 5xx, no answer the document does not describe, no valid request refused and
# no invalid one accepted. About a minute; bounded by the number of
# examples per operation (ECSP_API_EXAMPLES) and, as a backstop, by `timeout`.
echo "== API conformance (openapi-spec-validator, schemathesis) $(elapsed)"
timeout 600 scripts/api-conformance.sh
# ---- end of API conformance --------------------------------------------------------------

echo "== cargo test $(elapsed)"
ECSP_TEST_LOG="$(mktemp)"
export ECSP_TEST_LOG
# A throwaway PostgreSQL for the server's tests on its second engine (the PostgreSQL pass below).
read -r PG_CLUSTER ECSP_TEST_POSTGRES < <(scripts/postgres-cluster.sh start)
export ECSP_TEST_POSTGRES
trap 'rm -f "$ECSP_TEST_LOG"; scripts/postgres-cluster.sh stop "$PG_CLUSTER"' EXIT
dbus-run-session -- bash -c '
    set -euo pipefail
    # A fresh, unlocked keyring for this session only (never the user'"'"'s own keyring files).
    export XDG_DATA_HOME="$(mktemp -d)"
    trap '"'"'rm -rf "$XDG_DATA_HOME"'"'"' EXIT
    echo -n "ecsp-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    set +e
    # The phone bindings are tested below, with the feature their test needs.
    # --no-fail-fast: one failing crate does not hide the results of the others.
    cargo test --workspace --exclude ecsp-mobile --exclude ecsp-desktop --locked --no-fail-fast 2>&1 | tee "$ECSP_TEST_LOG"
    exit "${PIPESTATUS[0]}"
' 2> >(grep -v "Failed to set fd limit" >&2) || status=$?

# ---- the server's tests again, on PostgreSQL -------------------------------------------------
# The pass above ran them on SQLite (the embedded default); the same test binaries run again on
# the throwaway cluster, one database per server they start. They are run directly, as cargo
# built them above: `cargo test -p …` would resolve features for that package alone and build
# it all again. Never skipped here: ECSP_TEST_ENGINE=postgres makes a missing cluster a failure.
echo "== server tests on PostgreSQL $(elapsed)"
test_binary() { # the integration-test executable of the crate in folder $1, as built above
    cargo test --workspace --exclude ecsp-mobile --exclude ecsp-desktop --locked --no-run \
        --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["name"] == "integration"
            and m["manifest_path"].endswith("/" + sys.argv[1] + "/Cargo.toml")):
        print(m["executable"])' "$1"
}
server_tests="$(test_binary server-mock)"
e2e_tests="$(test_binary tests)"
(cd server-mock && ECSP_TEST_ENGINE=postgres "$server_tests") 2>&1 | tee -a "$ECSP_TEST_LOG" \
    || status=$?
# The client core against a PostgreSQL that stops mid-flush (a cluster of the test's own).
(cd tests && ECSP_TEST_ENGINE=postgres "$e2e_tests" postgres::) 2>&1 | tee -a "$ECSP_TEST_LOG" \
    || status=$?

# ---- the parts built and tested outside the default members -----------------------------------
# Each file in scripts/test.d/ tests one part (phone bindings, desktop app, agents, …) and appends
# cargo's output, or lines in cargo's "test result: ok. N passed; M failed;" shape, to
# $ECSP_TEST_LOG; a failing part marks the run failed but the others still run.
for part in scripts/test.d/*.sh; do
    [ -e "$part" ] || continue
    echo "== $(basename "$part") $(elapsed)"
    if ! "$part"; then
        status=${status:-1}
        # A part that fails outside its own test runner still counts in the summary.
        echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out ($(basename "$part") failed)" >> "$ECSP_TEST_LOG"
    fi
done

# One closing line for everything (cargo prints one per test binary).
echo "== done $(elapsed); disk free: $(disk_free), target/ $(du -sh target 2>/dev/null | cut -f1)"
awk '/^test result:/ { p += $4; f += $6 } END { printf "summary: %d passed, %d failed\n", p, f }' "$ECSP_TEST_LOG"
exit "${status:-0}"
