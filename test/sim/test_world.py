"""World consistency: poses vs renders, radar vs ground truth, IMU vs trajectory, motion limits."""

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from depth_ros.core.imu import STANDARD_GRAVITY, GyroIntegrator, rotation_in_camera
from depth_ros.core.transforms import OPTICAL_FROM_BODY, RigidTransform, so3_log
from depth_ros.sim import generate_sequence
from depth_ros.sim.render import cast_rays, render
from depth_ros.sim.world import World

SECONDS = 4.0


@pytest.fixture(scope="module")
def seq():
    return generate_sequence("hall", SECONDS, seed=11, width=160, height=120)


def _written(seq, key: str) -> RigidTransform:
    """An extrinsic as world.yaml writes it (translation + REP-103 rpy)."""
    e = seq.world.describe()["extrinsics"][key]
    return RigidTransform.from_translation_rpy(e["translation"], e["rotation_rpy"])


def _angle_deg(R: np.ndarray) -> float:
    return math.degrees(float(np.linalg.norm(so3_log(R))))


def test_sequence_shapes_and_stamps(seq):
    cam = seq.camera
    assert len(seq.frames) == 40 and len(seq.radar) == 60 and len(seq.imu) == 801
    f = seq.frames[3]
    assert f.rgb.shape == (120, 160, 3) and f.rgb.dtype == np.uint8
    assert f.depth.shape == (120, 160) and f.depth.dtype == np.float32
    assert cam.distortion_model == "plumb_bob" and cam.D[0] == pytest.approx(-0.05)
    for stamps, hz in ((np.array([fr.stamp_ns for fr in seq.frames]), 10), (np.array([r.stamp_ns for r in seq.radar]), 15),
                       (seq.imu.stamps_ns, 200)):
        np.testing.assert_allclose(np.diff(stamps), 1e9 / hz, atol=1)
    assert seq.frames[0].stamp_ns == 1_700_000_000 * 10**9
    # Radar stamps are not aligned with camera stamps.
    assert not set(r.stamp_ns for r in seq.radar) & set(fr.stamp_ns for fr in seq.frames)


def test_box_point_reprojects_between_frames(seq):
    scene = seq.scene
    T_base_opt = _written(seq, "base_link_to_camera_link") @ _written(seq, "camera_link_to_camera_optical_frame")
    a, b = seq.frames[20], seq.frames[32]
    for f in (a, b):  # the frames' poses are the trajectory's poses composed with the written mount
        T = seq.world.trajectory.pose(f.t, T_base_opt)
        np.testing.assert_allclose(T.as_matrix(), f.T_world_cam.as_matrix(), atol=1e-9)
    ids = a.object_id
    is_box = np.array([[scene.object_kind(i) == "box" for i in row] for row in ids])
    vs, us = np.nonzero(is_box & np.isfinite(a.depth))
    assert len(vs) > 200
    rays = seq.camera.rays
    x = np.broadcast_to(rays.x, a.depth.shape)[vs, us]
    y = np.broadcast_to(rays.y, a.depth.shape)[vs, us]
    z = a.depth[vs, us].astype(np.float64)
    P = a.T_world_cam.apply(np.stack([x * z, y * z, z], 1))
    # Seen from frame b: points not occluded are hit exactly by the ray through them.
    p_b = b.T_world_cam.inverse().apply(P)
    uv, front = seq.camera.project(p_b)
    inside = front & seq.camera.in_image(uv)
    o = b.T_world_cam.t
    t, hit_ids = cast_rays(scene, np.broadcast_to(o, P.shape), P - o)
    visible = inside & (np.abs(t - 1.0) < 1e-6)
    assert visible.sum() > 0.2 * len(P)
    # Stacked boxes share faces, where either id is right: allow a few such seam points.
    assert np.mean(hit_ids[visible] == ids[vs, us][visible]) > 0.99
    # ... and frame b's depth image has them at their optical z (pixel rounding: small depth gradient).
    iu, iv = np.rint(uv[visible]).astype(int).T
    rel = np.abs(b.depth[iv, iu] - p_b[visible, 2]) / p_b[visible, 2]
    assert np.median(rel) < 0.01 and np.mean(rel < 0.05) > 0.9


def test_radar_points_land_on_ground_truth_surfaces(seq):
    T_cam_radar = OPTICAL_FROM_BODY @ _written(seq, "camera_link_to_radar_link")
    cam = seq.camera
    rays_x = np.broadcast_to(cam.rays.x, (cam.height, cam.width))
    rays_y = np.broadcast_to(cam.rays.y, (cam.height, cam.width))
    exact, wrong_mount, measured, clutter = [], [], [], []
    for r in seq.radar[::6]:
        assert r.scan.frame_id == "radar_link" and set(r.scan.fields) == {"snr", "doppler"}
        assert 20 <= len(r.scan) <= 60
        gt = render(seq.scene, cam, seq.world.T_world_cam(r.t), color=False).depth
        surface = ~r.sim.is_clutter
        # Noise-free returns: at their pixel the GT depth is their optical z (pixel rounding aside).
        for T, out in ((T_cam_radar, exact), (OPTICAL_FROM_BODY, wrong_mount)):
            p = T.apply(r.sim.true_points_radar[surface])
            uv, front = cam.project(p)
            ok = front & cam.in_image(uv)
            iu, iv = np.rint(uv[ok]).astype(int).T
            d = gt[iv, iu]
            good = np.isfinite(d)
            out.extend(np.abs(p[ok, 2][good] - d[good]) / d[good])
        # Measured returns (range/angle noise): near the GT surface in 3D, relative to their range.
        ok = np.isfinite(gt)
        tree = cKDTree(np.stack([rays_x[ok] * gt[ok], rays_y[ok] * gt[ok], gt[ok]], 1))
        for rows, out in ((surface, measured), (~surface, clutter)):
            p = T_cam_radar.apply(r.scan.points[rows])
            dist, _ = tree.query(p)
            out.extend(dist / np.linalg.norm(p, axis=1))
    exact, wrong_mount = np.array(exact), np.array(wrong_mount)
    assert len(exact) > 100 and len(clutter) > 5
    assert np.median(exact) < 0.01 and np.mean(exact < 0.05) > 0.9
    # Ignoring the written extrinsic (radar assumed at the camera) lands the same points worse.
    assert np.median(wrong_mount) > 2 * np.median(exact)
    assert np.median(measured) < 0.06 and np.percentile(measured, 75) < 0.1
    assert np.median(clutter) > 0.2


def test_radar_doppler_is_radial_velocity(seq):
    world = seq.world
    r = seq.radar[45]  # moving by then
    T_base_radar = world.extrinsics.T_base_radar
    v_world = world.trajectory.velocity(r.t, T_base_radar)[0]
    assert np.linalg.norm(v_world) > 0.2
    R = world.trajectory.pose(r.t, T_base_radar).R
    p = r.sim.true_points_radar
    expect = -(p / np.linalg.norm(p, axis=1, keepdims=True)) @ (R.T @ v_world)
    assert np.sqrt(np.mean((r.scan.fields["doppler"] - expect) ** 2)) < 0.3


def test_integrated_gyro_matches_trajectory_rotation(seq):
    imu = seq.imu
    gi = GyroIntegrator(max_age_s=10.0)
    for reading in imu.readings():
        gi.add(reading)
    epoch = seq.world.epoch_ns
    # The robot stands still for the first second: estimate the bias there, as a node would.
    bias = gi.estimate_bias(epoch, epoch + 900_000_000)
    np.testing.assert_allclose(bias, imu.gyro_bias, atol=1e-3)
    t0, t1 = 2.4, 3.4
    R_imu = gi.rotation_between(epoch + int(t0 * 1e9), epoch + int(t1 * 1e9))
    T_cam_imu = OPTICAL_FROM_BODY @ _written(seq, "camera_link_to_imu_link")
    R_cam = rotation_in_camera(R_imu, T_cam_imu.R)
    W0, W1 = seq.world.T_world_cam(t0).R, seq.world.T_world_cam(t1).R
    expected = W1.T @ W0  # v1 = R v0 for world-fixed vectors in the camera frame
    assert _angle_deg(expected) > 2.0  # the camera really turned
    assert _angle_deg(R_cam.T @ expected) < 0.1
    # The mount matters: ignoring the IMU's 90 deg yaw gives a large error.
    wrong = rotation_in_camera(R_imu, OPTICAL_FROM_BODY.R)
    assert _angle_deg(wrong.T @ expected) > 3 * _angle_deg(R_cam.T @ expected) + 0.5


def test_stationary_accel_is_gravity_with_mount_tilt(seq):
    imu = seq.imu
    still = (imu.stamps_ns - seq.world.epoch_ns) < 900_000_000
    mean = imu.accel[still].mean(axis=0)
    assert abs(np.linalg.norm(mean) - STANDARD_GRAVITY) < 0.15
    # At rest the base is level; the IMU's attitude comes from the written mounts only.
    T_base_imu = _written(seq, "base_link_to_camera_link") @ _written(seq, "camera_link_to_imu_link")
    up_in_imu = T_base_imu.R.T @ np.array([0.0, 0.0, 1.0])
    angle = math.degrees(math.acos(float(mean @ up_in_imu) / np.linalg.norm(mean)))
    assert angle < 1.0
    # Not trivially aligned: the camera pitch and the IMU tilt move gravity off the IMU's z axis.
    assert math.degrees(math.acos(mean[2] / np.linalg.norm(mean))) > 2.0
    np.testing.assert_allclose(np.abs(imu.gyro[still] - imu.gyro_bias).mean(), 0.0024, atol=0.001)


@pytest.mark.parametrize("scene,seed", [("hall", 0), ("hall", 5), ("yard", 2), ("yard", 9)])
def test_motion_limits_and_free_space(scene, seed):
    w = World(scene, 20.0, seed)
    tr, m = w.trajectory, w.motion
    assert 0.3 <= m.camera_height <= 1.5 and 0.0 <= math.degrees(m.camera_pitch) <= 15.0
    t = np.arange(0.0, 20.0, 0.05)
    speed = tr.speed(t)
    assert speed.max() <= 1.5 and speed[t > 3.5].min() >= 0.25
    rates = tr.angular_velocity(t, w.extrinsics.T_base_camera_link)
    yaw_rate = tr.angular_velocity(t)[:, 2]
    assert np.abs(yaw_rate).max() < math.radians(45)
    assert np.abs(rates).max() < 1.5
    R_base, _ = tr.base_pose_arrays(t)
    roll = np.degrees(np.arctan2(R_base[:, 2, 1], R_base[:, 2, 2]))
    assert np.abs(roll).max() <= 3.0 + 1e-6
    _, p_cam = tr.pose_arrays(t, w.extrinsics.T_base_camera_link)
    np.testing.assert_allclose(p_cam[:, 2], m.camera_height, atol=1e-9)
    # Free space: horizontal rays from the camera find nothing closer than 0.4 m.
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    dirs = np.column_stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)])
    for p in p_cam[::4]:
        dist, _ = cast_rays(w.scene, np.broadcast_to(p, dirs.shape), dirs)
        assert dist.min() > 0.4
    # The same seed gives the same world, another seed another one.
    w2 = World(scene, 20.0, seed)
    np.testing.assert_array_equal(w2.trajectory.pose_arrays(t)[1], tr.pose_arrays(t)[1])
    assert not np.allclose(World(scene, 20.0, seed + 1).trajectory.pose_arrays(t)[1], tr.pose_arrays(t)[1])
