"""A 6,000-frame soak of depth_node as its own process (`depth-ros-bench soak`, 160x120 crops of real
frames, FastDepth TFLite) held to the README's targets: zero errors, rss_growth <= 1.05 and
p95_drift <= 1.2 (the targets of depth_ros.bench.targets, the same the full 10,000-frame run uses).

12 windows of 500 frames after 1,500 warm-up frames: the drift compares the median p95 of the last
four windows with that of the first four, so a node that slows down with the frame count fails and
one burst of scheduler noise on a shared 2-core machine does not (a single 450-frame window once
moved from 12 to 19 ms). The long warm-up: in one run of a clean clone the p95 settled from 6.4 to
about 8 ms between frames 1,500 and 2,500 and then stayed flat, which a 300-frame warm-up counted
as drift (1.25).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from depth_ros.bench.targets import TARGETS

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def target(key: str) -> float:
    return next(t.value for t in TARGETS["soak"] if t.key == key)
FRAMES, WINDOW, WARMUP = 6000, 500, 1500


def test_soak_1000_frames(shared_dir, fastdepth_path, tmp_path):
    log = tmp_path / "node.log"
    run = subprocess.run(
        [sys.executable, "-m", "depth_ros.tools.bench", "soak", "--frames", str(FRAMES), "--window", str(WINDOW),
         "--warmup", str(WARMUP), "--model-path", str(fastdepth_path), "--shared", str(shared_dir),
         "--log", str(log), "--no-progress"],
        capture_output=True, text=True, timeout=420,
    )
    print(run.stdout)
    result = re.search(r"^RESULT soak_frames=(\d+) rss_growth=([\d.]+) p95_drift=([\d.]+) errors=(\d+)$",
                       run.stdout, re.MULTILINE)
    assert result is not None, f"no RESULT line:\n{run.stdout}\n{run.stderr}\n{log.read_text() if log.exists() else ''}"
    frames, rss_growth, p95_drift, errors = int(result[1]), float(result[2]), float(result[3]), int(result[4])
    assert errors == 0, run.stdout
    assert frames == FRAMES
    assert rss_growth <= target("rss_growth"), run.stdout
    assert p95_drift <= target("p95_drift"), run.stdout
    windows = re.findall(r"^window +\d+ .*p95 latency +([\d.]+) ms", run.stdout, re.MULTILINE)
    assert len(windows) == FRAMES // WINDOW
