"""The ray caster: exact depth for known geometry (with lens distortion), NaN for sky, determinism."""

import math

import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.transforms import OPTICAL_FROM_BODY, RigidTransform
from depth_ros.sim.render import cast_rays, render
from depth_ros.sim.scenes import Box, Cylinder, Light, Material, Plane, Scene, build_scene

# Strong enough distortion that a pinhole shortcut would be off by pixels at the border.
CAM = CameraModel(96, 72, 80.0, 81.0, 47.3, 35.8, "plumb_bob", (-0.18, 0.04, 0.001, -0.0015, 0.0))
MAT = [Material("tiles", (0.6, 0.6, 0.6), (0.2, 0.2, 0.2), scale=0.5, seed=3),
       Material("cardboard", (0.6, 0.45, 0.3), (0.9, 0.9, 0.8), scale=0.05, seed=4)]


def _pose(position, roll=0.0, pitch=0.0, yaw=0.0) -> RigidTransform:
    """Optical-frame pose of a camera whose camera_link has REP-103 rpy at `position`."""
    T_world_link = RigidTransform.from_translation_rpy(position, (roll, pitch, yaw))
    return T_world_link @ OPTICAL_FROM_BODY.inverse()


def _pixel_rays(camera: CameraModel) -> np.ndarray:
    """Independent float64 rays (x/z, y/z, 1) of every pixel centre, (H, W, 3)."""
    uu, vv = np.meshgrid(np.arange(camera.width, dtype=float), np.arange(camera.height, dtype=float))
    xy = camera.undistort_pixels(np.stack([uu.ravel(), vv.ravel()], 1)).reshape(camera.height, camera.width, 2)
    return np.concatenate([xy, np.ones((camera.height, camera.width, 1))], axis=2)


def _backproject(depth: np.ndarray, camera: CameraModel) -> np.ndarray:
    r = camera.rays
    x = np.broadcast_to(r.x, depth.shape).astype(np.float64)
    y = np.broadcast_to(r.y, depth.shape).astype(np.float64)
    d = depth.astype(np.float64)
    return np.stack([x * d, y * d, d], axis=-1)


def _assert_projects_to_own_pixel(points_cam: np.ndarray, valid: np.ndarray, camera: CameraModel) -> None:
    vs, us = np.nonzero(valid)
    uv, front = camera.project(points_cam[vs, us])
    assert front.all()
    np.testing.assert_allclose(uv[:, 0], us, atol=2e-3)
    np.testing.assert_allclose(uv[:, 1], vs, atol=2e-3)


def test_tilted_plane_depth_is_analytic_with_distortion():
    n = np.array([0.2, -0.1, 1.0]) / np.linalg.norm([0.2, -0.1, 1.0])
    scene = Scene("plane", MAT, planes=[Plane(tuple(n), 0.3, 0)], max_depth=1e6)
    pose = _pose((0.4, -0.2, 1.7), roll=0.05, pitch=0.45, yaw=0.3)  # looking down at the plane
    out = render(scene, CAM, pose)
    assert out.depth.dtype == np.float32 and out.depth.shape == (72, 96)
    rays = _pixel_rays(CAM)
    dirs = rays @ pose.R.T
    expected = (0.3 - n @ pose.t) / (dirs @ n)
    expected[expected <= 0] = np.nan
    np.testing.assert_array_equal(np.isfinite(out.depth), np.isfinite(expected))
    # camera.rays are float32: near the horizon (km away) their rounding dominates, so compare up to 100 m.
    near = expected < 100.0
    assert near.mean() > 0.5
    np.testing.assert_allclose(out.depth[near], expected[near], rtol=1e-5)
    valid = np.isfinite(out.depth) & near
    pts = _backproject(out.depth, CAM)
    world = pts[valid] @ pose.R.T + pose.t
    np.testing.assert_allclose(world @ n, 0.3, atol=1e-5)
    _assert_projects_to_own_pixel(pts, valid, CAM)
    hit = np.isfinite(out.depth)
    assert (out.object_id[hit] == 0).all() and (out.object_id[~hit] == -1).all()


def test_box_faces_exact_and_known_points_project_onto_them():
    box = Box((5.0, 0.2, 0.1), (1.0, 2.0, 1.2), 1, rpy=(0.0, 0.0, 0.0))
    scene = Scene("box", MAT, boxes=[box], max_depth=100.0)
    pose = _pose((0.0, 0.0, 0.0), yaw=0.25, pitch=0.05)
    out = render(scene, CAM, pose)
    valid = np.isfinite(out.depth)
    assert 0.05 < valid.mean() < 0.9
    # The camera sees the front face (x = 4.5) and the right side face (y = -0.8).
    pts = _backproject(out.depth, CAM)
    world = pts[valid] @ pose.R.T + pose.t
    local = (world - np.array(box.center)) / (np.array(box.size) / 2)
    np.testing.assert_allclose(np.abs(local).max(axis=1), 1.0, atol=1e-5)
    _assert_projects_to_own_pixel(pts, valid, CAM)
    # Analytic depth on the front face: t = (4.5 - o_x) / d_x for pixels whose hit lies on it.
    dirs = _pixel_rays(CAM) @ pose.R.T
    t_front = (4.5 - pose.t[0]) / dirs[..., 0]
    hit = pose.t + t_front[..., None] * dirs
    on_front = (np.abs(hit[..., 1] - 0.2) < 0.98) & (np.abs(hit[..., 2] - 0.1) < 0.58)
    assert on_front.sum() > 50
    np.testing.assert_allclose(out.depth[on_front], t_front[on_front], rtol=1e-5)
    # Known 3D points: inside the front face -> a valid pixel; well off the box -> NaN.
    rng = np.random.default_rng(0)
    face = np.column_stack([np.full(200, 4.5), rng.uniform(-0.7, 1.1, 200), rng.uniform(-0.4, 0.6, 200)])
    uv, front = CAM.project(pose.inverse().apply(face))
    inside = front & CAM.in_image(uv)
    iu, iv = np.rint(uv[inside]).astype(int).T
    assert inside.sum() > 20 and np.isfinite(out.depth[iv, iu]).all()
    off = np.column_stack([np.full(200, 9.0), rng.uniform(-3, 3, 200), rng.uniform(1.5, 3, 200)])
    uv, front = CAM.project(pose.inverse().apply(off))
    inside = front & CAM.in_image(uv)
    iu, iv = np.rint(uv[inside]).astype(int).T
    assert inside.sum() > 5 and np.isnan(out.depth[iv, iu]).all()


def test_rotated_box_and_cylinder_surfaces():
    box = Box((4.0, -0.5, 0.5), (1.2, 0.8, 1.0), 1, rpy=(0.1, -0.2, 0.6))
    cyl = Cylinder(3.0, 1.0, 0.3, -1.0, 0.8, 0)
    scene = Scene("mix", MAT, boxes=[box], cylinders=[cyl])
    pose = _pose((0.0, 0.0, 0.6), pitch=0.1)
    out = render(scene, CAM, pose)
    pts = _backproject(out.depth, CAM)
    world = pts @ pose.R.T + pose.t
    is_box = out.object_id == 0
    is_cyl = out.object_id == 1
    assert is_box.sum() > 30 and is_cyl.sum() > 30
    assert scene.object_kind(0) == "box" and scene.object_kind(1) == "cylinder" and scene.object_kind(-1) == "none"
    R = RigidTransform.from_translation_rpy(box.center, box.rpy)
    local = R.inverse().apply(world[is_box]) / (np.array(box.size) / 2)
    np.testing.assert_allclose(np.abs(local).max(axis=1), 1.0, atol=1e-5)
    w = world[is_cyl]
    radial = np.hypot(w[:, 0] - 3.0, w[:, 1] - 1.0)
    on_side = np.abs(w[:, 2] - 0.8) > 1e-6
    np.testing.assert_allclose(radial[on_side], 0.3, rtol=1e-5)
    assert (radial[~on_side] <= 0.3 + 1e-6).all()


def test_sky_and_beyond_max_depth_are_nan():
    scene = Scene("ground", MAT, planes=[Plane((0, 0, 1), 0.0, 0)], sky_horizon=(0.8, 0.85, 0.9),
                  lights=[Light("directional", (0.3, 0.2, 1.0))], max_depth=12.0)
    pose = _pose((0.0, 0.0, 1.0), pitch=0.0)  # level: the upper half sees sky
    out = render(scene, CAM, pose)
    dirs = _pixel_rays(CAM) @ pose.R.T
    t = -1.0 / dirs[..., 2]
    expect = np.where((dirs[..., 2] < 0) & (t <= 12.0), t, np.nan)
    np.testing.assert_allclose(out.depth, expect, rtol=1e-5)
    assert np.isnan(out.depth[:20]).all() and np.isfinite(out.depth[-5:]).all()
    # The ground beyond max_depth is still drawn (hazy), with NaN depth; the sky is blue-ish.
    assert out.rgb is not None and out.rgb[:5].mean() > 150
    # Depth-only rendering gives the same depth.
    np.testing.assert_array_equal(render(scene, CAM, pose, color=False).depth, out.depth)


def test_cast_rays_agrees_with_render():
    scene = build_scene("hall", 4)
    pose = _pose((0.0, 0.0, 1.0), pitch=0.1, yaw=0.4)
    out = render(scene, CAM, pose, color=False)
    dirs = (_pixel_rays(CAM) @ pose.R.T).reshape(-1, 3)
    t, ids = cast_rays(scene, np.broadcast_to(pose.t, dirs.shape), dirs)
    np.testing.assert_allclose(out.depth.ravel(), np.where(t <= scene.max_depth, t, np.nan), rtol=1e-5)
    np.testing.assert_array_equal(out.object_id.ravel(), ids)


@pytest.mark.parametrize("name", ["hall", "yard"])
def test_colour_is_deterministic_and_textured(name):
    scene = build_scene(name, 7)
    path = scene.path
    xy = path.point(0.3)
    yaw = float(path.heading(0.3))
    pose = _pose((xy[0], xy[1], 1.0), pitch=math.radians(8), yaw=yaw)
    a = render(scene, CAM, pose, rng=np.random.default_rng(1))
    b = render(build_scene(name, 7), CAM, pose, rng=np.random.default_rng(1))
    c = render(scene, CAM, pose, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth, b.depth)
    assert not np.array_equal(a.rgb, c.rgb)
    clean = render(scene, CAM, pose)
    np.testing.assert_array_equal(clean.rgb, render(scene, CAM, pose).rgb)
    assert clean.rgb.dtype == np.uint8 and clean.rgb.shape == (72, 96, 3)
    # Not flat colours: plenty of distinct values and local contrast.
    assert len(np.unique(clean.rgb.reshape(-1, 3), axis=0)) > 300
    assert np.abs(np.diff(clean.rgb.astype(int), axis=1)).mean() > 1.0
    other = render(build_scene(name, 8), CAM, pose)
    assert not np.array_equal(other.rgb, clean.rgb)
