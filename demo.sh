#!/usr/bin/env bash
# The main job: sets up .venv (first run installs everything), then runs the depth_ros demo.
# Extra arguments go to depth-ros-demo (see ./demo.sh --help).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup_env.sh demo
# --view needs the view extra (Rerun): installed on first use.
case " $* " in *" --view "*)
  python -c 'import rerun' 2>/dev/null || python -m pip install --quiet --disable-pip-version-check -r requirements-view.txt ;;
esac
exec depth-ros-demo "$@"
