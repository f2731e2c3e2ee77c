"""Global robust scale fit against synthetic ground truth and hand-computed values."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.output_kind import OutputKind
from depth_ros.core.scale import ScaleFit, apply_fit, fit_scale, sample_at

METHODS = ("huber", "ransac")


def metric_scene(rng, n, scale, noise=0.0):
    depth = rng.uniform(1.0, 30.0, n)
    pred = depth / scale * np.exp(rng.normal(0.0, noise, n))
    return pred, depth


def inverse_scene(rng, n, s, t, noise=0.0):
    depth = rng.uniform(1.0, 30.0, n)
    pred = (1.0 / depth - t) / s
    return pred * np.exp(rng.normal(0.0, noise, n)), depth


def add_clutter(rng, depth, fraction):
    """Replace a fraction of targets by gross outliers: at least 40 % away in log depth."""
    out = depth.copy()
    idx = rng.choice(depth.size, int(round(fraction * depth.size)), replace=False)
    for i in idx:
        while True:
            v = rng.uniform(0.5, 60.0)
            if abs(math.log(v / depth[i])) > 0.4:
                break
        out[i] = v
    mask = np.zeros(depth.size, bool)
    mask[idx] = True
    return out, mask


@pytest.mark.parametrize("method", METHODS)
def test_metric_noiseless_exact(method):
    pred, depth = metric_scene(np.random.default_rng(1), 40, 1.37)
    fit = fit_scale(pred, depth, "metric", method=method)
    assert fit.ok and fit.reason == ""
    assert fit.scale == pytest.approx(1.37, rel=1e-12)
    assert fit.shift == 0.0 and fit.kind is OutputKind.METRIC
    assert fit.n_points == fit.n_inliers == 40 and fit.inliers.all()
    assert fit.residual == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_inverse_noiseless_exact_scale_and_shift(method):
    pred, depth = inverse_scene(np.random.default_rng(2), 40, 0.07, 0.03)
    fit = fit_scale(pred, depth, "relative_inverse", method=method)
    assert fit.ok and fit.kind is OutputKind.RELATIVE_INVERSE
    assert fit.scale == pytest.approx(0.07, rel=1e-9)
    assert fit.shift == pytest.approx(0.03, rel=1e-9)
    assert fit.n_inliers == 40
    assert fit.residual == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3])
def test_metric_gross_outliers(method, fraction):
    rng = np.random.default_rng(int(fraction * 100))
    pred, depth = metric_scene(rng, 60, 0.8, noise=0.02)
    target, clutter = add_clutter(rng, depth, fraction)
    fit = fit_scale(pred, target, "metric", method=method)
    assert fit.ok, fit.reason
    assert abs(fit.scale / 0.8 - 1.0) < 0.02
    assert not fit.inliers[clutter].any()
    assert fit.inliers[~clutter].mean() > 0.9
    assert fit.n_points == 60 and fit.n_inliers == int(fit.inliers.sum())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3])
def test_inverse_gross_outliers(method, fraction):
    rng = np.random.default_rng(10 + int(fraction * 100))
    s, t = 0.05, 0.02
    pred, depth = inverse_scene(rng, 60, s, t, noise=0.02)
    target, clutter = add_clutter(rng, depth, fraction)
    fit = fit_scale(pred, target, "inverse", method=method)
    assert fit.ok, fit.reason
    assert not fit.inliers[clutter].any()
    # The implied depth over the whole prediction range is within 2 % of the truth.
    x = np.linspace(pred.min(), pred.max(), 50)
    implied = 1.0 / (fit.scale * x + fit.shift)
    true = 1.0 / (s * x + t)
    assert np.max(np.abs(implied / true - 1.0)) < 0.02


def test_metric_hand_computed_with_outlier():
    pred = [1.0, 2.0, 4.0, 8.0, 16.0]
    target = [2.0, 4.0, 8.0, 16.0, 100.0]  # ratio 2 four times, 6.25 once
    fit = fit_scale(pred, target, "metric", min_points=4)
    assert fit.ok
    assert fit.scale == pytest.approx(2.0, rel=1e-12)
    assert fit.inliers.tolist() == [True, True, True, True, False]
    assert fit.n_inliers == 4 and fit.residual == pytest.approx(0.0, abs=1e-12)


def test_metric_hand_computed_noisy():
    pred = [1.0, 1.0, 1.0, 1.0, 1.0]
    target = [1.0, 1.1, 0.9, 1.05, 0.95]
    fit = fit_scale(pred, target, "metric")
    # All within 3 sigma: the fit is the geometric mean, the residual 1.4826 * MAD.
    logs = [math.log(v) for v in target]
    mean = sum(logs) / 5
    dev = [v - mean for v in logs]
    mad = statistics.median(abs(d - statistics.median(dev)) for d in dev)
    assert fit.ok
    assert fit.scale == pytest.approx(math.exp(mean), rel=1e-12)
    assert fit.residual == pytest.approx(1.4826 * mad, rel=1e-12)
    assert fit.cov[0, 0] == pytest.approx((1.4826 * mad) ** 2 / 5, rel=1e-12)


def test_inverse_shift_recovered_with_noise():
    rng = np.random.default_rng(5)
    pred, depth = inverse_scene(rng, 50, 0.2, -0.05, noise=0.01)
    fit = fit_scale(pred, depth, "inverse")
    assert fit.ok
    assert fit.shift == pytest.approx(-0.05, abs=0.005)
    assert fit.scale == pytest.approx(0.2, rel=0.03)
    assert fit.cov.shape == (2, 2) and fit.cov[0, 0] > 0 and fit.cov[1, 1] > 0


@pytest.mark.parametrize("kind", ["metric", "inverse"])
def test_too_few_points(kind):
    pred = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0])
    target = np.array([1.0, 2.0, 3.0, 4.0, -1.0, np.inf])
    fit = fit_scale(pred, target, kind, min_points=5)
    assert not fit.ok
    assert fit.reason == "too few points (3 < 5)"
    assert fit.n_points == 3 and fit.n_inliers == 0 and not fit.inliers.any()
    assert math.isnan(fit.scale)


def test_zero_weight_points_do_not_count():
    pred = np.ones(6)
    target = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 50.0])
    fit = fit_scale(pred, target, "metric", weights=[1, 1, 1, 1, 1, 0])
    assert fit.ok and fit.n_points == 5 and not fit.inliers[5]
    assert fit.scale == pytest.approx(2.0)
    assert fit_scale(pred, target, "metric", weights=[1, 1, 1, 1, 0, 0]).reason == "too few points (4 < 5)"


@pytest.mark.parametrize("method", METHODS)
def test_large_residual_not_ok(method):
    rng = np.random.default_rng(7)
    pred, depth = metric_scene(rng, 60, 2.0, noise=0.5)
    fit = fit_scale(pred, depth, "metric", method=method, min_inlier_fraction=0.0)
    assert not fit.ok
    assert fit.reason == f"residual {fit.residual:.2f} > 0.25"
    # The reported spread is 1.4826 * MAD of the inliers' log residuals under the fitted scale.
    r = np.log(depth[fit.inliers] / (fit.scale * pred[fit.inliers]))
    assert fit.residual == pytest.approx(1.4826 * np.median(np.abs(r - np.median(r))), rel=1e-9)


def test_low_inlier_fraction_not_ok():
    rng = np.random.default_rng(8)
    pred, depth = metric_scene(rng, 40, 1.0)
    target = depth.copy()
    target[:24] = depth[:24] * rng.uniform(2.0, 4.0, 24)  # 60 % clutter, scattered
    fit = fit_scale(pred, target, "metric", method="ransac")
    assert not fit.ok and fit.reason.startswith("inlier fraction 0.40 < 0.50")


@pytest.mark.parametrize("method", METHODS)
def test_inverse_negative_slope_is_non_positive_scale(method):
    pred = np.linspace(1.0, 10.0, 20)
    depth = np.linspace(1.0, 10.0, 20)  # farther where the network says nearer
    fit = fit_scale(pred, depth, "inverse", method=method)
    assert not fit.ok and fit.reason.startswith("non-positive scale")


def test_inverse_non_positive_implied_depth_at_a_point():
    # Exact line through nine points; a tenth point has a prediction where 0.1 x - 0.5 < 0.
    pred = np.array([6.0, 7, 8, 9, 10, 11, 12, 13, 14, 2.0])
    depth = 1.0 / (0.1 * pred - 0.5)
    depth[-1] = 5.0
    fit = fit_scale(pred, depth, "inverse")
    assert fit.scale == pytest.approx(0.1) and fit.shift == pytest.approx(-0.5)
    assert not fit.ok and fit.reason == "non-positive implied depth at 1 of 10 points"


def test_inverse_constant_prediction_is_degenerate():
    fit = fit_scale(np.full(10, 3.0), np.linspace(1.0, 3.0, 10), "inverse")
    assert not fit.ok and fit.reason.startswith("degenerate")


def test_ransac_is_seeded():
    rng = np.random.default_rng(9)
    pred, depth = inverse_scene(rng, 60, 0.05, 0.02, noise=0.03)
    target, _ = add_clutter(rng, depth, 0.2)
    a = fit_scale(pred, target, "inverse", method="ransac", rng=3, ransac_iterations=50)
    b = fit_scale(pred, target, "inverse", method="ransac", rng=np.random.default_rng(3), ransac_iterations=50)
    assert (a.scale, a.shift) == (b.scale, b.shift)


def test_bad_arguments_name_the_value():
    with pytest.raises(InvalidInputError, match="'bogus'"):
        fit_scale([1.0], [1.0], "bogus")
    with pytest.raises(InvalidInputError, match="'lsq'"):
        fit_scale([1.0], [1.0], "metric", method="lsq")
    with pytest.raises(InvalidInputError, match="3 != 2"):
        fit_scale([1.0, 2.0, 3.0], [1.0, 2.0], "metric")
    with pytest.raises(InvalidInputError, match="min_points must be >= 2"):
        fit_scale([1.0, 2.0], [1.0, 2.0], "inverse", min_points=1)
    with pytest.raises(InvalidInputError, match="-1"):
        fit_scale([1.0, 2.0], [1.0, 2.0], "metric", weights=[1.0, -1.0])


def test_kind_given_as_string_or_enum_gives_the_same_fit():
    pred, depth = inverse_scene(np.random.default_rng(4), 30, 0.05, 0.02, noise=0.01)
    by_enum = fit_scale(pred, depth, OutputKind.RELATIVE_INVERSE)
    for name in ("inverse", "relative_inverse", "INVERSE"):
        by_name = fit_scale(pred, depth, name)
        assert by_name.kind is OutputKind.RELATIVE_INVERSE
        assert (by_name.scale, by_name.shift) == (by_enum.scale, by_enum.shift)
    assert _fit(1.0, 0.0, "metric").kind is OutputKind.METRIC  # a hand-made fit stores the enum
    with pytest.raises(InvalidInputError, match="kind"):
        fit_scale(pred, depth, "disparity")


def _fit(scale, shift, kind):
    return ScaleFit(scale, shift, kind, 10, 10, 0.0, True, "", np.ones(10, bool))


def test_apply_fit_metric():
    pred = np.array([[1.0, 2.0], [-1.0, 50.0], [np.nan, 0.0]], np.float32)
    out = apply_fit(pred, _fit(2.0, 0.0, "metric"), max_depth=80.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[2.0, 4.0], [np.nan, 80.0], [np.nan, np.nan]], np.float32))


def test_apply_fit_inverse():
    pred = np.array([[1.0, 0.2, 0.1], [2.2, 0.21, np.nan]], np.float32)
    # 1 / (0.5 x - 0.1): 2.5, 1/0 -> NaN, 1/-0.05 -> NaN, 1.0, 1/0.005 = 200 -> clipped.
    out = apply_fit(pred, _fit(0.5, -0.1, "inverse"), max_depth=20.0)
    expected = np.array([[2.5, np.nan, np.nan], [1.0, 20.0, np.nan]], np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    assert np.isnan(out).sum() == 3


def test_apply_fit_all_valid_inverse_matches_formula():
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.5, 10.0, (48, 64)).astype(np.float32)
    buf = np.empty_like(pred)
    out = apply_fit(pred, _fit(0.05, 0.01, "inverse"), max_depth=15.0, out=buf)
    assert out is buf
    expected = np.minimum(1.0 / (0.05 * pred.astype(np.float64) + 0.01), 15.0)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_apply_fit_refuses_unusable_fit():
    with pytest.raises(InvalidInputError, match="nan"):
        apply_fit(np.ones((2, 2), np.float32), _fit(math.nan, 0.0, "metric"), 10.0)
    with pytest.raises(InvalidInputError, match="max_depth"):
        apply_fit(np.ones((2, 2), np.float32), _fit(1.0, 0.0, "metric"), 0.0)


def test_sample_at_window_median():
    img = np.arange(100, dtype=np.float32).reshape(10, 10)
    img[5, 5] = np.nan
    img[0, 0] = -1.0
    uv = np.array([[5, 5], [0, 0], [9.4, 9.6], [np.nan, 1.0], [2.2, 1.8]])
    got = sample_at(img, uv, window=3)
    # (5,5): 44 45 46 54 56 64 65 66 -> (54 + 56) / 2. (0,0): border repeated, -1 invalid:
    # 1 1 10 10 11 -> 10. (9.4, 9.6) rounds to row 10: outside. (2.2, 1.8) -> pixel (2, 2) = 22.
    np.testing.assert_array_equal(got, [55.0, 10.0, np.nan, np.nan, 22.0])
    assert sample_at(img, np.empty((0, 2))).shape == (0,)
