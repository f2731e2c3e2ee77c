"""Rotations and rigid transforms in ROS conventions (REP-103), numpy only.

Conventions
-----------
- Quaternions are (x, y, z, w), as in geometry_msgs/Quaternion and tf2.
- Roll/pitch/yaw are REP-103 fixed-axis angles: roll about X, then pitch about the fixed Y,
  then yaw about the fixed Z, so R = Rz(yaw) @ Ry(pitch) @ Rx(roll) (= scipy's
  ``Rotation.from_euler('xyz', [roll, pitch, yaw])``, lower case = extrinsic).
- A ``RigidTransform`` named ``T_a_b`` maps coordinates of a point in frame b to its
  coordinates in frame a: ``p_a = T_a_b.apply(p_b) = R @ p_b + t``. It is also the pose of
  frame b expressed in frame a, i.e. exactly what a tf2 transform with header.frame_id = a and
  child_frame_id = b holds. Composition: ``T_a_c = T_a_b @ T_b_c``.

Body and optical frames
-----------------------
- A REP-103 body frame (``base_link``, ``camera_link``, ``radar_link``, ``imu_link``):
  x forward, y left, z up.
- A camera optical frame (REP-103 ``*_optical_frame``; what CameraInfo and the depth image
  refer to): x right, y down, z forward (along the optical axis).
- ``OPTICAL_FROM_BODY`` is the pure rotation taking camera_link (body) coordinates to
  camera optical coordinates, both frames sharing one origin:
  ``optical = (-y_body, -z_body, x_body)``. Its inverse is the usual
  ``static_transform_publisher 0 0 0 -1.5708 0 -1.5708 camera_link camera_optical_frame``
  (yaw = -pi/2, pitch = 0, roll = -pi/2).
- Sensor extrinsics (radar, IMU) are normally given as the pose of the sensor in
  ``camera_link``: ``static_transform_publisher x y z yaw pitch roll camera_link radar_link``.
  (ROS 2: ``--x --y --z --yaw --pitch --roll --frame-id camera_link --child-frame-id radar_link``.)
  Note the positional order there is yaw, pitch, roll; ``RigidTransform.from_translation_rpy``
  takes (roll, pitch, yaw). ``body_extrinsic_to_optical(T_body_sensor)`` returns
  ``T_optical_sensor = OPTICAL_FROM_BODY @ T_body_sensor``, the transform that maps points
  measured in the sensor frame to camera optical coordinates, assuming (as every ROS camera
  driver does) that camera_link and the optical frame share their origin.
  Example: a radar 10 cm to the left of the camera, facing the same way, is
  ``T_body_radar = from_translation_rpy((0, 0.10, 0), (0, 0, 0))``; its origin lands at
  optical (-0.10, 0, 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from depth_ros.core.errors import InvalidInputError

_ROTATION_TOL = 1e-5


def _as_vector(value: Sequence[float] | np.ndarray, n: int, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=np.float64)
    if v.shape != (n,):
        raise InvalidInputError(f"{name} must have shape ({n},), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidInputError(f"{name} must be finite, got {v.tolist()}")
    return v


def _as_rotation(R: np.ndarray, name: str = "R") -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3):
        raise InvalidInputError(f"{name} must have shape (3, 3), got {R.shape}")
    if not np.all(np.isfinite(R)):
        raise InvalidInputError(f"{name} must be finite, got {R.tolist()}")
    err = float(np.abs(R.T @ R - np.eye(3)).max())
    det = float(np.linalg.det(R))
    if err > _ROTATION_TOL or det < 0:
        raise InvalidInputError(
            f"{name} is not a rotation matrix (|R^T R - I| = {err:.2e}, det = {det:.6f}): {R.tolist()}"
        )
    return R


def quat_to_matrix(q: Sequence[float] | np.ndarray) -> np.ndarray:
    """Quaternion (x, y, z, w) -> rotation matrix (3, 3). The quaternion is normalised first."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (4,):
        raise InvalidInputError(f"quaternion must have 4 elements (x, y, z, w), got shape {q.shape}")
    norm = float(np.linalg.norm(q))
    if not np.isfinite(norm) or norm < 1e-9:
        raise InvalidInputError(f"quaternion (x, y, z, w) must be finite and non-zero, got {q.tolist()}")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) -> unit quaternion (x, y, z, w) with w >= 0."""
    R = _as_rotation(R)
    tr = R[0, 0] + R[1, 1] + R[2, 2]
    # Shepperd: divide by the largest of the four candidates to stay well conditioned.
    i = int(np.argmax([tr, R[0, 0], R[1, 1], R[2, 2]]))
    if i == 0:
        s = 2.0 * np.sqrt(1.0 + tr)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif i == 1:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif i == 2:
        s = 2.0 * np.sqrt(1.0 - R[0, 0] + R[1, 1] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 - R[0, 0] - R[1, 1] + R[2, 2])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """REP-103 fixed-axis roll, pitch, yaw (radians) -> R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    _as_vector((roll, pitch, yaw), 3, "roll, pitch, yaw")
    return _rz(yaw) @ _ry(pitch) @ _rx(roll)


def matrix_to_rpy(R: np.ndarray) -> tuple[float, float, float]:
    """Rotation matrix -> (roll, pitch, yaw), pitch in [-pi/2, pi/2].

    At gimbal lock (pitch = +-pi/2) roll is set to 0 and the whole rotation about z goes to yaw.
    """
    R = _as_rotation(R)
    cp = float(np.hypot(R[0, 0], R[1, 0]))
    pitch = float(np.arctan2(-R[2, 0], cp))
    if cp > 1e-9:
        roll = float(np.arctan2(R[2, 1], R[2, 2]))
        yaw = float(np.arctan2(R[1, 0], R[0, 0]))
    else:
        roll = 0.0
        yaw = float(np.arctan2(-R[0, 1], R[1, 1]))
    return roll, pitch, yaw


def so3_exp(rotvec: Sequence[float] | np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, radians) -> rotation matrix (Rodrigues)."""
    return so3_exp_batch(_as_vector(rotvec, 3, "rotation vector")[None])[0]


def so3_exp_batch(rotvecs: np.ndarray) -> np.ndarray:
    """(N, 3) rotation vectors -> (N, 3, 3) rotation matrices (Rodrigues), all at once."""
    w = np.asarray(rotvecs, dtype=np.float64).reshape(-1, 3)
    theta2 = np.einsum("ij,ij->i", w, w)
    K = np.zeros((len(w), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -w[:, 2], w[:, 1], -w[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = w[:, 2], -w[:, 1], w[:, 0]
    # Taylor terms for tiny angles keep the result orthonormal to machine precision.
    small = theta2 < 1e-12
    theta = np.sqrt(np.where(small, 1.0, theta2))
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(theta) / theta)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(theta)) / np.where(small, 1.0, theta2))
    return np.eye(3) + a[:, None, None] * K + b[:, None, None] * (K @ K)


def so3_log(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> rotation vector with angle in [0, pi]."""
    # Via the quaternion: stable near 0 and near pi, where the trace formula is not.
    q = matrix_to_quat(R)
    v, w = q[:3], q[3]
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        return 2.0 * v / w
    return v * (2.0 * np.arctan2(n, w) / n)


@dataclass(frozen=True, eq=False)
class RigidTransform:
    """p_a = R @ p_b + t for T_a_b (see the module docstring). Immutable; arrays are read-only."""

    R: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        R = _as_rotation(self.R).copy()
        t = _as_vector(np.asarray(self.t, dtype=np.float64).reshape(-1), 3, "translation t").copy()
        R.setflags(write=False)
        t.setflags(write=False)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)

    @classmethod
    def identity(cls) -> RigidTransform:
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_translation_quaternion(
        cls, t: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray
    ) -> RigidTransform:
        """From a tf2 transform: translation (x, y, z) and rotation quaternion (x, y, z, w)."""
        return cls(quat_to_matrix(q), np.asarray(t, dtype=np.float64))

    @classmethod
    def from_translation_rpy(
        cls, t: Sequence[float] | np.ndarray, rpy: Sequence[float] | np.ndarray
    ) -> RigidTransform:
        """From a translation and REP-103 (roll, pitch, yaw). Mind static_transform_publisher's yaw-first order."""
        roll, pitch, yaw = _as_vector(rpy, 3, "rpy (roll, pitch, yaw)")
        return cls(rpy_to_matrix(roll, pitch, yaw), np.asarray(t, dtype=np.float64))

    @classmethod
    def from_matrix(cls, T: np.ndarray) -> RigidTransform:
        """From a 4x4 homogeneous matrix."""
        T = np.asarray(T, dtype=np.float64)
        if T.shape != (4, 4) or not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]):
            raise InvalidInputError(f"homogeneous transform must be 4x4 with last row 0 0 0 1, got {T.tolist()}")
        return cls(T[:3, :3], T[:3, 3])

    def as_matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix."""
        T = np.eye(4)
        T[:3, :3] = self.R
        T[:3, 3] = self.t
        return T

    @property
    def quaternion(self) -> np.ndarray:
        """Rotation as (x, y, z, w), w >= 0."""
        return matrix_to_quat(self.R)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform points (N, 3) or a single point (3,); returns float64 of the same shape."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape == (3,):
            return self.R @ p + self.t
        if p.ndim != 2 or p.shape[1] != 3:
            raise InvalidInputError(f"points must have shape (N, 3) or (3,), got {p.shape}")
        return p @ self.R.T + self.t

    def inverse(self) -> RigidTransform:
        Rt = self.R.T
        return RigidTransform(Rt, -(Rt @ self.t))

    def __matmul__(self, other: RigidTransform) -> RigidTransform:
        """T_a_c = T_a_b @ T_b_c: apply `other` first, then `self`."""
        if not isinstance(other, RigidTransform):
            return NotImplemented
        return RigidTransform(self.R @ other.R, self.R @ other.t + self.t)

    def __repr__(self) -> str:
        return f"RigidTransform(t={self.t.tolist()}, q_xyzw={self.quaternion.round(9).tolist()})"


# camera_link (x fwd, y left, z up) -> camera optical frame (x right, y down, z fwd), same origin.
OPTICAL_FROM_BODY = RigidTransform(
    np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.zeros(3)
)


def body_extrinsic_to_optical(T_body_child: RigidTransform) -> RigidTransform:
    """Pose of a sensor in camera_link -> transform from sensor-frame points to optical-frame points."""
    if not isinstance(T_body_child, RigidTransform):
        raise InvalidInputError(f"T_body_child must be a RigidTransform, got {type(T_body_child).__name__}")
    return OPTICAL_FROM_BODY @ T_body_child
