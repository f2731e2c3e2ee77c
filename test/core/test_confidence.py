"""Confidence map: bounds, monotonicity and the documented formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_ros.core.confidence import confidence_map
from depth_ros.core.errors import InvalidInputError

H, W = 480, 640
# A low-res cell centre ((j + 0.5) * 8 - 0.5): the peak is not interpolated away.
U0, V0 = 20 * 8 + 3.5, 30 * 8 + 3.5
ONE = np.array([[U0, V0]])


def formula(d, residual, base, floor, sigma=64.0, ref=0.1):
    q = 1.0 / (1.0 + (residual / ref) ** 2)
    return base * q * (floor + (1 - floor) * math.exp(-d * d / (2 * sigma * sigma)))


@pytest.mark.parametrize("kind", ["metric", "inverse"])
@pytest.mark.parametrize("residual", [0.0, 0.05, 0.3, math.inf, math.nan])
def test_bounds_shape_dtype(kind, residual):
    rng = np.random.default_rng(0)
    uv = np.column_stack([rng.uniform(-20, W + 20, 40), rng.uniform(-20, H + 20, 40)])
    conf = confidence_map((H, W), uv, residual, kind)
    assert conf.shape == (H, W) and conf.dtype == np.float32
    assert conf.min() >= 0.0 and conf.max() <= 1.0


def test_peak_is_one_for_a_perfect_metric_fit():
    conf = confidence_map((H, W), ONE, 0.0, "metric")
    # Pixels are half a pixel from the cell centre: 1 - (1 - exp(-8^2 / (2 * 64^2))) / 16.
    assert conf.max() == pytest.approx(1.0, abs=1e-3)


def test_monotone_in_distance_and_matches_formula():
    conf = confidence_map((H, W), ONE, 0.05, "metric")
    row = conf[int(V0), int(U0) :]
    assert np.all(np.diff(row) <= 1e-6)
    assert row[0] > row[200] + 0.3
    for cells in (0, 4, 8, 16, 40):
        d = cells * 8.0
        got = conf[int(V0), int(U0 + d)]  # half a pixel off the cell centre
        assert got == pytest.approx(formula(d, 0.05, 1.0, 0.4), rel=0.03)
    col = conf[int(V0) :, int(U0)]
    assert np.all(np.diff(col) <= 1e-6)


def test_monotone_in_residual():
    maps = [confidence_map((H, W), ONE, r, "metric") for r in (0.0, 0.05, 0.1, 0.3)]
    for a, b in zip(maps, maps[1:]):
        assert np.all(a >= b) and a.mean() > b.mean()
    assert maps[2].max() == pytest.approx(0.5, abs=1e-3)  # q = 1/2 at residual_ref


def test_metric_above_inverse():
    rng = np.random.default_rng(1)
    uv = np.column_stack([rng.uniform(0, W, 20), rng.uniform(0, H, 20)])
    metric = confidence_map((H, W), uv, 0.08, "metric")
    inverse = confidence_map((H, W), uv, 0.08, "relative_inverse")
    assert np.all(metric > inverse)


@pytest.mark.parametrize("kind, expected", [("metric", 0.4), ("inverse", 0.2)])
def test_no_points_is_constant_and_low(kind, expected):
    for uv in (np.empty((0, 2)), np.array([[-50.0, 10.0], [np.nan, 3.0]])):
        conf = confidence_map((H, W), uv, math.nan, kind)
        assert np.all(conf == np.float32(expected))
    assert np.all(confidence_map((H, W), np.empty((0, 2)), 0.1, kind) == np.float32(expected / 2))


def test_overrides_and_out_buffer():
    out = np.empty((H, W), np.float32)
    conf = confidence_map((H, W), ONE, 0.0, "inverse", base=0.5, floor=0.0, out=out)
    assert conf is out
    assert conf.max() == pytest.approx(0.5, abs=1e-3) and conf.min() < 1e-6


def test_bad_arguments_name_the_value():
    with pytest.raises(InvalidInputError, match="-0.1"):
        confidence_map((H, W), ONE, -0.1, "metric")
    with pytest.raises(InvalidInputError, match="'depth'"):
        confidence_map((H, W), ONE, 0.1, "depth")
    with pytest.raises(InvalidInputError, match="1.5"):
        confidence_map((H, W), ONE, 0.1, "metric", base=1.5)
    with pytest.raises(InvalidInputError, match=r"\(3,\)"):
        confidence_map((H, W), np.ones(3), 0.1, "metric")
