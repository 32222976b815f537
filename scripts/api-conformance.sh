#!/usr/bin/env bash
# Checks the reference server against its own OpenAPI document, from outside:
#  1. the document served at /openapi.json is valid OpenAPI 3.1 (openapi-spec-validator);
#  2. schemathesis generates requests from it (property-based, a bounded number per operation),
#     valid and invalid ones (--mode all), and runs every check (--checks all): it fails on any
#     5xx, any status, content type, header or body the document does not describe, any valid
#     request refused and any invalid one accepted. Rules JSON Schema cannot state are said in
#     the document in words; scripts/schemathesis_hooks.py keeps valid requests within them.
# Runs a fresh server (target/debug/ecsp-server, or ECSP_SERVER_BIN) on a free loopback port in
# a temporary data directory, signed in as the demo admin. Needs scripts/setup-python.sh's venv.
#   scripts/api-conformance.sh            # ECSP_API_EXAMPLES (default 25) per operation
set -euo pipefail
cd "$(dirname "$0")/.."
python="${ECSP_PYTHON:-$(scripts/setup-python.sh)}"
venv_bin="$(dirname "$python")"
server_bin="${ECSP_SERVER_BIN:-target/debug/ecsp-server}"
examples="${ECSP_API_EXAMPLES:-25}"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "${ECSP_KEEP_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$server_bin" --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 200); do
    grep -q "^  agent " "$work/server.out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
    sleep 0.1
done
base="https://localhost:$port"
ca="$work/data/tls/ca.pem"

# The demo admin's address and password, printed once at first start.
read -r email password < <(awk '$2 == "admin" { print $1, $3; exit }' "$work/server.out")
token="$("$python" - "$base" "$ca" "$email" "$password" <<'EOF'
import json, ssl, sys, urllib.request
base, ca, email, password = sys.argv[1:]
request = urllib.request.Request(
    base + "/api/v1/auth/login",
    data=json.dumps({"email": email, "password": password}).encode(),
    headers={"content-type": "application/json"},
)
with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca)) as answer:
    print(json.load(answer)["access_token"])
EOF
)"

"$python" - "$base" "$ca" "$work/openapi.json" <<'EOF'
import ssl, sys, urllib.request
base, ca, out = sys.argv[1:]
with urllib.request.urlopen(base + "/openapi.json", context=ssl.create_default_context(cafile=ca)) as answer:
    open(out, "wb").write(answer.read())
EOF
echo "openapi-spec-validator: /openapi.json"
"$venv_bin/openapi-spec-validator" "$work/openapi.json"

echo "schemathesis: $examples examples per operation"
# Generated times are past ones since 2000, as the server's rule is (scripts/schemathesis_hooks.py).
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks
fuzz() {
    "$venv_bin/schemathesis" --no-color run "$work/openapi.json" \
        --url "$base" \
        --tls-verify "$ca" \
        --checks all \
        --mode all \
        --phases examples,coverage,fuzzing \
        --max-examples "$examples" \
        --seed 1 \
        --request-timeout 10 \
        "$@"
}
# As the demo admin. Logging out would end the session the rest of the run uses: the Rust
# tests cover it.
fuzz --header "Authorization: Bearer $token" --exclude-path /api/v1/auth/logout "$@"
# The agent upload as the demo agent (with a user token it can only answer 401).
agent_secret="$(awk '$1 == "agent" { print $4; exit }' "$work/server.out")"
fuzz --header "Authorization: Bearer $agent_secret" --include-path /api/v1/agent/device-data "$@"
