"""Spatially varying log-scale correction on synthetic scenes with known ground truth."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.scale_map import ScaleMapper

H, W = 480, 640
EDGE = 320


def two_region_scene():
    """Truth: a near wall (left) and a far one (right); the aligned depth is x0.8 left, x1.25 right."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    gt = np.where(u < EDGE, 2.0 + 0.002 * v, 6.0 + 0.003 * u - 0.001 * v).astype(np.float32)
    aligned = np.where(u < EDGE, gt * 0.8, gt * 1.25).astype(np.float32)
    rng = np.random.default_rng(3)
    # 30 points per half on a jittered 6 x 5 grid, kept 6 px away from the edge.
    pts = []
    for x0 in (0, EDGE):
        for i in range(6):
            for j in range(5):
                u_ = x0 + 6 + (i + rng.uniform(0.1, 0.9)) * (EDGE - 12) / 6
                v_ = (j + rng.uniform(0.1, 0.9)) * H / 5
                pts.append((u_, v_))
    uv = np.array(pts)
    iu, iv = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
    target = gt[iv, iu] * np.exp(rng.normal(0.0, 0.01, len(uv)))
    return gt, aligned, uv, target


def column_error(corrected, gt):
    return np.mean(np.abs(corrected / gt - 1.0), axis=0)


def test_two_regions_are_corrected_without_leaking_across_the_edge():
    gt, aligned, uv, target = two_region_scene()
    mapper = ScaleMapper()
    corrected = mapper.apply(aligned, mapper.correction(aligned, uv, target))
    err = np.abs(corrected / gt - 1.0)
    assert err[:, :EDGE].mean() < 0.03
    assert err[:, EDGE:].mean() < 0.03
    col = column_error(corrected, gt)
    # Two low-res cells (16 px) from the edge on either side the error is already small ...
    assert col[: EDGE - 16].max() < 0.05
    assert col[EDGE + 16 :].max() < 0.05

    # ... while without the depth term each side pulls the other one's correction across.
    blind = ScaleMapper(depth_sigma=math.inf)
    col_blind = column_error(blind.apply(aligned, blind.correction(aligned, uv, target)), gt)
    assert max(col_blind[EDGE - 16], col_blind[EDGE + 16]) > 0.10


def test_correct_matches_correction_then_apply():
    gt, aligned, uv, target = two_region_scene()
    mapper = ScaleMapper()
    two_step = mapper.apply(aligned, mapper.correction(aligned, uv, target))
    one_step = mapper.correct(aligned, uv, target)
    ratio = one_step / two_step
    # Identical away from the edge; at it c jumps by delta = ln(1.25 / 0.8) between two cells
    # and the two interpolations differ by at most ~delta^2 / 8 = 0.025.
    assert np.max(np.abs(ratio[:, list(range(0, 300)) + list(range(340, W))] - 1.0)) < 1e-3
    assert np.max(np.abs(ratio - 1.0)) < 0.03
    inplace = aligned.copy()
    assert mapper.correct(inplace, uv, target, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, one_step)


def test_single_point_correction_decays_with_distance():
    depth = np.full((H, W), 4.0, np.float32)
    sigma, prior = 48.0, 0.1
    mapper = ScaleMapper(sigma_px=sigma, prior_weight=prior)
    # On a low-res cell centre ((j + 0.5) * 8 - 0.5) so that the peak is not interpolated.
    u0, v0 = 40 * 8 + 3.5, 30 * 8 + 3.5
    r = math.log(5.0 / 4.0)
    c = mapper.correction(depth, np.array([[u0, v0]]), np.array([5.0]))
    row = c[int(v0)]  # pixel row 243, half a pixel off the point's row
    for d in (0.5, 24.5, 48.5, 96.5, 144.5):
        g = math.exp(-(d * d + 0.25) / (2 * sigma * sigma))
        assert row[int(u0 + d)] == pytest.approx(r * g / (prior + g), abs=3e-3)
    right = row[int(u0) + 1 :]
    assert np.all(np.diff(right) <= 1e-7) and right[0] > 0.9 * r / (1 + prior)
    assert abs(c[0, 0]) < 1e-3 and abs(c[-1, -1]) < 1e-3


def test_no_points_gives_zeros():
    depth = np.full((48, 64), 3.0, np.float32)
    mapper = ScaleMapper()
    for uv, target in ((np.empty((0, 2)), np.empty(0)), (np.array([[10.0, 10.0]]), np.array([np.nan]))):
        c = mapper.correction(depth, uv, target)
        assert c.shape == (48, 64) and c.dtype == np.float32 and not c.any()
    c = mapper.correction(depth, np.array([[10.0, 10.0]]), np.array([5.0]), weights=np.array([0.0]))
    assert not c.any()


def test_invalid_depth_stays_invalid_and_gets_no_correction():
    depth = np.full((H, W), 4.0, np.float32)
    depth[:, :200] = np.nan  # e.g. sky
    mapper = ScaleMapper()
    uv = np.array([[300.0, 240.0], [400.0, 200.0]])
    c = mapper.correction(depth, uv, np.array([5.0, 5.0]))
    assert np.all(np.isfinite(c))
    assert np.abs(c[:, :190]).max() < 1e-6
    out = mapper.apply(depth, c)
    assert np.isnan(out[:, :200]).all() and np.isfinite(out[:, 200:]).all()


def test_residuals_are_clipped():
    depth = np.full((96, 128), 1.0, np.float32)
    mapper = ScaleMapper(max_correction=0.5, prior_weight=1e-6)
    c = mapper.correction(depth, np.array([[64.0, 48.0]]), np.array([100.0]))
    assert c.max() == pytest.approx(0.5, abs=1e-4)


def test_apply_is_depth_times_exp():
    rng = np.random.default_rng(1)
    depth = rng.uniform(1, 10, (30, 40)).astype(np.float32)
    corr = rng.normal(0, 0.2, (30, 40)).astype(np.float32)
    np.testing.assert_allclose(ScaleMapper.apply(depth, corr), depth * np.exp(corr.astype(np.float64)), rtol=1e-5)
    with pytest.raises(InvalidInputError, match=r"\(30, 40\)"):
        ScaleMapper.apply(depth, corr[:-1])


def test_bad_parameters_name_the_value():
    with pytest.raises(InvalidInputError, match="-1"):
        ScaleMapper(sigma_px=-1)
    with pytest.raises(InvalidInputError, match="downsample"):
        ScaleMapper(downsample=0)
    with pytest.raises(InvalidInputError, match=r"\(3, 3\)"):
        ScaleMapper().correction(np.ones((10, 10), np.float32), np.ones((3, 3)), np.ones(3))


def _lab(rgb: tuple[int, int, int]) -> np.ndarray:
    """CIELAB / 100 of one colour, by OpenCV (the peer of the mapper's colour space)."""
    return cv2.cvtColor(np.array([[rgb]], np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0, 0] / 100.0


def test_colour_factor_matches_a_hand_computed_single_point():
    # Red left half, blue right half, flat depth: a point at the centre of low-res cell (4, 6), and the
    # two cells two cells away on either side, (4, 4) red and (4, 8) blue: the same spatial weight.
    h, w, sigma_px, sigma_c, prior = 64, 128, 16.0, 0.3, 0.2
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, :64] = (255, 0, 0)
    rgb[:, 64:] = (0, 0, 255)
    depth = np.ones((h, w), np.float32)
    uv, target = np.array([[6.5 * 8 - 0.5, 4.5 * 8 - 0.5]]), np.array([1.2])
    mapper = ScaleMapper(sigma_px=sigma_px, depth_sigma=math.inf, prior_weight=prior, colour_sigma=sigma_c)
    low = mapper.correction_lowres(depth, uv, target, guide=rgb)
    r = math.log(1.2)
    w_s = math.exp(-(16.0**2) / (2 * sigma_px**2))
    w_c = math.exp(-float(np.sum((_lab((255, 0, 0)) - _lab((0, 0, 255))) ** 2)) / (2 * sigma_c**2))
    assert low[4, 4] == pytest.approx(w_s * r / (prior + w_s), rel=1e-4)
    assert low[4, 8] == pytest.approx(w_s * w_c * r / (prior + w_s * w_c), rel=1e-3)
    assert low[4, 8] < 0.5 * low[4, 4]
    # Without the guide (or with colour_sigma inf) both sides get the same correction.
    plain = mapper.correction_lowres(depth, uv, target)
    assert plain[4, 8] == pytest.approx(plain[4, 4], rel=1e-5)
    off = ScaleMapper(sigma_px=sigma_px, depth_sigma=math.inf, prior_weight=prior).correction_lowres(
        depth, uv, target, guide=rgb)
    np.testing.assert_array_equal(off, plain)


def test_colour_guide_keeps_the_correction_inside_an_object_the_network_blurred():
    # The network missed the edge (flat aligned depth), the image did not: red near wall, blue far wall.
    v, u = np.mgrid[0:H, 0:W]
    gt = np.where(u < EDGE, 2.0, 3.0).astype(np.float32)
    aligned = np.full((H, W), 2.5, np.float32)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[u < EDGE] = (200, 40, 30)
    rgb[u >= EDGE] = (40, 60, 200)
    _, _, uv, _ = two_region_scene()
    iu, iv = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
    target = gt[iv, iu]
    guided = ScaleMapper(colour_sigma=0.3)
    col = column_error(guided.correct(aligned, uv, target, guide=rgb), gt)
    col_plain = column_error(guided.correct(aligned, uv, target), gt)
    # One low-res cell (8 px) either side of the edge is a blend of the linear upsampling; beyond it the
    # guided correction holds each wall's own scale, while the plain one leaks the other wall's.
    band = np.r_[EDGE - 24 : EDGE - 8, EDGE + 8 : EDGE + 24]
    assert col[band].max() < 0.03 and col_plain[band].max() > 0.10
    assert col.mean() < 0.5 * col_plain.mean()
    with pytest.raises(InvalidInputError, match="guide"):
        guided.correct(aligned, uv, target, guide=rgb[:, :, 0])
    with pytest.raises(InvalidInputError, match="colour_sigma"):
        ScaleMapper(colour_sigma=0.0)
