"""Ground-plane depth prior (GEDepth idea): metric scale from camera height and gravity.

With gravity ``g`` (unit, DOWN) in the camera optical frame and the camera `camera_height`
metres above a flat ground, the ground is the plane ``{P : g . P = camera_height}``. A pixel
with normalised ray ``r = (x/z, y/z, 1)`` hits it at optical depth ``z = h / (g . r)`` when
``g . r > 0`` (below the horizon). Where the network's depth agrees with this prior up to one
unknown scale (or, for inverse-depth networks, an affine map of inverse depth), the pixel is
ground, and those pixels give the metric scale without any range sensor.

Scale conventions (what `ground_scale` returns, to be used only when ``ok``):
* kind ``OutputKind.METRIC`` (pred is depth up to scale): ``depth = scale * pred``, shift = 0.
* kind ``OutputKind.RELATIVE_INVERSE`` (pred is relative inverse depth / disparity):
  ``1 / depth = scale * pred + shift``.
(the same conventions as `depth_ros.core.scale.fit_scale`, which can take the correspondences).

Accuracy: a tilt error of delta radians changes the prior at ground distance d by about
``d / camera_height * delta`` (relative); 0.1 deg at 1.2 m height is 1.5 % at 10 m and 3 % at
20 m, which is why correspondences stop at `max_depth` = 20 m by default. A wrong height
scales the prior 1:1, and the IMU-to-camera rotation must be calibrated to the same angle.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.imu import unit_gravity
from depth_ros.core.output_kind import OutputKind, as_output_kind


def _check_height(camera_height: float) -> float:
    h = float(camera_height)
    if not (math.isfinite(h) and h > 0.0):
        raise InvalidInputError(f"camera_height must be a positive number of metres, got {camera_height}")
    return h


def ground_depth_prior(
    camera: CameraModel, gravity_optical: np.ndarray, camera_height: float, max_depth: float = 50.0
) -> np.ndarray:
    """(H, W) float32 optical depth of the ground plane per pixel; NaN above the horizon.

    Uses `camera.rays` (lens distortion included). Pixels whose ground depth exceeds
    `max_depth` (rays grazing the horizon) are NaN too.
    """
    g = unit_gravity(gravity_optical).astype(np.float32)
    h = _check_height(camera_height)
    if not max_depth > 0:
        raise InvalidInputError(f"max_depth must be > 0, got {max_depth}")
    rays = camera.rays
    denom = g[0] * rays.x + g[1] * rays.y + g[2]
    denom = np.broadcast_to(denom, (camera.height, camera.width))
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.float32(h) / denom
    depth[~(denom > 0) | ~(depth <= max_depth)] = np.nan
    return depth


class GroundPrior:
    """`ground_depth_prior` with a cache: recomputed only when the camera changes, gravity
    turns by more than `angle_tolerance_rad` or the height changes by more than
    `height_tolerance` metres. The returned array is read-only and shared between calls.
    """

    def __init__(
        self,
        max_depth: float = 50.0,
        angle_tolerance_rad: float = math.radians(0.05),
        height_tolerance: float = 0.005,
    ) -> None:
        if not max_depth > 0:
            raise InvalidInputError(f"max_depth must be > 0, got {max_depth}")
        self.max_depth = float(max_depth)
        self.cos_tolerance = math.cos(float(angle_tolerance_rad))
        self.height_tolerance = float(height_tolerance)
        self.recomputes = 0
        self._key: tuple[CameraModel, np.ndarray, float] | None = None
        self._prior: np.ndarray | None = None

    def get(self, camera: CameraModel, gravity_optical: np.ndarray, camera_height: float) -> np.ndarray:
        g = unit_gravity(gravity_optical)
        h = _check_height(camera_height)
        key = self._key
        if (
            key is not None
            and key[0] == camera
            and float(key[1] @ g) >= self.cos_tolerance
            and abs(key[2] - h) <= self.height_tolerance
        ):
            return self._prior  # type: ignore[return-value]
        prior = ground_depth_prior(camera, g, h, self.max_depth)
        prior.setflags(write=False)
        self._key, self._prior = (camera, g, h), prior
        self.recomputes += 1
        return prior


class GroundCorrespondences(NamedTuple):
    uv: np.ndarray
    """(M, 2) float64 pixel coordinates (u = column, v = row) of ground pixels in pred's image."""
    target_depth: np.ndarray
    """(M,) float64 metric ground depth (the prior) at those pixels."""
    inlier_fraction: float
    """Ground inliers / candidate pixels (finite prior and prediction), 0 when none."""


class GroundScale(NamedTuple):
    scale: float
    shift: float
    n_inliers: int
    ok: bool
    reason: str


class _Fit(NamedTuple):
    rows: np.ndarray
    cols: np.ndarray
    target: np.ndarray
    n_candidates: int
    scale: float
    shift: float
    reason: str


def _densest_window_centre(values: np.ndarray, half_width: float) -> float:
    """Centre (median) of the width-2*half_width window holding the most values."""
    s = np.sort(values)
    ends = np.searchsorted(s, s + 2.0 * half_width, side="right")
    i = int(np.argmax(ends - np.arange(s.size)))
    return float(np.median(s[i : ends[i]]))


def _fit_metric(pred: np.ndarray, prior: np.ndarray, tolerance: float) -> tuple[np.ndarray, float, float]:
    log_ratio = np.log(prior) - np.log(pred)
    centre = _densest_window_centre(log_ratio, tolerance)
    for _ in range(2):
        inliers = np.abs(log_ratio - centre) <= tolerance
        centre = float(np.median(log_ratio[inliers]))
    return np.abs(log_ratio - centre) <= tolerance, math.exp(centre), 0.0


def _fit_inverse(
    pred: np.ndarray, prior: np.ndarray, tolerance: float, hypotheses: int, seed: int
) -> tuple[np.ndarray, float, float]:
    """RANSAC line 1/prior = a * pred + b (a > 0), residuals relative to 1/prior."""
    x = pred.astype(np.float64)
    y = 1.0 / prior.astype(np.float64)
    n = x.size
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, size=(2, hypotheses))
    dx = x[i] - x[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (y[i] - y[j]) / dx
    b = y[i] - a * x[i]
    good = np.isfinite(a) & (a > 0) & (np.abs(dx) > 1e-9 * (np.abs(x[i]) + 1e-12))
    if not good.any():
        return np.zeros(n, dtype=bool), math.nan, math.nan
    a, b = a[good], b[good]
    # Score on an evenly spread subset: keeps the (hypotheses x points) matrix small.
    sub = np.linspace(0, n - 1, min(n, 1024)).astype(np.intp)
    xs, ys = x[sub], y[sub]
    counts = (np.abs(a[:, None] * xs[None, :] + b[:, None] - ys[None, :]) <= tolerance * ys[None, :]).sum(axis=1)
    k = int(np.argmax(counts))
    a_best, b_best = float(a[k]), float(b[k])
    inliers = np.abs(a_best * x + b_best - y) <= tolerance * y
    for _ in range(2):
        if inliers.sum() < 2:
            break
        # Least squares of the relative residual: [x/y, 1/y] @ [a, b] = 1.
        A = np.column_stack([x[inliers] / y[inliers], 1.0 / y[inliers]])
        (a_ls, b_ls), *_ = np.linalg.lstsq(A, np.ones(A.shape[0]), rcond=None)
        if not a_ls > 0:
            break
        a_best, b_best = float(a_ls), float(b_ls)
        inliers = np.abs(a_best * x + b_best - y) <= tolerance * y
    return inliers, a_best, b_best


def _ground_fit(
    pred: np.ndarray,
    prior: np.ndarray,
    kind: OutputKind | str,
    step: int,
    tolerance: float,
    max_depth: float | None,
    min_row_fraction: float,
    hypotheses: int,
    seed: int,
) -> _Fit:
    metric = as_output_kind(kind) is OutputKind.METRIC
    pred = np.asarray(pred)
    prior = np.asarray(prior)
    if pred.ndim != 2 or pred.shape != prior.shape:
        raise InvalidInputError(
            f"pred and prior must be (H, W) arrays of the same shape, got {pred.shape} and {prior.shape}"
        )
    if int(step) < 1:
        raise InvalidInputError(f"step must be >= 1, got {step}")
    if not tolerance > 0:
        raise InvalidInputError(f"tolerance must be > 0, got {tolerance}")
    step = int(step)
    row0 = int(math.ceil(min(max(min_row_fraction, 0.0), 1.0) * pred.shape[0]))
    row0 += (-row0) % step  # stay on the same grid whatever the fraction
    p = prior[row0::step, ::step]
    d = pred[row0::step, ::step]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(p) & np.isfinite(d) & (p > 0)
        if metric:
            valid &= d > 0
        if max_depth is not None:
            valid &= p <= max_depth
    rr, cc = np.nonzero(valid)
    empty = np.zeros(0, dtype=np.intp)
    if rr.size < 2:
        return _Fit(empty, empty, np.zeros(0), int(rr.size), math.nan, math.nan,
                    f"no ground candidates ({rr.size} pixels with a finite prior and prediction)")
    pv, dv = p[rr, cc], d[rr, cc]
    if metric:
        inliers, scale, shift = _fit_metric(dv, pv, tolerance)
    else:
        inliers, scale, shift = _fit_inverse(dv, pv, tolerance, hypotheses, seed)
    return _Fit(
        rr[inliers] * step + row0,
        cc[inliers] * step,
        pv[inliers].astype(np.float64),
        int(rr.size),
        scale,
        shift,
        "",
    )


def ground_correspondences(
    pred: np.ndarray,
    prior: np.ndarray,
    kind: OutputKind | str = OutputKind.METRIC,
    *,
    step: int = 4,
    tolerance: float = 0.05,
    max_points: int = 500,
    max_depth: float | None = 20.0,
    min_row_fraction: float = 0.0,
    hypotheses: int = 128,
    seed: int = 0,
) -> GroundCorrespondences:
    """Pixels where the prediction agrees with the ground prior up to the unknown scale.

    Works on every `step`-th pixel (rows and columns) with a finite prior, nearer than
    `max_depth` metres and at or below `min_row_fraction` of the image height; `pred` and
    `prior` must have the same (H, W) (build the prior from `camera.scaled(W, H)`). METRIC: the dominant mode of
    log(prior / pred), inliers within `tolerance`. RELATIVE_INVERSE: a RANSAC line
    1/prior = a * pred + b, inliers within `tolerance` relative inverse depth. At most
    `max_points` inliers come back, evenly spread over the raster order (deterministic).
    """
    fit = _ground_fit(pred, prior, kind, step, tolerance, max_depth, min_row_fraction, hypotheses, seed)
    n = fit.rows.size
    keep = np.arange(n) if n <= max_points else np.unique(np.linspace(0, n - 1, max_points).round().astype(np.intp))
    uv = np.column_stack([fit.cols[keep], fit.rows[keep]]).astype(np.float64)
    fraction = n / fit.n_candidates if fit.n_candidates else 0.0
    return GroundCorrespondences(uv, fit.target[keep], float(fraction))


def ground_scale(
    pred: np.ndarray,
    prior: np.ndarray,
    kind: OutputKind | str = OutputKind.METRIC,
    *,
    min_inliers: int = 50,
    min_inlier_fraction: float = 0.2,
    step: int = 4,
    tolerance: float = 0.05,
    max_depth: float | None = 20.0,
    min_row_fraction: float = 0.0,
    hypotheses: int = 128,
    seed: int = 0,
) -> GroundScale:
    """Scale (and shift for RELATIVE_INVERSE) from the ground alone; NaN scale/shift unless ok.

    METRIC: depth = scale * pred. RELATIVE_INVERSE: 1 / depth = scale * pred + shift.
    n_inliers counts ground pixels on the `step` grid.
    """
    fit = _ground_fit(pred, prior, kind, step, tolerance, max_depth, min_row_fraction, hypotheses, seed)
    n = int(fit.rows.size)
    if fit.reason:
        return GroundScale(math.nan, math.nan, n, False, fit.reason)
    fraction = n / fit.n_candidates
    if n < min_inliers:
        reason = f"too few ground inliers ({n} < {min_inliers} of {fit.n_candidates} candidates)"
    elif fraction < min_inlier_fraction:
        reason = f"no dominant ground plane (inlier fraction {fraction:.2f} < {min_inlier_fraction})"
    elif not (math.isfinite(fit.scale) and fit.scale > 0 and math.isfinite(fit.shift)):
        reason = f"degenerate ground fit (scale {fit.scale}, shift {fit.shift})"
    else:
        return GroundScale(fit.scale, fit.shift, n, True, "ok")
    return GroundScale(math.nan, math.nan, n, False, reason)
