"""Temporal scale filter on simulated fit streams with known true scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.scale import ScaleFit, fit_scale
from depth_ros.core.scale_filter import ScaleFilter

FRAME_NS = 33_333_333  # 30 Hz


def metric_fit(scale, std=0.05, ok=True):
    """A fit whose log scale has standard error `std`."""
    cov = np.zeros((2, 2))
    cov[0, 0] = std**2
    return ScaleFit(scale, 0.0, "metric", 30, 30, std * math.sqrt(30), ok, "" if ok else "x", np.ones(30, bool), cov)


def run(filt, scales, std=0.05, start_ns=0):
    return [filt.update(start_ns + i * FRAME_NS, metric_fit(s, std)) for i, s in enumerate(scales)]


def test_noisy_constant_scale_converges_with_less_jitter():
    rng = np.random.default_rng(0)
    raw = 1.3 * np.exp(rng.normal(0.0, 0.05, 300))
    out = run(ScaleFilter("metric"), raw)
    est = np.array([o.scale for o in out])
    assert all(o.source == "fit" for o in out)
    assert np.max(np.abs(est[60:] / 1.3 - 1.0)) < 0.03
    assert abs(np.mean(np.log(est[60:] / 1.3))) < 0.01
    jitter_raw = np.std(np.diff(np.log(raw[60:])))
    jitter_filt = np.std(np.diff(np.log(est[60:])))
    assert jitter_filt < 0.2 * jitter_raw


def test_first_two_updates_match_hand_computed_kalman_steps():
    filt = ScaleFilter("metric", min_measurement_std=0.0)
    a = filt.update(0, metric_fit(1.0, std=0.1))
    assert a.scale == 1.0 and a.variance == pytest.approx(0.01) and a.source == "fit"
    # Same stamp (no process noise), equal variances: the mean of the logs, half the variance.
    b = filt.update(0, metric_fit(math.exp(0.1), std=0.1))
    assert math.log(b.scale) == pytest.approx(0.05) and b.variance == pytest.approx(0.005)
    # One second later: P = 0.005 + 0.02^2 * 1; z = 0 with R = 0.01 -> K = P / (P + R).
    c = filt.update(1_000_000_000, metric_fit(1.0, std=0.1))
    p = 0.005 + 0.02**2
    k = p / (p + 0.01)
    assert math.log(c.scale) == pytest.approx(0.05 - k * 0.05)
    assert c.variance == pytest.approx((1 - k) * p)


def test_step_change_is_followed_within_a_few_frames():
    rng = np.random.default_rng(1)
    truth = np.r_[np.full(100, 1.0), np.full(60, 1.4)]
    out = run(ScaleFilter("metric"), truth * np.exp(rng.normal(0.0, 0.02, truth.size)), std=0.02)
    est = np.array([o.scale for o in out])
    assert np.all(np.abs(est[105:] / 1.4 - 1.0) < 0.03)
    assert [o.source for o in out[100:102]] == ["rejected", "rejected"]


def test_single_outlier_frame_is_rejected():
    out = run(ScaleFilter("metric"), [1.0] * 50 + [2.0] + [1.0] * 5, std=0.02)
    assert out[50].source == "rejected"
    assert out[50].scale == pytest.approx(out[49].scale, rel=1e-3)
    assert out[51].source == "fit"


def test_time_jump_backwards_resets():
    filt = ScaleFilter("metric")
    run(filt, [1.0] * 20, start_ns=50_000_000_000)
    res = filt.update(10_000_000_000, metric_fit(1.7, std=0.05))
    assert filt.resets == 1 and res.resets == 1
    assert res.scale == pytest.approx(1.7, rel=1e-12)
    assert res.variance == pytest.approx(0.05**2 + 0.01**2)
    # A small step back (an out-of-order frame) is not a reset.
    filt.update(10_000_000_000 - 5_000_000, metric_fit(1.7))
    assert filt.resets == 1


def test_missing_measurements_grow_variance_then_stale():
    filt = ScaleFilter("metric", stale_after_s=1.0)
    last = run(filt, [1.2] * 30)[-1]
    t0 = 29 * FRAME_NS
    variances = [last.variance]
    sources = []
    for i in range(1, 60):
        fit = None if i % 2 else metric_fit(5.0, ok=False)  # None and not-ok fits alike
        res = filt.update(t0 + i * FRAME_NS, fit)
        variances.append(res.variance)
        sources.append(res.source)
        assert res.scale == last.scale
    assert np.all(np.diff(variances) > 0)
    # Process noise grows the variance linearly: 0.02^2 per second.
    assert variances[-1] - variances[0] == pytest.approx(0.02**2 * 59 * FRAME_NS * 1e-9, rel=1e-6)
    assert sources[0] == "predict" and sources[-1] == "stale"
    assert sources.index("stale") == 30  # first frame more than 1 s after the last fit
    assert not res.usable and res.age_s > 1.0


def test_reset_and_none_before_first_fit():
    filt = ScaleFilter("metric")
    res = filt.update(0, None)
    assert res.source == "none" and math.isnan(res.scale) and not res.usable
    run(filt, [1.1] * 3)
    filt.reset()
    assert filt.update(10 * FRAME_NS, None).source == "none"


def test_inverse_filter_tracks_scale_and_shift_of_real_fits():
    rng = np.random.default_rng(2)
    s, t = 0.05, 0.02
    filt = ScaleFilter("inverse")
    raw_s, est_s, est_t = [], [], []
    for i in range(150):
        depth = rng.uniform(1.0, 20.0, 40)
        pred = (1.0 / depth - t) / s * np.exp(rng.normal(0.0, 0.05, 40))
        fit = fit_scale(pred, depth, "inverse")
        assert fit.ok
        res = filt.update(i * FRAME_NS, fit)
        raw_s.append(fit.scale)
        est_s.append(res.scale)
        est_t.append(res.shift)
    assert np.all(np.abs(np.array(est_s[50:]) / s - 1.0) < 0.03)
    assert np.all(np.abs(np.array(est_t[50:]) - t) < 0.003)
    assert np.std(np.diff(np.log(est_s[50:]))) < 0.3 * np.std(np.diff(np.log(raw_s[50:])))


def test_kind_mismatch_and_bad_parameters():
    with pytest.raises(InvalidInputError, match="'relative_inverse' given to a 'metric'"):
        ScaleFilter("metric").update(0, ScaleFit(1.0, 0.1, "inverse", 9, 9, 0.0, True, "", np.ones(9, bool)))
    with pytest.raises(InvalidInputError, match="-1"):
        ScaleFilter("metric", process_noise=-1)
    with pytest.raises(InvalidInputError, match="max_rejections"):
        ScaleFilter("metric", max_rejections=0)
