#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, lints, unit, integration and
# end-to-end tests. Installs what it needs from Debian (scripts/setup-debian.sh) and runs the
# tests inside a private D-Bus session with a GNOME Keyring, so the OS-keyring code is tested
# against a real Secret Service without touching the user's own keyring.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-debian.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo build (binaries the end-to-end tests run)"
cargo build --workspace --bins --locked

echo "== cargo test"
exec dbus-run-session -- bash -c '
    set -euo pipefail
    # A fresh, unlocked keyring for this session only (never the user'"'"'s own keyring files).
    export XDG_DATA_HOME="$(mktemp -d)"
    trap '"'"'rm -rf "$XDG_DATA_HOME"'"'"' EXIT
    echo -n "ecsp-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    cargo test --workspace --locked
' 2> >(grep -v "Failed to set fd limit" >&2)
