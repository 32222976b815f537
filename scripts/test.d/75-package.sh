#!/usr/bin/env bash
# The server's Debian package (issue 30): built with cargo-deb (pinned, installed into
# target/tools), its systemd unit checked with `systemd-analyze verify` and its exposure score
# printed (`systemd-analyze security`), installed with dpkg, the installed binary run on a
# temporary data directory with the data key the package made, a sign-in, then the package
# purged. Called by scripts/test.sh with $ECSP_TEST_LOG set; appends one "test result:" line.
#
# The package here holds the debug binary scripts/test.sh already built (a release build is
# minutes this run cannot spare): what is tested is the packaging, not the optimiser. A real
# package: `cargo deb -p ecsp-server-mock` (release).
set -euo pipefail
cd "$(dirname "$0")/../.."
log="${ECSP_TEST_LOG:-/dev/null}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
passed=0
failed=0
check() { # description, then the command; counts and says each
    local what="$1"; shift
    if "$@"; then passed=$((passed + 1)); echo "ok: $what"; else failed=$((failed + 1)); echo "FAILED: $what"; fi
}

tools="$PWD/target/tools"
if [ ! -x "$tools/bin/cargo-deb" ]; then
    # A debug build of the tool: it only packs files, and compiles in half the time.
    cargo install cargo-deb --version 3.8.0 --locked --debug --root "$tools" --quiet
fi
# The same selection as scripts/test.sh's build (a no-op after it; `-p` alone would resolve
# features anew and build again).
cargo build --workspace --exclude ecsp-desktop --bins --locked --quiet
work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    $SUDO dpkg --purge ecsp-server >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$tools/bin/cargo-deb" -p ecsp-server-mock --no-build --profile dev --fast --quiet -o "$work/" >/dev/null 2>&1
deb="$(ls "$work"/ecsp-server_*.deb)"
echo "== built $(basename "$deb") ($(du -h "$deb" | cut -f1))"
check "the package is installed" $SUDO dpkg -i "$deb"
check "the data key was made, root's alone" test "$($SUDO stat -c '%a %U' /etc/ecsp-server/data.key)" = "600 root"
check "the settings file (it may hold the SMTP password) is root's alone" test "$($SUDO stat -c '%a %U' /etc/ecsp-server/ecsp-server.env)" = "600 root"
check "systemd-analyze verify finds nothing" systemd-analyze verify /usr/lib/systemd/system/ecsp-server.service
security="$(systemd-analyze security --offline=true /usr/lib/systemd/system/ecsp-server.service 2>&1 | tail -n 1)"
echo "== systemd-analyze security: $security"
score="$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$security")"
check "exposure $score is at most 2.0" python3 -c "import sys; sys.exit(0 if float('$score') <= 2.0 else 1)"

# The installed binary, on a temporary data directory, with the package's data key.
$SUDO cp /etc/ecsp-server/data.key "$work/data.key"
$SUDO chown "$(id -u)" "$work/data.key"
/usr/bin/ecsp-server --data-dir "$work/data" --data-key-file "$work/data.key" \
    --listen 127.0.0.1:0 --no-metrics >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do grep -q "^  agent " "$work/server.out" 2>/dev/null && break; sleep 0.2; done
port="$(sed -n 's/^ECSP reference server listening on https:\/\/.*:\([0-9]*\)$/\1/p' "$work/server.out")"
password="$(awk '$1 == "admin@demo.ecsp.example" { print $3; exit }' "$work/server.out")"
status="$(curl -s -o "$work/login.json" -w '%{http_code}' --cacert "$work/data/tls/ca.pem" \
    -H 'content-type: application/json' \
    -d "{\"email\": \"admin@demo.ecsp.example\", \"password\": \"$password\"}" \
    "https://localhost:$port/api/v1/auth/login" || true)"
check "the installed server signs the admin in (HTTP $status)" test "$status" = "200"
check "the data is sealed under the package's key (no key made in the data directory)" \
    test ! -e "$work/data/keys/data.key"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

check "the package is purged" $SUDO dpkg --purge ecsp-server
check "nothing of it is left" test ! -e /usr/bin/ecsp-server -a ! -e /etc/ecsp-server/data.key \
    -a ! -e /usr/lib/systemd/system/ecsp-server.service

echo "test result: $([ "$failed" -eq 0 ] && echo ok || echo FAILED). $passed passed; $failed failed; 0 ignored; 0 measured; 0 filtered out (package)" | tee -a "$log"
[ "$failed" -eq 0 ]
