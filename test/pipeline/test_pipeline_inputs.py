"""The pipeline's side inputs (radar, IMU, odometry, radar extrinsic) and its diagnostics view.

A metric network that predicts 2 m everywhere and radar points 4 m ahead: the radar fit scales the
whole image to 4 m. Moving the radar 1.5 m behind the camera (a new extrinsic, as TF would give)
must put the same points at 5.5 m, by hand: z_optical = x_radar + 1.5.
"""

from __future__ import annotations

import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.imu import ImuReading
from depth_ros.core.radar import RadarScan
from depth_ros.core.transforms import OPTICAL_FROM_BODY, RigidTransform
from depth_ros.models.spec import OutputKind
from depth_ros.pipeline.fusion import FusionConfig
from depth_ros.pipeline.pipeline import DepthPipeline, Frame, PipelineConfig

CAM = CameraModel(160, 120, 120.0, 120.0, 79.5, 59.5)


class Flat:
    """A metric 'network' that sees a wall 2 m away."""

    spec = type("Spec", (), {"output_kind": OutputKind.METRIC, "input_channels": 3, "max_depth": 30.0})()

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        return np.full(rgb.shape[:2], 2.0, np.float32)


def _scan(stamp_ns: int, forward: float = 4.0) -> RadarScan:
    # Body frame (x forward, y left, z up): points 4 m ahead, spread over the image, plus one NaN.
    lateral = np.linspace(-1.0, 1.0, 9)
    pts = np.stack([np.full(9, forward), lateral, np.linspace(-0.6, 0.6, 9)], axis=1)
    return RadarScan(stamp_ns, np.vstack([pts, [[np.nan, 0.0, 0.0]]]))


def _pipeline() -> DepthPipeline:
    fusion = FusionConfig(radar_enabled=True, imu_enabled=True, temporal=False, scale_mode="global",
                          motion_compensation=False)
    return DepthPipeline(Flat(), PipelineConfig(0.1, 30.0), fusion)


def test_radar_scales_the_frame_and_a_new_extrinsic_moves_the_points():
    pipe = _pipeline()
    rgb = np.zeros((CAM.height, CAM.width, 3), np.uint8)
    pipe.add_radar(_scan(1_000))
    out = pipe.process(Frame(rgb, CAM, 1_000))
    assert out.scale_source == "radar"
    assert np.nanmedian(out.depth) == pytest.approx(4.0, rel=1e-3)

    behind = RigidTransform(OPTICAL_FROM_BODY.R, OPTICAL_FROM_BODY.R @ np.array([1.5, 0.0, 0.0]))
    pipe.set_radar_extrinsic(behind)
    out = pipe.process(Frame(rgb, CAM, 1_000))
    assert np.nanmedian(out.depth) == pytest.approx(5.5, rel=1e-3)


def test_diagnostics_count_what_the_side_inputs_received():
    pipe = _pipeline()
    assert pipe.diagnostics().counters["radar_scans"] == 0 and pipe.diagnostics().imu_stamp_ns is None
    pipe.add_radar(_scan(1_000))
    pipe.add_radar(_scan(2_000))
    for k in range(3):
        pipe.add_imu(ImuReading(5_000 + k, (0.0, 0.0, 0.0), (0.0, 0.0, 9.81)))
    pipe.add_odometry(6_000, np.array([0.5, 0.0, 0.0]))
    diag = pipe.diagnostics()
    assert diag.counters["radar_scans"] == 2
    assert diag.counters["radar_nonfinite_points"] == 2  # one NaN point per scan
    assert diag.counters["imu_samples"] == 3
    assert diag.radar_scans_buffered == 2
    assert diag.imu_stamp_ns == 5_002
    pipe.reset()
    assert pipe.diagnostics().radar_scans_buffered == 0


def test_the_local_correction_follows_the_frames_colours():
    """Radar says the red left half is 2 m and the blue right half 3 m; the network sees one flat wall.

    The pipeline hands the frame's image to the spatial correction, so the two scales stay on their own
    colour; without the colour factor each half's correction leaks over the edge (u = 80).
    """
    rgb = np.zeros((CAM.height, CAM.width, 3), np.uint8)
    rgb[:, :80] = (200, 40, 30)
    rgb[:, 80:] = (40, 60, 200)
    truth = np.where(np.arange(CAM.width) < 80, 2.0, 3.0)[None, :]
    ys, zs = np.meshgrid(np.linspace(0.15, 1.1, 6), np.linspace(-0.5, 0.5, 5))
    near = np.stack([np.full(ys.size, 2.0), ys.ravel(), zs.ravel()], axis=1)  # u = 79.5 - 60 y: left half
    far = np.stack([np.full(ys.size, 3.0), -1.5 * ys.ravel(), 1.5 * zs.ravel()], axis=1)  # right half
    scan = RadarScan(1_000, np.vstack([near, far]))
    errors = {}
    for name, colour_sigma in (("guided", 0.3), ("plain", float("inf"))):
        pipe = DepthPipeline(Flat(), PipelineConfig(0.1, 30.0),
                             FusionConfig(radar_enabled=True, temporal=False, colour_sigma=colour_sigma))
        pipe.add_radar(scan)
        depth = pipe.process(Frame(rgb, CAM, 1_000)).depth
        err = np.abs(depth / truth - 1.0).mean(axis=0)
        errors[name] = err[np.r_[60:72, 88:100]].max()
    assert errors["guided"] < 0.05 and errors["plain"] > 2 * errors["guided"]
