#!/usr/bin/env bash
# Runs the whole test suite: sets up .venv (first run installs everything), lints with ruff, calls pytest.
# Extra arguments go to pytest, e.g. ./test.sh -k camera -x
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup_env.sh test
ruff check . || { echo "test.sh: ruff found problems (config: ruff.toml); fix them or run 'ruff check --fix .'" >&2; exit 1; }
exec python -m pytest "$@"
