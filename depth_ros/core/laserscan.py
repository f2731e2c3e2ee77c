"""Depth image -> planar laser scan (sensor_msgs/LaserScan fields), as depthimage_to_laserscan does
it, plus a gravity mode that takes every pixel between two heights above the floor.

Scan geometry. Beam angles are counter-clockwise about z up with x forward (REP-103): a point to
the camera's right (optical +x) has a negative angle, so ranges[0] (angle_min) looks towards the
image's RIGHT edge and ranges[-1] (angle_max) towards its LEFT edge. angle_min/angle_max are the
angles ``atan2(-x_ray, 1)`` of the last/first column of the centre row (undistorted rays, so lens
distortion is handled); by default there is one beam per image column with a uniform
angle_increment = (angle_max - angle_min) / (W - 1). With `angle_step`, the increment is that
step and angle_max = angle_min + (N - 1) * step is within half a step of the left edge's angle.
Beam k covers the angles within half an increment of angle_min + k * angle_increment.

Modes.
* Row band (default, depthimage_to_laserscan): rows ``int(cy - n/2) .. + n - 1`` (n =
  `scan_height_rows`). The scan frame is the camera's body frame (x = optical z, y = -optical x,
  z = -optical y). Column u goes into the beam covering its centre-row angle, with the planar
  range ``sqrt(x^2 + z^2)`` of each of its band pixels. Column angles of a pinhole camera are not
  uniform (atan of a linear function): near the image centre the column pitch 1/fx exceeds the
  uniform increment, so a few beams cover no column; such a beam takes the nearest column (by
  angle). Every column goes into exactly one beam.
* Gravity band (`use_gravity_band`): every pixel whose point lies within `height_band` metres above
  the floor (camera_height - p . g, g = unit DOWN vector in the optical frame) goes into the beam
  covering its azimuth, with its horizontal range, both in the gravity-aligned frame of
  `depth_ros.core.obstacles.gravity_frame_transform` (origin on the floor below the camera).
  Floor and ceiling pixels are no obstacles: they count as "no return" (see below). Where two
  neighbouring pixels of a row fall into beams that are not adjacent (the azimuth pitch of a row
  exceeds the increment), the beams between them take the nearer of the two pixels (for jumps of
  up to four column pitches).

REP-117 per beam: the minimum range of its valid pixels within [range_min, range_max]; else -inf
when some pixel was closer than range_min (detection too close); else +inf when some pixel had a
valid depth beyond range_max or, in gravity mode, outside the height band (no obstacle within
range); else NaN (every pixel invalid: NaN, inf or <= 0 depth, or no pixel at all). Nav2's
obstacle layer marks only the finite ranges; +inf clears only with its `inf_is_valid` option.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.imu import unit_gravity
from depth_ros.core.obstacles import GRAVITY, gravity_frame_transform

CAMERA = "camera"

_INVALID = 1
_CLEAR = 2  # valid depth, beyond range_max or outside the height band
_CLOSE = 4
_HIT = 8


@dataclass(frozen=True)
class Scan:
    """The fields of a sensor_msgs/LaserScan (header aside). `frame`: "camera" (the camera's body
    frame, x forward, y left, z up) in row-band mode, "gravity" in gravity mode."""

    angle_min: float
    angle_max: float
    angle_increment: float
    ranges: np.ndarray
    range_min: float
    range_max: float
    time_increment: float = 0.0  # all columns are exposed at once
    scan_time: float = 0.0  # the node sets the frame period when it knows it
    frame: str = CAMERA


# -- numba kernels ------------------------------------------------------------------------------


@numba.njit(cache=True)
def _scan_rows(
    depth: np.ndarray,
    r0: int,
    scale: np.ndarray,
    col_beam: np.ndarray,
    fill_col: np.ndarray,
    rmin: float,
    rmax: float,
    best: np.ndarray,
    flags: np.ndarray,
) -> None:
    """Row band: per column over the band rows (planar-range factor sqrt(x_ray^2 + 1) per pixel),
    then columns into beams; a beam without a column takes fill_col[k]."""
    w = scale.shape[1]
    cbest = np.full(w, np.inf)
    cflags = np.zeros(w, np.int64)
    for i in range(scale.shape[0]):
        for u in range(w):
            d = np.float64(depth[r0 + i, u])
            if not (d > 0.0 and d < math.inf):
                cflags[u] |= _INVALID
                continue
            r = d * scale[i, u]
            if r < rmin:
                cflags[u] |= _CLOSE
            elif r > rmax:
                cflags[u] |= _CLEAR
            else:
                cflags[u] |= _HIT
                if r < cbest[u]:
                    cbest[u] = r
    for u in range(w):
        k = col_beam[u]
        if k >= 0:
            flags[k] |= cflags[u]
            if cbest[u] < best[k]:
                best[k] = cbest[u]
    for k in range(best.size):
        u = fill_col[k]
        if u >= 0:
            flags[k] |= cflags[u]
            if cbest[u] < best[k]:
                best[k] = cbest[u]


@numba.njit(cache=True)
def _scan_gravity(
    depth: np.ndarray,
    rx: np.ndarray,
    ry: np.ndarray,
    R: np.ndarray,
    cam_h: float,
    hmin: float,
    hmax: float,
    rmin: float,
    rmax: float,
    edges: np.ndarray,
    lut: np.ndarray,
    inv_cell: float,
    gap: int,
    best: np.ndarray,
    flags: np.ndarray,
) -> None:
    """Gravity band over all pixels; R rows = forward, left, up axes in optical coordinates.

    Beam k holds azimuth tangents in [edges[k], edges[k+1]); lut maps a uniform cell of the
    tangent to the beam at the cell's start (cells are narrower than any beam), which replaces
    an atan2 per pixel by a look-up and a comparison.
    """
    n = best.size
    t_lo = edges[0]
    ncell = lut.size
    f0, f1, f2 = R[0, 0], R[0, 1], R[0, 2]
    l0, l1, l2 = R[1, 0], R[1, 1], R[1, 2]
    u0, u1, u2 = R[2, 0], R[2, 1], R[2, 2]
    for v in range(depth.shape[0]):
        pk, pbit, pr = -1, 0, math.inf  # the previous pixel of this row (beam, class, range)
        for u in range(depth.shape[1]):
            x = np.float64(rx[v, u])
            y = np.float64(ry[v, u])
            # Forward and left per metre of depth: the azimuth does not depend on depth.
            a = f0 * x + f1 * y + f2
            b = l0 * x + l1 * y + l2
            if not a > 0.0:
                pk = -1
                continue  # |azimuth| >= 90 deg: outside any scan (|angles| < 90 deg)
            t = b / a
            c = int((t - t_lo) * inv_cell) if t >= t_lo else -1
            if c < 0 or c >= ncell:
                pk = -1
                continue
            k = lut[c]
            while k < n and t >= edges[k + 1]:
                k += 1
            if k >= n:
                pk = -1
                continue
            d = np.float64(depth[v, u])
            r = math.inf
            if not (d > 0.0 and d < math.inf):
                bit = _INVALID
            elif not hmin <= cam_h + d * (u0 * x + u1 * y + u2) <= hmax:
                bit = _CLEAR
            else:
                r = d * math.sqrt(a * a + b * b)
                if r < rmin:
                    bit = _CLOSE
                elif r > rmax:
                    bit = _CLEAR
                else:
                    bit = _HIT
            flags[k] |= bit
            if bit == _HIT and r < best[k]:
                best[k] = r
            # Beams skipped between two neighbouring pixels of a row take the nearer pixel.
            if pk >= 0 and 1 < abs(k - pk) <= 4 * gap:
                for j in range(min(k, pk) + 1, max(k, pk)):
                    if abs(j - k) <= abs(j - pk):
                        _put(best, flags, j, bit, r)
                    if abs(j - pk) <= abs(j - k):
                        _put(best, flags, j, pbit, pr)
            pk, pbit, pr = k, bit, r


@numba.njit(cache=True)
def _put(best: np.ndarray, flags: np.ndarray, k: int, bit: int, r: float) -> None:
    flags[k] |= bit
    if bit == _HIT and r < best[k]:
        best[k] = r


@numba.njit(cache=True)
def _finish(best: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """REP-117 ranges from the per-beam minimum and flags."""
    out = np.empty(best.size, np.float32)
    for k in range(best.size):
        f = flags[k]
        if f & _HIT:
            out[k] = best[k]
        elif f & _CLOSE:
            out[k] = -np.inf
        elif f & _CLEAR:
            out[k] = np.inf
        else:
            out[k] = np.nan
    return out


# -- public API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    angle_min: float
    angle_max: float
    inc: float
    n: int
    gap: int  # largest centre-row column pitch, in beams (rows of a tilted camera: up to ~2x)
    r0: int
    edges: np.ndarray  # (n + 1,) tangents of the beam boundaries
    lut: np.ndarray  # beam at the start of each tangent cell
    inv_cell: float
    col_beam: np.ndarray  # (W,) beam of each column, -1 outside the scan
    fill_col: np.ndarray  # (n,) nearest column of a beam that covers no column, else -1
    scale: np.ndarray  # (rows, W) sqrt(x_ray^2 + 1) of the band pixels
    rx: np.ndarray  # (H, W) float32
    ry: np.ndarray


class DepthToScan:
    """Depth (metres, NaN = invalid) -> `Scan` (see the module docstring).

    Parameters: [`range_min`, `range_max`] metres; `scan_height_rows` rows around the optical
    centre (row-band mode); `use_gravity_band` with `height_band` (low, high) metres above the
    floor and `camera_height` (required then); `angle_step` beam spacing in radians (None: one
    beam per column).
    """

    def __init__(
        self,
        range_min: float = 0.1,
        range_max: float = 8.0,
        scan_height_rows: int = 10,
        use_gravity_band: bool = False,
        height_band: tuple[float, float] = (0.05, 2.0),
        camera_height: float | None = None,
        angle_step: float | None = None,
    ) -> None:
        if not (math.isfinite(range_min) and math.isfinite(range_max) and 0.0 <= range_min < range_max):
            raise InvalidInputError(f"need 0 <= range_min < range_max (finite), got [{range_min}, {range_max}]")
        if int(scan_height_rows) != scan_height_rows or scan_height_rows < 1:
            raise InvalidInputError(f"scan_height_rows must be an integer >= 1, got {scan_height_rows}")
        lo, hi = (float(v) for v in height_band)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InvalidInputError(f"height_band must be (low, high) with low < high, got {height_band}")
        if camera_height is not None and not (math.isfinite(camera_height) and camera_height > 0.0):
            raise InvalidInputError(f"camera_height must be a positive number of metres, got {camera_height}")
        if use_gravity_band and camera_height is None:
            raise InvalidInputError("use_gravity_band needs camera_height (metres above the floor)")
        if angle_step is not None and not (math.isfinite(angle_step) and angle_step > 0.0):
            raise InvalidInputError(f"angle_step must be a positive number of radians, got {angle_step}")
        self.range_min = float(range_min)
        self.range_max = float(range_max)
        self.scan_height_rows = int(scan_height_rows)
        self.use_gravity_band = bool(use_gravity_band)
        self.height_band = (lo, hi)
        self.camera_height = None if camera_height is None else float(camera_height)
        self.angle_step = None if angle_step is None else float(angle_step)
        self._geom_key: CameraModel | None = None
        self._geom: _Geometry | None = None

    def _geometry(self, camera: CameraModel) -> _Geometry:
        if self._geom_key == camera and self._geom is not None:
            return self._geom
        h, w = camera.height, camera.width
        rx = np.ascontiguousarray(np.broadcast_to(camera.rays.x, (h, w)), dtype=np.float32)
        ry = np.ascontiguousarray(np.broadcast_to(camera.rays.y, (h, w)), dtype=np.float32)
        centre = rx[min(max(int(round(camera.cy)), 0), h - 1)].astype(np.float64)
        col_angles = np.arctan2(-centre, 1.0)
        angle_min, angle_max = float(col_angles[-1]), float(col_angles[0])
        if w < 2 or not angle_max > angle_min:
            raise InvalidInputError(
                f"camera rays do not span a horizontal field of view ({w} columns, angles {angle_min} .. {angle_max} rad)"
            )
        if self.angle_step is None:
            n = w
            inc = (angle_max - angle_min) / (n - 1)
        else:
            inc = self.angle_step
            n = int(math.floor((angle_max - angle_min) / inc + 0.5)) + 1
            if n < 2:
                raise InvalidInputError(
                    f"angle_step {inc} rad leaves fewer than 2 beams in the field of view of {angle_max - angle_min:.4f} rad"
                )
            angle_max = angle_min + (n - 1) * inc
        gap = max(1, int(math.ceil(float(np.abs(np.diff(col_angles)).max()) / inc)))
        # Beam k spans angles [angle_min + (k - 1/2) inc, angle_min + (k + 1/2) inc); in tangents:
        half_pi = math.pi / 2 - 1e-9
        edges = np.tan(np.clip(angle_min + (np.arange(n + 1) - 0.5) * inc, -half_pi, half_pi))
        cell = float(np.diff(edges).min()) / 8.0  # mostly one beam per cell: a predictable branch
        ncell = int(math.ceil((edges[-1] - edges[0]) / cell)) + 1
        if ncell > 1 << 22:
            raise InvalidInputError(f"scan of {n} beams over {angle_max - angle_min:.4f} rad is too fine to index")
        lut = np.searchsorted(edges, edges[0] + np.arange(ncell) * cell, side="right").astype(np.int64) - 1
        col_beam = np.searchsorted(edges, -centre, side="right").astype(np.int64) - 1
        col_beam[(col_beam < 0) | (col_beam >= n)] = -1
        fill_col = np.full(n, -1, np.int64)
        empty = np.setdiff1d(np.arange(n), col_beam)
        beam_angles = angle_min + empty * inc
        fill_col[empty] = np.argmin(np.abs(col_angles[None, :] - beam_angles[:, None]), axis=1)
        rows = min(self.scan_height_rows, h)
        r0 = min(max(int(camera.cy - rows / 2.0), 0), h - rows)
        band = rx[r0 : r0 + rows].astype(np.float64)
        self._geom = _Geometry(
            angle_min, angle_max, inc, n, gap, r0, edges, np.clip(lut, 0, n - 1), 1.0 / cell,
            col_beam, fill_col, np.sqrt(band * band + 1.0), rx, ry,
        )  # fmt: skip
        self._geom_key = camera
        return self._geom

    def compute(
        self,
        depth: np.ndarray,
        camera: CameraModel,
        gravity_optical: Sequence[float] | np.ndarray | None = None,
    ) -> Scan:
        """The scan of one depth frame; gravity mode needs `gravity_optical` (DOWN, optical frame)."""
        depth = np.asarray(depth)
        if depth.ndim != 2 or depth.shape != (camera.height, camera.width):
            raise InvalidInputError(
                f"depth shape {depth.shape} does not match camera size {camera.height}x{camera.width}"
            )
        geo = self._geometry(camera)
        z = np.ascontiguousarray(depth, dtype=np.float32)
        best = np.full(geo.n, np.inf)
        flags = np.zeros(geo.n, np.int64)
        if self.use_gravity_band:
            if gravity_optical is None:
                raise InvalidInputError("use_gravity_band is set but compute() got no gravity_optical")
            R, _ = gravity_frame_transform(unit_gravity(gravity_optical))
            lo, hi = self.height_band
            _scan_gravity(
                z, geo.rx, geo.ry, R, self.camera_height, lo, hi, self.range_min, self.range_max,
                geo.edges, geo.lut, geo.inv_cell, geo.gap, best, flags,
            )  # fmt: skip
            frame = GRAVITY
        else:
            _scan_rows(z, geo.r0, geo.scale, geo.col_beam, geo.fill_col, self.range_min, self.range_max, best, flags)
            frame = CAMERA
        ranges = _finish(best, flags)
        return Scan(geo.angle_min, geo.angle_max, geo.inc, ranges, self.range_min, self.range_max, frame=frame)
