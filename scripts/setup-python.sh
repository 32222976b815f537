#!/usr/bin/env bash
# Prepares the Python the colorimetry tests and benchmark compare against, and the API
# conformance step runs: a virtualenv in target/pyenv with colour-science and python-colormath,
# schemathesis and openapi-spec-validator (pinned) from PyPI. Prints the interpreter's path;
# tests find it through ECSP_PYTHON.
#   export ECSP_PYTHON="$(scripts/setup-python.sh)"
# With an argument NAME it prepares another part's virtualenv instead: target/pyenv-NAME from
# scripts/python-NAME.lock (each part pins its own tools, so one part's pins never move another's).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$PWD/target/pyenv${1:+-$1}"
# Every package, transitive ones too, pinned in the lockfile (made with `pip freeze` from
# colour-science==0.4.7 colormath==3.0.0 networkx==3.6.1 numpy==2.4.6 schemathesis==4.32.5
# openapi-spec-validator==0.9.0).
lock="$PWD/scripts/python-${1:-requirements}.lock"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$lock" "$stamp"; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$lock" >&2
    "$venv/bin/pip" check >&2
    cp "$lock" "$stamp"
fi
echo "$venv/bin/python"
