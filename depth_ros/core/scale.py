"""Global robust alignment of network depth to sparse metric points (radar, ground-plane prior).

Two kinds of network output (``kind``, an `OutputKind` or its string, see `as_output_kind`):

- ``OutputKind.METRIC`` (``"metric"``): the network returns metres with a per-scene scale error,
  so ``target ≈ s * pred``. The fit is a robust location of ``log(target / pred)``; ``shift`` is 0.
- ``OutputKind.RELATIVE_INVERSE`` (``"inverse"`` / ``"relative_inverse"``): the network returns
  inverse depth up to an unknown scale and shift (Depth Anything relative, MiDaS), so
  ``1 / target ≈ s * pred + t`` with ``s > 0``.

Every residual, threshold and the reported spread are in natural-log depth units
(0.1 ≈ 10 % depth error), for both kinds, so one set of thresholds serves both.

Inverse weighting. Least squares on raw inverse depth lets near points dominate (their inverse
depth is large) and ignores far ones. Residuals are therefore made relative:
``(ŷ - y) / ŷ ≈ log(ŷ / y) = log(target / implied_depth)``, i.e. weighted least squares on
``y = 1 / target`` with weights ``1 / ŷ²``, where ŷ is the *model's* inverse depth from the
previous iteration. Weighting by ``target²`` instead would give the same first-order
equivalence, but it would hand the most leverage to the clutter points that claim the largest
range (radar ghosts at 60 m); weights from the model do not depend on the measured target.

Pipeline of `fit_scale`: robust start (Huber IRLS from a median / Theil-Sen start, or seeded
RANSAC/MSAC), then hard inlier refinement (inlier ⇔ |log residual| <= max(3 σ, huber_delta),
σ = 1.4826 · MAD) with a plain weighted least-squares refit on the inliers, which removes the
bias that Huber's bounded-but-nonzero outlier influence leaves. The fit is reported not ``ok``
(with a reason) when it should not be trusted; callers fall back (filter prediction, previous
fit, raw network output).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

import cv2
import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.output_kind import OutputKind, as_output_kind
from depth_ros.core.sampling import window_median as sample_at  # noqa: F401  (re-exported)

Method = Literal["huber", "ransac"]

MAD_TO_SIGMA = 1.4826
INLIER_SIGMAS = 3.0
_MAX_IRLS = 10
_MAX_REFINE = 6


class AffineScale(Protocol):
    """Anything carrying an alignment: `ScaleFit`, or a temporally filtered `FilteredScale`."""

    @property
    def scale(self) -> float: ...

    @property
    def shift(self) -> float: ...

    @property
    def kind(self) -> OutputKind: ...


@dataclass
class ScaleFit:
    """Result of `fit_scale`.

    ``cov`` is the 2x2 covariance of (log scale, shift) from the inlier refit (the shift row and
    column are 0 for metric fits); `ScaleFilter` uses it as measurement noise. ``inliers`` is a
    mask over the input points (invalid inputs are False). ``scale``/``shift`` are NaN when no fit
    could be computed at all. ``kind`` may be given as a string; it is stored as an `OutputKind`.
    """

    scale: float
    shift: float
    kind: OutputKind
    n_points: int
    n_inliers: int
    residual: float
    ok: bool
    reason: str
    inliers: np.ndarray
    cov: np.ndarray = field(default_factory=lambda: np.full((2, 2), np.nan))

    def __post_init__(self) -> None:
        self.kind = as_output_kind(self.kind)


def _check_1d(name: str, a: object) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _wmedian(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, 0.5 * cw[-1])])


def median(x: np.ndarray) -> float:
    """Median of a non-empty 1-D array."""
    # np.median costs ~50 us of Python overhead on tiny arrays; this costs a few us.
    n = x.size
    lo, hi = (n - 1) // 2, n // 2
    s = np.partition(x, (lo, hi)) if n > 256 else np.sort(x)
    return float(0.5 * (s[lo] + s[hi]))


@functools.lru_cache(maxsize=16)
def _pairs(n: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j, or with ``limit`` a deterministic subset that uses every point equally:
    (i, i + k mod n) for k = 1, 2, ... (each k adds n pairs)."""
    if limit is None or n * (n - 1) // 2 <= limit:
        i, j = np.triu_indices(n, 1)
    else:
        k = np.arange(1, max(1, min((n - 1) // 2, -(-limit // n))) + 1)
        i = np.tile(np.arange(n), k.size)
        j = (i + np.repeat(k, n)) % n
    i.setflags(write=False)
    j.setflags(write=False)
    return i, j


def mad_sigma(r: np.ndarray) -> float:
    """Robust standard deviation: 1.4826 x the median absolute deviation from the median (NaN when empty)."""
    if r.size == 0:
        return math.nan
    return MAD_TO_SIGMA * median(np.abs(r - median(r)))


def _huber_w(r: np.ndarray, delta: float) -> np.ndarray:
    # min(1, delta/|r|); an infinite residual (non-positive implied depth) gets weight 0.
    return delta / np.maximum(np.abs(r), delta)


class _Metric:
    """target = s * pred, parameter theta = log s."""

    def __init__(self, pred: np.ndarray, target: np.ndarray, w: np.ndarray) -> None:
        self.l = np.log(target) - np.log(pred)
        self.w = w

    def residual(self, theta: np.ndarray) -> np.ndarray:
        return self.l - theta[0]

    def wls(self, theta: np.ndarray, w: np.ndarray) -> np.ndarray | None:
        sw = w.sum()
        if sw <= 0:
            return None
        return np.array([float(np.dot(w, self.l) / sw)])

    def start(self) -> np.ndarray:
        return np.array([_wmedian(self.l, self.w)])

    def hypotheses(self, rng: np.random.Generator, iterations: int) -> np.ndarray:
        n = self.l.size
        idx = np.arange(n) if n <= iterations else rng.choice(n, iterations, replace=False)
        return self.l[idx][:, None]

    def hyp_residuals(self, hyp: np.ndarray) -> np.ndarray:
        return self.l[None, :] - hyp

    def cov(self, theta: np.ndarray, w: np.ndarray, sigma: float) -> np.ndarray:
        n_eff = w.sum() ** 2 / max(float(np.dot(w, w)), 1e-300)
        c = np.zeros((2, 2))
        c[0, 0] = sigma**2 / n_eff
        return c

    def params(self, theta: np.ndarray) -> tuple[float, float]:
        return math.exp(theta[0]), 0.0

    def small_step(self, old: np.ndarray, new: np.ndarray) -> bool:
        return abs(float(new[0] - old[0])) <= 1e-4


class _Inverse:
    """1/target = s * pred + t, parameter theta = (s, t)."""

    def __init__(self, pred: np.ndarray, target: np.ndarray, w: np.ndarray) -> None:
        self.x = pred
        self.y = 1.0 / target
        self.log_target = np.log(target)
        self.w = w
        self._moments = np.stack([np.ones_like(pred), pred, self.y, pred * pred, pred * self.y])
        self._xmax = float(np.max(np.abs(pred)))
        self._ymean = float(np.mean(self.y))

    def _yhat(self, theta: np.ndarray) -> np.ndarray:
        return theta[0] * self.x + theta[1]

    def residual(self, theta: np.ndarray) -> np.ndarray:
        yh = self._yhat(theta)
        r = np.log(np.maximum(yh, 1e-300)) + self.log_target  # log(target / implied depth)
        r[~(yh > 0)] = np.inf
        return r

    def _solve(self, w: np.ndarray) -> np.ndarray | None:
        sw, sx, sy, sxx, sxy = self._moments @ w
        if not sw > 0:
            return None
        mx = sx / sw
        vxx = sxx / sw - mx * mx
        # Degenerate when the used predictions barely vary: the scale is then unidentifiable.
        if not vxx > 1e-12 * max(mx * mx, 1e-300):
            return None
        s = (sxy / sw - mx * sy / sw) / vxx
        return np.array([s, sy / sw - s * mx])

    def wls(self, theta: np.ndarray, w: np.ndarray) -> np.ndarray | None:
        # Callers give zero weight wherever the implied inverse depth is <= 0 (infinite residual).
        yh = self._yhat(theta)
        return self._solve(w / np.maximum(yh * yh, 1e-300))

    def start(self) -> np.ndarray:
        # Theil-Sen on (pred, inverse target): median of pairwise slopes, breakdown ~29 %
        # (over at most ~600 pairs: the median needs no more).
        i, j = _pairs(self.x.size, 600)
        dx = self.x[j] - self.x[i]
        keep = np.abs(dx) > 0
        if not keep.any():
            return np.array([math.nan, math.nan])
        s = median((self.y[j] - self.y[i])[keep] / dx[keep])
        return np.array([s, median(self.y - s * self.x)])

    def hypotheses(self, rng: np.random.Generator, iterations: int) -> np.ndarray:
        n = self.x.size
        if n * (n - 1) // 2 <= iterations:
            i, j = _pairs(n)
        else:
            i = rng.integers(0, n, iterations)
            j = (i + rng.integers(1, n, iterations)) % n
        dx = self.x[j] - self.x[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (self.y[j] - self.y[i]) / dx
        t = self.y[i] - s * self.x[i]
        keep = np.isfinite(s) & (s > 0)
        return np.stack([s[keep], t[keep]], axis=1)

    def hyp_residuals(self, hyp: np.ndarray) -> np.ndarray:
        yh = hyp[:, :1] * self.x[None, :] + hyp[:, 1:]
        r = np.log(np.maximum(yh, 1e-300)) + self.log_target[None, :]
        r[~(yh > 0)] = np.inf
        return r

    def cov(self, theta: np.ndarray, w: np.ndarray, sigma: float) -> np.ndarray:
        yh = self._yhat(theta)
        ww = np.where(yh > 0, w / np.maximum(yh, 1e-300) ** 2, 0.0)
        ww *= w.sum() / max(float(np.dot(w, w)), 1e-300)  # normalise to an effective point count
        a, b, d = float(np.dot(ww, self.x * self.x)), float(np.dot(ww, self.x)), float(ww.sum())
        det = a * d - b * b
        if not det > 0:
            return np.full((2, 2), np.inf)
        v = sigma * sigma / det
        js = 1.0 / theta[0]  # (s, t) -> (log s, t)
        return np.array([[d * v * js * js, -b * v * js], [-b * v * js, a * v]])

    def params(self, theta: np.ndarray) -> tuple[float, float]:
        return float(theta[0]), float(theta[1])

    def small_step(self, old: np.ndarray, new: np.ndarray) -> bool:
        # Largest change of the implied inverse depth, relative to the typical inverse depth.
        ds, dt = (new - old).tolist()
        return abs(ds) * self._xmax + abs(dt) <= 1e-4 * self._ymean


def fit_scale(
    pred: np.ndarray,
    target_depth: np.ndarray,
    kind: OutputKind | str,
    method: Method = "huber",
    min_points: int = 5,
    max_residual: float = 0.25,
    huber_delta: float = 0.1,
    weights: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
    min_inlier_fraction: float = 0.5,
    ransac_iterations: int = 100,
) -> ScaleFit:
    """Robustly align network output ``pred`` (sampled at the points) to metric ``target_depth``.

    ``huber_delta`` (log-depth units) is the Huber transition, the RANSAC inlier threshold and
    the floor of the inlier threshold. ``weights`` are per-point confidences (>= 0). ``rng``
    seeds RANSAC (default seed 0: deterministic); with at most ``ransac_iterations`` candidate
    samples all of them are tried (100 two-point samples miss a clean pair with probability
    0.75^100 ≈ 3e-13 at 50 % clutter). Non-finite points, targets <= 0 and (metric) predictions <= 0
    are ignored and count neither as points nor inliers.

    Not ``ok`` when: fewer than ``min_points`` valid points or inliers; inlier fraction below
    ``min_inlier_fraction``; robust residual spread above ``max_residual``; scale <= 0;
    (inverse) an implied depth <= 0 at any valid point; (inverse) predictions too uniform.
    """
    k = as_output_kind(kind)
    metric = k is OutputKind.METRIC
    if method not in ("huber", "ransac"):
        raise InvalidInputError(f"unknown fit method {method!r}; expected 'huber' or 'ransac'")
    need = 1 if metric else 2
    if min_points < need:
        raise InvalidInputError(f"min_points must be >= {need} for kind {k.value!r}, got {min_points}")
    if not (max_residual > 0 and huber_delta > 0):
        raise InvalidInputError(f"max_residual and huber_delta must be > 0, got {max_residual}, {huber_delta}")
    if not 0.0 <= min_inlier_fraction <= 1.0:
        raise InvalidInputError(f"min_inlier_fraction must be in [0, 1], got {min_inlier_fraction}")
    if ransac_iterations < 1:
        raise InvalidInputError(f"ransac_iterations must be >= 1, got {ransac_iterations}")
    p = _check_1d("pred", pred)
    z = _check_1d("target_depth", target_depth)
    if p.shape != z.shape:
        raise InvalidInputError(f"pred and target_depth differ in length: {p.size} != {z.size}")
    if weights is None:
        w_all = np.ones_like(z)
    else:
        w_all = _check_1d("weights", weights)
        if w_all.shape != z.shape:
            raise InvalidInputError(f"weights has length {w_all.size}, expected {z.size}")
        if np.any(w_all < 0):
            raise InvalidInputError(f"weights must be >= 0, got min {float(np.nanmin(w_all))}")

    valid = np.isfinite(p) & np.isfinite(z) & (z > 0) & np.isfinite(w_all) & (w_all > 0)
    if metric:
        valid &= p > 0
    inliers = np.zeros(z.shape, dtype=bool)
    n = int(valid.sum())

    def fail(reason: str, theta: np.ndarray | None = None, n_in: int = 0, res: float = math.nan) -> ScaleFit:
        scale, shift = (math.nan, math.nan) if theta is None else model.params(theta)
        return ScaleFit(scale, 0.0 if metric else shift, k, n, n_in, res, False, reason, inliers)

    model: _Metric | _Inverse
    if n < min_points:
        return fail(f"too few points ({n} < {min_points})")
    pv, zv, wv = p[valid], z[valid], w_all[valid]
    wv = wv / wv.mean()
    model = _Metric(pv, zv, wv) if metric else _Inverse(pv, zv, wv)

    # Robust start.
    if method == "huber":
        theta = model.start()
        if not np.all(np.isfinite(theta)):
            return fail("degenerate: predictions do not vary")
        r = model.residual(theta)
        for _ in range(_MAX_IRLS):
            new = model.wls(theta, wv * _huber_w(r, huber_delta))
            if new is None:
                break
            # Loose tolerance: Huber only has to pick the inlier set; the refit below is exact.
            done = model.small_step(theta, new)
            theta = new
            r = model.residual(theta)
            if done:
                break
        fin = np.isfinite(r)
        thr = max(INLIER_SIGMAS * mad_sigma(r[fin]), huber_delta) if fin.any() else huber_delta
        inl = np.abs(r) <= thr
    else:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
        hyp = model.hypotheses(gen, ransac_iterations)
        if hyp.shape[0] == 0:
            return fail("non-positive scale (no sample gives a positive one)")
        hr = model.hyp_residuals(hyp)
        cost = (np.minimum(hr * hr, huber_delta**2) * wv[None, :]).sum(axis=1)  # MSAC
        theta = hyp[int(np.argmin(cost))]
        inl = np.abs(model.residual(theta)) <= huber_delta

    # Hard inlier refinement with a plain weighted least-squares refit.
    for _ in range(_MAX_REFINE):
        if inl.sum() < need:
            break
        new = model.wls(theta, np.where(inl, wv, 0.0))
        if new is None:
            if not metric:
                return fail("degenerate: inlier predictions do not vary", theta)
            break
        theta = new
        r = model.residual(theta)
        sigma = mad_sigma(r[inl])
        new_inl = np.abs(r) <= max(INLIER_SIGMAS * sigma, huber_delta)
        if np.array_equal(new_inl, inl):
            break
        inl = new_inl

    r = model.residual(theta)
    n_in = int(inl.sum())
    inliers[np.flatnonzero(valid)[inl]] = True
    res = mad_sigma(r[inl]) if n_in else math.nan
    scale, shift = model.params(theta)
    if not (math.isfinite(scale) and scale > 0):
        return fail("non-positive scale", theta, n_in, res)
    if n_in < min_points:
        return fail(f"too few inliers ({n_in} < {min_points})", theta, n_in, res)
    if n_in < min_inlier_fraction * n:
        return fail(f"inlier fraction {n_in / n:.2f} < {min_inlier_fraction:.2f}", theta, n_in, res)
    if not res <= max_residual:
        return fail(f"residual {res:.2f} > {max_residual:.2f}", theta, n_in, res)
    if not metric:
        bad = int(np.count_nonzero(~(scale * pv + shift > 0)))
        if bad:
            return fail(f"non-positive implied depth at {bad} of {n} points", theta, n_in, res)
    fit = ScaleFit(scale, shift, k, n, n_in, res, True, "", inliers)
    fit.cov = model.cov(theta, np.where(inl, wv, 0.0), res)
    return fit


def apply_fit(pred_map: np.ndarray, fit: AffineScale, max_depth: float, out: np.ndarray | None = None) -> np.ndarray:
    """Metric depth (float32 metres) from network output (an (H, W) map or (M,) samples).

    NaN where the implied depth is non-positive or the input is not finite; values above
    ``max_depth`` are clipped to it. ``out`` (float32, same shape) avoids an allocation.
    """
    k = as_output_kind(fit.kind)
    s, t = float(fit.scale), float(fit.shift)
    if not (math.isfinite(s) and s > 0 and math.isfinite(t)):
        raise InvalidInputError(f"cannot apply a fit with scale={fit.scale} shift={fit.shift}")
    if not max_depth > 0:
        raise InvalidInputError(f"max_depth must be > 0, got {max_depth}")
    pred = np.asarray(pred_map)
    if pred.ndim not in (1, 2):
        raise InvalidInputError(f"pred_map must be (H, W) or (M,), got shape {pred.shape}")
    if pred.dtype != np.float32:
        pred = pred.astype(np.float32)
    if out is None:
        out = np.empty(pred.shape, np.float32)
    elif out.shape != pred.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise InvalidInputError(f"out must be contiguous float32 {pred.shape}, got {out.dtype} {out.shape}")
    if out.size == 0:
        return out
    # Each full-resolution pass costs ~50-100 us here; cv2.threshold(TRUNC) = min(x, thr) is the
    # cheapest clip (NaN stays NaN), and the NaN mask is built only when a pixel needs it.
    if k is OutputKind.METRIC:
        np.multiply(pred, s, out=out)
        bad = None if out.min() > 0 else ~(out > 0)
    else:
        # depth = (1/s) / (pred + t/s)
        np.add(pred, t / s, out=out)
        bad = None if out.min() > 0 else ~(out > 0)
        if bad is None:
            np.divide(1.0 / s, out, out=out)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                np.divide(1.0 / s, out, out=out)
    flat = out if out.ndim == 2 else out.reshape(1, -1)
    cv2.threshold(flat, float(max_depth), 0.0, cv2.THRESH_TRUNC, dst=flat)
    if bad is not None:
        out[bad] = np.nan
    return out
