"""depth-ros-eval --temporal on a short simulated bag: the report holds both passes (temporal stage off
and on), the ground truth's own consistency is the small floor of the metric, the stage makes the
published depth steadier, and the plot is written."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    from depth_ros.tools.simulate import main as simulate

    out = tmp_path_factory.mktemp("temporalbag") / "bag"
    assert simulate(["--scene", "hall", "--seconds", "3", "--seed", "1011", "--no-progress", "--out", str(out)]) == 0
    return out


def test_eval_temporal_reports_both_passes(bag, tmp_path, capsys):
    from depth_ros.tools.evaluate import main

    report = tmp_path / "report"
    assert main([str(bag), "--report", str(report), "--model", "compact_depth", "--temporal", "--odom",
                 "--no-progress", "--samples", "1"]) == 0
    out = capsys.readouterr().out
    assert "temporal (true motion from /ground_truth/pose):" in out and "TCE reduction with the stage" in out
    metrics = json.loads((report / "temporal_metrics.json").read_text())
    off, on = metrics["temporal off"], metrics["temporal on"]
    assert off["frame_pairs"] == on["frame_pairs"] == 29 and off["frames_without_pose"] == 0
    assert off["tce_ground_truth"] < 0.01 < off["tce"]  # the floor of the warp is far below a network's flicker
    assert on["tce"] < 0.8 * off["tce"] and metrics["tce_reduction"] == pytest.approx(1 - on["tce"] / off["tce"])
    assert on["absrel"] <= off["absrel"] * 1.05
    # The main pass is what the parameters say (stage off by default): its AbsRel is the report's.
    summary = json.loads((report / "metrics.json").read_text())
    assert off["absrel"] == pytest.approx(summary["overall"]["absrel"], rel=1e-6)
    assert (report / "temporal_consistency.png").stat().st_size > 5000
