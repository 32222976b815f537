#!/usr/bin/env bash
# Installs what the tests need from Debian: the lists in scripts/debian-packages.d/ (what each
# part needs and why is said in its list).
# Idempotent; needs root (or sudo). Skips the install when everything is already there.
set -euo pipefail

# One list per part in scripts/debian-packages.d/ (a package name per line, `#` comments).
mapfile -t packages < <(cat "$(dirname "$0")"/debian-packages.d/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
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
