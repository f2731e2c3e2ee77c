"""Depth metrics against values computed by hand with plain Python math."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.metrics import (
    DepthMetrics,
    aggregate,
    binned_metrics,
    depth_metrics,
    median_scale,
)

KEYS = ["absrel", "sqrel", "rmse", "rmse_log", "log10", "silog", "delta1", "delta2", "delta3", "count"]


def reference(pred: list[float], gt: list[float]) -> dict[str, float]:
    """Every metric written out term by term, independent of numpy."""
    n = len(gt)
    d = [math.log(p) - math.log(g) for p, g in zip(pred, gt)]
    mean_d = sum(d) / n
    ratio = [max(p / g, g / p) for p, g in zip(pred, gt)]
    return {
        "absrel": sum(abs(p - g) / g for p, g in zip(pred, gt)) / n,
        "sqrel": sum((p - g) ** 2 / g for p, g in zip(pred, gt)) / n,
        "rmse": math.sqrt(sum((p - g) ** 2 for p, g in zip(pred, gt)) / n),
        "rmse_log": math.sqrt(sum(x * x for x in d) / n),
        "log10": sum(abs(math.log10(p) - math.log10(g)) for p, g in zip(pred, gt)) / n,
        "silog": 100 * math.sqrt(sum(x * x for x in d) / n - mean_d**2),
        "delta1": sum(r < 1.25 for r in ratio) / n,
        "delta2": sum(r < 1.25**2 for r in ratio) / n,
        "delta3": sum(r < 1.25**3 for r in ratio) / n,
        "count": n,
    }


def assert_matches(m: DepthMetrics, ref: dict[str, float]) -> None:
    got = m.to_dict()
    assert list(got) == KEYS
    for key in KEYS:
        assert got[key] == pytest.approx(ref[key], rel=1e-12, abs=1e-12), key


def test_four_pixels_by_hand():
    gt = [1.0, 2.0, 4.0, 10.0]
    pred = [1.1, 1.5, 4.0, 20.0]
    m = depth_metrics(np.array(pred).reshape(2, 2), np.array(gt).reshape(2, 2))
    # A few values written out as literals, to pin the definitions themselves.
    assert m.absrel == pytest.approx((0.1 / 1 + 0.5 / 2 + 0 + 10 / 10) / 4)
    assert m.sqrel == pytest.approx((0.01 / 1 + 0.25 / 2 + 0 + 100 / 10) / 4)
    assert m.rmse == pytest.approx(math.sqrt((0.01 + 0.25 + 0 + 100) / 4))
    # ratios 1.1, 1.333, 1, 2: delta1 counts 1.1 and 1; delta2 (1.5625) adds 1.333; delta3 (1.953) not 2.
    assert (m.delta1, m.delta2, m.delta3) == (0.5, 0.75, 0.75)
    assert_matches(m, reference(pred, gt))


def test_silog_is_the_kitti_variance_form():
    gt = [2.0, 3.0, 5.0]
    pred = [2.5, 2.0, 7.0]
    d = [math.log(2.5 / 2), math.log(2 / 3), math.log(7 / 5)]
    expected = 100 * math.sqrt(sum(x * x for x in d) / 3 - (sum(d) / 3) ** 2)
    assert depth_metrics(np.array(pred), np.array(gt)).silog == pytest.approx(expected, rel=1e-12)


def test_random_arrays_match_reference():
    rng = np.random.default_rng(3)
    gt = rng.uniform(0.2, 30.0, size=(7, 9))
    pred = gt * rng.uniform(0.6, 1.6, size=gt.shape)
    assert_matches(depth_metrics(pred, gt), reference(pred.ravel().tolist(), gt.ravel().tolist()))


def test_perfect_prediction():
    gt = np.linspace(0.5, 40.0, 100).reshape(10, 10).astype(np.float32)
    m = depth_metrics(gt.copy(), gt)
    for key in ("absrel", "sqrel", "rmse", "rmse_log", "log10", "silog"):
        assert getattr(m, key) == pytest.approx(0.0, abs=1e-12), key
    assert (m.delta1, m.delta2, m.delta3, m.count) == (1.0, 1.0, 1.0, 100)


def test_silog_scale_invariant_and_absrel_not():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 10.0, 500)
    pred = gt * rng.uniform(0.8, 1.2, 500)
    a = depth_metrics(pred, gt)
    b = depth_metrics(3.7 * pred, gt)
    assert b.silog == pytest.approx(a.silog, rel=1e-9)
    assert a.silog > 1.0
    assert b.absrel > 2 * a.absrel
    # A pure scale error: SILog 0, rmse_log = |ln 2|.
    c = depth_metrics(2.0 * gt, gt)
    assert c.silog == pytest.approx(0.0, abs=1e-6)
    assert c.rmse_log == pytest.approx(math.log(2.0))
    assert c.log_mean == pytest.approx(math.log(2.0))


def test_mask_rules():
    gt = np.array([1.0, np.nan, 0.0, 2.0, 3.0, 50.0, np.inf, 4.0, 5.0, 6.0])
    pred = np.array([1.5, 1.0, 1.0, 0.0, -1.0, 50.0, 1.0, np.nan, np.inf, 6.0])
    # Valid: index 0 (1.5 vs 1), 5 (50 vs 50), 9 (6 vs 6). NaN/0/inf gt, pred <= 0, NaN/inf pred out.
    m = depth_metrics(pred, gt)
    assert m.count == 3
    assert_matches(m, reference([1.5, 50.0, 6.0], [1.0, 50.0, 6.0]))
    # max_depth is inclusive, min_depth exclusive.
    m = depth_metrics(pred, gt, min_depth=1.0, max_depth=6.0)
    assert_matches(m, reference([6.0], [6.0]))
    # The explicit mask is ANDed with the automatic one.
    valid = np.zeros(10, bool)
    valid[[0, 1, 9]] = True
    assert_matches(depth_metrics(pred, gt, valid=valid), reference([1.5, 6.0], [1.0, 6.0]))
    # uint8 0/255 masks work too.
    assert depth_metrics(pred, gt, valid=valid.astype(np.uint8) * 255).count == 2


def test_empty_valid_set_gives_nan_without_warnings():
    gt = np.array([[np.nan, 0.0], [-1.0, np.inf]])
    pred = np.ones((2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = depth_metrics(pred, gt)
        assert m.count == 0
        assert all(math.isnan(v) for k, v in m.to_dict().items() if k != "count")
        assert math.isnan(median_scale(pred, gt))
        assert aggregate([m]).count == 0
        assert math.isnan(aggregate([]).rmse)
        assert all(b[2].count == 0 for b in binned_metrics(pred, gt))


def test_bad_inputs_name_the_value():
    with pytest.raises(InvalidInputError, match=r"\(2, 3\).*\(3, 2\)"):
        depth_metrics(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(InvalidInputError, match="valid mask shape"):
        depth_metrics(np.ones(4), np.ones(4), valid=np.ones(3, bool))
    with pytest.raises(InvalidInputError, match="min_depth"):
        depth_metrics(np.ones(4), np.ones(4), min_depth=5.0, max_depth=1.0)
    with pytest.raises(InvalidInputError, match=r"\(0, 2, 1\)"):
        binned_metrics(np.ones(4), np.ones(4), bins=(0, 2, 1))
    with pytest.raises(InvalidInputError, match="'median'"):
        aggregate([], weights="median")


def test_bins_partition_the_valid_pixels():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0.0, 40.0, size=(30, 40))
    gt[0, :5] = [1.0, 2.0, 3.0, 5.0, 20.0]  # exactly on edges: belong to the lower bin
    gt[1, :3] = np.nan
    pred = gt * rng.uniform(0.7, 1.3, size=gt.shape)
    total = depth_metrics(pred, gt)
    bins = binned_metrics(pred, gt)
    assert [(lo, hi) for lo, hi, _ in bins] == [(0, 1), (1, 2), (2, 3), (3, 5), (5, 10), (10, 20), (20, math.inf)]
    assert sum(m.count for _, _, m in bins) == total.count
    for lo, hi, m in bins:
        sel = np.isfinite(gt) & (gt > max(lo, 1e-3)) & (gt <= hi)
        assert m.count == int(sel.sum())
        assert_matches(m, reference(pred[sel].tolist(), gt[sel].tolist()))
    # Pooling the bins back by pixel count gives the whole-image metrics.
    pooled = aggregate([m for _, _, m in bins], weights="pixels")
    for key in KEYS:
        assert pooled.to_dict()[key] == pytest.approx(total.to_dict()[key], rel=1e-9), key


def test_aggregate_weights():
    f1 = depth_metrics(np.array([1.1, 1.5, 4.0, 20.0]), np.array([1.0, 2.0, 4.0, 10.0]))
    f2 = depth_metrics(np.array([3.0, 2.0]), np.array([2.0, 2.0]))
    empty = depth_metrics(np.ones(2), np.full(2, np.nan))

    frames = aggregate([f1, f2, empty])
    assert frames.count == 6
    assert frames.absrel == pytest.approx((f1.absrel + f2.absrel) / 2)
    assert frames.rmse == pytest.approx((f1.rmse + f2.rmse) / 2)
    assert frames.delta1 == pytest.approx((0.5 + 0.5) / 2)

    pixels = aggregate([f1, f2, empty], weights="pixels")
    allp = [1.1, 1.5, 4.0, 20.0, 3.0, 2.0]
    allg = [1.0, 2.0, 4.0, 10.0, 2.0, 2.0]
    ref = reference(allp, allg)
    for key in KEYS:
        assert pixels.to_dict()[key] == pytest.approx(ref[key], rel=1e-9), key
    assert pixels.absrel == pytest.approx((4 * f1.absrel + 2 * f2.absrel) / 6)
    assert pixels.absrel != pytest.approx(frames.absrel)


def test_median_scale():
    gt = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
    pred = np.array([0.5, 1.0, 1.5, 2.0, 50.0, 7.0])
    assert median_scale(pred, gt) == pytest.approx(2.0)
    valid = np.array([True, True, True, False, False, True])
    assert median_scale(pred, gt, valid) == pytest.approx(2.0 / 1.0)
    s = median_scale(pred, gt)
    assert depth_metrics(pred * s, gt).absrel == pytest.approx(0.0, abs=1e-12)


def test_delta_thresholds_are_strict():
    # Ratios exactly 1.25 and 1.25^2 (exact in binary floating point) fall outside delta1/delta2.
    m = depth_metrics(np.array([1.25, 1.5625, 1.0]), np.array([1.0, 1.0, 1.0]))
    assert (m.delta1, m.delta2, m.delta3) == pytest.approx((1 / 3, 2 / 3, 1.0))
