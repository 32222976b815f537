#!/usr/bin/env bash
# Installs tauri-driver 2.x (the WebDriver proxy for Tauri apps; 3.x is alpha) into
# target/tools unless it is there, and prints its path. It drives Debian's WebKitWebDriver.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/target/tools"
if [ ! -x "$root/bin/tauri-driver" ]; then
    cargo install tauri-driver --version '^2' --locked --root "$root" --quiet >&2
fi
echo "$root/bin/tauri-driver"
