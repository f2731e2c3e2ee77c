"""Ground-plane prior and ground-only scale recovery on exactly rendered synthetic scenes."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from raycast_scenes import cast
from scipy.spatial.transform import Rotation

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.ground import GroundPrior, ground_correspondences, ground_depth_prior, ground_scale
from depth_ros.core.imu import STANDARD_GRAVITY, AttitudeFilter, ImuReading, gravity_in_camera
from depth_ros.core.transforms import OPTICAL_FROM_BODY

HEIGHT = 1.2
PINHOLE = CameraModel(640, 480, 500, 500, 320, 240)
PLUMB_BOB = CameraModel(640, 480, 500, 500, 320, 240, "plumb_bob", (-0.25, 0.08, 0.001, -0.001, 0.0))
# Axis-aligned boxes standing on the ground (world: x forward, y left, z up; camera above the origin).
BOXES = [
    ((5.0, -2.8, 0.0), (6.5, -1.0, 1.5)),
    ((8.0, 1.0, 0.0), (9.0, 3.0, 2.5)),
    ((3.0, 0.4, 0.0), (4.0, 1.4, 0.4)),  # a low platform: a second, smaller horizontal plane
    ((2.6, -1.6, 0.0), (3.4, -0.7, 0.8)),
    ((11.0, -0.5, 0.0), (11.3, 0.0, 3.0)),  # a pole
    ((18.0, -10.0, 0.0), (18.3, 10.0, 4.0)),  # a wall across the view
]


def _camera_rotation(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """R_world_optical for a camera with REP-103 pitch (down > 0) and roll."""
    R_wb = Rotation.from_euler("ZYX", [0.0, math.radians(pitch_deg), math.radians(roll_deg)]).as_matrix()
    return R_wb @ OPTICAL_FROM_BODY.R.T


def _render(cam: CameraModel, R_w_opt: np.ndarray, boxes=BOXES):
    """Exact optical depth of the scene per pixel (inf: sky) and the mask of visible ground."""
    hits = cast(cam, R_w_opt, HEIGHT, boxes=boxes)
    return hits.t, hits.ground, hits.ground_mask


def _filter_gravity(pitch_deg: float, roll_deg: float, seed: int = 0) -> np.ndarray:
    """Gravity in the optical frame as an AttitudeFilter estimates it from noisy accelerometer data."""
    R_wb = Rotation.from_euler("ZYX", [0.3, math.radians(pitch_deg), math.radians(roll_deg)]).as_matrix()
    rng = np.random.default_rng(seed)
    f = AttitudeFilter()
    for i in range(300):
        accel = R_wb.T @ [0.0, 0.0, STANDARD_GRAVITY] + rng.normal(0.0, 0.2, 3)
        f.update(ImuReading(i * 5_000_000, rng.normal(0.0, 0.005, 3), accel))
    return gravity_in_camera(f.gravity_imu(), OPTICAL_FROM_BODY.R)  # the IMU is the camera body frame


def _network(depth: np.ndarray, kind: str, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A plausible network output: scaled depth (or affine inverse depth), 2% noise, some gross
    errors; also returns the mask of the grossly wrong pixels."""
    rng = np.random.default_rng(seed)
    h, w = depth.shape
    z = np.where(np.isfinite(depth), depth, 80.0)
    noise = 1.0 + rng.normal(0.0, 0.02, depth.shape)
    wrong = np.zeros(depth.shape, dtype=bool)
    wrong[int(0.75 * h) :, : int(0.2 * w)] = True  # a corner the network gets 30% wrong
    wrong[int(0.55 * h) : int(0.62 * h), int(0.5 * w) : int(0.7 * w)] = True
    z = z * np.where(wrong, 1.3, 1.0)
    if kind == "metric":
        return (0.7 * z * noise).astype(np.float32), wrong
    return (3.0 / z * noise + 0.2).astype(np.float32), wrong


# -- the prior -------------------------------------------------------------------------------


@pytest.mark.parametrize("cam", [PINHOLE, PLUMB_BOB], ids=["pinhole", "plumb_bob"])
def test_prior_equals_rendered_ground_and_is_nan_above_horizon(cam):
    R_w_opt = _camera_rotation(10.0, 3.0)
    g = R_w_opt.T @ [0.0, 0.0, -1.0]
    prior = ground_depth_prior(cam, g, HEIGHT, max_depth=40.0)
    assert prior.dtype == np.float32 and prior.shape == (480, 640)
    _, ground, _ = _render(cam, R_w_opt, boxes=[])
    near = ground <= 40.0
    assert np.isfinite(prior[near]).all() and np.isnan(prior[~near]).all()
    np.testing.assert_allclose(prior[near], ground[near], rtol=1e-5)
    assert 0.2 < near.mean() < 0.8


def test_prior_horizon_row_is_analytic():
    pitch = math.radians(10.0)
    g = _camera_rotation(10.0, 0.0).T @ [0.0, 0.0, -1.0]
    prior = ground_depth_prior(PINHOLE, g, HEIGHT, max_depth=1e6)
    horizon_v = 240 - 500 * math.tan(pitch)  # ~151.8
    rows = np.arange(480)
    assert np.isnan(prior[rows < horizon_v - 0.01]).all()
    assert np.isfinite(prior[rows > horizon_v + 0.01]).all()
    # bottom row, centre column: depth = h / (g . r) with r = (0, 240/500, 1)
    assert prior[479, 320] == pytest.approx(HEIGHT / (g[1] * 239 / 500 + g[2]), rel=1e-6)
    # a camera looking at the sky sees no ground
    assert np.isnan(ground_depth_prior(PINHOLE, [0.0, 0.0, -1.0], HEIGHT)).all()


def test_prior_handles_lens_distortion_against_opencv_projection():
    R_w_opt = _camera_rotation(10.0, 3.0)
    g = R_w_opt.T @ [0.0, 0.0, -1.0]
    rng = np.random.default_rng(2)
    world = np.column_stack([rng.uniform(2.0, 20.0, 4000), rng.uniform(-10.0, 10.0, 4000), np.zeros(4000)])
    p_opt = (world - [0.0, 0.0, HEIGHT]) @ R_w_opt  # rows: R_w_opt.T @ (P - C)
    uv, _ = cv2.projectPoints(p_opt, np.zeros(3), np.zeros(3), PLUMB_BOB.K, np.array(PLUMB_BOB.D))
    uv = uv.reshape(-1, 2)
    inside = (uv[:, 0] > 2) & (uv[:, 0] < 637) & (uv[:, 1] > 2) & (uv[:, 1] < 477) & (p_opt[:, 2] > 0)
    uv, z = uv[inside].astype(np.float32), p_opt[inside, 2]
    assert inside.sum() > 500

    def sample(prior):
        return cv2.remap(prior, uv[:, 0:1], uv[:, 1:2], cv2.INTER_LINEAR)[:, 0]

    rel = np.abs(sample(ground_depth_prior(PLUMB_BOB, g, HEIGHT, 60.0)) / z - 1.0)
    assert np.nanmax(rel) < 0.005 and np.isfinite(rel).mean() > 0.99
    rel_pinhole = np.abs(sample(ground_depth_prior(PINHOLE, g, HEIGHT, 60.0)) / z - 1.0)
    assert np.nanmax(rel_pinhole) > 0.1  # ignoring the distortion would be badly wrong


def test_prior_cache_recomputes_only_on_real_changes():
    cache = GroundPrior(max_depth=50.0, angle_tolerance_rad=math.radians(0.05), height_tolerance=0.005)
    g = _camera_rotation(10.0, 3.0).T @ [0.0, 0.0, -1.0]
    first = cache.get(PINHOLE, g, HEIGHT)
    assert not first.flags.writeable
    tiny = Rotation.from_rotvec([math.radians(0.02), 0.0, 0.0]).apply(g)
    assert cache.get(PINHOLE, tiny, HEIGHT + 0.002) is first and cache.recomputes == 1
    tilted = Rotation.from_rotvec([math.radians(1.0), 0.0, 0.0]).apply(g)
    second = cache.get(PINHOLE, tilted, HEIGHT)
    assert cache.recomputes == 2 and second is not first
    np.testing.assert_allclose(second, ground_depth_prior(PINHOLE, tilted, HEIGHT, 50.0), rtol=1e-6)
    cache.get(PINHOLE, tilted, HEIGHT + 0.1)
    cache.get(PINHOLE.scaled(320, 240), tilted, HEIGHT + 0.1)
    assert cache.recomputes == 4


@pytest.mark.parametrize(
    "call, text",
    [
        (lambda: ground_depth_prior(PINHOLE, [0.0, 1.0, 0.0], -1.0), "camera_height"),
        (lambda: ground_depth_prior(PINHOLE, [0.0, math.nan, 0.0], 1.0), "gravity_optical"),
        (lambda: ground_depth_prior(PINHOLE, [0.0, 0.0, 0.0], 1.0), "gravity_optical"),
        (lambda: ground_correspondences(np.ones((4, 4)), np.ones((4, 5))), "same shape"),
        (lambda: ground_correspondences(np.ones((4, 4)), np.ones((4, 4)), "disparity"), "kind"),
    ],
)
def test_invalid_inputs_are_named(call, text):
    with pytest.raises(InvalidInputError, match=text):
        call()


# -- scale from the ground -------------------------------------------------------------------


@pytest.mark.parametrize("cam", [PINHOLE, PLUMB_BOB], ids=["pinhole", "plumb_bob"])
def test_metric_scale_from_ground_without_radar(cam):
    depth, ground, ground_mask = _render(cam, _camera_rotation(10.0, 3.0))
    below = np.isfinite(ground)
    assert (below & ~ground_mask).sum() > 0.3 * below.sum()  # the objects hide a good part of the ground
    pred, wrong = _network(depth, "metric")
    prior = GroundPrior().get(cam, _filter_gravity(10.0, 3.0), HEIGHT)
    result = ground_scale(pred, prior, "metric")
    assert result.ok, result.reason
    assert result.scale == pytest.approx(1 / 0.7, rel=0.05)
    assert result.shift == 0.0 and result.n_inliers >= 500

    corr = ground_correspondences(pred, prior, "metric", max_points=500)
    assert 0 < len(corr.uv) <= 500 and corr.target_depth.shape == (len(corr.uv),)
    u, v = corr.uv[:, 0].astype(int), corr.uv[:, 1].astype(int)
    assert ground_mask[v, u].mean() > 0.95  # the correspondences are truly ground
    # The prior is metric: exact up to the attitude error (~0.15 deg here), which grows with range.
    rel = np.abs(corr.target_depth / depth[v, u] - 1.0)[ground_mask[v, u] & ~wrong[v, u]]
    near = (depth[v, u] < 10.0)[ground_mask[v, u] & ~wrong[v, u]]
    assert rel[near].max() < 0.03 and rel.max() < 0.08 and np.median(rel) < 0.01
    # the correspondences alone give the scale (what a separate fitter would do)
    assert np.median(corr.target_depth / pred[v, u]) == pytest.approx(1 / 0.7, rel=0.05)
    assert corr.inlier_fraction > 0.3
    again = ground_correspondences(pred, prior, "metric", max_points=500)
    np.testing.assert_array_equal(again.uv, corr.uv)  # deterministic


@pytest.mark.parametrize("cam", [PINHOLE, PLUMB_BOB], ids=["pinhole", "plumb_bob"])
def test_inverse_depth_scale_and_shift_from_ground(cam):
    depth, _, ground_mask = _render(cam, _camera_rotation(10.0, 3.0))
    pred, wrong = _network(depth, "inverse")
    prior = ground_depth_prior(cam, _filter_gravity(10.0, 3.0, seed=4), HEIGHT)
    result = ground_scale(pred, prior, "inverse")
    assert result.ok, result.reason
    # pred = 3 / z + 0.2  =>  1 / z = pred / 3 - 0.2 / 3
    assert result.scale == pytest.approx(1 / 3.0, rel=0.05)
    est = 1.0 / (result.scale * pred + result.shift)
    check = ground_mask & (depth < 30.0) & ~wrong
    rel = np.abs(est[check] / depth[check] - 1.0)
    assert np.median(rel) < 0.02 and np.percentile(rel, 90) < 0.05
    corr = ground_correspondences(pred, prior, "inverse")
    u, v = corr.uv[:, 0].astype(int), corr.uv[:, 1].astype(int)
    assert ground_mask[v, u].mean() > 0.95


CLUTTER = BOXES + [
    ((4.0, -4.0, 0.0), (4.8, -2.0, 1.0)),
    ((6.0, -0.8, 0.0), (7.0, 0.6, 1.2)),
    ((3.5, 1.8, 0.0), (4.5, 3.5, 2.0)),
    ((9.0, -3.5, 0.0), (10.0, -1.0, 2.0)),
    ((2.2, -0.3, 0.0), (2.6, 0.3, 0.6)),
]


@pytest.mark.parametrize("kind", ["metric", "inverse"])
def test_cluttered_scene_where_ground_is_a_minority(kind):
    depth, _, ground_mask = _render(PINHOLE, _camera_rotation(10.0, 3.0), boxes=CLUTTER)
    prior = ground_depth_prior(PINHOLE, _filter_gravity(10.0, 3.0, seed=2), HEIGHT)
    candidates = np.isfinite(prior) & (prior <= 20.0)
    assert (ground_mask & candidates).sum() < 0.5 * candidates.sum()
    pred, _ = _network(depth, kind, seed=5)
    result = ground_scale(pred, prior, kind)
    assert result.ok, result.reason
    if kind == "metric":
        assert result.scale == pytest.approx(1 / 0.7, rel=0.03)
        # objects stand in front of the ground, so a plain median of the ratio is biased
        naive = np.exp(np.median(np.log(prior[candidates] / pred[candidates])))
        assert abs(naive * 0.7 - 1.0) > 0.05
    else:
        assert result.scale == pytest.approx(1 / 3.0, rel=0.03)
        assert result.shift == pytest.approx(-0.2 / 3.0, rel=0.1)


def test_no_ground_or_no_agreement_is_not_ok():
    sky = ground_depth_prior(PINHOLE, [0.0, 0.0, -1.0], HEIGHT)
    result = ground_scale(np.ones((480, 640), np.float32), sky, "metric")
    assert not result.ok and "no ground candidates" in result.reason and math.isnan(result.scale)
    prior = ground_depth_prior(PINHOLE, _camera_rotation(10.0, 0.0).T @ [0.0, 0.0, -1.0], HEIGHT)
    noise = np.random.default_rng(3).uniform(1.0, 30.0, prior.shape).astype(np.float32)
    for kind in ("metric", "inverse"):
        result = ground_scale(noise, prior, kind)
        assert not result.ok and "inlier fraction" in result.reason, (kind, result)


def test_min_row_fraction_and_max_depth_restrict_candidates():
    depth, _, _ = _render(PINHOLE, _camera_rotation(10.0, 3.0))
    pred, _ = _network(depth, "metric")
    prior = ground_depth_prior(PINHOLE, _camera_rotation(10.0, 3.0).T @ [0.0, 0.0, -1.0], HEIGHT)
    corr = ground_correspondences(pred, prior, "metric", min_row_fraction=0.75, max_depth=8.0, max_points=10_000)
    assert len(corr.uv) > 50
    assert corr.uv[:, 1].min() >= 360 and corr.target_depth.max() <= 8.0
    assert (corr.uv % 4 == 0).all()  # on the step grid


