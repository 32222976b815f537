#!/usr/bin/env bash
# The portal in a real browser: ui/tests/portal/run.mjs drives Debian's Chromium (playwright-core)
# against target/debug/ecsp-server with the ES agent simulator (target/debug/ecsp-agent) running,
# checks every page with axe-core and writes screenshots to target/portal-artifacts. Called by
# scripts/test.sh with $ECSP_TEST_LOG set; appends one "test result:" line to it. The agent keeps
# its secret in the OS keyring, so the run is inside a private D-Bus session with GNOME Keyring.
set -uo pipefail
cd "$(dirname "$0")/../.."
log="${ECSP_TEST_LOG:-/dev/null}"
scripts/setup-debian.sh
# playwright-core and axe-core come from the front end's lockfile.
scripts/npm-install-locked.sh ui || exit 1
# The same selection as scripts/test.sh's build (a no-op after it; see 60-desktop.sh).
cargo build --workspace --exclude ecsp-desktop --bins --locked || exit 1
dbus-run-session -- bash -c '
    export XDG_DATA_HOME="$(mktemp -d)"
    trap '"'"'rm -rf "$XDG_DATA_HOME"'"'"' EXIT
    echo -n "ecsp-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    NO_AT_BRIDGE=1 timeout 600 node ui/tests/portal/run.mjs
' 2>&1 | tee -a "$log"
exit "${PIPESTATUS[0]}"
