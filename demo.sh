#!/usr/bin/env bash
# The main job: sets up .venv (first run installs everything), then runs the depth_ros demo.
# Extra arguments go to depth-ros-demo (see ./demo.sh --help).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup_env.sh demo
exec depth-ros-demo "$@"
