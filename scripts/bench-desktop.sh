#!/usr/bin/env bash
# The desktop app's figures, apart from scripts/test.sh because they need a release build of
# the shipped Tauri app (profile `desktop`: about 10 minutes of a 2-core machine, beyond the test budget):
#  1. 1,000 JDF tickets dropped into the hot folder at once, parsed, captured and delivered, in
#     files per second, next to the same records captured directly through the client core
#     (`cargo bench -p ecsp-dfe --bench hot_folder`; the app's collector runs this same path);
#  2. the release app under Xvfb: cold start to the first screen, idle memory of the process
#     tree, binary size (ui/tests/e2e/startup.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
echo "== 1,000 JDF tickets through the hot folder"
cargo bench -p ecsp-dfe --bench hot_folder --locked
echo "== the release app"
app="$(scripts/build-desktop.sh --release | tail -n 1)"
TAURI_DRIVER="$(scripts/setup-tauri-driver.sh)"
export TAURI_DRIVER ECSP_DESKTOP_BIN="$PWD/$app"
# -noreset: Xvfb would reset after each launch's last client leaves and refuse the next one
# meanwhile (see scripts/test.d/60-desktop.sh).
xvfb-run -a -s "-screen 0 1280x900x24 -noreset" dbus-run-session -- env NO_AT_BRIDGE=1 node ui/tests/e2e/startup.mjs
