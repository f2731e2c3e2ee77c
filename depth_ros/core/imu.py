"""IMU processing: gravity direction (roll/pitch) and gyro-integrated rotation between stamps.

Conventions
-----------
* Frames follow REP-103 (body: x forward, y left, z up) and REP-103 optical frames
  (x right, y down, z forward). ``R_a_b`` maps vectors expressed in frame b into frame a:
  ``v_a = R_a_b @ v_b``.
* sensor_msgs/Imu ``linear_acceleration`` contains the reaction to gravity: an IMU at rest
  with z up reads about +9.81 on z. Gravity itself (the DOWN direction) is therefore
  ``-accel / |accel|`` when the IMU is not accelerating.
* Roll/pitch are the REP-103 (ZYX, intrinsic yaw-pitch-roll) angles of a frame w.r.t. a
  gravity-aligned frame: with the down direction d in the frame,
  ``roll = atan2(-d_y, -d_z)`` and ``pitch = atan2(d_x, hypot(d_y, d_z))``. Positive pitch is
  nose DOWN (right-hand rotation about y-left), positive roll is right side down.
* Camera roll/pitch (`camera_roll_pitch`) are those of the camera's body-convention frame
  (x = optical z, y = -optical x, z = -optical y): a level camera looking forward sees gravity
  along optical +y and has roll = pitch = 0; pitch > 0 when it looks down, roll > 0 when the
  image's right side is lower.
* `GyroIntegrator.rotation_between(t0, t1)` returns R with ``v1 = R @ v0`` for any vector
  fixed in the world, v0/v1 being that vector in the IMU frame at t0/t1. R is the transpose
  of the IMU's own motion ``R_imu(t0)_imu(t1)``. `rotation_in_camera` converts it to the
  camera frame, so a point seen in the camera frame at t0 (a radar scan) is ``R_cam @ p`` in
  the camera frame at t1 (the image), ignoring translation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import so3_exp, so3_exp_batch

STANDARD_GRAVITY = 9.80665
_NS = 1_000_000_000


_EYE3 = np.eye(3)


def _vec3(value: object, name: str) -> np.ndarray:
    try:
        v = np.array(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be 3 numbers, got {value!r}") from exc
    if v.shape != (3,):
        raise InvalidInputError(f"{name} must have 3 elements, got shape {np.shape(value)}")
    if not np.isfinite(v).all():
        raise InvalidInputError(f"{name} is not finite: {v.tolist()}")
    return v


def _rot3(value: object, name: str) -> np.ndarray:
    R = np.asarray(getattr(value, "R", value), dtype=np.float64)  # a RigidTransform is accepted too
    if R.shape != (3, 3) or not np.isfinite(R).all():
        raise InvalidInputError(f"{name} must be a finite 3x3 rotation matrix, got shape {R.shape}")
    # Orthonormal with det +1 (checked cheaply: this runs for every radar scan and frame).
    if float(np.abs(R @ R.T - _EYE3).max()) > 1e-5 or np.linalg.det(R) < 0:
        raise InvalidInputError(f"{name} is not a rotation matrix (orthonormal, det +1): {R.tolist()}")
    return R


@dataclass(frozen=True, eq=False)
class ImuReading:
    """One IMU sample: stamp (ns), gyro (3,) rad/s, accel (3,) m/s^2 incl. gravity reaction.

    NaN/inf or wrongly sized vectors raise `InvalidInputError`; callers count and skip them.
    """

    stamp_ns: int
    gyro: np.ndarray
    accel: np.ndarray

    def __post_init__(self) -> None:
        try:
            stamp = int(self.stamp_ns)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidInputError(f"IMU stamp_ns must be an integer, got {self.stamp_ns!r}") from exc
        gyro = _vec3(self.gyro, "IMU gyro (angular_velocity)")
        accel = _vec3(self.accel, "IMU accel (linear_acceleration)")
        gyro.setflags(write=False)
        accel.setflags(write=False)
        object.__setattr__(self, "stamp_ns", stamp)
        object.__setattr__(self, "gyro", gyro)
        object.__setattr__(self, "accel", accel)

    @classmethod
    def from_seconds(cls, stamp_s: float, gyro: object, accel: object) -> ImuReading:
        """Build from a stamp in seconds (e.g. `depth_ros.ros.conversions.ImuSample.stamp`)."""
        if not math.isfinite(stamp_s):
            raise InvalidInputError(f"IMU stamp is not finite: {stamp_s}")
        return cls(int(round(stamp_s * _NS)), gyro, accel)


def roll_pitch_from_down(down: np.ndarray) -> tuple[float, float]:
    """REP-103 (roll, pitch) in radians of a frame in which gravity points along `down`."""
    d = np.asarray(down, dtype=np.float64)
    return math.atan2(-d[1], -d[2]), math.atan2(d[0], math.hypot(d[1], d[2]))


class AttitudeFilter:
    """Complementary filter for the gravity direction in the IMU frame.

    Each update rotates the estimate with the gyro (trapezoid between consecutive samples),
    then pulls it toward the measured down direction ``-accel/|accel|`` by `gain` (a fraction
    per sample) when ``| |accel| - g | <= accel_gate * g``, i.e. when the IMU is not visibly
    accelerating. The first accepted samples are averaged (gain = max(gain, 1/n)) so the
    estimate settles fast. A stamp earlier than the previous one, or a gap longer than
    `max_gap_s`, resets the filter (the gyro cannot bridge it); `resets` counts them.
    """

    def __init__(
        self,
        gain: float = 0.02,
        accel_gate: float = 0.1,
        max_gap_s: float = 0.5,
        gravity: float = STANDARD_GRAVITY,
    ) -> None:
        if not 0.0 < gain <= 1.0:
            raise InvalidInputError(f"AttitudeFilter gain must be in (0, 1], got {gain}")
        if not accel_gate > 0.0:
            raise InvalidInputError(f"AttitudeFilter accel_gate must be > 0, got {accel_gate}")
        if not max_gap_s > 0.0:
            raise InvalidInputError(f"AttitudeFilter max_gap_s must be > 0, got {max_gap_s}")
        if not gravity > 0.0:
            raise InvalidInputError(f"AttitudeFilter gravity must be > 0, got {gravity}")
        self.gain = float(gain)
        self.accel_gate = float(accel_gate)
        self.max_gap_ns = int(max_gap_s * _NS)
        self.gravity = float(gravity)
        self.resets = 0
        self.gated = 0
        """Samples whose accelerometer was not used (|accel| too far from g)."""
        self._down: np.ndarray | None = None
        self._last: ImuReading | None = None
        self._n_corrections = 0

    @property
    def initialised(self) -> bool:
        return self._down is not None

    @property
    def stamp_ns(self) -> int | None:
        """Stamp of the last accepted reading."""
        return None if self._last is None else self._last.stamp_ns

    def reset(self) -> None:
        self._down = None
        self._last = None
        self._n_corrections = 0

    def update(self, reading: ImuReading) -> None:
        """Feed one reading (stamps should increase)."""
        if not isinstance(reading, ImuReading):
            raise InvalidInputError(f"AttitudeFilter.update needs an ImuReading, got {type(reading).__name__}")
        last = self._last
        if last is not None:
            dt_ns = reading.stamp_ns - last.stamp_ns
            if dt_ns < 0 or dt_ns > self.max_gap_ns:
                self.reset()
                self.resets += 1
            elif self._down is not None and dt_ns > 0:
                # World-fixed vectors rotate by -omega in the moving frame.
                omega = 0.5 * (last.gyro + reading.gyro)
                self._down = so3_exp(-omega * (dt_ns / _NS)) @ self._down
        self._last = reading

        norm = float(np.linalg.norm(reading.accel))
        if abs(norm - self.gravity) > self.accel_gate * self.gravity:
            self.gated += 1
            return
        measured = -reading.accel / norm
        self._n_corrections += 1
        if self._down is None:
            self._down = measured
            return
        k = max(self.gain, 1.0 / self._n_corrections)
        down = (1.0 - k) * self._down + k * measured
        self._down = down / np.linalg.norm(down)

    def gravity_imu(self) -> np.ndarray | None:
        """Unit gravity (DOWN) direction in the IMU frame, or None before initialisation."""
        down = self._down  # one read: another thread may be updating (the array is never mutated)
        return None if down is None else down.copy()

    def roll_pitch(self) -> tuple[float, float] | None:
        """REP-103 (roll, pitch) of the IMU frame in radians, or None before initialisation."""
        down = self._down
        return None if down is None else roll_pitch_from_down(down)


def unit_gravity(gravity_optical: np.ndarray | list[float] | tuple[float, ...]) -> np.ndarray:
    """`gravity_optical` normalised to a unit float64 vector; InvalidInputError when unusable."""
    g = np.asarray(gravity_optical, dtype=np.float64).reshape(-1)
    if g.shape != (3,) or not np.isfinite(g).all():
        raise InvalidInputError(f"gravity_optical must be 3 finite numbers, got {np.asarray(gravity_optical).tolist()}")
    n = float(np.linalg.norm(g))
    if n < 1e-9:
        raise InvalidInputError(f"gravity_optical has zero length: {g.tolist()}")
    return g / n


def gravity_in_camera(gravity_imu: np.ndarray, R_cam_imu: np.ndarray) -> np.ndarray:
    """Unit gravity direction in the camera optical frame (``R_cam_imu @ gravity_imu``)."""
    g = _vec3(gravity_imu, "gravity_imu")
    n = float(np.linalg.norm(g))
    if n < 1e-9:
        raise InvalidInputError(f"gravity_imu has zero length: {g.tolist()}")
    return _rot3(R_cam_imu, "R_cam_imu") @ (g / n)


def camera_roll_pitch(gravity_optical: np.ndarray) -> tuple[float, float]:
    """(roll, pitch) in radians of a camera from gravity in its optical frame.

    Level and looking forward: gravity = +y, roll = pitch = 0. Looking down: pitch > 0.
    Image right side lower: roll > 0. (REP-103 angles of x = optical z, y = -x, z = -y.)
    """
    g = _vec3(gravity_optical, "gravity_optical")
    if float(np.linalg.norm(g)) < 1e-9:
        raise InvalidInputError(f"gravity_optical has zero length: {g.tolist()}")
    return roll_pitch_from_down(np.array([g[2], -g[0], -g[1]]))


def rotation_in_camera(R_imu: np.ndarray, R_cam_imu: np.ndarray) -> np.ndarray:
    """IMU-frame rotation (`GyroIntegrator.rotation_between`) -> the same rotation in the camera frame."""
    R_ci = _rot3(R_cam_imu, "R_cam_imu")
    return R_ci @ _rot3(R_imu, "R_imu") @ R_ci.T


class GyroIntegrator:
    """Buffered gyro samples integrated between two stamps.

    ``rotation_between(t0, t1)`` returns R with ``v1 = R @ v0`` for a world-fixed vector
    (v0/v1 in the IMU frame at t0/t1). The angular rate is linearly interpolated at t0 and
    t1 and each interval between samples is one Rodrigues step of the mean rate (exact for a
    constant rate). Samples older than `max_age_s` behind the newest are dropped; a gap
    between samples longer than `max_gap_s` inside the interval makes it unusable (None).
    `max_extrapolation_s` lets t1 (or t0) lie that far beyond the newest (oldest) sample,
    holding its rate. `bias` (rad/s) is subtracted from every sample.
    """

    def __init__(
        self,
        max_age_s: float = 2.0,
        bias: np.ndarray | None = None,
        max_gap_s: float = 0.1,
        max_extrapolation_s: float = 0.0,
    ) -> None:
        if not max_age_s > 0.0:
            raise InvalidInputError(f"GyroIntegrator max_age_s must be > 0, got {max_age_s}")
        if not max_gap_s > 0.0:
            raise InvalidInputError(f"GyroIntegrator max_gap_s must be > 0, got {max_gap_s}")
        if not max_extrapolation_s >= 0.0:
            raise InvalidInputError(f"GyroIntegrator max_extrapolation_s must be >= 0, got {max_extrapolation_s}")
        self.max_gap_ns = int(max_gap_s * _NS)
        self.max_extrapolation_ns = int(max_extrapolation_s * _NS)
        self.bias = np.zeros(3) if bias is None else _vec3(bias, "gyro bias")
        self._buffer: TimeBuffer[np.ndarray] = TimeBuffer(max_items=1_000_000, max_age_ns=int(max_age_s * _NS))

    def __len__(self) -> int:
        return len(self._buffer)

    @property
    def resets(self) -> int:
        """Times the buffer was cleared because time jumped backwards."""
        return self._buffer.resets

    def add(self, reading: ImuReading) -> None:
        if not isinstance(reading, ImuReading):
            raise InvalidInputError(f"GyroIntegrator.add needs an ImuReading, got {type(reading).__name__}")
        self._buffer.add(reading.stamp_ns, reading.gyro)

    def clear(self) -> None:
        self._buffer.clear()

    def span_ns(self) -> tuple[int, int] | None:
        """(oldest, newest) buffered stamps, or None when empty."""
        items = list(self._buffer)
        return (items[0][0], items[-1][0]) if items else None

    def estimate_bias(
        self,
        start_ns: int | None = None,
        end_ns: int | None = None,
        max_std: float = 0.02,
        min_samples: int = 20,
        apply: bool = True,
    ) -> np.ndarray:
        """Mean gyro over a stationary window (default: the whole buffer) as the bias.

        Raises `InvalidInputError` when the window holds fewer than `min_samples` samples or
        the rate's per-axis standard deviation exceeds `max_std` rad/s (the IMU was moving).
        With `apply`, the estimate becomes `self.bias`.
        """
        lo = -(2**63) if start_ns is None else int(start_ns)
        hi = 2**63 - 1 if end_ns is None else int(end_ns)
        samples = self._buffer.window(lo, hi)
        if len(samples) < min_samples:
            raise InvalidInputError(
                f"gyro bias needs >= {min_samples} samples in [{start_ns}, {end_ns}] ns, got {len(samples)}"
            )
        gyro = np.array([g for _, g in samples])
        std = gyro.std(axis=0)
        if (std > max_std).any():
            raise InvalidInputError(
                f"gyro is not stationary for bias estimation: std {std.round(4).tolist()} rad/s > {max_std}"
            )
        bias = gyro.mean(axis=0)
        if apply:
            self.bias = bias
        return bias

    def rotation_between(self, t0_ns: int, t1_ns: int) -> np.ndarray | None:
        """R with v1 = R @ v0 for world-fixed vectors (IMU frame at t0 -> at t1); None if not covered."""
        t0, t1 = int(t0_ns), int(t1_ns)
        if t1 < t0:
            R = self.rotation_between(t1, t0)
            return None if R is None else R.T
        if t1 == t0:
            return np.eye(3) if len(self._buffer) else None
        margin = self.max_gap_ns + self.max_extrapolation_ns
        samples = self._buffer.window(t0 - margin, t1 + margin)
        if not samples:
            return None
        stamps = np.array([s for s, _ in samples], dtype=np.int64)
        rates = np.array([g for _, g in samples]) - self.bias
        # Samples bracketing [t0, t1]: i0 = last at/before t0, i1 = first at/after t1.
        i0 = int(np.searchsorted(stamps, t0, side="right")) - 1
        i1 = int(np.searchsorted(stamps, t1, side="left"))
        if i0 < 0:
            if stamps[0] - t0 > self.max_extrapolation_ns:
                return None
            i0 = 0
        if i1 >= len(stamps):
            if t1 - stamps[-1] > self.max_extrapolation_ns:
                return None
            i1 = len(stamps) - 1
        if i1 > i0 and np.diff(stamps[i0 : i1 + 1]).max() > self.max_gap_ns:
            return None
        # Times relative to t0 so that float64 keeps nanoseconds at epoch-sized stamps.
        rel = (stamps - t0).astype(np.float64)
        inner = rel[(stamps > t0) & (stamps < t1)]
        knots_t = np.concatenate(([0.0], inner, [float(t1 - t0)]))
        knots_w = np.stack([np.interp(knots_t, rel, rates[:, k]) for k in range(3)], axis=1)
        dts = np.diff(knots_t) / _NS
        mean_w = 0.5 * (knots_w[1:] + knots_w[:-1])
        # R_imu(t0)_imu(t1) = S_0 @ S_1 @ ... (left to right), multiplied pairwise in batches.
        steps = so3_exp_batch(mean_w * dts[:, None])
        while len(steps) > 1:
            if len(steps) % 2:
                steps = np.concatenate([steps, _EYE3[None]])
            steps = steps[0::2] @ steps[1::2]
        return steps[0].T
