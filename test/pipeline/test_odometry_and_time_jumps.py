"""Odometry translation compensation against a hand-computed case, and what a backwards time jump resets.

Both go through the node's own `MessageFeeder` with real ROS messages, so the body -> optical
conversion of the odometry twist and the reset on a time jump are the node's code paths.

The compensation case: the camera drives straight ahead (camera_link x) at 2 m/s, the gyro reads
zero. Radar points 5 m ahead (y left, z up) when the radar scanned at t0 are 0.5 m nearer at the
image time t1 = t0 + 0.25 s. In the optical frame (x right, y down, z forward) a point is then
(-y, -z, 4.5): pixel u = cx - f y / 4.5, v = cy - f z / 4.5 at depth 4.5 m, e.g. (66.17, 54.17) for
y = 0.5, z = 0.2. Without compensation the same formula with 5 m: (67.5, 54.7), depth 5.
"""

from __future__ import annotations

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from radar_imu_msgs import imu_msgs

from depth_ros.core.camera import CameraModel
from depth_ros.core.output_kind import OutputKind
from depth_ros.pipeline.fusion import FusionConfig
from depth_ros.pipeline.pipeline import DepthPipeline, PipelineConfig
from depth_ros.ros.conversions import array_to_image, camera_info_from_model, make_header, points_to_msg
from depth_ros.ros.message_feeder import MessageFeeder

CAM = CameraModel(160, 120, 120.0, 120.0, 79.5, 59.5)
S = 1_000_000_000
T0 = 100 * S
T1 = T0 + S // 4
# camera_link at t0: 5 m ahead, left/right and up/down of the optical axis
POINTS_BODY = np.array([(5.0, y, z) for y in (-1.0, -0.5, 0.5) for z in (-0.2, 0.2)], np.float32)
SPEED = 2.0  # m/s along camera_link x


class Flat:
    spec = type("Spec", (), {"output_kind": OutputKind.METRIC, "input_channels": 3, "max_depth": 30.0})()

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        return np.full(rgb.shape[:2], 4.0, np.float32)


def _odometry(stamp_ns: int, vx: float) -> Odometry:
    msg = Odometry(header=make_header(stamp_ns, "odom"), child_frame_id="base_link")
    msg.twist.twist.linear.x = vx
    return msg


def _feeder(compensate: bool, reports: list | None = None) -> MessageFeeder:
    config = FusionConfig(radar_enabled=True, imu_enabled=True, motion_compensation=compensate, temporal=True,
                          scale_mode="global")
    pipeline = DepthPipeline(Flat(), PipelineConfig(0.1, 30.0), config)
    return MessageFeeder(pipeline, (lambda kind, message: reports.append(kind)) if reports is not None else
                         (lambda kind, message: None))


def _drive(feeder: MessageFeeder, t0: int, t1: int) -> None:
    """IMU at rest (zero gyro) from before t0 to t1, odometry at 2 m/s, one radar scan at t0."""
    for msg in imu_msgs(t1 + 5_000_000, n=(t1 - t0) // 5_000_000 + 40):
        feeder.add_imu(msg)
    for k in range(-2, 4):
        feeder.add_odometry(_odometry(t0 + k * S // 10, SPEED))
    feeder.add_radar(points_to_msg(POINTS_BODY, header=make_header(t0, "radar_link")))
    feeder.add_camera_info(camera_info_from_model(CAM, make_header(t1, "camera_optical")))


@pytest.mark.parametrize("compensate, depth", [(True, 4.5), (False, 5.0)])
def test_radar_points_land_where_the_moving_camera_sees_them(compensate, depth):
    feeder = _feeder(compensate)
    _drive(feeder, T0, T1)
    proj = feeder.pipeline.fusion.radar_points(CAM, T1)
    assert len(proj) == len(POINTS_BODY)
    y, z = POINTS_BODY[proj.index, 1], POINTS_BODY[proj.index, 2]
    np.testing.assert_allclose(proj.uv[:, 0], 79.5 - 120.0 * y / depth, atol=1e-4)
    np.testing.assert_allclose(proj.uv[:, 1], 59.5 - 120.0 * z / depth, atol=1e-4)
    np.testing.assert_allclose(proj.depth, depth, atol=1e-5)
    if compensate:  # the example of the module docstring
        k = int(np.flatnonzero((y == 0.5) & (z == np.float32(0.2)))[0])
        np.testing.assert_allclose(proj.uv[k], (66.1667, 54.1667), atol=1e-3)
    # The published depth is scaled by that point: the flat 4 m network output becomes its depth.
    frame, result = feeder.process(array_to_image(np.zeros((CAM.height, CAM.width, 3), np.uint8), "rgb8",
                                                  header=make_header(T1, "camera_optical")))
    assert result.scale_source == "radar"
    assert np.nanmedian(result.depth) == pytest.approx(depth, rel=1e-3)


def test_a_backwards_time_jump_resets_gyro_attitude_odometry_radar_and_filter():
    reports: list[str] = []
    feeder = _feeder(True, reports)
    rgb = np.zeros((CAM.height, CAM.width, 3), np.uint8)
    _drive(feeder, T0, T1)
    _, before = feeder.process(array_to_image(rgb, "rgb8", header=make_header(T1, "camera_optical")))
    fusion = feeder.pipeline.fusion
    assert before.scale_source == "radar" and before.info["imu_fresh"] and before.gravity is not None
    assert len(fusion.gyro) > 0 and fusion.attitude.stamp_ns is not None and len(fusion.odometry) > 0

    # The bag loops: the next image is 90 s earlier; nothing else has arrived in the new loop yet.
    jump = 10 * S
    feeder.add_camera_info(camera_info_from_model(CAM, make_header(jump, "camera_optical")))
    _, after = feeder.process(array_to_image(rgb, "rgb8", header=make_header(jump, "camera_optical")))
    assert reports.count("time_jump") == 1
    assert len(fusion.gyro) == 0 and fusion.attitude.stamp_ns is None and len(fusion.odometry) == 0
    assert len(fusion.radar) == 0
    # Published after the jump: no stale attitude, no stale radar, no scale carried over by the filter.
    assert after.gravity is None and not after.info["imu_fresh"]
    assert after.scale_source == "model" and after.info["radar_scans"] == 0

    # The new loop's inputs are used again.
    _drive(feeder, jump + S // 10, jump + S // 10 + S // 4)
    _, again = feeder.process(array_to_image(rgb, "rgb8", header=make_header(jump + S // 10 + S // 4, "camera_optical")))
    assert again.scale_source == "radar" and again.gravity is not None
