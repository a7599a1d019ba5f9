#!/usr/bin/env bash
# The test command: prepares what the tests need (a Python venv with `websockets` for the
# foreign-client test), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/py-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import websockets' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'websockets>=13'
fi
export FIXP_WS_PYTHON="$PWD/$venv/bin/python"
cargo test --workspace --locked "$@"
