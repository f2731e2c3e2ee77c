#!/usr/bin/env bash
# Creates or reuses the project's virtual environment (.venv) and installs what it needs.
# Usage: source scripts/setup_env.sh [runtime|demo|test]
#   runtime: the nodes with their shipped models (requirements-ros.txt, requirements.txt)
#   demo:    + plots, simulator, benchmarks (requirements-tools.txt), what ./demo.sh needs
#   test:    + every extra, the test tools and the linter (requirements-test.txt)
# Re-installs only when a requirements file or setup.py changed since the last run.
# Sourced into the caller's shell: it sets no shell options (no set -e), every step checks its own
# result and returns non-zero on failure.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_profile="${1:-runtime}"
_venv="${DEPTH_ROS_VENV:-$_root/.venv}"
_py="${PYTHON:-python3}"

if ! "$_py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
  echo "depth_ros: the ROS 2 wheels on PyPI are built for Python 3.11; set PYTHON=/path/to/python3.11" >&2
  return 1 2>/dev/null || exit 1
fi
if [ ! -x "$_venv/bin/python" ]; then
  echo "depth_ros: creating virtual environment in $_venv"
  "$_py" -m venv "$_venv" || { echo "depth_ros: cannot create $_venv" >&2; return 1 2>/dev/null || exit 1; }
fi

case "$_profile" in
  runtime) _req="$_root/requirements.txt" ;;
  demo) _req="$_root/requirements-tools.txt" ;;
  test) _req="$_root/requirements-test.txt" ;;
  *) echo "depth_ros: unknown profile '$_profile' (runtime, demo or test)" >&2; return 1 2>/dev/null || exit 1 ;;
esac
_stamp="$_venv/.depth_ros-$_profile.stamp"
_hash="$(cat "$_root"/requirements*.txt "$_root/setup.py" "$_root/setup.cfg" | sha256sum | cut -c1-64)"
if [ ! -f "$_stamp" ] || [ "$(cat "$_stamp")" != "$_hash" ]; then
  echo "depth_ros: installing $_profile requirements (first run takes a few minutes)"
  if ! "$_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$_root/requirements-ros.txt" -r "$_req" ||
     ! "$_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$_root"; then
    echo "depth_ros: installing the $_profile requirements failed" >&2
    return 1 2>/dev/null || exit 1
  fi
  echo "$_hash" > "$_stamp"
fi

if [ "$_profile" = "test" ] && ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  # Open3D (the peer implementation in the cloud tests) links against libusb-1.0.
  echo "depth_ros: installing Debian's libusb-1.0-0 for Open3D"
  _sudo=""; [ "$(id -u)" = 0 ] || _sudo="sudo"
  $_sudo apt-get install -y -qq libusb-1.0-0 >/dev/null 2>&1 ||
    { $_sudo apt-get update -qq && $_sudo apt-get install -y -qq libusb-1.0-0 >/dev/null; } ||
    { echo "depth_ros: cannot install libusb-1.0-0 (needed by Open3D in the tests)" >&2; return 1 2>/dev/null || exit 1; }
fi

if [ "$_profile" = "test" ] && ! command -v chromium >/dev/null 2>&1; then
  # The view tests load Rerun's web viewer in headless Chromium.
  echo "depth_ros: installing Debian's chromium for the web viewer test"
  _sudo=""; [ "$(id -u)" = 0 ] || _sudo="sudo"
  $_sudo apt-get install -y -qq chromium >/dev/null 2>&1 ||
    { $_sudo apt-get update -qq && $_sudo apt-get install -y -qq chromium >/dev/null; } ||
    { echo "depth_ros: cannot install chromium (needed by the web viewer test)" >&2; return 1 2>/dev/null || exit 1; }
fi

export PATH="$_venv/bin:$PATH"
export VIRTUAL_ENV="$_venv"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
