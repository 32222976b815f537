#!/usr/bin/env bash
# The desktop app's figures, apart from scripts/test.sh because they need a release build of
# the shipped Tauri app (profile `desktop`: about 10 minutes of a 2-core machine, beyond the test budget):
#  1. 1,000 JDF tickets dropped into the hot folder at once, parsed, captured and delivered, in
#     files per second, next to the same records captured directly through the client core
#     (`cargo bench -p ecsp-dfe --bench hot_folder`; the app's collector runs this same path);
#  2. the release app under Xvfb (ui/tests/e2e/startup.mjs): cold start to the first screen;
#     idle memory (PSS) of its process tree after signing in to the reference server with 1,000
#     records queued, beside WebKitGTK's MiniBrowser on about:blank measured the same way in the
#     same run (the aim: the app at most 25 MiB over it); binary size.
# ECSP_STARTUP_RUNS=0 skips the start-up timing, ECSP_MEMORY_RUNS=3 reports the median of three.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
echo "== 1,000 JDF tickets through the hot folder"
cargo bench -p ecsp-dfe --bench hot_folder --locked
echo "== the release app"
app="$(scripts/build-desktop.sh --release | tail -n 1)"
# The reference server the app signs in to; the same selection as scripts/test.sh's build (a
# no-op after it).
cargo build --workspace --exclude ecsp-desktop --bins --locked
TAURI_DRIVER="$(scripts/setup-tauri-driver.sh)"
export TAURI_DRIVER ECSP_DESKTOP_BIN="$PWD/$app" ECSP_SERVER_BIN="$PWD/target/debug/ecsp-server"
# -noreset: Xvfb would reset after each launch's last client leaves and refuse the next one
# meanwhile (see scripts/test.d/60-desktop.sh). The session goes to a private, unlocked GNOME
# Keyring, as in the end-to-end test.
xvfb-run -a -s "-screen 0 1280x900x24 -noreset" dbus-run-session -- bash -c '
    export XDG_DATA_HOME="$(mktemp -d)"
    trap '"'"'rm -rf "$XDG_DATA_HOME"'"'"' EXIT
    echo -n "ecsp-bench-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    NO_AT_BRIDGE=1 node ui/tests/e2e/startup.mjs
'
