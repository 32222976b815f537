#!/usr/bin/env bash
# One command for a fresh machine: installs what the desktop app needs (Debian packages, the
# front end's npm packages from the lockfile), builds the reference server and the app, starts
# the server on https://localhost:8443 (data in ./ecsp-data; its CA fingerprint and the demo
# accounts' passwords are printed on first start) and opens the app. Quitting the app stops
# the server. ECSP_DESKTOP_RELEASE=1 builds optimised binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
release=()
profile=debug
if [ "${ECSP_DESKTOP_RELEASE:-}" = "1" ]; then release=(--release); profile=release; fi
app="$(scripts/build-desktop.sh "${release[@]}" | tail -n 1)"
cargo build -p ecsp-server-mock --bin ecsp-server --locked "${release[@]}"
"target/$profile/ecsp-server" --data-dir "${ECSP_SERVER_DATA:-ecsp-data}" &
server=$!
trap 'kill "$server" 2>/dev/null' EXIT
sleep 2
echo
echo "Sign in with the server address https://localhost:8443 and compare the fingerprint above."
"$app"
