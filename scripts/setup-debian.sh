#!/usr/bin/env bash
# Installs what the tests need from Debian: a D-Bus session bus and GNOME Keyring (a real Secret
# Service for the OS-keyring tests), secret-tool to check it from outside, keyutils, and
# python3-venv for the colorimetry reference environment.
# Idempotent; needs root (or sudo). Skips the install when everything is already there.
set -euo pipefail

packages=(dbus dbus-x11 gnome-keyring libsecret-tools keyutils python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
