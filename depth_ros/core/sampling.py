"""Robust sampling of an image at sparse points (radar returns, ground pixels)."""

from __future__ import annotations

import functools

import numpy as np

from depth_ros.core.errors import InvalidInputError


@functools.lru_cache(maxsize=8)
def _window_offsets(window: int) -> tuple[np.ndarray, np.ndarray]:
    half = window // 2
    dv, du = np.mgrid[-half : half + 1, -half : half + 1]
    dv, du = dv.reshape(1, -1), du.reshape(1, -1)
    dv.setflags(write=False)
    du.setflags(write=False)
    return dv, du


def window_median(image: np.ndarray, uv: np.ndarray, window: int = 5, positive: bool = True) -> np.ndarray:
    """Median of the valid pixels in a `window` x `window` box around each rounded point, (M,) float64.

    `uv` is (M, 2) pixel coordinates (u = column, v = row; integers are pixel centres). Valid =
    finite, and > 0 when `positive` (depth maps; inverse maps may hold valid zeros). Boxes are
    clipped at the image border. NaN for points outside the image or without a valid pixel. A box
    median is robust to a point landing a pixel or two off an object's edge.
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise InvalidInputError(f"image must be (H, W), got shape {img.shape}")
    pts = np.asarray(uv, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InvalidInputError(f"uv must be (M, 2), got shape {pts.shape}")
    if int(window) != window or window < 1 or window % 2 == 0:
        raise InvalidInputError(f"window must be a positive odd number of pixels, got {window}")
    m = pts.shape[0]
    if m == 0:
        return np.empty(0, np.float64)
    h, w = img.shape
    with np.errstate(invalid="ignore"):
        px = np.rint(pts)
        inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)  # NaN: False
    px[~inside] = 0
    px = px.astype(np.intp)
    dv, du = _window_offsets(int(window))
    rows, cols = px[:, 1:] + dv, px[:, :1] + du
    in_box = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    vals = img[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)].astype(np.float64)
    with np.errstate(invalid="ignore"):
        ok = ((vals > 0) & (vals < np.inf) if positive else np.isfinite(vals)) & in_box
    vals[~ok] = np.inf
    vals.sort(axis=1)
    count = ok.sum(axis=1)
    idx = np.arange(m)
    med = 0.5 * (vals[idx, np.maximum(count - 1, 0) // 2] + vals[idx, np.maximum(count, 1) // 2])
    med[(count == 0) | ~inside] = np.nan
    return med
