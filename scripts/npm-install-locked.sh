#!/usr/bin/env bash
# Installs a folder's npm packages exactly as its package-lock.json pins them, and fails if npm
# would change the lock. Usage: scripts/npm-install-locked.sh DIR
#
# Why not `npm ci`: the npm registry this project's machines reach serves only the linux-x64
# builds of packages with per-platform optional dependencies (rollup's, esbuild's); the others
# answer 404, so npm writes locks without them and `npm ci` then refuses every such lock as "out
# of sync". `npm install` with the lock present installs the same pinned versions; checking that
# the lock is byte for byte unchanged keeps the guarantee `npm ci` would give.
set -euo pipefail
dir="$1"
cd "$dir"
if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
    exit 0
fi
before="$(mktemp)"
trap 'rm -f "$before"' EXIT
cp package-lock.json "$before"
npm install --no-audit --no-fund --loglevel=error
if ! cmp -s "$before" package-lock.json; then
    cp "$before" package-lock.json
    echo "npm-install-locked: $dir/package-lock.json does not pin what package.json asks for; run npm install there and commit the lock" >&2
    exit 1
fi
