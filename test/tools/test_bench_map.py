"""depth-ros-bench map, short: the map from ground-truth depth and poses is right (an exact input must
give an accurate map: F-score at 10 cm >= 0.9), the RESULT line is complete, and the F-score helper
agrees with a hand-computed case."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("open3d")

from depth_ros.bench import map as bench_map  # noqa: E402
from depth_ros.mapping.metrics import fscore, grid_iou  # noqa: E402


def test_fscore_and_iou_against_hand_computed_cases():
    ref = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]])
    pts = np.array([[0.05, 0, 0], [1.0, 0.2, 0]])  # one within 10 cm, one 20 cm off
    p, r, f = fscore(pts, ref)
    assert (p, r) == (0.5, 0.25) and f == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    a = np.array([[100, 0], [100, 100]], np.int8)
    b = np.array([[100, 100], [0, 100]], np.int8)
    assert grid_iou(a, b) == pytest.approx(2 / 4)


@pytest.mark.slow
def test_short_run_maps_true_depth_right_and_prints_the_result(capsys):
    assert bench_map.main(["--seconds", "2", "--scenes", "hall"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"^RESULT (.*)$", out, re.MULTILINE)
    assert m, out
    values = dict(kv.split("=") for kv in m[1].split())
    assert set(values) == {"fscore10_fused_hall", "fscore10_network_hall", "fscore10_gt_depth_hall",
                           "fscore10_gain_hall", "grid_iou_fused_hall", "integrate_ms_per_frame",
                           "frame_period_ratio"}
    assert float(values["fscore10_gt_depth_hall"]) >= 0.9
    assert 0 < float(values["frame_period_ratio"]) < 5
