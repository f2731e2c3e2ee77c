"""Wheel-odometry-like poses of the synthetic robot: the true planar motion with scale and heading drift.

Between consecutive samples the true base_link motion (forward distance and yaw change, in the
plane) is corrupted like wheel odometry: the distance by a per-run scale error
(N(0, scale_noise), e.g. tyre radius) plus white noise, the yaw change by a per-run bias and a
random walk (yaw_noise rad per sqrt(s)); the corrupted increments are integrated from the true
start pose, so the odom frame coincides with the world at the first sample and drifts after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.transforms import RigidTransform, rpy_to_matrix


@dataclass(frozen=True)
class OdometryNoise:
    """Scale error (fraction of distance), heading noise (rad / sqrt(s)) and heading bias (rad / s)."""

    scale_noise: float = 0.02
    yaw_noise: float = 0.01
    yaw_bias: float = 0.002

    def __post_init__(self) -> None:
        if min(self.scale_noise, self.yaw_noise, self.yaw_bias) < 0:
            raise InvalidInputError(f"odometry noise must be >= 0, got {self}")


@dataclass
class OdometryTrack:
    """Odometry samples: stamps, base_link poses in the odom frame, body-frame velocities."""

    stamps_ns: np.ndarray
    poses: list[RigidTransform]
    linear: np.ndarray  # (N, 3) m/s in base_link
    angular: np.ndarray  # (N, 3) rad/s in base_link


def simulate_odometry(true_poses: list[RigidTransform], stamps_ns: np.ndarray, noise: OdometryNoise,
                      rng: np.random.Generator) -> OdometryTrack:
    """Odometry of base_link from its true poses at `stamps_ns` (the odom frame = world at the first)."""
    if len(true_poses) != len(stamps_ns) or len(true_poses) < 2:
        raise InvalidInputError(f"need >= 2 poses and as many stamps, got {len(true_poses)} and {len(stamps_ns)}")
    xy = np.array([p.t[:2] for p in true_poses])
    yaw = np.array([np.arctan2(p.R[1, 0], p.R[0, 0]) for p in true_poses])
    dt = np.diff(np.asarray(stamps_ns, np.int64)) * 1e-9
    heading = np.stack([np.cos(yaw[:-1]), np.sin(yaw[:-1])], axis=1)
    forward = np.einsum("ij,ij->i", np.diff(xy, axis=0), heading)  # distance along the heading
    turn = np.angle(np.exp(1j * np.diff(yaw)))
    scale = 1.0 + rng.normal(0.0, noise.scale_noise)
    bias = rng.normal(0.0, noise.yaw_bias)
    forward_odo = forward * scale * (1.0 + rng.normal(0.0, 0.2 * noise.scale_noise, forward.shape))
    turn_odo = turn + bias * dt + rng.normal(0.0, noise.yaw_noise, turn.shape) * np.sqrt(dt)
    yaw_odo = yaw[0] + np.concatenate([[0.0], np.cumsum(turn_odo)])
    steps = forward_odo[:, None] * np.stack([np.cos(yaw_odo[:-1]), np.sin(yaw_odo[:-1])], axis=1)
    xy_odo = xy[0] + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    z = true_poses[0].t[2]
    poses = [RigidTransform(rpy_to_matrix(0.0, 0.0, float(a)), np.array([x, y, z])) for (x, y), a in zip(xy_odo, yaw_odo)]
    linear = np.zeros((len(poses), 3))
    angular = np.zeros((len(poses), 3))
    linear[1:, 0] = forward_odo / dt
    angular[1:, 2] = turn_odo / dt
    linear[0], angular[0] = linear[1], angular[1]
    return OdometryTrack(np.asarray(stamps_ns, np.int64), poses, linear, angular)
