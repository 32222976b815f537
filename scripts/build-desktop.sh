#!/usr/bin/env bash
# Builds the desktop app with its front end embedded: ui/dist first, then the Tauri binary with
# tauri's `custom-protocol` (feature `embed-ui`), which serves ui/dist from inside the binary.
# Usage: scripts/build-desktop.sh [--release]   (prints the binary's path last)
# --release builds with the size-optimised `desktop` profile (Cargo.toml), as shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
scripts/build-ui.sh
profile=debug
args=()
if [ "${1:-}" = "--release" ]; then profile=desktop; args+=(--profile desktop); fi
cargo build -p ecsp-desktop --features embed-ui --locked "${args[@]}" >&2
echo "target/$profile/ecsp-desktop"
