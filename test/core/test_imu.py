"""IMU: gyro integration vs scipy Rotation, attitude filter on synthetic and real (Husky, Jackal) data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.imu import (
    STANDARD_GRAVITY,
    AttitudeFilter,
    GyroIntegrator,
    ImuReading,
    camera_roll_pitch,
    gravity_in_camera,
    roll_pitch_from_down,
    rotation_in_camera,
)
from depth_ros.core.transforms import OPTICAL_FROM_BODY

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
BAGS = SHARED / "data" / "real_bags" / "robot_localization_imu"
NS = 1_000_000_000
T_BASE = 1_700_000_000 * NS  # epoch-sized stamps: float64 seconds would lose precision here


def _angle_deg(R_a: np.ndarray, R_b: np.ndarray) -> float:
    return float(np.degrees(Rotation.from_matrix(R_a @ R_b.T).magnitude()))


def _body_rate(rot_fn, t: float, h: float = 1e-5) -> np.ndarray:
    """Body-frame angular velocity of R_world_body(t), by a central difference on SO(3)."""
    return (rot_fn(t - h).inv() * rot_fn(t + h)).as_rotvec() / (2 * h)


def _wobble(t: float) -> Rotation:
    """A non-trivial body motion: yaw, pitch and roll all varying, non-commuting."""
    return Rotation.from_euler("ZYX", [0.9 * t + 0.3 * math.sin(3 * t), 0.4 * math.sin(2 * t), 0.2 * math.cos(5 * t)])


# -- ImuReading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gyro, accel, text",
    [
        ((0.0, math.nan, 0.0), (0, 0, 9.8), "gyro"),
        ((0.0, 0.0, 0.0), (0, math.inf, 9.8), "accel"),
        ((0.0, 0.0), (0, 0, 9.8), "gyro"),
    ],
)
def test_reading_rejects_non_finite_and_wrong_shape(gyro, accel, text):
    with pytest.raises(InvalidInputError, match=text):
        ImuReading(0, gyro, accel)


def test_reading_is_immutable_and_from_seconds():
    r = ImuReading.from_seconds(12.5, [0.1, 0.2, 0.3], [0, 0, 9.8])
    assert r.stamp_ns == 12_500_000_000
    with pytest.raises(ValueError):
        r.gyro[0] = 1.0


# -- so3 / gyro integration --------------------------------------------------------------------


def test_hand_written_optical_rotation_matches_transforms():
    # optical (x right, y down, z forward) from body (x forward, y left, z up), written out by hand
    hand_written = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(hand_written, OPTICAL_FROM_BODY.R)


def _feed(integ: GyroIntegrator, rate_fn, t_start: float, t_end: float, hz: float, offset: float = 0.0,
          noise: float = 0.0, bias=np.zeros(3), seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for t in np.arange(t_start + offset, t_end, 1.0 / hz):
        w = rate_fn(t) + bias + rng.normal(0.0, noise, 3)
        integ.add(ImuReading(T_BASE + int(round(t * NS)), w, [0.0, 0.0, STANDARD_GRAVITY]))


def test_constant_rate_integrates_to_exact_rotation():
    omega = np.array([0.3, -0.5, 0.8])  # rad/s about a skew axis, ~55 deg/s
    integ = GyroIntegrator(max_age_s=5.0)
    _feed(integ, lambda t: omega, 0.0, 1.0, 200.0, offset=0.0013)
    t0, t1 = 0.1234567, 0.8765432  # between samples
    R = integ.rotation_between(T_BASE + int(t0 * NS), T_BASE + int(t1 * NS))
    dt = (int(t1 * NS) - int(t0 * NS)) / NS
    # The IMU turned by exp(omega dt); world-fixed vectors turn the other way in its frame.
    expected = Rotation.from_rotvec(omega * dt).inv().as_matrix()
    assert _angle_deg(R, expected) < 1e-6
    assert math.isclose(np.degrees(Rotation.from_matrix(R).magnitude()), np.degrees(np.linalg.norm(omega) * dt),
                        rel_tol=1e-9)


def test_world_point_sign_convention():
    integ = GyroIntegrator(max_age_s=5.0)
    _feed(integ, lambda t: _body_rate(_wobble, t), 0.0, 2.0, 400.0, offset=0.0007)
    world_point = np.array([4.0, -1.5, 2.0])
    t0, t1 = 0.4321, 0.5321  # 100 ms, about 6 deg of motion
    v0 = _wobble(t0).inv().apply(world_point)
    v1 = _wobble(t1).inv().apply(world_point)
    R = integ.rotation_between(T_BASE + int(t0 * NS), T_BASE + int(t1 * NS))
    np.testing.assert_allclose(R @ v0, v1, atol=2e-4 * np.linalg.norm(world_point))
    assert np.linalg.norm(R.T @ v0 - v1) > 0.1  # the opposite convention is far off
    # reverse interval gives the inverse; an empty interval the identity
    R_back = integ.rotation_between(T_BASE + int(t1 * NS), T_BASE + int(t0 * NS))
    np.testing.assert_allclose(R_back, R.T, atol=1e-12)
    np.testing.assert_allclose(integ.rotation_between(T_BASE + 5, T_BASE + 5), np.eye(3))


def test_time_varying_rate_matches_scipy_over_long_interval():
    integ = GyroIntegrator(max_age_s=5.0)
    _feed(integ, lambda t: _body_rate(_wobble, t), 0.0, 2.0, 200.0)
    t0, t1 = 0.2, 1.7
    R = integ.rotation_between(T_BASE + int(t0 * NS), T_BASE + int(t1 * NS))
    expected = (_wobble(t1).inv() * _wobble(t0)).as_matrix()
    assert _angle_deg(R, expected) < 0.05  # 1.5 s, ~80 deg of motion


def test_none_when_not_covered_or_gapped():
    integ = GyroIntegrator(max_age_s=5.0, max_gap_s=0.05)
    _feed(integ, lambda t: np.array([0.0, 0.0, 1.0]), 1.0, 2.0, 100.0)
    _feed(integ, lambda t: np.array([0.0, 0.0, 1.0]), 2.5, 3.0, 100.0)
    s = lambda t: T_BASE + int(t * NS)
    assert integ.rotation_between(s(1.2), s(1.8)) is not None
    assert integ.rotation_between(s(0.9), s(1.5)) is None  # before the first sample
    assert integ.rotation_between(s(2.7), s(3.2)) is None  # after the last sample
    assert integ.rotation_between(s(1.8), s(2.7)) is None  # across the 0.5 s gap
    assert integ.rotation_between(s(2.7), s(1.8)) is None
    lenient = GyroIntegrator(max_age_s=5.0, max_extrapolation_s=0.02)
    _feed(lenient, lambda t: np.array([0.0, 0.0, 1.0]), 1.0, 2.0, 100.0)
    R = lenient.rotation_between(s(1.9), s(2.005))  # last sample at 1.99 s
    expected = Rotation.from_rotvec([0.0, 0.0, 0.105]).inv().as_matrix()
    assert _angle_deg(R, expected) < 1e-6
    assert lenient.rotation_between(s(1.9), s(2.1)) is None


def test_old_samples_age_out():
    integ = GyroIntegrator(max_age_s=0.5)
    _feed(integ, lambda t: np.zeros(3), 0.0, 2.0, 100.0)
    assert 49 <= len(integ) <= 51
    assert integ.rotation_between(T_BASE + int(0.5 * NS), T_BASE + int(0.6 * NS)) is None
    assert integ.rotation_between(T_BASE + int(1.6 * NS), T_BASE + int(1.9 * NS)) is not None


def test_bias_estimation_from_stationary_period():
    bias = np.array([0.01, -0.02, 0.015])
    rate = lambda t: np.zeros(3) if t < 1.0 else np.array([0.0, 0.6, 0.2])
    integ = GyroIntegrator(max_age_s=5.0)
    _feed(integ, rate, 0.0, 2.0, 200.0, noise=0.003, bias=bias, seed=3)
    s = lambda t: T_BASE + int(t * NS)
    with pytest.raises(InvalidInputError, match="not stationary"):
        integ.estimate_bias(s(0.5), s(1.5), apply=False)
    with pytest.raises(InvalidInputError, match="samples"):
        integ.estimate_bias(s(0.5), s(0.52))
    before = integ.rotation_between(s(1.1), s(1.9))
    est = integ.estimate_bias(s(0.0), s(0.95))
    np.testing.assert_allclose(est, bias, atol=1e-3)
    np.testing.assert_allclose(integ.bias, est)
    after = integ.rotation_between(s(1.1), s(1.9))
    expected = Rotation.from_rotvec(np.array([0.0, 0.6, 0.2]) * 0.8).inv().as_matrix()
    assert _angle_deg(after, expected) < 0.1
    assert _angle_deg(before, expected) > 1.0  # 0.8 s of ~0.027 rad/s bias


def test_rotation_in_camera_moves_camera_points():
    R_cam_imu = Rotation.from_euler("xyz", [0.1, -0.3, 0.2]).as_matrix() @ OPTICAL_FROM_BODY.R
    integ = GyroIntegrator(max_age_s=5.0)
    _feed(integ, lambda t: _body_rate(_wobble, t), 0.0, 1.0, 400.0)
    t0, t1 = 0.3, 0.38
    p_world = np.array([5.0, 1.0, 0.5])
    # camera frame at t = R_cam_imu @ (IMU frame at t); the IMU moves as _wobble
    p0 = R_cam_imu @ _wobble(t0).inv().apply(p_world)
    p1 = R_cam_imu @ _wobble(t1).inv().apply(p_world)
    R_cam = rotation_in_camera(integ.rotation_between(T_BASE + int(t0 * NS), T_BASE + int(t1 * NS)), R_cam_imu)
    np.testing.assert_allclose(R_cam @ p0, p1, atol=1e-3)
    np.testing.assert_allclose(rotation_in_camera(np.eye(3), OPTICAL_FROM_BODY), np.eye(3), atol=1e-15)
    with pytest.raises(InvalidInputError, match="R_cam_imu"):
        rotation_in_camera(np.eye(3), np.diag([1.0, 1.0, -1.0]))


# -- roll/pitch conventions ------------------------------------------------------------------


def test_roll_pitch_from_down_matches_scipy_euler():
    rng = np.random.default_rng(4)
    for _ in range(50):
        yaw, pitch, roll = rng.uniform(-math.pi, math.pi), rng.uniform(-1.4, 1.4), rng.uniform(-3.0, 3.0)
        R_wb = Rotation.from_euler("ZYX", [yaw, pitch, roll])
        down_body = R_wb.inv().apply([0.0, 0.0, -1.0])
        r, p = roll_pitch_from_down(down_body)
        assert r == pytest.approx(roll, abs=1e-9) and p == pytest.approx(pitch, abs=1e-9)


def test_camera_roll_pitch_conventions():
    level = OPTICAL_FROM_BODY.R @ np.array([0.0, 0.0, -1.0])
    np.testing.assert_allclose(level, [0.0, 1.0, 0.0])  # level camera: gravity along optical +y
    assert camera_roll_pitch(level) == pytest.approx((0.0, 0.0), abs=1e-12)
    roll, pitch = math.radians(3.0), math.radians(10.0)
    R_wb = Rotation.from_euler("ZYX", [0.7, pitch, roll]).as_matrix()
    R_w_opt = R_wb @ OPTICAL_FROM_BODY.R.T
    assert (R_w_opt @ [0.0, 0.0, 1.0])[2] < 0  # positive pitch: the optical axis points below the horizon
    assert (R_w_opt @ [1.0, 0.0, 0.0])[2] < 0  # positive roll: the image's right side is lower
    # the IMU is the body frame here: R_cam_imu = OPTICAL_FROM_BODY.R
    g_cam = gravity_in_camera(R_wb.T @ [0.0, 0.0, -1.0], OPTICAL_FROM_BODY.R)
    np.testing.assert_allclose(g_cam, R_w_opt.T @ [0.0, 0.0, -1.0], atol=1e-12)
    assert camera_roll_pitch(g_cam) == pytest.approx((roll, pitch), abs=1e-12)
    with pytest.raises(InvalidInputError, match="gravity_optical"):
        camera_roll_pitch([0.0, 0.0, 0.0])


# -- attitude filter: synthetic --------------------------------------------------------------


def _accel_for(R_wb: np.ndarray) -> np.ndarray:
    return R_wb.T @ np.array([0.0, 0.0, STANDARD_GRAVITY])


def test_filter_converges_to_tilt_with_noisy_accel():
    roll, pitch = math.radians(12.0), math.radians(-7.0)
    R_wb = Rotation.from_euler("ZYX", [1.0, pitch, roll]).as_matrix()
    rng = np.random.default_rng(5)
    f = AttitudeFilter()
    assert not f.initialised and f.gravity_imu() is None and f.roll_pitch() is None
    for i in range(400):
        f.update(ImuReading(T_BASE + i * 10_000_000, rng.normal(0, 0.01, 3), _accel_for(R_wb) + rng.normal(0, 0.3, 3)))
    r, p = f.roll_pitch()
    assert math.degrees(abs(r - roll)) < 0.5 and math.degrees(abs(p - pitch)) < 0.5
    np.testing.assert_allclose(np.linalg.norm(f.gravity_imu()), 1.0)


def test_filter_follows_gyro_while_rotating():
    """Pitching at 30 deg/s with a tiny gain: only a correct gyro propagation keeps up."""
    motion = lambda t: Rotation.from_euler("ZYX", [0.4 * t, math.radians(30.0) * t, 0.1])
    f = AttitudeFilter(gain=0.001)
    errors = []
    for i in range(300):  # 1.5 s at 200 Hz, 45 deg of pitch
        t = i / 200.0
        f.update(ImuReading(T_BASE + int(t * NS), _body_rate(motion, t), _accel_for(motion(t).as_matrix())))
        truth = motion(t).inv().apply([0.0, 0.0, -1.0])
        errors.append(math.degrees(math.acos(min(1.0, float(f.gravity_imu() @ truth)))))
    assert max(errors) < 0.05


def test_filter_gates_linear_acceleration():
    f = AttitudeFilter(gain=0.2)
    for i in range(50):
        f.update(ImuReading(T_BASE + i * 10_000_000, np.zeros(3), [0.0, 0.0, STANDARD_GRAVITY]))
    for i in range(50, 100):  # braking hard: 5 m/s^2 along x
        f.update(ImuReading(T_BASE + i * 10_000_000, np.zeros(3), [5.0, 0.0, STANDARD_GRAVITY]))
    assert f.gated == 50
    np.testing.assert_allclose(f.gravity_imu(), [0.0, 0.0, -1.0], atol=1e-12)


def test_filter_resets_on_backwards_time_and_gaps():
    f = AttitudeFilter()
    up_x = [STANDARD_GRAVITY, 0.0, 0.0]  # gravity along -x
    up_z = [0.0, 0.0, STANDARD_GRAVITY]
    for i in range(20):
        f.update(ImuReading(T_BASE + i * 10_000_000, np.zeros(3), up_z))
    f.update(ImuReading(T_BASE - NS, np.zeros(3), up_x))  # a bag loop
    assert f.resets == 1
    np.testing.assert_allclose(f.gravity_imu(), [-1.0, 0.0, 0.0], atol=1e-12)  # re-initialised, not blended
    f.update(ImuReading(T_BASE + 10 * NS, np.zeros(3), up_z))  # an 11 s gap
    assert f.resets == 2
    np.testing.assert_allclose(f.gravity_imu(), [0.0, 0.0, -1.0], atol=1e-12)
    with pytest.raises(InvalidInputError):
        AttitudeFilter(gain=0.0)


# -- real data -------------------------------------------------------------------------------


def _load_bag(name: str):
    path = BAGS / name
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    from rosbags.highlevel import AnyReader

    stamps, gyro, accel, quat = [], [], [], []
    with AnyReader([path]) as reader:
        conns = [c for c in reader.connections if c.topic == "/imu/data"]
        for conn, _, raw in reader.messages(connections=conns):
            m = reader.deserialize(raw, conn.msgtype)
            stamps.append(m.header.stamp.sec * NS + m.header.stamp.nanosec)
            gyro.append([m.angular_velocity.x, m.angular_velocity.y, m.angular_velocity.z])
            accel.append([m.linear_acceleration.x, m.linear_acceleration.y, m.linear_acceleration.z])
            quat.append([m.orientation.x, m.orientation.y, m.orientation.z, m.orientation.w])
    return np.array(stamps, dtype=np.int64), np.array(gyro), np.array(accel), np.array(quat)


@pytest.fixture(scope="module")
def husky():
    return _load_bag("husky_imu_odom_gps.bag")


@pytest.fixture(scope="module")
def jackal():
    return _load_bag("jackal_imu_odom.bag")


def _run_filter(stamps, gyro, accel, f=None):
    f = f or AttitudeFilter()
    down, rp = [], []
    for s, g, a in zip(stamps, gyro, accel):
        f.update(ImuReading(int(s), g, a))
        down.append(f.gravity_imu())
        rp.append(f.roll_pitch())
    return f, np.array(down), np.degrees(np.array(rp))


def test_husky_tilted_mount_is_a_steady_tilt(husky):
    stamps, gyro, accel, quat = husky
    f, down, rp = _run_filter(stamps, gyro, accel)
    assert f.resets == 0
    rp, down, quat = rp[60:], down[60:], quat[60:]  # after 2 s at 30 Hz
    roll, pitch = rp[:, 0], rp[:, 1]
    # The IMU is mounted rolled by about 90 deg (gravity along its -y); the estimate must hold still.
    assert 85.0 < roll.mean() < 95.0 and abs(pitch.mean()) < 5.0
    assert roll.std() < 2.0 and pitch.std() < 2.0
    mean_down = down.mean(axis=0) / np.linalg.norm(down.mean(axis=0))
    accel_down = -accel.mean(axis=0) / np.linalg.norm(accel.mean(axis=0))
    assert math.degrees(math.acos(mean_down @ accel_down)) < 0.5
    # The IMU's own orientation output (REP-103 ZYX) is an independent reference for roll/pitch.
    ypr = Rotation.from_quat(quat).as_euler("ZYX", degrees=True)
    assert np.median(np.abs(roll - ypr[:, 2])) < 0.5 and np.median(np.abs(pitch - ypr[:, 1])) < 0.5
    assert np.percentile(np.abs(roll - ypr[:, 2]), 95) < 1.5


def test_jackal_gravity_is_along_minus_z_and_nan_samples_are_rejected(jackal):
    stamps, gyro, accel, _ = jackal
    clean, down, _ = _run_filter(stamps, gyro, accel)
    mean_down = down[100:].mean(axis=0)
    assert mean_down[2] < 0  # z up: gravity along -z (accel reads +9.8 on z)
    assert math.degrees(math.acos(-mean_down[2] / np.linalg.norm(mean_down))) < 3.0
    # Inject NaN readings: they are refused at construction and the state is unaffected.
    f, rejected = AttitudeFilter(), 0
    for i, (s, g, a) in enumerate(zip(stamps, gyro, accel)):
        if i % 97 == 5:
            bad_g, bad_a = g.copy(), a.copy()
            (bad_g if i % 2 else bad_a)[i % 3] = math.nan
            with pytest.raises(InvalidInputError):
                f.update(ImuReading(int(s) + 1, bad_g, bad_a))
            rejected += 1
        f.update(ImuReading(int(s), g, a))
    assert rejected == len(stamps) // 97 + (len(stamps) % 97 > 5)
    assert np.isfinite(f.gravity_imu()).all()
    np.testing.assert_allclose(f.gravity_imu(), clean.gravity_imu(), atol=1e-12)


def test_jackal_gyro_rotation_agrees_with_imu_orientation(jackal):
    """Real-data sign check: 1 s gyro rotations vs the IMU's own orientation output."""
    stamps, gyro, accel, quat = jackal
    integ = GyroIntegrator(max_age_s=100.0)
    for s, g, a in zip(stamps, gyro, accel):
        integ.add(ImuReading(int(s), g, a))
    R_wb = Rotation.from_quat(quat).as_matrix()
    errors, wrong, motion = [], [], []
    for i in range(100, len(stamps) - 50, 25):
        R = integ.rotation_between(int(stamps[i]), int(stamps[i + 50]))
        ref = R_wb[i + 50].T @ R_wb[i]  # world-fixed vector: v1 = R_wb(t1)^T R_wb(t0) v0
        errors.append(_angle_deg(R, ref))
        wrong.append(_angle_deg(R.T, ref))
        motion.append(_angle_deg(ref, np.eye(3)))
    errors, wrong, motion = map(np.array, (errors, wrong, motion))
    turning = motion > 5.0
    assert turning.sum() >= 10
    assert np.median(errors[turning]) < 1.0 and np.median(wrong[turning]) > 5.0
