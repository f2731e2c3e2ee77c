"""From an installed (non-editable) copy, package data comes from the installation, never the checkout.

pip builds a wheel of the checkout into a temporary folder; a fresh interpreter that runs outside
the checkout imports depth_ros from there and reports where it finds the Fast DDS profile, the
configs, the shipped weights and the demo's folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, os
import depth_ros
from depth_ros.models.registry import get_spec, load_model
from depth_ros.package_data import config_file, package_sources
from depth_ros.ros.dds import PROFILE_ENV, large_data_profile, use_large_data_profile
from depth_ros.tools import demo

use_large_data_profile()
args = demo.parse_args([])
model = load_model("fastdepth_tflite")
import numpy as np
depth = model.predict(np.zeros((240, 320, 3), np.uint8))
print(json.dumps({
    "package": depth_ros.__file__,
    "profile": str(large_data_profile()),
    "profile_env": os.environ.get(PROFILE_ENV),
    "configs": [str(config_file(n)) for n in ("depth_node.yaml", "radar_depth_node.yaml", "depth_ros.rviz")],
    "weights": [get_spec(n).default_path for n in ("fastdepth_tflite", "tcmonodepth_small", "compact_depth")],
    "sim_sources": [str(p) for p in package_sources("sim")],
    "demo_out": os.path.abspath(args.out),
    "demo_cache": args.cache,
    "depth_shape": list(depth.shape),
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    # Built from a copy, so the build leaves nothing in the checkout and nothing stale there gets in.
    source = tmp_path_factory.mktemp("src") / "depth_ros"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "out", ".cache", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"))
    target = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-compile", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    return target


@pytest.mark.slow
def test_installed_copy_finds_its_own_package_data(installed, tmp_path):
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")}
    env.update(PYTHONPATH=str(installed), XDG_CACHE_HOME=str(cache))
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])

    def inside(path: str) -> bool:
        return Path(path).resolve().is_relative_to(installed.resolve())

    assert inside(found["package"]), found["package"]
    assert inside(found["profile"]) and found["profile_env"] == found["profile"]
    assert Path(found["profile"]).read_bytes() == (REPO / "depth_ros" / "config" / "fastdds_large_data.xml").read_bytes()
    assert all(inside(p) and Path(p).is_file() for p in found["configs"]), found["configs"]
    assert all(inside(p) and Path(p).exists() for p in found["weights"]), found["weights"]
    assert len(found["sim_sources"]) == len(list((REPO / "depth_ros" / "sim").glob("*.py")))
    assert all(inside(p) for p in found["sim_sources"])
    # The demo writes where the user runs it and caches in the user's cache, not beside site-packages.
    assert Path(found["demo_out"]) == work / "out" / "demo"
    assert Path(found["demo_cache"]) == cache / "depth_ros" / "demo"
    assert found["depth_shape"] == [240, 320]
