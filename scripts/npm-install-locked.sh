#!/usr/bin/env bash
# Installs a folder's npm packages exactly as its package-lock.json pins them, and fails if npm
# would change the lock. Usage: scripts/npm-install-locked.sh DIR
#
# Why not `npm ci`: which per-platform optional packages (rollup's, esbuild's) the npm registry
# this project's machines reach serves has changed over time (at first only the linux-x64
# builds, the others answering 404; later all of them), and npm writes what it was served into
# the lock, so `npm ci` refuses a lock written while the registry answered otherwise as "out of
# sync". `npm install` with the lock present installs the same pinned versions; the lock it
# leaves must then differ from the committed one only in packages for another platform
# (entries whose `os`, `cpu` or `libc` do not match this machine) — anything else means package.json
# asks for what the lock does not pin, and fails. The committed lock is put back either way.
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
if ! node - "$before" package-lock.json <<'JS'
const fs = require("fs");
const [committed, written] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
const libc = process.report.getReport().header.glibcVersionRuntime ? "glibc" : "musl";
const forThisMachine = (entry) =>
  (!entry.os || entry.os.includes(process.platform)) && (!entry.cpu || entry.cpu.includes(process.arch)) &&
  (!entry.libc || entry.libc.includes(libc));
const a = committed.packages ?? {}, b = written.packages ?? {};
const differing = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(
  (path) => JSON.stringify(a[path]) !== JSON.stringify(b[path]),
);
const relevant = differing.filter((path) => forThisMachine(a[path] ?? b[path]));
for (const path of relevant) console.error(`  ${path || "(the project)"}: ${a[path]?.version ?? "absent"} in the lock, ${b[path]?.version ?? "absent"} wanted`);
process.exit(relevant.length ? 1 : 0);
JS
then
    cp "$before" package-lock.json
    echo "npm-install-locked: $dir/package-lock.json does not pin what package.json asks for; run npm install there and commit the lock" >&2
    exit 1
fi
cp "$before" package-lock.json
# npm's own record of the tree, newer than the lock put back, so the next call is a no-op.
touch node_modules/.package-lock.json
