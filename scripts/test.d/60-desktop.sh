#!/usr/bin/env bash
# The desktop app (ecsp-desktop, Tauri 2; not a default member) and its front end (ui/). Called
# by scripts/test.sh with $ECSP_TEST_LOG set; appends cargo's output and one "test result:" line
# per non-cargo suite. Runs: the front end's type check and build, its unit tests (vitest), its
# UI tests in Chromium with the IPC mocked (axe-core, keyboard, both languages), clippy and the
# crate's tests, and the end-to-end test of the real app (tauri-driver + WebKitWebDriver under
# Xvfb) against the reference server. Screenshots: target/desktop-artifacts/{browser,e2e}.
set -uo pipefail
cd "$(dirname "$0")/../.."
log="${ECSP_TEST_LOG:-/dev/null}"
status=0
fail() { echo "desktop: $1 failed" >&2; status=1; }

scripts/setup-debian.sh
scripts/build-ui.sh || fail "the front end build"

echo "== desktop: UI unit tests (vitest)"
report="$(mktemp)"
(cd ui && npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report") || fail "vitest"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`test result: ${r.numFailedTests ? "FAILED" : "ok"}. ${r.numPassedTests} passed; ${r.numFailedTests} failed; 0 ignored; 0 measured; 0 filtered out`)' "$report" | tee -a "$log"
rm -f "$report"

echo "== desktop: UI tests in Chromium (mocked IPC)"
node ui/tests/browser/run.mjs | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the browser tests"

echo "== desktop: the crate's tests, linted as they are built"
# Linted while it is built: clippy's driver compiles the workspace's crates (what `cargo clippy`
# does, with its lints as errors), so Tauri and the rest are compiled once for the tests and the
# app rather than first checked for clippy and then built (2.5 minutes of a fresh run). The
# crate has no benches or examples, so the test build covers what `--all-targets` would.
lint() {
    RUSTC_WORKSPACE_WRAPPER="$(dirname "$(rustup which cargo)")/clippy-driver" \
        CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" "$@"
}
# In a private D-Bus session with an unlocked GNOME Keyring (never the user's own), as
# scripts/test.sh runs the other suites: the crate's tests use the OS keyring.
lint dbus-run-session -- bash -c '
    export XDG_DATA_HOME="$(mktemp -d)"
    trap '"'"'rm -rf "$XDG_DATA_HOME"'"'"' EXIT
    echo -n "ecsp-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    cargo test -p ecsp-desktop --features embed-ui --locked
' 2>&1 | grep -v "Failed to set fd limit" | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "cargo test -p ecsp-desktop (with clippy's lints)"

echo "== desktop: end-to-end in the real app (tauri-driver, Xvfb)"
# Built as the tests were (the same compiler wrapper), so nothing is compiled again.
lint cargo build -p ecsp-desktop --features embed-ui --locked || fail "the app build"
# The same selection as scripts/test.sh's build, so after it this is a no-op: building the server
# alone unifies its dependencies' features differently and rebuilt them (45 s on a fresh run).
cargo build --workspace --exclude ecsp-desktop --bins --locked || fail "the server build"
TAURI_DRIVER="$(scripts/setup-tauri-driver.sh)" || fail "installing tauri-driver"
export TAURI_DRIVER
# -noreset: by default Xvfb resets when its last client disconnects and refuses connections
# meanwhile, so an app started just after another one quit could not open the display (one
# launch in six failed so in scripts/bench-desktop.sh's back-to-back launches).
xvfb-run -a -s "-screen 0 1280x900x24 -noreset" dbus-run-session -- bash -c '
    export XDG_DATA_HOME="$(mktemp -d)"
    trap '"'"'rm -rf "$XDG_DATA_HOME"'"'"' EXIT
    echo -n "ecsp-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    NO_AT_BRIDGE=1 timeout 600 node ui/tests/e2e/run.mjs
' 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the end-to-end test"
exit "$status"
