"""Temporal metrics of a depth stream: consistency between consecutive frames and flicker of a still view.

Temporal consistency error (TCE) of frame t: the previous frame's depth is moved into the current
camera with the true motion (`forward_warp_depth`: every pixel back-projected, transformed,
projected with the full camera model and z-buffered, a forward splat independent of the temporal
filter's backward warp) and compared with the current depth: ``mean |d_t - warp(d_t-1)| / d_t``.
Only pixels that are the same surface in both frames count: those where the ground truth itself,
warped the same way, agrees with the current ground truth within `SAME_SURFACE` (disocclusions and
surfaces entering the view are left out). The ground truth's own TCE over those pixels is the floor
the warp's resampling leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_ros.core.camera import CameraModel

SAME_SURFACE = 0.05  # relative depth difference of the warped and current ground truth on one surface


def forward_warp_depth(depth: np.ndarray, camera: CameraModel, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The depth of a previous frame seen from the current camera (X_cur = R X_prev + t), NaN where no
    point landed; the nearest point wins where several land on one pixel."""
    z = np.asarray(depth, dtype=np.float64)
    ok = np.isfinite(z) & (z > 0)
    r = camera.rays
    x = np.broadcast_to(r.x, z.shape)[ok] * z[ok]
    y = np.broadcast_to(r.y, z.shape)[ok] * z[ok]
    pts = np.stack([x, y, z[ok]], axis=1) @ np.asarray(R, dtype=np.float64).T + np.asarray(t, dtype=np.float64)
    uv, front = camera.project(pts)
    uv_int = np.rint(uv[front]).astype(np.int64)
    zc = pts[front, 2]
    inside = (uv_int[:, 0] >= 0) & (uv_int[:, 0] < camera.width) & (uv_int[:, 1] >= 0) & (uv_int[:, 1] < camera.height)
    out = np.full(z.shape, np.inf)
    np.minimum.at(out, (uv_int[inside, 1], uv_int[inside, 0]), zc[inside])
    out[~np.isfinite(out)] = np.nan
    return out.astype(np.float32)


@dataclass(frozen=True)
class Consistency:
    """TCE of one frame pair: the prediction's, the ground truth's own (floor), pixels compared."""

    tce: float
    tce_gt: float
    pixels: int


def temporal_consistency(depth: np.ndarray, depth_prev: np.ndarray, gt: np.ndarray, gt_prev: np.ndarray,
                         camera: CameraModel, R: np.ndarray, t: np.ndarray) -> Consistency:
    """TCE of `depth` against `depth_prev` moved by the true motion (R, t), on same-surface pixels (module doc)."""
    warped = forward_warp_depth(depth_prev, camera, R, t)
    warped_gt = forward_warp_depth(gt_prev, camera, R, t)
    with np.errstate(invalid="ignore", divide="ignore"):
        same = np.abs(warped_gt - gt) <= SAME_SURFACE * gt
        mask = same & np.isfinite(depth) & (depth > 0) & np.isfinite(warped)
        if not mask.any():
            return Consistency(float("nan"), float("nan"), 0)
        tce = float(np.mean(np.abs(depth[mask] - warped[mask]) / depth[mask]))
        tce_gt = float(np.mean(np.abs(gt[mask] - warped_gt[mask]) / gt[mask]))
    return Consistency(tce, tce_gt, int(mask.sum()))


def flicker(depths: list[np.ndarray]) -> float:
    """Mean over pixels valid in every frame of std / mean of depth: for a window in which the camera is
    (nearly) still, the frame-to-frame noise of a static view; NaN when no pixel is valid throughout."""
    stack = np.stack([np.asarray(d, dtype=np.float64) for d in depths])
    ok = np.all(np.isfinite(stack) & (stack > 0), axis=0)
    if len(depths) < 2 or not ok.any():
        return float("nan")
    v = stack[:, ok]
    return float(np.mean(v.std(axis=0) / v.mean(axis=0)))
