"""Smooth, seeded ground-robot trajectories and IMU synthesis.

World frame: z up, the ground is the plane z = 0, gravity is (0, 0, -g). The robot (base_link,
REP-103 body axes) drives along a closed `LoopPath` with its heading along the path tangent
(non-holonomic), a smoothly varying speed, a yaw rate capped by slowing down in tight turns,
and small roll/pitch oscillations (suspension). It stands still for `still_s` seconds first,
then ramps up. Its vertical position compensates the rocking so that the camera_link origin
stays exactly `camera_height` above the ground.

Rates and accelerations are evaluated by central finite differences of the exact pose
function (step 1e-4 s for rotations, 2e-3 s for positions), which is accurate to far below
any sensor noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.imu import STANDARD_GRAVITY
from depth_ros.core.transforms import RigidTransform
from depth_ros.optional import missing_dependency

try:
    from scipy.interpolate import CubicSpline
except ModuleNotFoundError as exc:  # an optional dependency: say which extra installs it
    raise missing_dependency(exc, "the synthetic world's trajectories") from exc

_ROT_STEP = 1e-4
_POS_STEP = 2e-3
_ODE_STEP = 1e-2  # the spline through the RK4 samples IS the trajectory; accuracy is not critical


@dataclass(frozen=True)
class LoopPath:
    """A closed, smooth route on the ground: a perturbed ellipse.

    Local coordinates: x = a (cos(phi) - sq cos(3 phi) + ex cos(2 phi + px)),
    y = s b (sin(phi) + sq sin(3 phi) + ey sin(3 phi + py)) with s = `direction` (+1 counter-clockwise);
    rotated by `theta` and moved to `center`. `sq` squares the ellipse off (straights and corners).
    """

    center: tuple[float, float]
    a: float
    b: float
    theta: float = 0.0
    ex: float = 0.0
    px: float = 0.0
    ey: float = 0.0
    py: float = 0.0
    direction: int = 1
    sq: float = 0.0

    def _local(self, phi: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
        a, b, s, q = self.a, self.b, float(self.direction), self.sq
        if order == 0:
            x = a * (np.cos(phi) - q * np.cos(3 * phi) + self.ex * np.cos(2 * phi + self.px))
            y = b * (np.sin(phi) + q * np.sin(3 * phi) + self.ey * np.sin(3 * phi + self.py))
        elif order == 1:
            x = a * (-np.sin(phi) + 3 * q * np.sin(3 * phi) - 2 * self.ex * np.sin(2 * phi + self.px))
            y = b * (np.cos(phi) + 3 * q * np.cos(3 * phi) + 3 * self.ey * np.cos(3 * phi + self.py))
        else:
            x = a * (-np.cos(phi) + 9 * q * np.cos(3 * phi) - 4 * self.ex * np.cos(2 * phi + self.px))
            y = b * (-np.sin(phi) - 9 * q * np.sin(3 * phi) - 9 * self.ey * np.sin(3 * phi + self.py))
        return x, s * y

    def _world(self, x: np.ndarray, y: np.ndarray, translate: bool) -> np.ndarray:
        c, s = math.cos(self.theta), math.sin(self.theta)
        out = np.stack([c * x - s * y, s * x + c * y], axis=-1)
        return out + np.asarray(self.center) if translate else out

    def point(self, phi: np.ndarray | float) -> np.ndarray:
        """(..., 2) ground positions."""
        return self._world(*self._local(np.asarray(phi, dtype=np.float64), 0), True)

    def tangent(self, phi: np.ndarray | float) -> np.ndarray:
        """(..., 2) d point / d phi."""
        return self._world(*self._local(np.asarray(phi, dtype=np.float64), 1), False)

    def heading(self, phi: np.ndarray | float) -> np.ndarray:
        """Yaw of the direction of travel (radians, wrapped)."""
        d = self.tangent(phi)
        return np.arctan2(d[..., 1], d[..., 0])

    def curvature(self, phi: np.ndarray | float) -> np.ndarray:
        """Signed curvature (1/m), positive for left turns."""
        phi = np.asarray(phi, dtype=np.float64)
        x1, y1 = self._local(phi, 1)
        x2, y2 = self._local(phi, 2)
        return (x1 * y2 - y1 * x2) / np.power(x1 * x1 + y1 * y1, 1.5)

    def samples(self, n: int = 720) -> np.ndarray:
        """(n, 2) points evenly spaced in phi."""
        return self.point(np.linspace(0.0, 2 * np.pi, n, endpoint=False))

    def min_turn_radius(self) -> float:
        phi = np.linspace(0.0, 2 * np.pi, 2048, endpoint=False)
        return float(1.0 / np.abs(self.curvature(phi)).max())

    def distance_to(self, points: np.ndarray, n: int = 720) -> np.ndarray:
        """Distance of each (N, 2) point to the sampled route."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        s = self.samples(n)
        return np.sqrt(((p[:, None, :] - s[None, :, :]) ** 2).sum(-1)).min(axis=1)


@dataclass(frozen=True)
class MotionParams:
    """Speed profile, mount and rocking of a `GroundTrajectory` (SI units, radians)."""

    camera_height: float = 1.0
    camera_pitch: float = 0.1  # mount pitch of camera_link in base_link, positive = looking down
    camera_forward: float = 0.15  # camera_link x offset in base_link
    v_mean: float = 0.8
    v_amp: float = 0.2
    v_freq: float = 0.07
    v_phase: float = 0.0
    yaw_rate_max: float = math.radians(40.0)
    still_s: float = 1.0
    ramp_s: float = 2.0
    roll_amp: float = math.radians(1.5)
    roll_freq: float = 0.6
    roll_phase: float = 0.0
    pitch_amp: float = math.radians(1.5)
    pitch_freq: float = 0.45
    pitch_phase: float = 0.0
    phi0: float = 0.0

    @classmethod
    def random(cls, rng: np.random.Generator, height_range: tuple[float, float] = (0.3, 1.5)) -> MotionParams:
        """Seeded parameters within the ranges of a small ground robot."""
        v_mean = float(rng.uniform(0.55, 1.1))
        return cls(
            camera_height=float(rng.uniform(*height_range)),
            camera_pitch=math.radians(float(rng.uniform(0.0, 15.0))),
            v_mean=v_mean,
            v_amp=float(rng.uniform(0.0, min(0.3, v_mean - 0.35, 1.45 - v_mean))),
            v_freq=float(rng.uniform(0.03, 0.12)),
            v_phase=float(rng.uniform(0, 2 * np.pi)),
            roll_amp=math.radians(float(rng.uniform(0.3, 3.0))),
            roll_freq=float(rng.uniform(0.3, 1.0)),
            roll_phase=float(rng.uniform(0, 2 * np.pi)),
            pitch_amp=math.radians(float(rng.uniform(0.3, 3.0))),
            pitch_freq=float(rng.uniform(0.3, 1.0)),
            pitch_phase=float(rng.uniform(0, 2 * np.pi)),
            phi0=float(rng.uniform(0, 2 * np.pi)),
        )


def _smoothstep5(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (10.0 + x * (-15.0 + 6.0 * x))


def _batch_rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _batch_ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _batch_rz(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _log_small(M: np.ndarray) -> np.ndarray:
    """Rotation vectors of (N, 3, 3) rotations with angles well below pi/2."""
    v = 0.5 * np.stack([M[:, 2, 1] - M[:, 1, 2], M[:, 0, 2] - M[:, 2, 0], M[:, 1, 0] - M[:, 0, 1]], axis=1)
    s = np.linalg.norm(v, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(s > 1e-300, np.arcsin(np.clip(s, 0.0, 1.0)) / s, 1.0)
    return v * k[:, None]


class GroundTrajectory:
    """Pose of base_link (and of frames rigidly mounted on it) as a smooth function of time (s)."""

    def __init__(self, path: LoopPath, params: MotionParams, duration: float) -> None:
        if not (np.isfinite(duration) and duration > 0):
            raise InvalidInputError(f"trajectory duration must be > 0 s, got {duration}")
        self.path = path
        self.params = params
        self.duration = float(duration)
        self.T_base_camera_link = RigidTransform.from_translation_rpy(
            [params.camera_forward, 0.0, params.camera_height], [0.0, params.camera_pitch, 0.0]
        )
        self._phi = self._integrate_phase(self.duration + 1.0)

    # -- speed and phase -----------------------------------------------------------------------

    def _ramp(self, t: np.ndarray) -> np.ndarray:
        p = self.params
        return _smoothstep5((np.asarray(t, dtype=np.float64) - p.still_s) / max(p.ramp_s, 1e-9))

    def _speed(self, t: np.ndarray, phi: np.ndarray) -> np.ndarray:
        p = self.params
        vc = p.v_mean + p.v_amp * np.sin(2 * np.pi * p.v_freq * t + p.v_phase)
        kappa = self.path.curvature(phi)
        # Soft cap: v |kappa| stays below yaw_rate_max, v ~ vc on straight stretches.
        return self._ramp(t) * vc / (1.0 + (vc * kappa / p.yaw_rate_max) ** 4) ** 0.25

    def _integrate_phase(self, t_end: float) -> CubicSpline:
        n = int(math.ceil(t_end / _ODE_STEP)) + 1
        ts = np.arange(n) * _ODE_STEP
        phis = np.empty(n)
        phi = self.params.phi0
        h = _ODE_STEP

        def f(t: float, ph: float) -> float:
            return float(self._speed(np.float64(t), np.float64(ph)) / np.linalg.norm(self.path.tangent(ph)))

        for i, t in enumerate(ts):
            phis[i] = phi
            k1 = f(t, phi)
            k2 = f(t + h / 2, phi + h / 2 * k1)
            k3 = f(t + h / 2, phi + h / 2 * k2)
            k4 = f(t + h, phi + h * k3)
            phi += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return CubicSpline(ts, phis)

    def phase(self, t: np.ndarray | float) -> np.ndarray:
        return self._phi(np.clip(np.asarray(t, dtype=np.float64), 0.0, None))

    def speed(self, t: np.ndarray | float) -> np.ndarray:
        """Ground speed of base_link along the route (m/s)."""
        t = np.asarray(t, dtype=np.float64)
        return self._speed(t, self.phase(t))

    # -- poses ---------------------------------------------------------------------------------

    def _roll_pitch(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        g = self._ramp(t)
        w = 2 * np.pi * t
        roll = p.roll_amp * g * (0.8 * np.sin(p.roll_freq * w + p.roll_phase)
                                 + 0.2 * np.sin(2.37 * p.roll_freq * w + 2 * p.roll_phase))
        pitch = p.pitch_amp * g * (0.8 * np.sin(p.pitch_freq * w + p.pitch_phase)
                                   + 0.2 * np.sin(1.91 * p.pitch_freq * w + 3 * p.pitch_phase))
        return roll, pitch

    def base_pose_arrays(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """(R (N, 3, 3), p (N, 3)) of base_link in the world at times t (s)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        phi = self.phase(t)
        xy = self.path.point(phi)
        yaw = self.path.heading(phi)
        roll, pitch = self._roll_pitch(t)
        R = _batch_rz(yaw) @ _batch_ry(pitch) @ _batch_rx(roll)
        mount = self.T_base_camera_link.t
        z = self.params.camera_height - R[:, 2, :] @ mount  # keeps the camera at camera_height
        return R, np.column_stack([xy, z])

    def pose_arrays(
        self, t: np.ndarray | float, T_base_x: RigidTransform | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(R, p) of a frame mounted on base_link by `T_base_x` (default: base_link itself)."""
        R, p = self.base_pose_arrays(t)
        if T_base_x is None:
            return R, p
        return R @ T_base_x.R, p + R @ T_base_x.t

    def pose(self, t: float, T_base_x: RigidTransform | None = None) -> RigidTransform:
        """T_world_x at time t."""
        R, p = self.pose_arrays(t, T_base_x)
        return RigidTransform(R[0], p[0])

    def angular_velocity(self, t: np.ndarray | float, T_base_x: RigidTransform | None = None) -> np.ndarray:
        """(N, 3) angular rate of frame x expressed in frame x (what a gyro in x measures), rad/s."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        R0, _ = self.base_pose_arrays(t - _ROT_STEP)
        R1, _ = self.base_pose_arrays(t + _ROT_STEP)
        w_base = _log_small(np.transpose(R0, (0, 2, 1)) @ R1) / (2 * _ROT_STEP)
        return w_base if T_base_x is None else w_base @ T_base_x.R  # R_bx^T w per row

    def acceleration(self, t: np.ndarray | float, T_base_x: RigidTransform | None = None) -> np.ndarray:
        """(N, 3) world-frame acceleration of the origin of frame x, m/s^2."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        h = _POS_STEP
        _, pm = self.pose_arrays(t - h, T_base_x)
        _, p0 = self.pose_arrays(t, T_base_x)
        _, pp = self.pose_arrays(t + h, T_base_x)
        return (pp - 2.0 * p0 + pm) / (h * h)

    def velocity(self, t: np.ndarray | float, T_base_x: RigidTransform | None = None) -> np.ndarray:
        """(N, 3) world-frame velocity of the origin of frame x, m/s."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        h = _POS_STEP
        _, pm = self.pose_arrays(t - h, T_base_x)
        _, pp = self.pose_arrays(t + h, T_base_x)
        return (pp - pm) / (2 * h)


@dataclass(frozen=True)
class ImuNoise:
    """White noise (per sample, 1 sigma) and constant-bias spread of a MEMS IMU."""

    gyro_sigma: float = 0.003  # rad/s
    accel_sigma: float = 0.03  # m/s^2
    gyro_bias_sigma: float = 0.004  # rad/s
    accel_bias_sigma: float = 0.04  # m/s^2


@dataclass(frozen=True, eq=False)
class ImuSynthesis:
    """True and measured IMU signals at the requested times (all in the IMU frame)."""

    gyro: np.ndarray  # (N, 3) measured
    accel: np.ndarray  # (N, 3) measured (specific force: reads +g upwards at rest)
    gyro_true: np.ndarray
    accel_true: np.ndarray
    gyro_bias: np.ndarray
    accel_bias: np.ndarray


def synthesize_imu(
    trajectory: GroundTrajectory,
    T_base_imu: RigidTransform,
    t: np.ndarray,
    rng: np.random.Generator,
    noise: ImuNoise = ImuNoise(),
    gravity: float = STANDARD_GRAVITY,
) -> ImuSynthesis:
    """Gyro = body rate + bias + noise; accel = R^T (a_world - g_world) + bias + noise."""
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    R, _ = trajectory.pose_arrays(t, T_base_imu)
    w = trajectory.angular_velocity(t, T_base_imu)
    a = trajectory.acceleration(t, T_base_imu)
    f_world = a - np.array([0.0, 0.0, -gravity])
    f = np.einsum("nji,nj->ni", R, f_world)  # R^T f per sample
    gyro_bias = rng.normal(0.0, noise.gyro_bias_sigma, 3)
    accel_bias = rng.normal(0.0, noise.accel_bias_sigma, 3)
    gyro = w + gyro_bias + rng.normal(0.0, noise.gyro_sigma, w.shape)
    accel = f + accel_bias + rng.normal(0.0, noise.accel_sigma, f.shape)
    return ImuSynthesis(gyro, accel, w, f, gyro_bias, accel_bias)

