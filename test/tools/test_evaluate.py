"""depth-ros-eval on a short simulated bag: report contents checked against an independent
computation from the output bag, determinism, lidar ground truth, the live path, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical

EVAL = [sys.executable, "-m", "depth_ros.tools.evaluate"]


@pytest.fixture(scope="module")
def sim_bag(tmp_path_factory):
    from depth_ros.tools.simulate import main as simulate

    folder = tmp_path_factory.mktemp("sim")
    bag = folder / "hall"
    assert simulate(["--scene", "hall", "--seconds", "2", "--seed", "3", "--out", str(bag), "--no-progress"]) == 0
    return bag


def run_eval(bag, report, fastdepth_path, *extra):
    cmd = EVAL + [str(bag), "--report", str(report), "--model", "fastdepth_tflite", "--model-path", str(fastdepth_path),
                  "--no-progress", *map(str, extra)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return out


def test_report_matches_an_independent_computation(sim_bag, tmp_path, fastdepth_path):
    from depth_ros.bags.io import open_bag
    from depth_ros.ros.conversions import image_to_depth_m, stamp_to_ns

    out_bag = tmp_path / "out"
    res = run_eval(sim_bag, tmp_path / "rep", fastdepth_path, "--output-bag", out_bag)
    assert res.returncode == 0, res.stderr
    assert "depth_ros (published)" in res.stdout and "per ground-truth range" in res.stdout
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    overall = metrics["overall"]
    assert {"absrel", "rmse", "delta1", "frames"} <= set(overall) and overall["frames"] == 20
    for name in ("report.md", "sample_0.png", "error_vs_range.png", "scale_over_time.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    assert set(metrics["latency"]) >= {"model_inference", "fusion", "total"}

    # Independent: mean per-frame AbsRel of the published depth (from the output bag) vs the bag's ground truth.
    gt, pred = {}, {}
    with open_bag(sim_bag) as b:
        for m in b.messages(topics=["/camera/depth/ground_truth"]):
            gt[stamp_to_ns(m.msg.header.stamp)] = image_to_depth_m(m.msg)
    with open_bag(out_bag) as b:
        assert b.topics["/depth/image"].count == 20 and b.topics["/points"].count == 20
        for m in b.messages(topics=["/depth/image"]):
            pred[stamp_to_ns(m.msg.header.stamp)] = image_to_depth_m(m.msg)
    absrels, d1 = [], []
    for stamp, p in pred.items():
        g = gt[stamp]
        ok = np.isfinite(g) & (g > 1e-3) & np.isfinite(p) & (p > 0)
        absrels.append(np.mean(np.abs(p[ok] - g[ok]) / g[ok]))
        d1.append(np.mean(np.maximum(p[ok] / g[ok], g[ok] / p[ok]) < 1.25))
    assert overall["absrel"] == pytest.approx(np.mean(absrels), rel=1e-4)
    assert overall["delta1"] == pytest.approx(np.mean(d1), rel=1e-4)

    # Deterministic: a second run gives the same numbers.
    res2 = run_eval(sim_bag, tmp_path / "rep2", fastdepth_path)
    assert res2.returncode == 0, res2.stderr
    assert json.loads((tmp_path / "rep2" / "metrics.json").read_text())["overall"] == overall


def test_lidar_ground_truth_projected_into_the_camera(sim_bag, tmp_path, fastdepth_path):
    """A lidar cloud made from the ground truth (in a lidar frame 0.3 m above the camera) gives the
    same AbsRel as the depth topic on the pixels it covers."""
    from depth_ros.bags.io import BagWriter, open_bag
    from depth_ros.ros.conversions import (
        camera_model_from_info,
        image_to_depth_m,
        make_header,
        points_to_msg,
        stamp_to_ns,
    )

    T_cam_lidar = body_extrinsic_to_optical(RigidTransform.from_translation_rpy((0.0, 0.0, 0.3), (0.0, 0.0, 0.2)))
    lidar_bag = tmp_path / "lidar"
    with open_bag(sim_bag) as src, BagWriter(lidar_bag) as dst:
        for t in ("/camera/image_raw", "/camera/camera_info"):
            dst.add_topic(t, src.topics[t].msgtype)
        dst.add_topic("/lidar/points", "sensor_msgs/msg/PointCloud2")
        camera = None
        for m in src.messages(topics=["/camera/image_raw", "/camera/camera_info", "/camera/depth/ground_truth"]):
            if m.topic == "/camera/camera_info":
                camera = camera_model_from_info(m.msg)
            if m.topic == "/camera/depth/ground_truth":
                depth = image_to_depth_m(m.msg)[::2, ::2]  # every 4th pixel: a sparse "lidar"
                r = camera.rays
                x, y = np.broadcast_to(r.x, (camera.height, camera.width))[::2, ::2], np.broadcast_to(
                    r.y, (camera.height, camera.width))[::2, ::2]
                ok = np.isfinite(depth)
                pts_cam = np.stack([x[ok] * depth[ok], y[ok] * depth[ok], depth[ok]], 1)
                pts = T_cam_lidar.inverse().apply(pts_cam).astype(np.float32)
                dst.write("/lidar/points", m.timestamp_ns,
                          points_to_msg(pts, header=make_header(stamp_to_ns(m.msg.header.stamp), "lidar")))
            else:
                dst.write(m.topic, m.timestamp_ns, m.msg)
    res = run_eval(lidar_bag, tmp_path / "rep", fastdepth_path, "--gt-lidar", "/lidar/points",
                   "--gt-lidar-extrinsic", "0", "0", "0.3", "0", "0", "0.2", "--node", "depth_node")
    assert res.returncode == 0, res.stderr
    lidar = json.loads((tmp_path / "rep" / "metrics.json").read_text())["overall"]
    res = run_eval(sim_bag, tmp_path / "rep_depth", fastdepth_path, "--no-radar", "--no-imu", "--node", "depth_node")
    dense = json.loads((tmp_path / "rep_depth" / "metrics.json").read_text())["overall"]
    assert lidar["frames"] == 20
    assert lidar["absrel"] == pytest.approx(dense["absrel"], rel=0.05)


@pytest.mark.slow
def test_live_run_matches_offline(sim_bag, tmp_path, fastdepth_path):
    res = run_eval(sim_bag, tmp_path / "rep", fastdepth_path, "--live", "--rate", "1.0")
    assert res.returncode == 0, res.stderr + res.stdout
    live = json.loads((tmp_path / "rep" / "metrics.json").read_text())["live"]
    assert live["frames"] >= 18
    assert live["absrel_difference"] < 0.01


def test_bad_input_gives_one_line_and_exit_1(tmp_path, sim_bag, fastdepth_path):
    res = run_eval(tmp_path / "nope", tmp_path / "rep", fastdepth_path)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "nope" in res.stderr
    res = run_eval(sim_bag, tmp_path / "rep", fastdepth_path, "--gt-topic", "/not/there")
    assert res.returncode == 1 and "/not/there" in res.stderr
    assert not (tmp_path / "rep" / "metrics.json").exists()
