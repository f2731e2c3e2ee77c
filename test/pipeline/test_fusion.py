"""FusionStage on synthetic scenes with exact ground truth: radar scale, relative models, ground
prior without radar, temporal filtering, stale radar and time jumps."""

from __future__ import annotations

import numpy as np
import pytest
from raycast_scenes import cast, pitched

from depth_ros.core.camera import CameraModel
from depth_ros.core.imu import ImuReading
from depth_ros.core.output_kind import OutputKind
from depth_ros.core.radar import RadarScan
from depth_ros.core.transforms import OPTICAL_FROM_BODY, rpy_to_matrix
from depth_ros.pipeline.fusion import FusionConfig, FusionStage
from depth_ros.sim.radar import default_radar_extrinsic, simulate_radar

CAM = CameraModel(160, 120, 120.0, 120.0, 79.5, 59.5)
HEIGHT = 1.2
PITCH = np.radians(8.0)


def scene_depth(cam=CAM, height=HEIGHT, pitch=PITCH, wall=6.0):
    """Exact depth of a camera `height` above a floor, pitched down, facing a wall `wall` m ahead."""
    return cast(cam, pitched(pitch), height, wall_x=wall).depth


def gravity_imu_readings(n=100, t0=0, pitch=PITCH):
    """A resting IMU aligned with camera_link, camera pitched down by `pitch` (REP-103: +pitch = nose down)."""
    R_world_body = rpy_to_matrix(0.0, pitch, 0.0)
    accel = R_world_body.T @ np.array([0.0, 0.0, 9.80665])
    return [ImuReading(t0 + i * 5_000_000, np.zeros(3), accel) for i in range(n)]


def radar_scan(depth, stamp, seed=0, clutter=0.1):
    sim = simulate_radar(depth, CAM, np.random.default_rng(seed), clutter_fraction=clutter, stamp_ns=stamp)
    return sim.scan


def absrel(pred, gt):
    ok = np.isfinite(pred) & np.isfinite(gt)
    return float(np.mean(np.abs(pred[ok] - gt[ok]) / gt[ok]))


@pytest.mark.parametrize("mode, limit", [("global", 0.03), ("spatial", 0.05)])
def test_radar_scales_a_metric_model(mode, limit):
    # The network's shape is exact: the global scale alone is right; the spatial stage may only add the
    # local noise of the radar returns it follows (4 deg elevation noise moves floor points by rows).
    gt = scene_depth()
    stage = FusionStage(FusionConfig(radar_enabled=True, T_cam_radar=default_radar_extrinsic(), temporal=False,
                                     scale_mode=mode), 0.1, 30)
    stage.add_radar(radar_scan(gt, 100))
    out = stage.align(gt * 0.7, "metric", CAM, 100, stage.radar_points(CAM, 100))
    assert out.metric and out.source == "radar"
    assert out.info["scale"] == pytest.approx(1 / 0.7, rel=0.03)
    assert absrel(out.depth, gt) < limit
    assert out.confidence.shape == gt.shape and out.confidence.min() >= 0 and out.confidence.max() <= 1


def test_radar_makes_a_relative_model_metric():
    gt = scene_depth()
    inverse = 0.5 / gt + 0.05  # unknown scale and shift in inverse depth
    stage = FusionStage(FusionConfig(radar_enabled=True, T_cam_radar=default_radar_extrinsic(), temporal=False), 0.1, 30)
    stage.add_radar(radar_scan(gt, 7))
    out = stage.align(inverse.astype(np.float32), "relative_inverse", CAM, 7, stage.radar_points(CAM, 7))
    assert out.metric and out.source == "radar"
    assert absrel(out.depth, gt) < 0.05


def test_without_radar_a_relative_model_stays_relative():
    gt = scene_depth()
    stage = FusionStage(FusionConfig(radar_enabled=True, temporal=False), 0.1, 30)
    out = stage.align((1 / gt).astype(np.float32), "relative_inverse", CAM, 1, stage.radar_points(CAM, 1))
    assert not out.metric and out.source == "none" and "fallback" in out.info


def test_ground_plane_gives_scale_without_radar():
    gt = scene_depth()
    cfg = FusionConfig(imu_enabled=True, R_cam_imu=OPTICAL_FROM_BODY.R.copy(), ground_enabled=True,
                       camera_height=HEIGHT, temporal=False)
    stage = FusionStage(cfg, 0.1, 30)
    for reading in gravity_imu_readings():
        stage.add_imu(reading)
    rng = np.random.default_rng(1)
    pred = (gt * 0.7 * (1 + 0.02 * rng.standard_normal(gt.shape))).astype(np.float32)
    out = stage.align(pred, "metric", CAM, 10**9, None)
    assert out.source == "ground"
    assert out.info["scale"] == pytest.approx(1 / 0.7, rel=0.05)


def test_stale_radar_is_not_used():
    gt = scene_depth()
    stage = FusionStage(FusionConfig(radar_enabled=True, radar_max_age_s=0.5, temporal=False), 0.1, 30)
    stage.add_radar(radar_scan(gt, 0))
    assert stage.radar_points(CAM, 2_000_000_000) is None  # 2 s later: too old
    out = stage.align(gt * 0.7, "metric", CAM, 2_000_000_000, None)
    assert out.source == "model" and "scale" not in out.info
    np.testing.assert_allclose(out.depth, gt * 0.7, rtol=1e-6)


def test_temporal_filter_smooths_and_resets_on_time_jump():
    gt = scene_depth()
    scales = {}
    for temporal in (True, False):
        stage = FusionStage(FusionConfig(radar_enabled=True, T_cam_radar=default_radar_extrinsic(),
                                         scale_mode="global", temporal=temporal), 0.1, 30)
        scales[temporal] = []
        for k in range(20):
            stamp = (k + 1) * 100_000_000
            stage.add_radar(radar_scan(gt, stamp, seed=k))
            out = stage.align(gt * 0.7, "metric", CAM, stamp, stage.radar_points(CAM, stamp))
            scales[temporal].append(out.info["scale"])
    filtered, raw = np.array(scales[True]), np.array(scales[False])
    assert filtered[-1] == pytest.approx(1 / 0.7, rel=0.02)
    assert np.std(np.diff(filtered[5:])) < 0.5 * np.std(np.diff(raw[5:]))
    # Bag loop: time jumps back; the radar buffer resets, old scans are gone, the filter restarts.
    assert stage.add_radar(radar_scan(gt, 50_000_000, seed=99)) is True
    assert [s.stamp_ns for s in stage.radar.scans_for(50_000_000)] == [50_000_000]
    stage.reset()
    assert stage._filter(OutputKind.METRIC).update(1, None).source == "none"


def test_motion_compensation_uses_the_gyro():
    """A scan 100 ms older than the image while the camera yaws at 60 deg/s lands right only when compensated."""
    gt = scene_depth()
    rate = np.radians(60.0)
    cfg = FusionConfig(radar_enabled=True, T_cam_radar=default_radar_extrinsic(), imu_enabled=True,
                       R_cam_imu=OPTICAL_FROM_BODY.R.copy(), temporal=False)
    stage = FusionStage(cfg, 0.1, 30)
    for i in range(60):  # camera_link yaw rate about z (up) = IMU z
        stage.add_imu(ImuReading(i * 5_000_000, np.array([0.0, 0.0, rate]), np.array([0.0, 0.0, 9.81])))
    scan = radar_scan(gt, 100_000_000, clutter=0.0)
    stage.add_radar(scan)
    compensated = stage.radar_points(CAM, 200_000_000)
    cfg_off = FusionConfig(radar_enabled=True, T_cam_radar=default_radar_extrinsic(), temporal=False)
    plain = FusionStage(cfg_off, 0.1, 30)
    plain.add_radar(scan)
    uncompensated = plain.radar_points(CAM, 200_000_000)
    # Yawing left by 6 deg moves static points right in the image by about f * tan(6 deg) = 12.6 px.
    common = np.intersect1d(compensated.index, uncompensated.index)
    du = (compensated.uv[np.searchsorted(compensated.index, common), 0]
          - uncompensated.uv[np.searchsorted(uncompensated.index, common), 0])
    assert np.median(du) == pytest.approx(120.0 * np.tan(0.1 * rate), rel=0.1)


def test_nan_radar_points_are_dropped_and_counted():
    stage = FusionStage(FusionConfig(radar_enabled=True), 0.1, 30)
    pts = np.array([[1.0, 0.0, 0.0], [np.nan, 0, 0], [np.inf, 1, 1]])
    stage.add_radar(RadarScan(5, pts))
    assert stage.counters["radar_nonfinite_points"] == 2


def test_result_carries_the_gravity_of_its_own_time():
    """Navigation outputs use the attitude at the frame's stamp: none once the IMU has gone quiet."""
    from depth_ros.pipeline.pipeline import DepthPipeline, Frame, PipelineConfig

    class Flat:
        spec = type("S", (), {"output_kind": OutputKind.METRIC, "input_channels": 3,
                              "max_depth": 30.0})()

        def predict(self, rgb, prior=None):
            return np.full(rgb.shape[:2], 3.0, np.float32)

    pipe = DepthPipeline(Flat(), PipelineConfig(0.1, 30.0), FusionConfig(imu_enabled=True))
    for reading in gravity_imu_readings(n=50, t0=0):  # 0 .. 0.245 s, camera pitched down 8 deg
        pipe.add_imu(reading)
    rgb = np.zeros((CAM.height, CAM.width, 3), np.uint8)
    fresh = pipe.process(Frame(rgb, CAM, 300_000_000))
    expected = OPTICAL_FROM_BODY.R @ (rpy_to_matrix(0.0, PITCH, 0.0).T @ np.array([0.0, 0.0, -1.0]))
    np.testing.assert_allclose(fresh.gravity, expected, atol=1e-6)
    assert pipe.process(Frame(rgb, CAM, 5_000_000_000)).gravity is None  # 4.8 s after the last IMU sample
