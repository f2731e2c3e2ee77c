"""Radar scan -> image reprojection on a rotating camera, with and without gyro compensation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from depth_ros.core.camera import CameraModel
from depth_ros.core.imu import GyroIntegrator, ImuReading, rotation_in_camera
from depth_ros.core.transforms import OPTICAL_FROM_BODY

NS = 1_000_000_000
T_BASE = 1_700_000_123 * NS
# IMU mounted rotated w.r.t. the camera body (yawed 90 deg and tilted a little) to exercise R_cam_imu.
R_BODY_IMU = Rotation.from_euler("ZYX", [math.pi / 2, 0.05, -0.03]).as_matrix()
R_CAM_IMU = OPTICAL_FROM_BODY.R @ R_BODY_IMU


def _camera_motion(t: float) -> Rotation:
    """R_world_body of the camera: yawing ~45 deg/s and pitching ~35 deg/s, rates varying in time."""
    yaw = math.radians(45.0) * t + 0.05 * math.sin(7.0 * t)
    pitch = 0.25 * math.sin(math.radians(35.0) / 0.25 * t)
    return Rotation.from_euler("ZYX", [yaw, pitch, 0.02 * math.sin(3.0 * t)])


def _imu_motion(t: float) -> Rotation:
    return _camera_motion(t) * Rotation.from_matrix(R_BODY_IMU)


def _imu_rate(t: float, h: float = 1e-5) -> np.ndarray:
    return (_imu_motion(t - h).inv() * _imu_motion(t + h)).as_rotvec() / (2 * h)


@pytest.mark.parametrize("latency_s", [0.05, 0.1])
def test_gyro_compensation_reprojects_radar_points_within_a_pixel(latency_s):
    cam = CameraModel(640, 480, 500, 500, 320, 240)
    rng = np.random.default_rng(7)
    t_image = 1.4567891  # not on the IMU grid
    t_scan = t_image - latency_s

    # Gyro at 200 Hz (with an odd phase) and small white noise, covering both stamps.
    integ = GyroIntegrator(max_age_s=2.0)
    for t in np.arange(0.0031, 2.0, 1.0 / 200.0):
        gyro = _imu_rate(t) + rng.normal(0.0, 0.002, 3)
        integ.add(ImuReading(T_BASE + int(round(t * NS)), gyro, [0.0, 0.0, 9.81]))

    # Static world points that the camera sees at scan time (what a radar would return).
    n = 300
    uv_scan = np.column_stack([rng.uniform(40, 600, n), rng.uniform(40, 440, n)])
    depth = rng.uniform(3.0, 40.0, n)
    p_scan = np.column_stack([(uv_scan[:, 0] - 320) / 500 * depth, (uv_scan[:, 1] - 240) / 500 * depth, depth])
    R_w_opt_scan = (_camera_motion(t_scan) * Rotation.from_matrix(OPTICAL_FROM_BODY.R.T))
    R_w_opt_image = (_camera_motion(t_image) * Rotation.from_matrix(OPTICAL_FROM_BODY.R.T))
    p_world = R_w_opt_scan.apply(p_scan)  # camera at the origin: rotation only
    uv_true, front = cam.project(R_w_opt_image.inv().apply(p_world))
    assert front.all()

    uv_raw, _ = cam.project(p_scan)
    R_imu = integ.rotation_between(T_BASE + int(round(t_scan * NS)), T_BASE + int(round(t_image * NS)))
    assert R_imu is not None
    uv_comp, _ = cam.project(p_scan @ rotation_in_camera(R_imu, R_CAM_IMU).T)

    err_raw = np.linalg.norm(uv_raw - uv_true, axis=1)
    err_comp = np.linalg.norm(uv_comp - uv_true, axis=1)
    assert np.median(err_raw) > 3.0 * (latency_s / 0.05)  # ~20-45 px of motion blur in time
    assert np.median(err_comp) < 1.0 and err_comp.max() < 1.0
    # The opposite rotation (a sign error) would double the error rather than remove it.
    uv_wrong, _ = cam.project(p_scan @ rotation_in_camera(R_imu.T, R_CAM_IMU).T)
    assert np.median(np.linalg.norm(uv_wrong - uv_true, axis=1)) > np.median(err_raw)
