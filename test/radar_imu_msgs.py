"""Radar and IMU messages for the graph tests: a simulated radar scan of a real RGB-D frame as a
PointCloud2 (x, y, z, snr) and a burst of resting-IMU samples just before an image stamp."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Imu, PointCloud2

from depth_ros.ros.conversions import make_header, points_to_msg
from depth_ros.sim.radar import SimulatedRadar, simulate_radar


def radar_msg(frame, stamp_ns: int, seed: int = 0,
              frame_id: str = "radar_link") -> tuple[PointCloud2, SimulatedRadar]:
    """The radar scan `simulate_radar` makes of `frame` (its depth and camera) and its message."""
    sim = simulate_radar(frame.depth, frame.camera, np.random.default_rng(seed), stamp_ns=stamp_ns)
    msg = points_to_msg(sim.scan.points.astype(np.float32), header=make_header(stamp_ns, frame_id),
                        extra={"snr": sim.scan.fields["snr"].astype(np.float32)})
    return msg, sim


def imu_msgs(stamp_ns: int, n: int = 20, gravity: float = 9.81, pitch: float = 0.0,
             frame_id: str = "imu_link") -> list[Imu]:
    """`n` samples at 200 Hz ending 5 ms before `stamp_ns` of an IMU at rest, pitched down by `pitch`
    (radians, REP-103: nose down > 0, so the accelerometer reads -g sin(pitch) on x, g cos(pitch) on z);
    no gyro, no orientation (covariance[0] = -1)."""
    out = []
    for i in range(n):
        m = Imu(header=make_header(stamp_ns - (n - i) * 5_000_000, frame_id))
        if pitch:
            m.linear_acceleration.x, m.linear_acceleration.z = -gravity * np.sin(pitch), gravity * np.cos(pitch)
        else:
            m.linear_acceleration.z = gravity
        m.orientation_covariance[0] = -1.0
        out.append(m)
    return out
