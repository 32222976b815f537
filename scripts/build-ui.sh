#!/usr/bin/env bash
# Builds the desktop app's front end (ui/ → ui/dist) from its lockfile: `npm ci` when
# node_modules is missing or older than package-lock.json, then the type check and vite build.
set -euo pipefail
cd "$(dirname "$0")/../ui"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
npx --no-install tsc --noEmit
npx --no-install vite build --logLevel warn
