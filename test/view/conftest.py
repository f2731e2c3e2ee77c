"""A short simulated bag, its depth-ros-view recording and depth-ros-eval's output bag of the same replay."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODEL = ["--model", "compact_depth"]  # shipped and fast; trained on these synthetic worlds
PARAMS = ["-p", "cloud_decimation:=2", "-p", "obstacles.enabled:=true", "-p", "scan.enabled:=true"]


@pytest.fixture(scope="session")
def view_bag(tmp_path_factory):
    from depth_ros.tools.simulate import main as simulate

    bag = tmp_path_factory.mktemp("view") / "hall"
    assert simulate(["--scene", "hall", "--seconds", "2", "--seed", "3", "--out", str(bag), "--no-progress"]) == 0
    return bag


@pytest.fixture(scope="session")
def view_rrd(view_bag):
    """depth-ros-view BAG --save: the pipeline over the bag, written to an .rrd."""
    rrd = view_bag.parent / "hall.rrd"
    run = subprocess.run([sys.executable, "-m", "depth_ros.tools.view", str(view_bag), "--save", str(rrd), *MODEL,
                          *PARAMS, "--no-progress"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"20 frames -> {rrd}" in run.stdout, run.stdout
    return rrd


@pytest.fixture(scope="session")
def eval_output_bag(view_bag):
    """depth-ros-eval's offline replay of the same bag, with its output bag (depth, confidence, points, image)."""
    out = view_bag.parent / "eval_out"
    run = subprocess.run([sys.executable, "-m", "depth_ros.tools.evaluate", str(view_bag), "--report",
                          str(view_bag.parent / "report"), "--output-bag", str(out), *MODEL, *PARAMS, "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return out
