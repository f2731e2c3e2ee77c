"""depth-ros-eval --map on a short simulated bag: the three maps are built with the bag's poses, the
ground-truth depth with exact poses maps the true surface (F-score at 10 cm >= 0.9), and the files
of the report come back: metrics JSON, the grid picture, a mesh Open3D reads."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("open3d")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    from depth_ros.tools.simulate import main as simulate

    out = tmp_path_factory.mktemp("mapbag") / "bag"
    assert simulate(["--scene", "hall", "--seconds", "2", "--seed", "1007", "--no-progress", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("poses", ["ground_truth", "odom"])
def test_eval_map_scores_the_maps_and_writes_their_files(bag, tmp_path, poses, capsys):
    import open3d as o3d

    from depth_ros.tools.evaluate import main

    report = tmp_path / "report"
    assert main([str(bag), "--report", str(report), "--model", "compact_depth", "--map", "--map-poses", poses,
                 "--no-progress", "--samples", "1"]) == 0
    out = capsys.readouterr().out
    assert f"map ({poses} poses, 20 frames, 0 without a pose)" in out
    metrics = json.loads((report / "map_metrics.json").read_text())
    assert metrics["frames"] == 20 and metrics["frames_published_metric"] == 20
    if poses == "ground_truth":
        assert metrics["ground_truth_depth_fscore10"] >= 0.9
    # the 2 s odometry drifts by a few cm at most: the true depth's map stays close to the true surface
    assert metrics["ground_truth_depth_fscore10"] >= 0.8
    for name in ("published", "ground_truth_depth"):
        assert 0 <= metrics[f"{name}_fscore5"] <= metrics[f"{name}_fscore10"] <= 1
    assert 0 <= metrics["grid_iou_published"] <= 1
    assert (report / "map_grids.png").stat().st_size > 1000
    assert len(o3d.io.read_triangle_mesh(str(report / "map_published.ply")).vertices) > 100
    for name in ("published", "ground_truth_depth"):  # rendered meshes: a picture with content, not a blank canvas
        import matplotlib.pyplot as plt

        image = plt.imread(report / f"map_mesh_{name}.png")
        assert image.shape[0] > 300 and image[..., :3].std() > 0.05
