"""Spatially varying, edge-aware log-scale correction of a globally aligned depth map.

Monocular networks are often locally wrong (one wall too near, the floor too far) even after a
good global alignment. Given the globally aligned depth D and metric points, `ScaleMapper`
builds a smooth per-pixel log-scale correction c so that ``D * exp(c)`` matches the points
locally and relaxes to the global alignment (c -> 0) away from them.

At each low-resolution cell p (cell centres on OpenCV's ``cv2.resize`` grid, so the linear
upsampling puts every value back where it was computed)::

    c(p) = sum_i w_i(p) r_i / (prior_weight + sum_i w_i(p))
    w_i(p) = a_i * exp(-|p - x_i|^2 / (2 sigma_px^2)) * exp(-(ln D(p) - ln D(x_i))^2 / (2 depth_sigma^2))

with ``r_i = clip(ln(target_i / D(x_i)), ±max_correction)``, D sampled at each point as the
median of a small window (robust to the point landing on an edge pixel) and ``a_i`` the
optional point weights. The ``prior_weight`` acts as a virtual point with residual 0 everywhere:
one point moves only its neighbourhood, and far from all points c -> 0. The second (joint
bilateral) factor keeps a point's correction on surfaces whose depth is similar to the depth at
the point, so it does not leak across depth discontinuities. Cells where D is invalid get c = 0.

With a colour image of the frame (``guide``) and a finite ``colour_sigma``, a third factor
``exp(-|C(p) - C(x_i)|^2 / (2 colour_sigma^2))`` also keeps the correction on colours similar to the
point's: C is CIELAB / 100 of the image averaged over each cell (``cv2.INTER_AREA``), at the points
interpolated bilinearly between cells. A network's depth edges are blurred and often off the object's
outline; the image's edges are where the object ends.

Pass only trustworthy points (e.g. the inliers of `fit_scale`): an outlier would bend its
neighbourhood by up to ``max_correction``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.scale import MAD_TO_SIGMA as MAD_SIGMA
from depth_ros.core.scale import median, sample_at


class Consistency(NamedTuple):
    """Result of `ScaleMapper.consistency`: per-point weights and the leave-one-out gain."""

    weights: np.ndarray
    gain: float


class ColourGuide:
    """The frame's colours on a mapper's coarse grid: CIELAB / 100 averaged over each cell.

    Made once per frame (`from_rgb`) and shared by every `ScaleMapper` of the same ``downsample``;
    the mappers also take the RGB image itself and make one per call.
    """

    def __init__(self, lab: np.ndarray, full_shape: tuple[int, int]) -> None:
        self.lab = np.ascontiguousarray(lab, dtype=np.float32)  # (h, w, 3)
        self.lab_by_rows = np.ascontiguousarray(self.lab.transpose(0, 2, 1))  # (h, 3, w)
        self.full_shape = (int(full_shape[0]), int(full_shape[1]))

    @classmethod
    def from_rgb(cls, rgb: np.ndarray, downsample: int) -> ColourGuide:
        """From an (H, W, 3) uint8 RGB image, for mappers of this ``downsample``."""
        g = np.asarray(rgb)
        if g.ndim != 3 or g.shape[2] != 3 or g.dtype != np.uint8:
            raise InvalidInputError(f"guide must be an (H, W, 3) uint8 RGB image, got {g.dtype} {g.shape}")
        height, width = g.shape[:2]
        h, w = max(1, -(-height // downsample)), max(1, -(-width // downsample))
        small = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        small *= np.float32(1.0 / 255.0)
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab)
        lab *= np.float32(0.01)
        return cls(lab, (height, width))


class ScaleMapper:
    """Edge-aware sparse-to-dense log-scale correction.

    Parameters:
      sigma_px: spatial reach of a point (Gaussian sigma, full-resolution pixels).
      depth_sigma: depth similarity scale (Gaussian sigma on ln D; 0.15 ≈ 15 % depth
        difference). ``math.inf`` disables edge awareness.
      prior_weight: weight of the pull toward 0, in units of one point at zero distance and
        equal depth. Right at a lone point c = r / (1 + prior_weight); c has halved where the
        point's weight equals prior_weight.
      downsample: the correction is computed on a grid ``downsample`` times coarser.
      max_correction: clip of each point's log residual (0.5 ≈ x0.61 .. x1.65).
      sample_window: odd window (pixels) of the median that samples D at each point.
      colour_sigma: colour similarity scale (Gaussian sigma on the CIELAB difference / 100, used when
        a ``guide`` image is given; 0.3 ≈ 30 Lab units). ``math.inf`` disables it.

    An instance keeps scratch buffers between calls (the (rows, points, cols) weight block,
    ~1 MB for 640x480 and 60 points): use one instance per thread.
    """

    def __init__(
        self,
        sigma_px: float = 48.0,
        depth_sigma: float = 0.15,
        prior_weight: float = 0.1,
        downsample: int = 8,
        max_correction: float = 0.5,
        sample_window: int = 5,
        colour_sigma: float = math.inf,
    ) -> None:
        if not sigma_px > 0:
            raise InvalidInputError(f"sigma_px must be > 0, got {sigma_px}")
        if not depth_sigma > 0:
            raise InvalidInputError(f"depth_sigma must be > 0 (inf disables it), got {depth_sigma}")
        if not (prior_weight > 0 and math.isfinite(prior_weight)):
            raise InvalidInputError(f"prior_weight must be finite and > 0, got {prior_weight}")
        if int(downsample) != downsample or downsample < 1:
            raise InvalidInputError(f"downsample must be a positive integer, got {downsample}")
        if not max_correction > 0:
            raise InvalidInputError(f"max_correction must be > 0, got {max_correction}")
        if sample_window < 1 or sample_window % 2 == 0:
            raise InvalidInputError(f"sample_window must be a positive odd number, got {sample_window}")
        if not colour_sigma > 0:
            raise InvalidInputError(f"colour_sigma must be > 0 (inf disables it), got {colour_sigma}")
        self.sigma_px = float(sigma_px)
        self.depth_sigma = float(depth_sigma)
        self.prior_weight = float(prior_weight)
        self.downsample = int(downsample)
        self.max_correction = float(max_correction)
        self.sample_window = int(sample_window)
        self.colour_sigma = float(colour_sigma)
        self._grid_key: tuple[int, int] | None = None
        self._work: np.ndarray | None = None
        self._factor: np.ndarray | None = None

    def _grid(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Low-res cell centres (full-res coordinates) and the nearest full-res pixel of each."""
        if self._grid_key != (height, width):
            h = max(1, -(-height // self.downsample))
            w = max(1, -(-width // self.downsample))
            # cv2.resize (w -> W) maps low-res index j to full-res x = (j + 0.5) * W / w - 0.5.
            xs = (np.arange(w) + 0.5) * (width / w) - 0.5
            ys = (np.arange(h) + 0.5) * (height / h) - 0.5
            cols = np.clip(np.rint(xs), 0, width - 1).astype(np.intp)
            rows = np.clip(np.rint(ys), 0, height - 1).astype(np.intp)
            self._cache = (xs, ys, rows, cols)
            self._flat = (rows[:, None] * width + cols[None, :]).ravel()
            self._grid_key = (height, width)
        return self._cache

    def correction_lowres(
        self,
        depth: np.ndarray,
        uv: np.ndarray,
        target: np.ndarray,
        weights: np.ndarray | None = None,
        depth_at_points: np.ndarray | None = None,
        guide: ColourGuide | np.ndarray | None = None,
    ) -> np.ndarray:
        """The log-scale correction on the coarse grid, (ceil(H/ds), ceil(W/ds)) float32.

        ``depth_at_points`` (M,) skips sampling ``depth`` at the points, e.g.
        ``apply_fit(sample_at(pred, uv), fit, max_depth)`` when the network output was already
        sampled for `fit_scale` (the same values for odd-sized valid windows: both maps are
        monotone in each other). ``guide``: the frame's (H, W, 3) uint8 RGB image, or a
        `ColourGuide` of it, for the colour factor (module doc; ignored while ``colour_sigma`` is inf).
        """
        d = np.asarray(depth)
        if d.ndim != 2:
            raise InvalidInputError(f"depth must be (H, W), got shape {d.shape}")
        pts = np.asarray(uv, dtype=np.float64)
        tgt = np.asarray(target, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise InvalidInputError(f"uv must be (M, 2), got shape {pts.shape}")
        if tgt.shape != (pts.shape[0],):
            raise InvalidInputError(f"target must have shape ({pts.shape[0]},), got {tgt.shape}")
        if weights is None:
            a = np.ones(pts.shape[0])
        else:
            a = np.asarray(weights, dtype=np.float64)
            if a.shape != tgt.shape:
                raise InvalidInputError(f"weights must have shape {tgt.shape}, got {a.shape}")
        height, width = d.shape
        xs, ys, rows, cols = self._grid(height, width)
        out = np.zeros((ys.size, xs.size), np.float32)
        if pts.shape[0] == 0:
            return out
        if depth_at_points is None:
            d_pts = sample_at(d, pts, self.sample_window)
        else:
            d_pts = np.asarray(depth_at_points, dtype=np.float64)
            if d_pts.shape != tgt.shape:
                raise InvalidInputError(f"depth_at_points must have shape {tgt.shape}, got {d_pts.shape}")
        ok = (d_pts > 0) & (d_pts < np.inf) & (tgt > 0) & (tgt < np.inf) & (a > 0) & (a < np.inf)
        if not ok.any():
            return out
        pts, tgt, a, d_pts = pts[ok], tgt[ok], a[ok], d_pts[ok]
        r = np.clip(np.log(tgt / d_pts), -self.max_correction, self.max_correction)

        # w_i(p) = gy_i(y) * exp(ex_i(x) - (L(p) - L_i)^2), L = ln D * sqrt(0.5) / depth_sigma.
        # The exponent lives in one (rows, points * cols) float32 block (row y holds point i's
        # cols at [i * w, (i + 1) * w)), so every elementwise pass runs on long contiguous rows;
        # gy_i(y) folds into one batched product per row: num(y, :) = sum_i r_i gy_i(y) W(y, i, :).
        h, w, m = ys.size, xs.size, pts.shape[0]
        k_sp = -0.5 / self.sigma_px**2
        # Exponents are clamped so that no weight is a float32 denormal (denormals make exp and
        # the product ~10x slower): spatial terms >= -30 on the small arrays, the squared depth
        # difference <= 50 with one cheap cv2.threshold pass. exp(-80) is still ~0 next to
        # prior_weight.
        ex = k_sp * (xs[None, :] - pts[:, :1]) ** 2
        if weights is not None:
            ex += np.log(a)[:, None]
        ex = np.maximum(ex, -30.0).astype(np.float32).reshape(1, -1)
        gy = np.exp(np.maximum(k_sp * (ys[:, None] - pts[None, :, 1]) ** 2, -30.0))  # (h, M)
        if self._work is None or self._work.size < h * m * w:
            # Kept between calls: a fresh 1 MB block costs more in page faults than the arithmetic.
            self._work = np.empty(h * max(m, 64) * w, np.float32)
        e = self._work[: h * m * w].reshape(h, m * w)
        if math.isinf(self.depth_sigma):
            e[:] = ex
        else:
            s_d = math.sqrt(0.5) / self.depth_sigma
            low = np.take(d, self._flat) if d.flags.c_contiguous else d[rows[:, None], cols[None, :]].ravel()
            bad = ~(low > 0)  # NaN too
            low[bad] = 1.0
            big_l = np.log(low.reshape(h, w), dtype=np.float32)
            big_l *= np.float32(s_d)
            # An invalid cell gets a depth no point is similar to: all weights ~0, so c = 0 there.
            big_l.ravel()[bad] = 1e4
            l_pts = np.repeat((np.log(d_pts) * s_d).astype(np.float32), w)[None, :]
            cv2.repeat(big_l, 1, m, dst=e)
            np.subtract(e, l_pts, out=e)
            np.square(e, out=e)
            cv2.threshold(e, 50.0, 0.0, cv2.THRESH_TRUNC, dst=e)
            np.subtract(ex, e, out=e)
        if guide is not None and not math.isinf(self.colour_sigma):
            np.subtract(e, self._colour_term(guide, pts, (height, width), (h, w)), out=e)
        cv2.exp(e, dst=e)  # ~2x faster than np.exp on float32 here
        coef = np.empty((h, 2, m), np.float32)
        coef[:, 0, :] = gy * r[None, :]
        coef[:, 1, :] = gy
        num_den = coef @ e.reshape(h, m, w)  # (h, 2, w)
        den = num_den[:, 1, :]
        den += np.float32(self.prior_weight)
        np.divide(num_den[:, 0, :], den, out=out)
        return out

    def _colour_term(self, guide: ColourGuide | np.ndarray, pts: np.ndarray, full: tuple[int, int],
                     low: tuple[int, int]) -> np.ndarray:
        """``|C(p) - C(x_i)|^2 / (2 colour_sigma^2)`` (clipped at 50) in the (rows, points * cols) layout."""
        g = guide if isinstance(guide, ColourGuide) else ColourGuide.from_rgb(guide, self.downsample)
        if g.full_shape != full or g.lab.shape[:2] != low:
            raise InvalidInputError(f"guide is for a {g.full_shape[1]}x{g.full_shape[0]} image on a "
                                    f"{g.lab.shape[1]}x{g.lab.shape[0]} grid, not {full[1]}x{full[0]} on {low[1]}x{low[0]}")
        (height, width), (h, w) = full, low
        k = np.float32(1.0 / (math.sqrt(2.0) * self.colour_sigma))
        cells = g.lab_by_rows * k  # (h, 3, w)
        # Grid coordinates of the points (the inverse of the cell-centre mapping in `_grid`).
        map_x = ((pts[:, 0] + 0.5) * (w / width) - 0.5).astype(np.float32)[None, :]
        map_y = ((pts[:, 1] + 0.5) * (h / height) - 0.5).astype(np.float32)[None, :]
        at_pts = cv2.remap(g.lab, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0] * k  # (M, 3)
        term = np.matmul(at_pts[None], cells)  # (h, M, w) dot products
        term *= np.float32(-2.0)
        term += np.einsum("ycx,ycx->yx", cells, cells)[:, None, :]
        term += np.einsum("ic,ic->i", at_pts, at_pts)[None, :, None]
        np.clip(term, 0.0, 50.0, out=term)
        return term.reshape(h, -1)

    def correction(
        self,
        depth: np.ndarray,
        uv: np.ndarray,
        target: np.ndarray,
        weights: np.ndarray | None = None,
        out: np.ndarray | None = None,
        depth_at_points: np.ndarray | None = None,
        guide: ColourGuide | np.ndarray | None = None,
    ) -> np.ndarray:
        """Per-pixel log-scale correction, (H, W) float32 (zeros without usable points).

        ``depth`` is the globally aligned depth (metres, NaN/<= 0 invalid), ``uv`` (M, 2) pixel
        coordinates (u = column, v = row) of the metric points, ``target`` (M,) their metric
        depth, ``weights`` (M,) optional point confidences. ``out`` (float32 (H, W)) is reused;
        ``depth_at_points`` and ``guide`` as in `correction_lowres`.
        """
        d = np.asarray(depth)
        low = self.correction_lowres(d, uv, target, weights, depth_at_points, guide)
        out = _check_out(out, d.shape)
        if not low.any():
            out.fill(0.0)
            return out
        return cv2.resize(low, (d.shape[1], d.shape[0]), dst=out, interpolation=cv2.INTER_LINEAR)

    def correct(
        self,
        depth: np.ndarray,
        uv: np.ndarray,
        target: np.ndarray,
        weights: np.ndarray | None = None,
        out: np.ndarray | None = None,
        depth_at_points: np.ndarray | None = None,
        guide: ColourGuide | np.ndarray | None = None,
    ) -> np.ndarray:
        """``apply(depth, correction(...))`` in one step, about two full-resolution passes cheaper.

        The factor exp(c) is taken on the coarse grid and upsampled linearly (instead of
        upsampling c), which differs by at most ~Δ²/8 where c jumps by Δ between adjacent
        cells (0.5 % for Δ = 0.2). ``out`` may be ``depth`` itself (then a full-resolution
        scratch buffer is kept in the mapper).
        """
        d = np.asarray(depth)
        factor = self.correction_lowres(d, uv, target, weights, depth_at_points, guide)
        out = _check_out(out, d.shape)
        if not factor.any():
            if out is not d:
                np.copyto(out, d)
            return out
        cv2.exp(factor, dst=factor)
        size = (d.shape[1], d.shape[0])
        if out is d:
            if self._factor is None or self._factor.shape != d.shape:
                self._factor = np.empty(d.shape, np.float32)
            np.multiply(d, cv2.resize(factor, size, dst=self._factor, interpolation=cv2.INTER_LINEAR), out=out)
        else:
            cv2.resize(factor, size, dst=out, interpolation=cv2.INTER_LINEAR)
            np.multiply(out, d, out=out)
        return out

    def consistency(self, uv: np.ndarray, target: np.ndarray, depth_at_points: np.ndarray,
                    weights: np.ndarray | None = None, iterations: int = 3, c: float = 4.0,
                    floor: float = 0.05) -> Consistency:
        """How well each point agrees with its neighbours, and whether correcting with them generalises.

        A point's log residual ``r_i = ln(target_i / D_i)`` is predicted from the other points with
        this mapper's kernel (spatial and depth similarity, ``prior_weight`` pulling towards 0), the
        leave-one-out error ``e_i = r_i - r_hat_i`` is scaled by its robust spread (MAD, at least
        ``floor``) and given Tukey's biweight ``w_i = (1 - (e_i / (c sigma))^2)^2`` (0 beyond
        ``c sigma``), iterated with the weights. Network shape errors are smooth, so true radar
        returns agree with their neighbours; clutter and ghosts do not, and an isolated point is
        judged by its own residual against 0 (the global fit). The weight redescends to exactly 0:
        next to a small ``prior_weight`` even a weight of 0.2 would let a ghost bend its
        neighbourhood most of the way to its own residual.

        ``gain`` = sum(w |e|) / sum(w |r|): the leave-one-out error of the correction relative to no
        correction, weighted by the final weights so that clutter does not decide. A smooth shape
        error gives values far below 1; residuals that are mostly radar noise give values near 1
        (somewhat below, as the weights favour the points that happen to agree).
        """
        pts = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        z = np.asarray(target, dtype=np.float64).reshape(-1)
        d = np.asarray(depth_at_points, dtype=np.float64).reshape(-1)
        if not (pts.shape[0] == z.size == d.size):
            raise InvalidInputError(f"uv, target and depth_at_points differ in length: {pts.shape[0]}, {z.size}, {d.size}")
        out = np.zeros(z.size)
        ok = (z > 0) & (z < np.inf) & (d > 0) & (d < np.inf)
        if weights is not None:
            base = np.asarray(weights, dtype=np.float64).reshape(-1)
            if base.size != z.size:
                raise InvalidInputError(f"weights has length {base.size}, expected {z.size}")
            ok &= (base > 0) & np.isfinite(base)
        if ok.sum() < 2:
            return Consistency(out, math.inf)
        r = np.clip(np.log(z[ok] / d[ok]), -self.max_correction, self.max_correction)
        a0 = np.ones(r.size) if weights is None else base[ok]
        q = pts[ok]
        ln_d = np.log(d[ok])
        dist2 = ((q[:, None, :] - q[None, :, :]) ** 2).sum(axis=2)
        k = -0.5 * dist2 / self.sigma_px**2
        if not math.isinf(self.depth_sigma):
            k -= 0.5 * ((ln_d[:, None] - ln_d[None, :]) / self.depth_sigma) ** 2
        kernel = np.exp(np.maximum(k, -60.0))
        np.fill_diagonal(kernel, 0.0)
        a = a0.copy()
        for _ in range(max(1, int(iterations))):
            kw = kernel * a[None, :]
            e = r - (kw @ r) / (self.prior_weight + kw.sum(axis=1))
            sigma = max(MAD_SIGMA * median(np.abs(e)), floor)
            u2 = np.square(e / (c * sigma))
            a = a0 * np.square(np.maximum(1.0 - u2, 0.0))
        out[ok] = a
        kw = kernel * a[None, :]
        e = r - (kw @ r) / (self.prior_weight + kw.sum(axis=1))
        base_error = float(np.dot(a, np.abs(r)))
        gain = float(np.dot(a, np.abs(e))) / base_error if base_error > 0 else math.inf
        return Consistency(out, gain)

    @staticmethod
    def apply(depth: np.ndarray, correction: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``depth * exp(correction)`` as float32 (NaN stays NaN); ``out`` may be ``depth`` itself."""
        d = np.asarray(depth)
        c = np.asarray(correction, dtype=np.float32)
        if d.shape != c.shape or d.ndim != 2:
            raise InvalidInputError(f"depth {d.shape} and correction {c.shape} must be the same (H, W)")
        out = _check_out(out, d.shape)
        if out is d:
            factor = cv2.exp(c)  # cv2.exp is ~2x faster than np.exp for float32 here
            np.multiply(d, factor, out=out)
        else:
            cv2.exp(c, dst=out)
            np.multiply(out, d, out=out)
        return out


def _check_out(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if out is None:
        return np.empty(shape, np.float32)
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise InvalidInputError(f"out must be a contiguous float32 array of shape {shape}, got {out.dtype} {out.shape}")
    return out
