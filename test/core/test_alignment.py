"""align_points on hand-built point sets whose answer is known: model choice, positivity margin, degradation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_ros.core.alignment import AlignmentConfig, align_points, apply_inverse_fit
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.scale_map import ScaleMapper

RNG = np.random.default_rng(5)
DEPTH = RNG.uniform(1.5, 12.0, 60)  # radar depths of a scene spanning 1.5-12 m


def implied_depth(al, pred):
    return apply_inverse_fit(np.asarray(pred, np.float32), al.fit, al.reciprocal, 1e4)


def test_exact_affine_inverse_data_recovers_scale_and_shift():
    s, t = 0.5, -0.05  # the network: x = (1 / depth - t) / s
    x = (1.0 / DEPTH - t) / s
    al = align_points(x, DEPTH, "relative_inverse")
    assert (al.model, al.quality, al.reciprocal) == ("affine", "full", False)
    assert al.fit.scale == pytest.approx(s, rel=1e-6) and al.fit.shift == pytest.approx(t, abs=1e-8)
    np.testing.assert_allclose(implied_depth(al, x), DEPTH, rtol=1e-4)


def test_pure_scale_data_picks_the_one_parameter_model():
    x = 3.0 / DEPTH * np.exp(RNG.normal(0, 0.03, DEPTH.size))  # inverse depth up to a scale, 3 % noise
    al = align_points(x, DEPTH, "relative_inverse")
    assert al.model == "scale" and al.fit.shift == 0.0
    assert al.fit.scale == pytest.approx(1 / 3.0, rel=0.02)
    assert al.candidates["scale"] < al.candidates["affine"]


def test_metric_network_with_the_right_shape_keeps_its_shape():
    pred = 0.6 * DEPTH * np.exp(RNG.normal(0, 0.02, DEPTH.size))
    al = align_points(pred, DEPTH, "metric")
    assert (al.model, al.reciprocal) == ("scale", True)
    # 1 / depth = s / pred: s = 0.6, i.e. metres = pred / 0.6, exactly the scale-only metric fit.
    assert al.fit.scale == pytest.approx(0.6, rel=0.01) and al.fit.shift == 0.0
    np.testing.assert_allclose(implied_depth(al, [6.0]), [10.0], rtol=0.01)


def test_metric_network_out_of_domain_is_treated_as_relative():
    # An indoor network on a far scene: 1 / pred = 0.25 + 2 / depth (everything squeezed into 1.6-4 m).
    far = RNG.uniform(5.0, 80.0, 50)
    pred = 1.0 / (0.25 + 2.0 / far)
    al = align_points(pred, far, "metric")
    assert (al.model, al.reciprocal, al.quality) == ("affine", True, "full")
    assert al.label == "affine (network as relative)"
    np.testing.assert_allclose(implied_depth(al, pred), far, rtol=1e-3)


def test_affine_fit_is_kept_positive_with_margin_at_the_far_end():
    # Points only at 2-6 m, network inverse depth with a negative shift: unconstrained, the far end of
    # the image (x_far) would get an inverse depth <= 0, i.e. no depth or an absurd one.
    near = RNG.uniform(2.0, 6.0, 40)
    x = (1.0 / near + 0.1) / 0.5  # 1 / depth = 0.5 x - 0.1
    x_far = 0.1  # the sky: 0.5 * 0.1 - 0.1 < 0
    free = align_points(x, near, "relative_inverse")
    assert free.fit.scale * x_far + free.fit.shift < 0
    tied = align_points(x, near, "relative_inverse", x_far=x_far, far_depth=80.0)
    assert tied.fit.scale * x_far + tied.fit.shift == pytest.approx(1 / 80.0, rel=1e-6)
    assert 0 < implied_depth(tied, [x_far])[0] <= 80.0 * 1.0001
    # ... while the points themselves stay close to their radar depths.
    assert np.median(np.abs(np.log(implied_depth(tied, x) / near))) < 0.15


def test_bad_fit_degrades_to_the_consistent_subset_then_to_scale_only():
    x = 2.0 / DEPTH
    clutter = x.copy()
    bad = RNG.random(DEPTH.size) < 0.55
    clutter[bad] *= np.exp(RNG.uniform(-1.5, 1.5, bad.sum()))  # 55 % wrong by up to 4.5x
    cfg = AlignmentConfig(max_residual=0.1, range_tolerance=0.0, min_subset_fraction=0.3)
    sub = align_points(clutter, DEPTH, "relative_inverse", cfg)
    assert sub.quality == "subset" and "consistent" in sub.reason and "tolerance" in sub.reason
    assert sub.fit.scale * np.median(x) + sub.fit.shift == pytest.approx(0.5 * np.median(x), rel=0.05)
    # The consistent points are the clean ones.
    assert np.mean(sub.fit.inliers[~bad]) > 0.9 and np.mean(sub.fit.inliers[bad]) < 0.3
    noise = 2.0 / DEPTH * np.exp(RNG.uniform(-1.5, 1.5, DEPTH.size))  # nothing consistent at all
    weak = align_points(noise, DEPTH, "relative_inverse", AlignmentConfig(max_residual=0.05, range_tolerance=0.0,
                                                                          min_subset_fraction=0.6))
    assert weak.quality == "scale_only" and weak.model == "scale" and weak.fit.scale > 0


def test_tolerance_widens_with_the_depth_range_of_the_points():
    cfg = AlignmentConfig(max_residual=0.2, range_tolerance=0.5)
    room = RNG.uniform(2.0, 4.0, 40)
    street = np.exp(RNG.uniform(math.log(5), math.log(80), 40))
    t_room = align_points(1 / room, room, "relative_inverse", cfg).tolerance
    t_street = align_points(1 / street, street, "relative_inverse", cfg).tolerance
    spread = 1.4826 * np.median(np.abs(np.log(street) - np.median(np.log(street))))
    assert t_room == pytest.approx(0.2)
    assert t_street == pytest.approx(0.5 * spread, rel=1e-9) and t_street > 0.4


def test_few_points_give_a_median_scale():
    al = align_points(np.array([0.5, 0.25]), np.array([4.0, 9.0]), "relative_inverse")
    assert al.quality == "few_points" and al.model == "scale"
    assert al.fit.scale == pytest.approx(math.exp(np.median(np.log([1 / (4 * 0.5), 1 / (9 * 0.25)]))))
    assert align_points(np.array([np.nan]), np.array([3.0]), "metric") is None


def test_saturated_points_are_left_out_of_a_metric_fit():
    depth = RNG.uniform(2.0, 40.0, 60)
    pred = np.minimum(0.5 * depth, 10.0)  # a network clipped at its 10 m range
    al = align_points(pred, depth, "metric", saturation_depth=10.0)
    sat = pred >= 9.8
    np.testing.assert_array_equal(al.saturated, sat)
    assert al.model == "scale" and al.fit.scale == pytest.approx(0.5, rel=1e-3) and al.quality == "full"
    assert not al.fit.inliers[sat].any() and al.fit.inliers[~sat].mean() > 0.9


def test_degraded_fits_move_a_temporal_filter_less():
    x = 2.0 / DEPTH * np.exp(RNG.normal(0, 0.05, DEPTH.size))
    full = align_points(x, DEPTH, "relative_inverse")
    few = align_points(x[:3], DEPTH[:3], "relative_inverse")
    assert full.quality == "full" and few.quality == "few_points"
    assert few.fit.cov[0, 0] > 20 * full.fit.cov[0, 0] > 0


def test_invalid_settings_are_rejected():
    with pytest.raises(InvalidInputError, match="min_points"):
        AlignmentConfig(min_points=1)
    with pytest.raises(InvalidInputError, match="differ in length"):
        align_points(np.ones(3), np.ones(4), "metric")


def test_consistency_weights_single_out_points_their_neighbours_disagree_with():
    # A 6x6 grid of points whose residual varies smoothly (a tilted error), and two ghosts.
    u, v = np.meshgrid(np.linspace(50, 590, 6), np.linspace(50, 430, 6))
    uv = np.column_stack([u.ravel(), v.ravel()])
    d = np.full(len(uv), 5.0)
    r = 0.2 * (uv[:, 0] - 320) / 320  # smooth residual field: +-20 %
    target = d * np.exp(r)
    target[[7, 20]] *= 2.5  # ghosts
    mapper = ScaleMapper(sigma_px=120.0, depth_sigma=math.inf, prior_weight=0.05)
    consistency = mapper.consistency(uv, target, d)
    w = consistency.weights
    # Tukey's biweight redescends to exactly 0: a ghost has no say at all, whatever the prior weight.
    assert np.all(w[[7, 20]] == 0.0)
    assert np.delete(w, [7, 20]).min() > 0.5
    assert consistency.gain < 0.5  # the smooth field predicts left-out points: correcting generalises
    gains = [mapper.consistency(uv, d * np.exp(np.random.default_rng(seed).normal(0.0, 0.1, len(uv))), d).gain
             for seed in range(10)]  # residuals that are pure noise: nothing to predict
    assert 0.75 < np.median(gains) < 1.25 and min(gains) > 2 * consistency.gain
