#!/usr/bin/env bash
# Builds the desktop app's front end (ui/ → ui/dist) from its lockfile (scripts/npm-install-locked.sh
# when node_modules is missing or older than package-lock.json), then the type check and vite build.
set -euo pipefail
cd "$(dirname "$0")/../ui"
../scripts/npm-install-locked.sh .
npx --no-install tsc --noEmit
npx --no-install vite build --logLevel warn
