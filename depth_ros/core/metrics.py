"""Monocular depth evaluation metrics (Eigen et al. 2014; KITTI depth benchmark).

Over the N valid pixels, with p = predicted depth, g = ground-truth depth (metres) and
d = ln(p) - ln(g):

- absrel   = mean(|p - g| / g)
- sqrel    = mean((p - g)^2 / g)
- rmse     = sqrt(mean((p - g)^2))
- rmse_log = sqrt(mean(d^2))                      (natural log)
- log10    = mean(|log10(p) - log10(g)|)
- silog    = 100 * sqrt(mean(d^2) - mean(d)^2)    (KITTI / BTS form, lambda = 1; computed as
             100 * sqrt(mean((d - mean(d))^2)), the same value without cancellation error).
             It is invariant to a global scale of p.
- deltaK   = fraction of pixels with max(p/g, g/p) < 1.25^K, K = 1, 2, 3 (strict).
- count    = N.

A pixel is valid when it is in the optional `valid` mask AND gt is finite with
min_depth < gt <= max_depth AND pred is finite and > 0. No valid pixel gives NaN metrics with
count 0 (no warning, no exception).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np

from depth_ros.core.errors import InvalidInputError

DELTA_BASE = 1.25
DEFAULT_BINS: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, math.inf)
_MEAN_FIELDS = ("absrel", "sqrel", "log10", "delta1", "delta2", "delta3", "log_mean")


@dataclass(frozen=True)
class DepthMetrics:
    """Depth error metrics over `count` valid pixels (definitions in the module docstring).

    `log_mean` = mean(ln p - ln g) is the log scale bias (exp(log_mean) is the geometric-mean
    ratio pred/gt). It is not a benchmark column (`to_dict` leaves it out); it is kept so that
    pixel-weighted aggregation of SILog is exact.
    """

    absrel: float
    sqrel: float
    rmse: float
    rmse_log: float
    log10: float
    silog: float
    delta1: float
    delta2: float
    delta3: float
    count: int
    log_mean: float = math.nan

    @classmethod
    def empty(cls) -> DepthMetrics:
        """Metrics of an empty pixel set: every value NaN, count 0."""
        nan = math.nan
        return cls(nan, nan, nan, nan, nan, nan, nan, nan, nan, 0, nan)

    def to_dict(self) -> dict[str, float]:
        """The benchmark columns: absrel, sqrel, rmse, rmse_log, log10, silog, delta1-3, count."""
        out = asdict(self)
        del out["log_mean"]
        return out


def valid_mask(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    min_depth: float = 1e-3,
    max_depth: float = math.inf,
) -> np.ndarray:
    """Boolean mask of the pixels that metrics use (see module docstring)."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise InvalidInputError(f"pred shape {pred.shape} differs from gt shape {gt.shape}")
    if not min_depth < max_depth:
        raise InvalidInputError(f"need min_depth < max_depth, got {min_depth} and {max_depth}")
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(gt) & (gt > min_depth) & (gt <= max_depth) & np.isfinite(pred) & (pred > 0)
    if valid is not None:
        valid = np.asarray(valid)
        if valid.shape != gt.shape:
            raise InvalidInputError(f"valid mask shape {valid.shape} differs from gt shape {gt.shape}")
        mask &= valid.astype(bool)
    return mask


def _metrics_of(p: np.ndarray, g: np.ndarray) -> DepthMetrics:
    """Metrics of 1-D float64 arrays of valid pixels."""
    n = int(p.size)
    if n == 0:
        return DepthMetrics.empty()
    diff = p - g
    d = np.log(p) - np.log(g)
    log_mean = float(d.mean())
    ratio = np.maximum(p / g, g / p)
    return DepthMetrics(
        absrel=float(np.mean(np.abs(diff) / g)),
        sqrel=float(np.mean(diff * diff / g)),
        rmse=float(np.sqrt(np.mean(diff * diff))),
        rmse_log=float(np.sqrt(np.mean(d * d))),
        log10=float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        silog=float(100.0 * np.sqrt(np.mean((d - log_mean) ** 2))),
        delta1=float(np.mean(ratio < DELTA_BASE)),
        delta2=float(np.mean(ratio < DELTA_BASE**2)),
        delta3=float(np.mean(ratio < DELTA_BASE**3)),
        count=n,
        log_mean=log_mean,
    )


def depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    min_depth: float = 1e-3,
    max_depth: float = math.inf,
) -> DepthMetrics:
    """Metrics of `pred` against `gt` (same shape, metres) over the valid pixels."""
    mask = valid_mask(pred, gt, valid, min_depth, max_depth)
    return _metrics_of(np.asarray(pred, np.float64)[mask], np.asarray(gt, np.float64)[mask])


def binned_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    bins: Sequence[float] = DEFAULT_BINS,
    valid: np.ndarray | None = None,
    min_depth: float = 1e-3,
    max_depth: float = math.inf,
) -> list[tuple[float, float, DepthMetrics]]:
    """Metrics per GT depth range (lo, hi] for consecutive edges of `bins`.

    The ranges partition the valid pixels that lie in (bins[0], bins[-1]], so with the default
    edges the counts add up to `depth_metrics(...).count`.
    """
    edges = [float(b) for b in bins]
    if len(edges) < 2 or any(math.isnan(e) for e in edges) or any(a >= b for a, b in zip(edges, edges[1:])):
        raise InvalidInputError(f"bins must be at least two strictly increasing edges, got {tuple(bins)}")
    mask = valid_mask(pred, gt, valid, min_depth, max_depth)
    p = np.asarray(pred, np.float64)[mask]
    g = np.asarray(gt, np.float64)[mask]
    out = []
    for lo, hi in zip(edges, edges[1:]):
        sel = (g > lo) & (g <= hi)
        out.append((lo, hi, _metrics_of(p[sel], g[sel])))
    return out


def aggregate(
    metrics: Sequence[DepthMetrics], weights: Literal["frames", "pixels"] = "frames"
) -> DepthMetrics:
    """Combine per-frame metrics; frames with count 0 are skipped; `count` is the total.

    - "frames": every metric is the plain mean over frames (the usual benchmark table).
    - "pixels": the metrics of all frames' pixels pooled together, exactly: means are
      count-weighted, rmse and rmse_log are square roots of count-weighted mean squares, and
      silog is pooled from rmse_log and log_mean.
    """
    if weights not in ("frames", "pixels"):
        raise InvalidInputError(f"weights must be 'frames' or 'pixels', got {weights!r}")
    frames = [m for m in metrics if m.count > 0]
    if not frames:
        return DepthMetrics.empty()
    total = sum(m.count for m in frames)
    names = [f.name for f in fields(DepthMetrics) if f.name != "count"]
    if weights == "frames":
        values = {name: float(np.mean([getattr(m, name) for m in frames])) for name in names}
        return DepthMetrics(**values, count=total)

    w = np.array([m.count for m in frames], dtype=np.float64) / total
    values = {name: float(np.dot(w, [getattr(m, name) for m in frames])) for name in _MEAN_FIELDS}
    mean_sq_err = float(np.dot(w, [m.rmse**2 for m in frames]))
    mean_sq_log = float(np.dot(w, [m.rmse_log**2 for m in frames]))
    values["rmse"] = math.sqrt(mean_sq_err)
    values["rmse_log"] = math.sqrt(mean_sq_log)
    values["silog"] = 100.0 * math.sqrt(max(0.0, mean_sq_log - values["log_mean"] ** 2))
    return DepthMetrics(**values, count=total)


def median_scale(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None = None,
    min_depth: float = 1e-3,
    max_depth: float = math.inf,
) -> float:
    """Oracle global scale median(gt) / median(pred) over the valid pixels (NaN if none).

    Multiply `pred` by it to evaluate a relative-depth model with per-image median scaling.
    """
    mask = valid_mask(pred, gt, valid, min_depth, max_depth)
    if not mask.any():
        return math.nan
    return float(np.median(np.asarray(gt, np.float64)[mask]) / np.median(np.asarray(pred, np.float64)[mask]))
