"""Alignment of a depth network to sparse metric points that degrades gracefully instead of rejecting.

On real scenes radar clutter and network shape errors are both larger than on synthetic ones, and a
single residual gate (fit or no fit) publishes unscaled or saturated network depth exactly when the
radar is most needed. `align_points` always returns a usable alignment when at least one point
exists, and says how much to trust it (``quality``) and why (``reason``).

Every candidate is an affine map in inverse depth on the network's *inverse prediction*
``x`` (``x = pred`` for relative-inverse networks, ``x = 1 / pred`` for metric ones)::

    1 / depth = s * x + t,   s > 0

* ``scale`` (t = 0): for a metric network, ``depth = pred / s``: its own shape, radar scale; for a
  relative one, depth proportional to 1 / pred.
* ``affine`` (scale and shift): the relative-network fit of MiDaS / Depth Anything. For a metric
  network it treats the network as relative for this frame, which follows a network that is out of
  its domain and compresses far depths (FastDepth on a street: everything within 5 m).

Steps (log-depth residuals ``r = log(target / implied depth)`` throughout):

1. Fewer than ``min_points`` points: a ``scale`` fit by the median ratio (quality ``few_points``).
2. Both candidates are fitted robustly (`fit_scale`, Huber IRLS and inlier refit) and compared by a
   robust information criterion: ``sum(log(1 + (r / c)^2)) + (k / 2) log(n)`` (Cauchy likelihood at
   the fixed scale ``c = huber_delta``, BIC penalty for the k = 1 or 2 parameters), so the shift is
   used only when the points support it.
3. An affine fit must keep the inverse depth positive with margin over the whole image: at the
   far end of the prediction (``x_far``, e.g. the 1st percentile of x, sky included) it must imply
   a depth no larger than ``far_depth``. A fit that does not is refitted with the shift tied to
   that bound (``t = 1 / far_depth - s * x_far``), so far pixels stay finite and positive.
4. Tolerance: ``max(max_residual, range_tolerance * spread)``, where spread is the robust
   (MAD) standard deviation of the points' log depths: a scene spanning 5-80 m tolerates more shape
   error than a room at 2-4 m.
5. The chosen fit within tolerance (and with at least half the points as inliers): ``full``.
   Otherwise the largest consistent subset (RANSAC consensus at the tolerance) when it holds at
   least ``min_subset_fraction`` of the points and ``min_points``: ``subset``. Otherwise the median
   ``scale`` fit of all points: ``scale_only``.
6. The fit's covariance is inflated by the quality (``QUALITY_NOISE``), so that a temporal filter
   weighs a degraded fit less instead of accepting or rejecting it whole.

Metric networks also get a saturation mask: points where the network sits at its own range limit
(``saturation_depth``) say nothing about its scale and are left out of the fit; the caller marks
those pixels low in the confidence map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.output_kind import OutputKind, as_output_kind
from depth_ros.core.scale import AffineScale, ScaleFit, apply_fit, fit_scale, mad_sigma, median

# Measurement-noise inflation for the temporal filter per quality: a degraded fit moves the filter less.
QUALITY_NOISE = {"full": 1.0, "subset": 2.0, "scale_only": 4.0, "few_points": 8.0}
# Peak confidence per quality (multiplies the confidence map).
QUALITY_CONFIDENCE = {"full": 1.0, "subset": 0.7, "scale_only": 0.5, "few_points": 0.3}
_NO_GATE = 1e9


@dataclass(frozen=True)
class AlignmentConfig:
    """Settings of `align_points` (see the module doc)."""

    min_points: int = 5
    max_residual: float = 0.4
    range_tolerance: float = 0.5
    huber_delta: float = 0.1
    min_subset_fraction: float = 0.3
    saturation_fraction: float = 0.98
    method: str = "huber"

    def __post_init__(self) -> None:
        if self.min_points < 2:
            raise InvalidInputError(f"min_points must be >= 2, got {self.min_points}")
        for name in ("max_residual", "huber_delta"):
            if not getattr(self, name) > 0:
                raise InvalidInputError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.range_tolerance >= 0:
            raise InvalidInputError(f"range_tolerance must be >= 0, got {self.range_tolerance}")
        if not 0 < self.min_subset_fraction <= 1:
            raise InvalidInputError(f"min_subset_fraction must be in (0, 1], got {self.min_subset_fraction}")
        if not 0 < self.saturation_fraction <= 1:
            raise InvalidInputError(f"saturation_fraction must be in (0, 1], got {self.saturation_fraction}")
        if self.method not in ("huber", "ransac"):
            raise InvalidInputError(f"method must be 'huber' or 'ransac', got {self.method!r}")


@dataclass
class Alignment:
    """What `align_points` chose.

    ``fit`` is an inverse-kind `ScaleFit` (``1 / depth = scale * x + shift``) on the network's inverse
    prediction x: the prediction itself, or ``1 / pred`` for a metric network (``reciprocal``); its
    ``inliers`` and ``n_points`` are over the input points, its covariance inflated by the quality
    (a degraded fit moves a temporal filter less). ``saturated`` marks the points left out as
    saturated.
    """

    fit: ScaleFit
    model: str  # "scale" or "affine"
    reciprocal: bool
    quality: str
    reason: str
    tolerance: float
    saturated: np.ndarray
    candidates: dict[str, float] = field(default_factory=dict)  # model -> information criterion

    @property
    def label(self) -> str:
        """Short name for diagnostics, e.g. ``affine (network as relative)``."""
        return f"{self.model}{' (network as relative)' if self.reciprocal and self.model == 'affine' else ''}"

    def apply(self, pred_map: np.ndarray, max_depth: float) -> np.ndarray:
        """Metric depth (float32, NaN where undefined, clipped at ``max_depth``) of a prediction map."""
        return apply_inverse_fit(pred_map, self.fit, self.reciprocal, max_depth)


@dataclass(frozen=True)
class _MetricScale:
    scale: float
    shift: float = 0.0
    kind: OutputKind = OutputKind.METRIC


def apply_inverse_fit(pred_map: np.ndarray, fit: AffineScale, reciprocal: bool, max_depth: float) -> np.ndarray:
    """Depth from an inverse-domain fit or filtered estimate (``1 / depth = scale * x + shift``).

    ``reciprocal``: x is ``1 / pred`` of a metric network; with a zero shift that is ``pred / scale``,
    computed without the reciprocal map.
    """
    if not reciprocal:
        return apply_fit(pred_map, fit, max_depth)
    s, t = float(fit.scale), float(fit.shift)
    if t == 0.0:
        return apply_fit(pred_map, _MetricScale(1.0 / s), max_depth)
    if not (math.isfinite(s) and s > 0 and math.isfinite(t)):
        raise InvalidInputError(f"cannot apply a fit with scale={fit.scale} shift={fit.shift}")
    pred = np.ascontiguousarray(pred_map, dtype=np.float32)
    out = np.empty(pred.shape, np.float32)
    _reciprocal_affine_kernel()(pred.reshape(-1), np.float32(s), np.float32(t), np.float32(max_depth),
                                out.reshape(-1))
    return out


@cache
def _reciprocal_affine_kernel():
    # numba is imported and the kernel loaded on first use: numba's import and JIT cost ~125 MB of
    # RSS, which a node without a relative network (FastDepth alone) never pays.
    import numba  # noqa: PLC0415

    return numba.njit(cache=True, nogil=True)(_reciprocal_affine)


def _reciprocal_affine(pred, s, t, max_depth, out):  # pragma: no cover - compiled
    """out = 1 / (s / pred + t) = pred / (s + t * pred) in one pass; NaN where undefined, <= max_depth."""
    for i in range(pred.size):
        p = pred[i]
        den = s + t * p
        if p > 0 and den > 0:
            d = p / den
            out[i] = d if d < max_depth else max_depth
        else:
            out[i] = np.nan


def _cauchy_ic(r: np.ndarray, c: float, k: int) -> float:
    r = r[np.isfinite(r)]
    n = max(r.size, 1)
    return float(np.sum(np.log1p((r / c) ** 2)) + 0.5 * k * math.log(n))


def _mad(x: np.ndarray) -> float:
    return mad_sigma(x[np.isfinite(x)])


def _inverse_residuals(x: np.ndarray, target: np.ndarray, s: float, t: float) -> np.ndarray:
    y = s * x + t
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.maximum(y, 1e-300)) + np.log(target)
    r[~(y > 0)] = np.inf
    return r


def _scale_fit(x: np.ndarray, target: np.ndarray, config: AlignmentConfig, quality_median: bool = False,
               delta: float | None = None) -> ScaleFit | None:
    """1 / target = s * x (t = 0) as a metric fit of ``target`` on ``1 / x``, converted to the inverse form."""
    with np.errstate(divide="ignore"):
        depth_like = np.where(x > 0, 1.0 / x, np.nan)
    if quality_median:
        ok = np.isfinite(depth_like) & (target > 0)
        if not ok.any():
            return None
        log_s = median(np.log(target[ok]) - np.log(depth_like[ok]))
        inliers = ok.copy()
        res = _mad(np.log(target[ok]) - np.log(depth_like[ok]) - log_s)
        res = res if math.isfinite(res) else 0.0
        fit = ScaleFit(math.exp(-log_s), 0.0, OutputKind.RELATIVE_INVERSE, int(ok.sum()), int(ok.sum()), res, True, "",
                       inliers)
        fit.cov = np.diag([max(res, config.huber_delta) ** 2 / ok.sum(), 0.0])  # at least the Huber scale per point
        return fit
    fit = fit_scale(depth_like, target, OutputKind.METRIC, method=config.method, min_points=1, max_residual=_NO_GATE,
                    huber_delta=delta or config.huber_delta, min_inlier_fraction=0.0)
    if not (math.isfinite(fit.scale) and fit.scale > 0):
        return None
    out = ScaleFit(1.0 / fit.scale, 0.0, OutputKind.RELATIVE_INVERSE, fit.n_points, fit.n_inliers, fit.residual,
                   True, "", fit.inliers)
    cov = np.zeros((2, 2))
    cov[0, 0] = fit.cov[0, 0] if np.isfinite(fit.cov[0, 0]) else (fit.residual or 0.1) ** 2 / max(fit.n_inliers, 1)
    out.cov = cov
    return out


def _affine_fit(x: np.ndarray, target: np.ndarray, config: AlignmentConfig, x_far: float | None,
                far_depth: float, method: str | None = None, delta: float | None = None) -> ScaleFit | None:
    fit = fit_scale(x, target, OutputKind.RELATIVE_INVERSE, method=method or config.method, min_points=2,
                    max_residual=_NO_GATE, huber_delta=delta or config.huber_delta, min_inlier_fraction=0.0)
    if not (math.isfinite(fit.scale) and fit.scale > 0 and math.isfinite(fit.shift)):
        return None
    if fit.reason.startswith("non-positive implied depth"):
        fit.ok = True  # some points behind the fit: the margin below repairs the far end
    if not fit.ok:
        return None
    if x_far is not None and math.isfinite(far_depth) and fit.scale * x_far + fit.shift < 1.0 / far_depth:
        return _tied_shift_fit(x, target, fit, x_far, far_depth)
    if np.any(fit.scale * x[np.isfinite(x)] + fit.shift <= 0):
        return None
    return fit


def _tied_shift_fit(x: np.ndarray, target: np.ndarray, start: ScaleFit, x_far: float,
                    far_depth: float) -> ScaleFit | None:
    """1 / target = s * (x - x_far) + 1 / far_depth, s by Huber IRLS on the relative residual."""
    c0 = 1.0 / far_depth
    ok = np.isfinite(x) & np.isfinite(target) & (target > 0) & (x > x_far)
    if ok.sum() < 1:
        return None
    u, y = x[ok] - x_far, 1.0 / target[ok]
    s = max(median((y - c0) / u), 1e-12)
    for _ in range(10):
        yh = s * u + c0
        r = np.log(yh / y)
        w = np.minimum(1.0, 0.1 / np.maximum(np.abs(r), 1e-12)) / yh**2
        s_new = max(float(np.sum(w * u * (y - c0)) / max(np.sum(w * u * u), 1e-300)), 1e-12)
        if abs(s_new - s) <= 1e-6 * s:
            s = s_new
            break
        s = s_new
    r = _inverse_residuals(x, target, s, c0 - s * x_far)
    sigma = _mad(r[ok])
    inliers = ok & (np.abs(r) <= max(3 * sigma, 0.1))
    fit = ScaleFit(s, c0 - s * x_far, OutputKind.RELATIVE_INVERSE, int(ok.sum()), int(inliers.sum()), sigma, True,
                   f"shift tied to the far limit {far_depth:g} m", inliers)
    fit.cov = start.cov.copy() if np.all(np.isfinite(start.cov)) else np.diag([sigma**2 / max(ok.sum(), 1), 0.0])
    return fit


def align_points(pred: np.ndarray, target: np.ndarray, kind: OutputKind | str, config: AlignmentConfig | None = None,
                 x_far: float | None = None, far_depth: float = math.inf,
                 saturation_depth: float | None = None) -> Alignment | None:
    """Align network samples ``pred`` at points with metric depths ``target`` (see the module doc).

    ``x_far``: the smallest inverse prediction in the image (the far end; for a metric network
    ``1 / largest depth``), where an affine fit must still imply a depth <= ``far_depth``.
    ``saturation_depth``: a metric network's range limit (points at ``saturation_fraction`` of it
    or more are left out). None when no valid point exists.
    """
    cfg = config or AlignmentConfig()
    metric = as_output_kind(kind) is OutputKind.METRIC
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    z = np.asarray(target, dtype=np.float64).reshape(-1)
    if p.shape != z.shape:
        raise InvalidInputError(f"pred and target differ in length: {p.size} != {z.size}")
    valid = np.isfinite(p) & np.isfinite(z) & (z > 0) & ((p > 0) if metric else (p >= 0))
    saturated = np.zeros(p.shape, bool)
    if metric and saturation_depth is not None and math.isfinite(saturation_depth):
        saturated = valid & (p >= cfg.saturation_fraction * saturation_depth)
    use = valid & ~saturated
    if not use.any():
        use = valid  # every point saturated: the network's scale is all there is to fit
        saturated[:] = False
    n = int(use.sum())
    if n == 0:
        return None
    with np.errstate(divide="ignore"):
        x_all = np.where(p > 0, 1.0 / p, np.nan) if metric else p
    x, zt = x_all[use], z[use]
    spread = _mad(np.log(zt))
    tolerance = max(cfg.max_residual, cfg.range_tolerance * (spread if math.isfinite(spread) else 0.0))

    def result(fit: ScaleFit, model: str, quality: str, reason: str, ics: dict[str, float]) -> Alignment:
        fit.cov = np.asarray(fit.cov, dtype=np.float64) * QUALITY_NOISE[quality] ** 2
        fit.ok = True
        inliers = np.zeros(p.shape, bool)
        inliers[np.flatnonzero(use)[fit.inliers]] = True  # every fit here has inliers over the used points
        fit.inliers, fit.n_points = inliers, int(valid.sum())
        return Alignment(fit, model, metric, quality, reason, tolerance, saturated, ics)

    if n < cfg.min_points:
        fit = _scale_fit(x, zt, cfg, quality_median=True)
        if fit is None:
            return None
        return result(fit, "scale", "few_points", f"only {n} point{'s' if n != 1 else ''} (< {cfg.min_points})", {})

    candidates: dict[str, ScaleFit] = {}
    scale = _scale_fit(x, zt, cfg)
    if scale is not None:
        candidates["scale"] = scale
    affine = _affine_fit(x, zt, cfg, x_far, far_depth)
    if affine is not None:
        candidates["affine"] = affine
    if not candidates:
        fit = _scale_fit(x, zt, cfg, quality_median=True)
        return None if fit is None else result(fit, "scale", "scale_only", "no robust fit converged", {})
    ics = {name: _cauchy_ic(_inverse_residuals(x, zt, f.scale, f.shift), cfg.huber_delta, 1 if name == "scale" else 2)
           for name, f in candidates.items()}
    model = min(ics, key=ics.get)
    fit = candidates[model]
    fraction = fit.n_inliers / n
    if fit.residual <= tolerance and fraction >= 0.5:
        return result(fit, model, "full", "", ics)
    why = (f"residual {fit.residual:.2f} > tolerance {tolerance:.2f}" if fit.residual > tolerance
           else f"inlier fraction {fraction:.2f} < 0.50")
    # The largest consistent subset: RANSAC consensus at the tolerance, then the usual refit.
    if model == "affine":
        sub = _affine_fit(x, zt, cfg, x_far, far_depth, method="ransac", delta=tolerance)
    else:
        sub = _scale_fit(x, zt, cfg, delta=tolerance)
    if sub is not None:
        r_sub = _inverse_residuals(x, zt, sub.scale, sub.shift)
        consistent = np.abs(r_sub) <= tolerance
        n_sub = int(consistent.sum())
        if n_sub >= max(cfg.min_points, math.ceil(cfg.min_subset_fraction * n)):
            refit = (_affine_fit(x[consistent], zt[consistent], cfg, x_far, far_depth) if model == "affine"
                     else _scale_fit(x[consistent], zt[consistent], cfg))
            if refit is not None:
                mask = np.zeros(n, bool)
                mask[np.flatnonzero(consistent)[refit.inliers]] = True
                refit.inliers, refit.n_points = mask, n
                return result(refit, model, "subset", f"{why}: {n_sub} of {n} points consistent", ics)
    fit = _scale_fit(x, zt, cfg, quality_median=True)
    if fit is None:
        return None
    return result(fit, "scale", "scale_only", f"{why}: no consistent subset, median scale of all points", ics)
