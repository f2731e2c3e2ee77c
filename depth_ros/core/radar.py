"""Sparse metric radar points: accumulation, projection into the image, clutter rejection and a
depth prior raster for radar/monocular fusion ("Radar Meets Vision").

Per image the pipeline is::

    scans = accumulator.scans_for(image_stamp)                     # fresh scans only
    pts = to_camera(scan.points, T_cam_radar, R_motion, t_motion)    # optical frame, image time
    proj = project_points(pts, camera, min_depth, max_depth)         # full lens model
    keep = reject_clutter(proj, network_map, OutputKind.RELATIVE_INVERSE)  # ghosts/multipath out
    prior, mask = rasterize_prior(proj.uv[keep], proj.depth[keep], shape, radius_px)

Depth is the optical-frame z (as in depth images), not the radar range. Frames: see
`depth_ros.core.transforms`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.output_kind import OutputKind, as_output_kind
from depth_ros.core.sampling import window_median
from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import RigidTransform

# Fields ranked in this order decide which points survive the point cap.
STRENGTH_FIELDS = ("snr", "intensity")


# ----------------------------------------------------------------------------------------------
# Scans


@dataclass
class RadarScan:
    """One radar scan: points (N, 3) in the radar frame `frame_id`, optional per-point fields."""

    stamp_ns: int
    points: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    frame_id: str = ""

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.size == 0:
            pts = pts.reshape(0, 3)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise InvalidInputError(f"radar points must have shape (N, 3), got {pts.shape}")
        n = pts.shape[0]
        fields: dict[str, np.ndarray] = {}
        for name, values in self.fields.items():
            arr = np.asarray(values, dtype=np.float64).reshape(-1)
            if arr.shape[0] != n:
                raise InvalidInputError(f"radar field '{name}' has {arr.shape[0]} values for {n} points")
            fields[name] = arr
        self.points = pts
        self.fields = fields
        self.stamp_ns = int(self.stamp_ns)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def subset(self, index: np.ndarray) -> RadarScan:
        """The scan restricted to `index` (a boolean mask or integer indices)."""
        return replace(self, points=self.points[index], fields={k: v[index] for k, v in self.fields.items()})

    def sanitised(self) -> tuple[RadarScan, int]:
        """(scan without rows whose coordinates are NaN/inf, number of rows dropped)."""
        finite = np.isfinite(self.points).all(axis=1)
        n_bad = int(finite.size - np.count_nonzero(finite))
        return (self.subset(finite) if n_bad else self), n_bad


@dataclass
class RadarAccumulatorStats:
    """Cumulative counters of a `RadarAccumulator` (reset only by `RadarAccumulator.reset_stats`)."""

    scans_added: int = 0
    points_nonfinite: int = 0  # rows dropped for NaN/inf coordinates
    points_truncated: int = 0  # rows dropped by the per-scan point cap
    scans_evicted: int = 0  # whole old scans dropped to keep the held total under max_points
    time_jumps: int = 0  # resets caused by time going backwards
    queries: int = 0
    queries_empty: int = 0  # no scan in the window
    queries_stale: int = 0  # ... although older scans were held: the radar is late or has stopped


class RadarAccumulator:
    """Keeps recent radar scans and hands each image the fresh ones.

    `scans_for(t)` returns the newest `max_scans` scans stamped in
    [t - max_age_s, t + future_tolerance_s], oldest first; anything older (stale) or newer is
    never returned. Scans are kept for `history_s` behind the newest scan, so an image that is
    processed late still finds the scans of its own time.

    Point cap: each scan is cut to max_points // max_scans points (the strongest by `snr`, else
    `intensity`; without either a uniform random subset from a generator seeded with `seed`) and
    the oldest scans are evicted while more than `max_points` are held, so the newest
    `max_scans` scans always fit. Thread-safe.
    """

    def __init__(
        self,
        max_scans: int = 3,
        max_age_s: float = 0.5,
        future_tolerance_s: float = 0.05,
        max_points: int = 20000,
        history_s: float = 2.0,
        jump_back_s: float = 1.0,
        max_buffered_scans: int = 64,
        seed: int = 0,
    ) -> None:
        if int(max_scans) < 1:
            raise InvalidInputError(f"max_scans must be >= 1, got {max_scans}")
        for name, value in (("max_age_s", max_age_s), ("future_tolerance_s", future_tolerance_s),
                            ("history_s", history_s), ("jump_back_s", jump_back_s)):
            if not np.isfinite(value) or value < 0:
                raise InvalidInputError(f"{name} must be finite and >= 0, got {value}")
        if int(max_points) < int(max_scans):
            raise InvalidInputError(f"max_points must be >= max_scans ({max_scans}), got {max_points}")
        self.max_scans = int(max_scans)
        self.max_age_ns = int(round(max_age_s * 1e9))
        self.future_tolerance_ns = int(round(future_tolerance_s * 1e9))
        self.max_points = int(max_points)
        self.points_per_scan = self.max_points // self.max_scans
        self.seed = int(seed)
        history_ns = max(int(round(history_s * 1e9)), self.max_age_ns + self.future_tolerance_ns)
        self._buffer: TimeBuffer[RadarScan] = TimeBuffer(
            max_items=max(int(max_buffered_scans), self.max_scans),
            max_age_ns=history_ns,
            jump_back_ns=int(round(jump_back_s * 1e9)),
        )
        self._rng = np.random.default_rng(self.seed)
        self._lock = threading.Lock()
        self.stats = RadarAccumulatorStats()

    def __len__(self) -> int:
        return len(self._buffer)

    @property
    def points_held(self) -> int:
        return sum(len(scan) for _, scan in self._buffer)

    def add(self, scan: RadarScan) -> bool:
        """Store a scan; returns True when a backwards time jump cleared the history first."""
        if not isinstance(scan, RadarScan):
            raise InvalidInputError(f"expected a RadarScan, got {type(scan).__name__}")
        with self._lock:
            scan, n_bad = scan.sanitised()
            self.stats.points_nonfinite += n_bad
            scan = self._cap(scan)
            jumped = self._buffer.add(scan.stamp_ns, scan)
            if jumped:
                self.stats.time_jumps += 1
                self._rng = np.random.default_rng(self.seed)
            self.stats.scans_added += 1
            self._evict_over_cap()
        return jumped

    def _cap(self, scan: RadarScan) -> RadarScan:
        n, keep = len(scan), self.points_per_scan
        if n <= keep:
            return scan
        strength = next((scan.fields[f] for f in STRENGTH_FIELDS if f in scan.fields), None)
        if strength is not None:
            s = np.where(np.isfinite(strength), strength, -np.inf)
            idx = np.argpartition(-s, keep - 1)[:keep]
        else:
            idx = self._rng.choice(n, size=keep, replace=False)
        self.stats.points_truncated += n - keep
        return scan.subset(np.sort(idx))

    def _evict_over_cap(self) -> None:
        items = list(self._buffer)
        sizes = [len(scan) for _, scan in items]
        total, drop = sum(sizes), 0
        while total > self.max_points and drop < len(items) - 1:
            total -= sizes[drop]
            drop += 1
        if drop:
            # TimeBuffer has no pop-oldest; rebuilding in stamp order cannot trigger a jump reset.
            self._buffer.clear()
            for stamp, scan in items[drop:]:
                self._buffer.add(stamp, scan)
            self.stats.scans_evicted += drop

    def scans_for(self, image_stamp_ns: int) -> list[RadarScan]:
        """The newest `max_scans` scans in [image - max_age, image + future tolerance], oldest first."""
        t = int(image_stamp_ns)
        with self._lock:
            self.stats.queries += 1
            found = self._buffer.window(t - self.max_age_ns, t + self.future_tolerance_ns)
            if not found:
                self.stats.queries_empty += 1
                if self._buffer.window(-(2**62), t - self.max_age_ns - 1):
                    self.stats.queries_stale += 1
            return [scan for _, scan in found[-self.max_scans:]]

    def reset(self) -> None:
        """Forget all scans (e.g. on a clock reset); counters are kept."""
        with self._lock:
            self._buffer.clear()
            self._rng = np.random.default_rng(self.seed)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = RadarAccumulatorStats()


# ----------------------------------------------------------------------------------------------
# Geometry


def to_camera(
    points_radar: np.ndarray,
    T_cam_radar: RigidTransform,
    R_motion: np.ndarray | None = None,
    t_motion: np.ndarray | None = None,
) -> np.ndarray:
    """Radar-frame points (N, 3) -> camera optical frame at image time.

    p = R_motion @ T_cam_radar.apply(p_radar) + t_motion, where (R_motion, t_motion) maps camera
    coordinates at the scan's time to camera coordinates at the image's time (None = no motion).
    """
    p = np.asarray(points_radar, dtype=np.float64)
    if p.size == 0:
        p = p.reshape(0, 3)
    if p.ndim != 2 or p.shape[1] != 3:
        raise InvalidInputError(f"radar points must have shape (N, 3), got {p.shape}")
    if not isinstance(T_cam_radar, RigidTransform):
        raise InvalidInputError(f"T_cam_radar must be a RigidTransform, got {type(T_cam_radar).__name__}")
    R, t = T_cam_radar.R, T_cam_radar.t
    if R_motion is not None:
        Rm = np.asarray(R_motion, dtype=np.float64)
        if Rm.shape != (3, 3) or not np.isfinite(Rm).all():
            raise InvalidInputError(f"R_motion must be a finite (3, 3) matrix, got {Rm.tolist()}")
        R, t = Rm @ R, Rm @ t
    if t_motion is not None:
        tm = np.asarray(t_motion, dtype=np.float64).reshape(-1)
        if tm.shape != (3,) or not np.isfinite(tm).all():
            raise InvalidInputError(f"t_motion must be a finite 3-vector, got {tm.tolist()}")
        t = t + tm
    return p @ R.T + t


@dataclass(frozen=True, eq=False)
class RadarProjection:
    """Radar points that land in the image, with why the others did not.

    Each input row is counted once, by the first failing test in the order: non-finite,
    behind (z <= 0), out_of_range (z outside [min_depth, max_depth]), outside_image.
    """

    uv: np.ndarray  # (M, 2) float64 pixel coordinates, pixel centres at integers
    depth: np.ndarray  # (M,) float64 optical-frame z in metres
    index: np.ndarray  # (M,) rows of the input that these are
    n_input: int = 0
    n_nonfinite: int = 0
    n_behind: int = 0
    n_out_of_range: int = 0
    n_outside_image: int = 0

    def __len__(self) -> int:
        return int(self.depth.shape[0])

    def subset(self, keep: np.ndarray) -> RadarProjection:
        """Only the rows selected by `keep` (mask or indices); drop counters are kept."""
        return replace(self, uv=self.uv[keep], depth=self.depth[keep], index=self.index[keep])


@functools.lru_cache(maxsize=16)
def _normalised_bounds(camera: CameraModel) -> tuple[float, float, float, float]:
    """Box (xmin, xmax, ymin, ymax) of x/z, y/z holding every ray that can reach the image.

    Points outside it are dropped before the distortion polynomial is evaluated: far outside
    the field of view a radial polynomial folds back and would put them inside the image.
    """
    w, h = camera.width, camera.height
    us = np.linspace(-0.5, w - 0.5, max(w // 4, 2) + 1)
    vs = np.linspace(-0.5, h - 0.5, max(h // 4, 2) + 1)
    border = np.concatenate([
        np.stack([us, np.full_like(us, -0.5)], 1), np.stack([us, np.full_like(us, h - 0.5)], 1),
        np.stack([np.full_like(vs, -0.5), vs], 1), np.stack([np.full_like(vs, w - 0.5), vs], 1),
    ])
    xy = camera.undistort_pixels(border)
    xmin, ymin = xy.min(axis=0)
    xmax, ymax = xy.max(axis=0)
    mx, my = 0.02 * (xmax - xmin), 0.02 * (ymax - ymin)
    return float(xmin - mx), float(xmax + mx), float(ymin - my), float(ymax + my)


def project_points(
    points_cam: np.ndarray, camera: CameraModel, min_depth: float = 0.0, max_depth: float = np.inf
) -> RadarProjection:
    """Project optical-frame points (N, 3) with the full camera model; keep those in range and in view."""
    p = np.asarray(points_cam, dtype=np.float64)
    if p.size == 0:
        p = p.reshape(0, 3)
    if p.ndim != 2 or p.shape[1] != 3:
        raise InvalidInputError(f"points_cam must have shape (N, 3), got {p.shape}")
    if not (np.isfinite(min_depth) and min_depth >= 0 and max_depth > min_depth) or np.isnan(max_depth):
        raise InvalidInputError(f"need 0 <= min_depth < max_depth, got min_depth={min_depth} max_depth={max_depth}")
    n = p.shape[0]
    z = p[:, 2]
    xmin, xmax, ymin, ymax = _normalised_bounds(camera)
    with np.errstate(invalid="ignore", divide="ignore"):
        finite = np.isfinite(p).all(axis=1)
        front = finite & (z > 1e-9)
        in_range = front & (z >= min_depth) & (z <= max_depth)
        x, y = p[:, 0] / z, p[:, 1] / z
        cand = in_range & (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
    idx = np.flatnonzero(cand)
    uv, _ = camera.project(p[idx])
    inside = camera.in_image(uv)
    idx, uv = idx[inside], uv[inside]
    n_finite, n_front, n_range = (int(np.count_nonzero(a)) for a in (finite, front, in_range))
    return RadarProjection(
        uv=uv,
        depth=z[idx].copy(),
        index=idx,
        n_input=n,
        n_nonfinite=n - n_finite,
        n_behind=n_finite - n_front,
        n_out_of_range=n_front - n_range,
        n_outside_image=n_range - int(idx.size),
    )


# ----------------------------------------------------------------------------------------------
# Clutter rejection


def _check_inside(network_map: np.ndarray, uv: np.ndarray) -> None:
    h, w = np.shape(network_map)[:2]
    u, v = np.rint(uv[:, 0]), np.rint(uv[:, 1])
    if len(uv) and ((u.min() < 0) | (u.max() >= w) | (v.min() < 0) | (v.max() >= h)):
        raise InvalidInputError(
            f"radar pixels fall outside the {w}x{h} map (is the map at the projection's image size?)"
        )


@dataclass(frozen=True, eq=False)
class ClutterCheck:
    """Outcome of `clutter_check`; `keep` is what `reject_clutter` returns.

    The fitted model maps the network value to metric depth:
    metric:  depth ~= exp(a) * net                    params = (a,)
    inverse: 1 / depth ~= s * net + c  (s > 0)        params = (s, c)
    A by-product worth logging: exp(a) or (s, c) is the radar's scale (and shift) of the network.
    """

    keep: np.ndarray  # (M,) bool
    network: np.ndarray  # (M,) window-median network value, NaN = no valid pixel
    residual: np.ndarray  # (M,) log(radar depth) - log(model depth); NaN where not evaluated
    threshold: float  # residual limit used (log units); inf when no fit was made
    sigma: float  # 1.4826 * MAD of the residuals
    params: tuple[float, ...]
    n_unverified: int = 0  # no valid network pixel under the point
    n_residual: int = 0  # rejected by the residual test
    n_ordering: int = 0  # rejected by the ordering test
    fitted: bool = False


def _median(a: np.ndarray) -> float:
    # np.median costs ~10 us of overhead on the few dozen values used here.
    s = np.sort(a)
    n = s.size
    return float(0.5 * (s[(n - 1) // 2] + s[n // 2]))


@functools.lru_cache(maxsize=64)
def _pairs(m: int, max_pairs: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Point pairs for LMedS: all of them for small m, else a fixed pseudo-random subset."""
    i, j = np.triu_indices(m, 1)
    if i.size > max_pairs:
        pick = np.random.default_rng(m).choice(i.size, size=max_pairs, replace=False)
        i, j = i[pick], j[pick]
    return i, j


def _fit_metric(x: np.ndarray, y: np.ndarray) -> tuple[tuple[float, ...], np.ndarray]:
    """log(radar) = a + log(net): least-median-of-squares location, then the median of its inliers."""
    r = y - x
    rs = np.sort(r)
    m = rs.size
    h = m // 2 + 1
    widths = rs[h - 1:] - rs[: m - h + 1]
    j = int(np.argmin(widths))
    a = 0.5 * (rs[j] + rs[j + h - 1])
    s0 = max(1.4826 * (1 + 5.0 / max(m - 1, 1)) * 0.5 * widths[j], 1e-6)
    a = _median(r[np.abs(r - a) <= 2.5 * s0])
    return (a,), r - a


def _fit_inverse(n: np.ndarray, y: np.ndarray) -> tuple[tuple[float, ...], np.ndarray] | None:
    """1/radar = s * net + c, s > 0: LMedS over point pairs, then relative-error least squares on inliers."""
    d = np.exp(y)
    inv = 1.0 / d
    i, j = _pairs(n.size)
    dn = n[i] - n[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (inv[i] - inv[j]) / dn
    ok = np.isfinite(s) & (s > 0)
    if not ok.any():
        return None
    s = s[ok]
    c = inv[i[ok]] - s * n[i[ok]]
    # q = radar / model depth; max(q, 1/q) ranks points exactly as |log q| does, without the logs.
    q = (s[:, None] * n + c[:, None]) * d
    with np.errstate(divide="ignore"):
        e = np.where(q > 0, np.maximum(q, 1.0 / q), np.inf)
    k = n.size // 2
    med = np.partition(e, k, axis=1)[:, k]
    best = int(np.argmin(med))
    if not np.isfinite(med[best]):
        return None
    s_b, c_b = float(s[best]), float(c[best])
    s0 = max(1.4826 * (1 + 5.0 / max(n.size - 2, 1)) * float(np.log(med[best])), 1e-6)
    inl = e[best] <= np.exp(2.5 * s0)
    if np.count_nonzero(inl) >= 3:
        # Minimising sum (d (s n + c) - 1)^2, the relative inverse-depth error ~ the log residual.
        a1, a2 = d[inl] * n[inl], d[inl]
        s11, s12, s22 = float(a1 @ a1), float(a1 @ a2), float(a2 @ a2)
        b1, b2 = float(a1.sum()), float(a2.sum())
        det = s11 * s22 - s12 * s12
        if det > 1e-12 * s11 * s22:
            s_ls, c_ls = (s22 * b1 - s12 * b2) / det, (s11 * b2 - s12 * b1) / det
            if s_ls > 0 and np.all(s_ls * n[inl] + c_ls > 0):
                s_b, c_b = s_ls, c_ls
    pred = s_b * n + c_b
    with np.errstate(divide="ignore", invalid="ignore"):
        res = np.where(pred > 0, y + np.log(np.where(pred > 0, pred, 1.0)), np.inf)
    return (s_b, c_b), res


_ORDERING_EXACT_MAX = 400


def _ordering_rejects(xp: np.ndarray, y: np.ndarray, res: np.ndarray, margin: float, max_disc: float) -> np.ndarray:
    """Greedy removal of the points whose radar order most often contradicts the network's."""
    if xp.size > _ORDERING_EXACT_MAX:
        # Dense clouds: one pass against a fixed strided reference subset keeps this O(M).
        ref = np.linspace(0, xp.size - 1, _ORDERING_EXACT_MAX).astype(np.intp)
        dx = xp[ref][None, :] - xp[:, None]
        dy = y[ref][None, :] - y[:, None]
        comp = ((dx > margin) | (dx < -margin)).sum(axis=1, dtype=np.float64)
        disc = (((dx > margin) & (dy < -margin)) | ((dx < -margin) & (dy > margin))).sum(axis=1, dtype=np.float64)
        return disc > max_disc * np.maximum(comp, 4.0)
    dx = xp[None, :] - xp[:, None]
    dy = y[None, :] - y[:, None]
    farther = dx > margin
    nearer = dx < -margin
    discordant = (farther & (dy < -margin)) | (nearer & (dy > margin))
    comp = (farther | nearer).sum(axis=1, dtype=np.float64)
    disc = discordant.sum(axis=1, dtype=np.float64)
    removed = np.zeros(xp.size, dtype=bool)
    if not (disc > max_disc * np.maximum(comp, 4.0)).any():
        return removed
    comparable = (farther | nearer).astype(np.float64)
    discordant = discordant.astype(np.float64)
    tie = np.abs(np.nan_to_num(res, nan=0.0, posinf=1e9)) * 1e-6  # equal fractions: larger residual first
    for _ in range(xp.size):
        frac = disc / np.maximum(comp, 4.0)
        frac[removed] = -1.0
        w = int(np.argmax(frac + tie))
        if frac[w] <= max_disc:
            break
        removed[w] = True
        disc -= discordant[:, w]
        comp -= comparable[:, w]
    return removed


def clutter_check(
    proj: RadarProjection,
    network_map: np.ndarray,
    kind: OutputKind | str,
    *,
    window: int = 5,
    k: float = 3.0,
    floor: float = 0.1,
    ordering_margin: float = 0.1,
    max_discordance: float = 0.25,
    min_points: int = 5,
    keep_unverified: bool = False,
) -> ClutterCheck:
    """Reject radar points that disagree with the network's depth structure.

    Rule (all in log depth, so thresholds are relative errors):
    1. Sample the network map at each point (window median). No valid pixel: the point cannot be
       verified and is rejected unless `keep_unverified`.
    2. Fit a monotone model radar depth ~ f(network) robustly (LMedS, then refit on inliers):
       metric:  log d = a + log net (scale only);  inverse: 1/d = s * net + c, s > 0 (the
       scale/shift ambiguity of relative inverse depth). Reject |residual| > max(k * 1.4826 *
       MAD, floor).
    3. Ordering, among the survivors: points i, j are comparable when the network's depths
       differ by more than `ordering_margin` (log), discordant when the radar orders them the
       other way by more than the same margin. Repeatedly reject the point with the largest
       discordant fraction (discordant / max(comparable, 4)) while it exceeds `max_discordance`.
       This catches ghosts that a loose global fit (non-linear network error, few points) lets
       through, using only the network's ordering. Above 400 survivors each point is compared,
       in one pass, with 400 evenly spread reference points instead.
    With fewer than `min_points` verifiable points, or no monotone inverse fit (no pair with
    s > 0), nothing is fitted and every verifiable point is kept.
    """
    metric = as_output_kind(kind) is OutputKind.METRIC
    if not (k > 0 and floor >= 0 and ordering_margin >= 0 and max_discordance >= 0):
        raise InvalidInputError(
            f"need k > 0, floor >= 0, ordering_margin >= 0, max_discordance >= 0; got k={k} floor={floor} "
            f"ordering_margin={ordering_margin} max_discordance={max_discordance}"
        )
    m = len(proj)
    _check_inside(network_map, proj.uv)
    net = window_median(network_map, proj.uv, window, positive=metric)
    residual = np.full(m, np.nan)
    verified = np.isfinite(net)
    keep = verified.copy()
    idx = np.flatnonzero(verified)
    base = dict(network=net, residual=residual, params=(), n_unverified=int(m - idx.size))
    if idx.size < max(int(min_points), 3):
        keep = keep | bool(keep_unverified)
        return ClutterCheck(keep=keep, threshold=float("inf"), sigma=float("nan"), **base)
    with np.errstate(divide="ignore"):
        y = np.log(proj.depth[idx])
    if metric:
        params, res = _fit_metric(np.log(net[idx]), y)
    else:
        fit = _fit_inverse(net[idx], y)
        if fit is None:
            keep = keep | bool(keep_unverified)
            return ClutterCheck(keep=keep, threshold=float("inf"), sigma=float("nan"), **base)
        params, res = fit
    residual[idx] = res
    sigma = 1.4826 * _median(np.abs(res))
    thr = max(k * sigma, floor) if np.isfinite(sigma) else float("inf")
    ok = (np.abs(res) <= thr) & np.isfinite(res)  # inf: the model puts the point at depth <= 0
    n_res = int(idx.size - ok.sum())
    surv = idx[ok]
    xp = y[ok] - res[ok]  # model (network) log depth of the survivors
    out = _ordering_rejects(xp, y[ok], res[ok], ordering_margin, max_discordance)
    keep[idx[~ok]] = False
    keep[surv[out]] = False
    if keep_unverified:
        keep[~verified] = True
    return ClutterCheck(
        keep=keep, threshold=thr, sigma=sigma, n_residual=n_res, n_ordering=int(out.sum()), fitted=True,
        **{**base, "params": params},
    )


def reject_clutter(proj: RadarProjection, network_map: np.ndarray, kind: OutputKind | str,
                   **options: Any) -> np.ndarray:
    """Keep mask (M,) of the points consistent with the network map; see `clutter_check` for the
    rule and the keyword options."""
    return clutter_check(proj, network_map, kind, **options).keep


# ----------------------------------------------------------------------------------------------
# Prior raster


def rasterize_prior(
    uv: np.ndarray, depth: np.ndarray, shape: Sequence[int], radius_px: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Filled discs of metric depth around each point -> (prior float32 (H, W), 0 = none; mask).

    A disc holds the pixels within `radius_px` (Euclidean) of the rounded point. Where discs
    overlap the nearer depth wins (discs are drawn far to near); overlapping depths are never
    summed.
    """
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(depth, dtype=np.float64).reshape(-1)
    if d.shape[0] != uv.shape[0]:
        raise InvalidInputError(f"uv has {uv.shape[0]} points but depth has {d.shape[0]}")
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise InvalidInputError(f"shape must be (H, W), got {shape!r}") from None
    if h <= 0 or w <= 0:
        raise InvalidInputError(f"shape must be positive, got {(h, w)}")
    r = int(radius_px)
    if r != radius_px or r < 0:
        raise InvalidInputError(f"radius_px must be a non-negative integer, got {radius_px}")
    prior = np.zeros((h, w), np.float32)
    if d.size == 0:
        return prior, np.zeros((h, w), bool)
    if not (np.isfinite(uv).all() and d.min() > 0 and d.max() < np.inf):
        raise InvalidInputError("uv must be finite and depth finite and > 0")
    # Centres far outside are clamped to just beyond reach of the image (keeps cv2's int32 happy).
    c = np.clip(np.rint(uv), -r - 1, (w + r, h + r)).astype(np.int64)
    order = np.argsort(-d)  # far first, so nearer discs overwrite; equal depths draw equal values
    for (u, v), value in zip(c[order].tolist(), d[order].astype(np.float32).tolist()):
        cv2.circle(prior, (u, v), r, value, -1)
    return prior, prior > 0
