"""sensor_msgs/Imu -> `ImuSample` (duck-typed: rclpy and `rosbags` messages, ROS 1 bags included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from depth_ros.core.errors import ConversionError
from depth_ros.ros.conversions.stamps import stamp_to_sec


@dataclass(frozen=True, eq=False)
class ImuSample:
    """One IMU reading in the message's frame (SI units: rad/s, m/s^2)."""

    stamp: float
    """Header stamp in seconds."""
    angular_velocity: np.ndarray
    """(3,) float64 rad/s."""
    linear_acceleration: np.ndarray
    """(3,) float64 m/s^2 (includes gravity, as sensor_msgs/Imu specifies)."""
    orientation: np.ndarray | None = None
    """(4,) float64 unit quaternion x, y, z, w; None when the message carries none."""
    frame_id: str = ""


def _vector(v: Any) -> np.ndarray:
    return np.array([float(v.x), float(v.y), float(v.z)], dtype=np.float64)


def imu_from_msg(msg: Any) -> ImuSample:
    """Read an Imu message; NaN/inf in gyro or accelerometer -> `ConversionError`.

    The orientation is None when orientation_covariance[0] == -1 (the sensor_msgs convention
    for "no orientation"), and also when the quaternion is zero or not finite, which drivers
    without an orientation estimate often publish; otherwise it is normalised.
    """
    gyro = _vector(msg.angular_velocity)
    accel = _vector(msg.linear_acceleration)
    frame_id = str(msg.header.frame_id)
    if not np.isfinite(gyro).all():
        raise ConversionError(f"Imu angular_velocity is not finite: {gyro.tolist()} (frame '{frame_id}')")
    if not np.isfinite(accel).all():
        raise ConversionError(f"Imu linear_acceleration is not finite: {accel.tolist()} (frame '{frame_id}')")
    orientation = None
    if float(msg.orientation_covariance[0]) != -1.0:
        o = msg.orientation
        q = np.array([float(o.x), float(o.y), float(o.z), float(o.w)], dtype=np.float64)
        with np.errstate(over="ignore"):
            norm = float(np.linalg.norm(q))
        if np.isfinite(norm) and norm > 1e-6:
            orientation = q / norm
    gyro.setflags(write=False)
    accel.setflags(write=False)
    if orientation is not None:
        orientation.setflags(write=False)
    return ImuSample(
        stamp=stamp_to_sec(msg.header.stamp),
        angular_velocity=gyro,
        linear_acceleration=accel,
        orientation=orientation,
        frame_id=frame_id,
    )
