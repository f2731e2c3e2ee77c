"""The temporal filter's warp and fusion against hand-computed geometry (planes seen from two poses)."""

from __future__ import annotations

import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.temporal import (
    CURRENT,
    FUSED,
    NO_DEPTH,
    REJECTED,
    CameraMotion,
    TemporalFilter,
    TemporalSettings,
)
from depth_ros.core.temporal_metrics import flicker, forward_warp_depth, temporal_consistency

CAM = CameraModel(64, 48, 100.0, 100.0, 32.0, 24.0)


def rot_y(sin: float, cos: float) -> np.ndarray:
    return np.array([[cos, 0.0, sin], [0.0, 1.0, 0.0], [-sin, 0.0, cos]])


def plane_depth(camera: CameraModel, normal, offset: float) -> np.ndarray:
    """Depth of the plane n . X = offset along every pixel's ray (pinhole)."""
    u, v = np.meshgrid(np.arange(camera.width), np.arange(camera.height))
    x, y = (u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy
    n = np.asarray(normal, float)
    return (offset / (n[0] * x + n[1] * y + n[2])).astype(np.float32)


def test_known_motion_moves_a_known_point_to_a_known_pixel_and_depth():
    """Previous frame: the point (0.5, 0, 5) on the plane z = 5, at pixel (42, 24). The camera turns by
    asin(0.6) about its y axis and moves by t = (-3.4, 0, 0.3): R P = (3.4, 0, 3.7), so the point is at
    (0, 0, 4) now, the principal point, 4 m away. In the current camera the plane is 0.6 x + 0.8 z = 3.2."""
    R, t = rot_y(0.6, 0.8), np.array([-3.4, 0.0, 0.3])
    np.testing.assert_allclose(R @ [0.5, 0.0, 5.0] + t, [0.0, 0.0, 4.0], atol=1e-12)
    prev = np.full((48, 64), 5.0, np.float32)
    cur = plane_depth(CAM, (0.6, 0.0, 0.8), 3.2)
    assert cur[24, 32] == pytest.approx(4.0)
    f = TemporalFilter()
    f.update(prev, None, CAM, 0, None)
    out = f.update(cur, None, CAM, 100_000_000, CameraMotion(R, t))
    assert out.status[24, 32] == FUSED
    assert out.warped[24, 32] == pytest.approx(4.0, rel=1e-5)
    # The independent forward splat moves pixel (42, 24) of the previous frame to (32, 24), 4 m.
    splat = forward_warp_depth(prev, CAM, R, t)
    assert splat[24, 32] == pytest.approx(4.0, rel=1e-5)


def test_warped_plane_matches_its_depth_seen_from_the_new_pose():
    """A tilted plane (depth varies across the image, so a wrong landing pixel gives a wrong depth),
    a rotation about two axes and a translation: the warped previous depth is the plane's depth from
    the new pose (inverse depth of a plane is affine in the pixel, so bilinear sampling is exact)."""
    n_prev, c_prev = np.array([0.2, -0.3, 1.0]), 4.0
    a, b = 0.05, -0.03
    R = rot_y(np.sin(a), np.cos(a)) @ np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    t = np.array([0.1, -0.05, -0.3])
    # n . X_prev = c with X_prev = R^T (X_cur - t)  =>  (R n) . X_cur = c + (R n) . t
    n_cur = R @ n_prev
    prev, cur = plane_depth(CAM, n_prev, c_prev), plane_depth(CAM, n_cur, c_prev + n_cur @ t)
    f = TemporalFilter()
    f.update(prev, None, CAM, 0, None)
    out = f.update(cur, None, CAM, 100_000_000, CameraMotion(R, t))
    has_prior = np.isin(out.status, (FUSED, REJECTED))
    assert has_prior.mean() > 0.7
    err = np.abs(out.warped[has_prior] / cur[has_prior] - 1)
    assert np.median(err) < 2e-5 and np.quantile(err, 0.95) < 2e-4
    assert err.max() < 3e-3  # landings in the outer half pixel of the previous image take its edge value
    assert (out.status[has_prior] == FUSED).all()
    # The same motion the wrong way round does not explain the frames.
    wrong = TemporalFilter()
    wrong.update(prev, None, CAM, 0, None)
    back = wrong.update(cur, None, CAM, 100_000_000, CameraMotion(R.T, -R.T @ t))
    ok = np.isfinite(back.warped)
    assert np.median(np.abs(back.warped[ok] / cur[ok] - 1)) > 0.02


def test_a_distorted_lens_warps_through_its_own_rays():
    """plumb_bob distortion: the rays of the current pixels are the undistorted ones, the offset to the
    previous pixel is mapped with the focal lengths (module doc). A slanted wall, the camera 0.2 m
    nearer and turned by 1 degree: the warped depth is the wall's depth along each ray within 0.5 %."""
    cam = CameraModel(64, 48, 100.0, 100.0, 32.0, 24.0, "plumb_bob", (-0.15, 0.03, 0.0, 0.0, 0.0))
    r = cam.rays
    a = np.radians(1.0)
    R, t = rot_y(np.sin(a), np.cos(a)), np.array([0.0, 0.0, -0.2])
    n_prev = np.array([0.3, 0.0, 1.0])  # the wall n . X = 4 in the previous camera: its depth varies with x
    n_cur = R @ n_prev
    prev = (4.0 / (n_prev[0] * r.x + n_prev[2])).astype(np.float32) * np.ones((48, 1), np.float32)
    cur = ((4.0 + n_cur @ t) / (n_cur[0] * r.x + n_cur[1] * r.y + n_cur[2])).astype(np.float32)
    f = TemporalFilter()
    f.update(prev, None, cam, 0, None)
    out = f.update(cur, None, cam, 100_000_000, CameraMotion(R, t))
    ok = np.isfinite(out.warped)
    assert ok.mean() > 0.8
    np.testing.assert_allclose(out.warped[ok], cur[ok], rtol=5e-3)


def _box_scene(shift_x: float) -> np.ndarray:
    """Depth of a wall at 6 m with a 2 m deep box in front (|x| < 0.4 m at 2 m), camera moved by shift_x."""
    wall = np.full((48, 64), 6.0, np.float32)
    u = np.arange(64)
    x_at_box = (u - CAM.cx) / CAM.fx * 2.0 + shift_x  # box frame x of each column's ray at 2 m
    box_cols = np.abs(x_at_box) < 0.4
    wall[12:36, box_cols] = 2.0
    return wall


def test_disoccluded_background_falls_back_to_the_current_frame():
    prev, cur = _box_scene(0.0), _box_scene(0.3)  # the camera moved 0.3 m right: X_cur = X_prev - (0.3, 0, 0)
    f = TemporalFilter()
    f.update(prev, None, CAM, 0, None)
    out = f.update(cur, None, CAM, 100_000_000, CameraMotion(np.eye(3), np.array([-0.3, 0.0, 0.0])))
    # Wall pixels that the box hid before: the wall point behind pixel u was at u_prev in the previous
    # image (X_prev = X + 0.3 at 6 m), where both neighbouring columns showed the box.
    u_prev = CAM.cx + CAM.fx * ((np.arange(64) - CAM.cx) / CAM.fx * 6.0 + 0.3) / 6.0
    lo, hi = np.clip(np.floor(u_prev).astype(int), 0, 63), np.clip(np.ceil(u_prev).astype(int), 0, 63)
    was_box = (prev[24, lo] == 2.0) & (prev[24, hi] == 2.0)
    revealed = np.zeros((48, 64), bool)
    revealed[14:34, :] = (cur[14:34, :] == 6.0) & was_box[None, :]
    assert revealed.sum() > 20
    assert (out.status[revealed] == REJECTED).all()
    np.testing.assert_array_equal(out.depth[revealed], cur[revealed])
    # The box itself and the wall far from it were seen before and are fused, unchanged in depth.
    fused = out.status == FUSED
    assert fused.mean() > 0.6
    np.testing.assert_allclose(out.depth[fused], cur[fused], rtol=1e-3)


def test_static_noise_is_averaged_as_a_fading_memory_filter():
    """Still camera, white noise of 1 %: the output variance of a steady filter whose history weighs
    m is (1 - m) / (1 + m) of the input's (an exponential moving average)."""
    rng = np.random.default_rng(3)
    m = 0.6
    f = TemporalFilter(TemporalSettings(sigma=0.05, memory=m, gate=5.0))
    outs, ins = [], []
    for k in range(40):
        d = (3.0 * (1.0 + 0.01 * rng.standard_normal((48, 64)))).astype(np.float32)
        out = f.update(d, None, CAM, k * 100_000_000, CameraMotion.identity() if k else None)
        if k >= 20:
            outs.append(out.depth)
            ins.append(d)
    ratio = np.var(np.stack(outs), axis=0).mean() / np.var(np.stack(ins), axis=0).mean()
    assert ratio == pytest.approx((1 - m) / (1 + m), rel=0.15)
    assert float(np.mean(outs)) == pytest.approx(3.0, rel=2e-3)
    assert out.fused_share == 1.0 and out.confidence.min() > 0.99  # history makes it more certain


def test_unknown_translation_lowers_confidence_and_history_weight():
    d0, d1 = np.full((48, 64), 3.0, np.float32), np.full((48, 64), 3.06, np.float32)
    conf = np.full((48, 64), 0.5, np.float32)
    results = {}
    for sigma_t in (0.0, 0.3):
        f = TemporalFilter()
        f.update(d0, conf, CAM, 0, None)
        results[sigma_t] = f.update(d1, conf, CAM, 100_000_000, CameraMotion.identity(sigma_t))
    known, unknown = results[0.0], results[0.3]
    c = (slice(10, 38), slice(10, 54))
    assert (known.status[c] == FUSED).all() and (unknown.status[c] == FUSED).all()
    assert (unknown.confidence[c] < known.confidence[c]).all()
    # Less weight on the history: closer to the new frame's 3.06.
    assert (np.abs(unknown.depth[c] - 3.06) < np.abs(known.depth[c] - 3.06)).all()


def test_unexplained_motion_and_camera_change_start_over():
    f = TemporalFilter()
    d = _box_scene(0.0)
    f.update(d, None, CAM, 0, None)
    far = d * 1.8  # every pixel 80 % farther: no motion explains it
    out = f.update(far, None, CAM, 1, CameraMotion.identity())
    assert "unexplained motion" in out.reset
    np.testing.assert_array_equal(out.depth, far)
    assert (out.status == CURRENT).all()
    other = CameraModel(64, 48, 90.0, 90.0, 32.0, 24.0)
    out = f.update(far, None, other, 2, CameraMotion.identity())
    assert out.reset == "camera changed" and (out.status == CURRENT).all()
    nan = far.copy()
    nan[:5] = np.nan
    out = f.update(nan, None, other, 3, CameraMotion.identity())
    assert (out.status[:5] == NO_DEPTH).all() and np.isnan(out.depth[:5]).all() and (out.confidence[:5] == 0).all()
    f.reset()
    assert not f.has_state


def test_bad_inputs_raise_naming_the_value():
    with pytest.raises(InvalidInputError, match="rotation"):
        CameraMotion(np.ones((3, 3)), np.zeros(3))
    with pytest.raises(InvalidInputError, match="translation"):
        CameraMotion(np.eye(3), [0.0, np.nan, 0.0])
    with pytest.raises(InvalidInputError, match="memory"):
        TemporalSettings(memory=1.0)
    with pytest.raises(InvalidInputError, match="camera is 64x48"):
        TemporalFilter().update(np.ones((10, 10), np.float32), None, CAM, 0, None)


def test_consistency_metric_on_hand_made_frames():
    """TCE: a prediction 10 % too far in one frame and right in the other differs by 10 % of itself."""
    R, t = np.eye(3), np.array([0.0, 0.0, -0.5])  # forward 0.5 m towards a wall at 5 m
    gt_prev, gt = np.full((48, 64), 5.0, np.float32), np.full((48, 64), 4.5, np.float32)
    c = temporal_consistency(gt * 1.0, gt_prev * 1.1, gt, gt_prev, CAM, R, t)
    # warp(1.1 * 5) = 5.5 - 0.5 = 5.0 against 4.5: |4.5 - 5.0| / 4.5
    assert c.tce == pytest.approx(0.5 / 4.5, rel=1e-5)
    assert c.tce_gt == pytest.approx(0.0, abs=1e-6) and c.pixels > 1000
    assert flicker([gt, gt * 1.02]) == pytest.approx(0.01 / 1.01, rel=1e-3)
