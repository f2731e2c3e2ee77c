"""The temporal stage inside the pipeline, fed through the node's `MessageFeeder` with real messages:
it uses the odometry's translation, starts over on a time jump, and is off unless enabled.

The scene: the camera drives at 1 m/s (camera_link x) towards a wall 6 m ahead at t = 0, frames at
10 Hz, gyro at rest. A metric "network" sees the wall's true depth with 2 % white noise per pixel
and frame. Between frames the wall comes 0.1 m nearer: a filter that knows it (odometry) stays on
the truth and averages the noise; without odometry it must allow for an unknown translation.
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
from depth_ros.pipeline.temporal import TemporalConfig
from depth_ros.ros.conversions import array_to_image, camera_info_from_model, make_header
from depth_ros.ros.message_feeder import MessageFeeder

CAM = CameraModel(80, 60, 60.0, 60.0, 39.5, 29.5)
S = 1_000_000_000
T0 = 50 * S
PERIOD = S // 10
SPEED = 1.0
WALL = 10.0


def truth(stamp_ns: int) -> float:
    return WALL - SPEED * (stamp_ns - T0) / S


class NoisyWall:
    """A metric network that sees the wall at its true distance with 2 % noise (seeded per stamp)."""

    spec = type("Spec", (), {"output_kind": OutputKind.METRIC, "input_channels": 3, "max_depth": 30.0})()
    stamp_ns = T0

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        rng = np.random.default_rng(self.stamp_ns // PERIOD)
        return (truth(self.stamp_ns) * (1 + 0.02 * rng.standard_normal(rgb.shape[:2]))).astype(np.float32)


def _odometry(stamp_ns: int) -> Odometry:
    msg = Odometry(header=make_header(stamp_ns, "odom"), child_frame_id="base_link")
    msg.twist.twist.linear.x = SPEED
    return msg


def _run(temporal: TemporalConfig | None, odometry: bool, frames: int = 20, start: int = T0,
         feeder: MessageFeeder | None = None) -> tuple[MessageFeeder, list]:
    if feeder is None:
        fusion = FusionConfig(imu_enabled=True, odom_enabled=odometry)
        feeder = MessageFeeder(DepthPipeline(NoisyWall(), PipelineConfig(0.1, 30.0), fusion, temporal),
                               lambda kind, message: None)
    rgb = np.zeros((CAM.height, CAM.width, 3), np.uint8)
    results = []
    for k in range(frames):
        stamp = start + k * PERIOD
        for msg in imu_msgs(stamp + 10_000_000, n=20):  # the gyro covers the frame's stamp
            feeder.add_imu(msg)
        if odometry:
            feeder.add_odometry(_odometry(stamp - 5_000_000))
        feeder.add_camera_info(camera_info_from_model(CAM, make_header(stamp, "camera_optical")))
        feeder.pipeline.model.stamp_ns = stamp
        _, result = feeder.process(array_to_image(rgb, "rgb8", header=make_header(stamp, "camera_optical")))
        results.append((stamp, result))
    return feeder, results


def _errors(results) -> tuple[float, float]:
    """Over the last 10 frames: mean relative bias and mean per-pixel relative spread."""
    bias = [np.nanmean(r.depth) / truth(s) - 1 for s, r in results[-10:]]
    spread = [np.nanstd(r.depth) / truth(s) for s, r in results[-10:]]
    return float(np.mean(bias)), float(np.mean(spread))


def test_odometry_translation_keeps_the_filter_on_the_truth():
    _, off = _run(None, odometry=True)
    _, on = _run(TemporalConfig(enabled=True), odometry=True)
    _, rotation_only = _run(TemporalConfig(enabled=True), odometry=False)
    bias_off, spread_off = _errors(off)
    bias_on, spread_on = _errors(on)
    bias_rot, spread_rot = _errors(rotation_only)
    assert abs(bias_off) < 0.002 and spread_off == pytest.approx(0.02, rel=0.1)
    # With odometry: unbiased, and the noise of a steady fading-memory filter, sqrt((1 - m) / (1 + m)).
    assert abs(bias_on) < 0.003
    assert spread_on == pytest.approx(0.02 * np.sqrt(0.4 / 1.6), rel=0.2)
    assert on[-1][1].info["temporal"].startswith("fused") and "gyro+odometry" in on[-1][1].info["temporal"]
    assert on[-1][1].info["temporal_fused"] > 0.95 and "temporal" in on[-1][1].timings
    # Without it the history trails the approaching wall: at most memory / (1 - memory) frames of
    # travel (1.5 x 0.1 m at 8-9 m), less since the unknown translation it allows for lowers the
    # history's weight (less smoothing than with odometry, still less noise than without the stage).
    assert "(gyro)" in rotation_only[-1][1].info["temporal"]
    assert bias_on < bias_rot < 1.5 * 0.1 / 8.0 and spread_on < spread_rot < spread_off


def test_a_backwards_time_jump_starts_the_history_over():
    feeder, before = _run(TemporalConfig(enabled=True), odometry=True, frames=8)
    assert before[-1][1].info["temporal"].startswith("fused")
    # A jump of more than 1 s back (a bag loop) resets the whole pipeline; a shorter one only the history.
    for back, reason in ((-3 * S, "first frame"), (-2 * PERIOD, "gap -0.200 s")):
        feeder.pipeline.model.stamp_ns = start = feeder.pipeline.temporal.filter.stamp_ns + back
        _, after = _run(None, odometry=True, frames=1, start=start, feeder=feeder)
        result = after[0][1]
        assert result.info["temporal"] == f"restart: {reason}"
        # Nothing of the history is in it: exactly the network's output of that frame.
        raw = feeder.pipeline.model.predict(np.zeros((CAM.height, CAM.width, 3), np.uint8))
        np.testing.assert_array_equal(result.depth, raw)
        assert feeder.pipeline.temporal.filter.stamp_ns == start


def test_a_gap_between_frames_starts_over_and_the_stage_is_off_by_default():
    feeder, _ = _run(TemporalConfig(enabled=True, max_gap=0.5), odometry=True, frames=3)
    _, later = _run(None, odometry=True, frames=1, start=T0 + S, feeder=feeder)
    assert later[0][1].info["temporal"] == "restart: gap 0.800 s"

    _, plain = _run(TemporalConfig(), odometry=True, frames=2)
    assert "temporal" not in plain[-1][1].info and "temporal" not in plain[-1][1].timings
