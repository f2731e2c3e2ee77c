#!/usr/bin/env bash
# Runs the whole test suite: sets up .venv (first run installs everything) and calls pytest.
# Extra arguments go to pytest, e.g. ./test.sh -k camera -x
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup_env.sh test
exec python -m pytest "$@"
