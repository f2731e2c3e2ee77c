"""A 1,000-frame soak of depth_node as its own process (`depth-ros-bench soak`, 160x120 crops of real
frames, FastDepth TFLite): zero errors, bounded memory growth and latency drift.

The full benchmark runs 10,000 frames with targets rss_growth <= 1.05 and p95_drift <= 1.2. This
short run uses wider bounds, because 1,000 frames measure less precisely, not because the node
may leak more:
* rss_growth <= 1.10: the baseline is taken after only 100 warm-up frames, while allocator arenas
  and DDS buffers may still be settling; a per-frame leak of ~30 KB (the size of one depth image
  message) would still add ~30 MB on ~290 MB and fail this bound;
* p95_drift <= 2.0: two windows of 450 frames give p95s from ~23 samples each, and on a shared CI
  machine (2 cores, other jobs running) a burst of scheduler noise moved such a p95 from 12 to
  19 ms (drift 1.56) in an otherwise flat run; a node that slows down with the frame count (a
  growing buffer scanned every frame) drifts further than that, and the full 10,000-frame run
  holds the real 1.2 target.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FRAMES, WINDOW, WARMUP = 900, 450, 100


def test_soak_1000_frames(shared_dir, fastdepth_path, tmp_path):
    log = tmp_path / "node.log"
    run = subprocess.run(
        [sys.executable, "-m", "depth_ros.tools.bench", "soak", "--frames", str(FRAMES), "--window", str(WINDOW),
         "--warmup", str(WARMUP), "--model-path", str(fastdepth_path), "--shared", str(shared_dir),
         "--log", str(log), "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    print(run.stdout)
    result = re.search(r"^RESULT soak_frames=(\d+) rss_growth=([\d.]+) p95_drift=([\d.]+) errors=(\d+)$",
                       run.stdout, re.MULTILINE)
    assert result is not None, f"no RESULT line:\n{run.stdout}\n{run.stderr}\n{log.read_text() if log.exists() else ''}"
    frames, rss_growth, p95_drift, errors = int(result[1]), float(result[2]), float(result[3]), int(result[4])
    assert errors == 0, run.stdout
    assert frames == FRAMES
    assert rss_growth <= 1.10, run.stdout
    assert p95_drift <= 2.0, run.stdout
    windows = re.findall(r"^window +\d+ .*p95 latency +([\d.]+) ms", run.stdout, re.MULTILINE)
    assert len(windows) == FRAMES // WINDOW
