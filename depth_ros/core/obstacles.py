"""Obstacle cloud for navigation costmaps: depth -> confident, in-range, voxelised, de-noised points
without floor and ceiling, at frame rate.

Pipeline of `ObstacleFilter.compute` (one numba pass over the pixels, then one over the voxels):

1. pixels with finite depth > 0, confidence >= `min_confidence` (when a confidence map is given)
   and depth in [`min_depth`, `max_depth`] are back-projected with the camera's rays (lens
   distortion included), optionally on every `decimation`-th row and column;
2. height band (only when gravity is known): a point p (optical frame) is ``camera_height - p . g``
   metres above the ground, g being the unit DOWN vector in the optical frame; points outside
   `height_band` (floor, ceiling) are dropped *before* voxelisation, so that floor noise just above
   the band has no floor voxels around it and is removed as isolated;
3. voxel grid: one point per occupied voxel, the centroid of its points (Open3D's
   `voxel_down_sample`, but on a grid fixed to the optical frame's origin, ``floor(p / leaf)``, so
   that voxels do not jitter with the cloud's bounding box from frame to frame);
4. isolated-voxel removal: a voxel survives when at least `min_neighbors` of its 26 neighbours are
   occupied (a hash look-up per neighbour, O(voxels), no k-d tree).

Gravity: `compute(gravity_optical=...)` (from the IMU, unit or not) or a fixed mounting given as
`mount_roll_pitch` (camera roll/pitch in the convention of `depth_ros.core.imu.camera_roll_pitch`).
Height filtering needs the camera height above the floor; it is not estimated from the data, since
a floor estimate from a frame without visible floor would cut real obstacles. Without gravity no
height filtering takes place (stats["height_filtered"] is False): the floor then appears in the cloud.

Gravity-aligned frame ("gravity", REP-103 body axes): z up (= -g); x forward = the optical axis
projected onto the horizontal plane (when the camera looks straight down, the image's up direction,
optical -y, projected instead); y = z cross x (left). Its origin is the optical centre projected
along gravity onto the ground, so z is the height above the ground, when `camera_height` is known,
else the optical centre itself. It follows the camera's yaw, i.e. it is the camera frame with roll
and pitch removed; the node publishes it as a TF child of the optical frame (see
`gravity_frame_transform`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.imu import unit_gravity

OPTICAL = "optical"
GRAVITY = "gravity"

_EMPTY = np.int64(-1)
_BITS = 21  # bits per packed voxel coordinate
_OFF = np.int64(1 << (_BITS - 1))  # coordinate offset: indices in [-2^20, 2^20) are packable
_M21 = np.int64((1 << _BITS) - 1)
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
_MIN_TABLE_BITS = 15
# The 26 neighbour offsets, face neighbours first so that the early exit usually comes quickly.
_OFFSETS = np.array(
    sorted(
        ((dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1) if (dx, dy, dz) != (0, 0, 0)),
        key=lambda o: abs(o[0]) + abs(o[1]) + abs(o[2]),
    ),
    dtype=np.int64,
)


# -- numba kernels ------------------------------------------------------------------------------


@numba.njit(cache=True)
def _probe(tab_keys: np.ndarray, key: np.int64, shift: np.uint64, mask: np.int64) -> np.int64:
    """Slot holding `key`, or the empty slot where it would go (linear probing, load <= 1/2)."""
    slot = np.int64((np.uint64(key) * _HASH_MUL) >> shift)
    while True:
        k = tab_keys[slot]
        if k in (key, _EMPTY):
            return slot
        slot = (slot + 1) & mask


@numba.njit(cache=True)
def _finish(
    tab_keys: np.ndarray,
    shift: np.uint64,
    vox_slot: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
    n_vox: int,
    min_nb: int,
    centroids: np.ndarray,
    kept_counts: np.ndarray,
) -> int:
    """Neighbour count, centroids of the kept voxels, then empties the table again."""
    mask = np.int64(tab_keys.size - 1)
    n_keep = 0
    for v in range(n_vox):
        key = tab_keys[vox_slot[v]]
        keep = True
        if min_nb > 0:
            a = key & _M21
            b = (key >> 21) & _M21
            c = key >> 42
            found = 0
            keep = False
            for o in range(_OFFSETS.shape[0]):
                na = a + _OFFSETS[o, 0]
                nb = b + _OFFSETS[o, 1]
                nc = c + _OFFSETS[o, 2]
                if na < 0 or nb < 0 or nc < 0 or na > _M21 or nb > _M21 or nc > _M21:
                    continue
                nkey = na | (nb << 21) | (nc << 42)
                if tab_keys[_probe(tab_keys, nkey, shift, mask)] == nkey:
                    found += 1
                    if found >= min_nb:
                        keep = True
                        break
        if keep:
            n = counts[v]
            centroids[n_keep, 0] = sums[v, 0] / n
            centroids[n_keep, 1] = sums[v, 1] / n
            centroids[n_keep, 2] = sums[v, 2] / n
            kept_counts[n_keep] = n
            n_keep += 1
    for v in range(n_vox):
        tab_keys[vox_slot[v]] = _EMPTY
    return n_keep


@numba.njit(cache=True)
def _insert(
    tab_keys: np.ndarray,
    tab_vals: np.ndarray,
    shift: np.uint64,
    mask: np.int64,
    key: np.int64,
    n_vox: int,
    vox_slot: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
) -> tuple[int, int]:
    """(voxel id of key, new voxel count); id -1 when the table is full."""
    slot = _probe(tab_keys, key, shift, mask)
    if tab_keys[slot] == _EMPTY:
        if n_vox >= vox_slot.size:
            return -1, n_vox
        tab_keys[slot] = key
        tab_vals[slot] = n_vox
        vox_slot[n_vox] = slot
        sums[n_vox, 0] = 0.0
        sums[n_vox, 1] = 0.0
        sums[n_vox, 2] = 0.0
        counts[n_vox] = 0
        return n_vox, n_vox + 1
    return tab_vals[slot], n_vox


@numba.njit(cache=True)
def _pack(px: float, py: float, pz: float, ox: float, oy: float, oz: float, leaf: float) -> np.int64:
    # Division (not multiplication by 1/leaf) so that voxel membership equals Open3D's.
    ix = np.int64(math.floor((px - ox) / leaf)) + _OFF
    iy = np.int64(math.floor((py - oy) / leaf)) + _OFF
    iz = np.int64(math.floor((pz - oz) / leaf)) + _OFF
    return ix | (iy << 21) | (iz << 42)


@numba.njit(cache=True)
def _voxel_points(
    points: np.ndarray,
    leaf: float,
    origin: np.ndarray,
    min_nb: int,
    tab_keys: np.ndarray,
    tab_vals: np.ndarray,
    shift: np.uint64,
) -> tuple[int, np.ndarray, np.ndarray]:
    """Voxel centroids of finite (N, 3) points; n_keep -1 when the table overflowed."""
    mask = np.int64(tab_keys.size - 1)
    max_vox = tab_keys.size // 2
    vox_slot = np.empty(max_vox, np.int64)
    sums = np.empty((max_vox, 3), np.float64)
    counts = np.empty(max_vox, np.int64)
    ox, oy, oz = origin[0], origin[1], origin[2]
    n_vox = 0
    last_key = _EMPTY
    vid = -1
    for i in range(points.shape[0]):
        px = np.float64(points[i, 0])
        py = np.float64(points[i, 1])
        pz = np.float64(points[i, 2])
        if not (math.isfinite(px) and math.isfinite(py) and math.isfinite(pz)):
            continue
        key = _pack(px, py, pz, ox, oy, oz, leaf)
        if key != last_key:
            vid, n_vox = _insert(tab_keys, tab_vals, shift, mask, key, n_vox, vox_slot, sums, counts)
            if vid < 0:
                for v in range(n_vox):
                    tab_keys[vox_slot[v]] = _EMPTY
                return -1, np.empty((0, 3), np.float64), np.empty(0, np.int64)
            last_key = key
        sums[vid, 0] += px
        sums[vid, 1] += py
        sums[vid, 2] += pz
        counts[vid] += 1
    centroids = np.empty((n_vox, 3), np.float64)
    kept_counts = np.empty(n_vox, np.int64)
    n_keep = _finish(tab_keys, shift, vox_slot, sums, counts, n_vox, min_nb, centroids, kept_counts)
    return n_keep, centroids[:n_keep], kept_counts[:n_keep]


@numba.njit(cache=True)
def _voxel_depth(
    depth: np.ndarray,
    rx: np.ndarray,
    ry: np.ndarray,
    conf: np.ndarray,
    use_conf: bool,
    min_conf: float,
    zmin: float,
    zmax: float,
    g: np.ndarray,
    use_height: bool,
    cam_h: float,
    hmin: float,
    hmax: float,
    leaf: float,
    min_nb: int,
    tab_keys: np.ndarray,
    tab_vals: np.ndarray,
    shift: np.uint64,
    stats: np.ndarray,
) -> tuple[int, np.ndarray]:
    """The whole filter on an (H, W) depth map; n_keep -1 when the table overflowed.

    stats <- [valid, confident, in_range, in_height_band, voxels, kept].
    """
    mask = np.int64(tab_keys.size - 1)
    max_vox = tab_keys.size // 2
    vox_slot = np.empty(max_vox, np.int64)
    sums = np.empty((max_vox, 3), np.float64)
    counts = np.empty(max_vox, np.int64)
    g0, g1, g2 = g[0], g[1], g[2]
    n_valid = 0
    n_conf = 0
    n_range = 0
    n_band = 0
    n_vox = 0
    last_key = _EMPTY
    vid = -1
    h, w = depth.shape
    for r in range(h):
        for c in range(w):
            d = np.float64(depth[r, c])
            if not (d > 0.0 and d < math.inf):
                continue
            n_valid += 1
            if use_conf and not (conf[r, c] >= min_conf):
                continue
            n_conf += 1
            if d < zmin or d > zmax:
                continue
            n_range += 1
            px = np.float64(np.float32(d * rx[r, c]))
            py = np.float64(np.float32(d * ry[r, c]))
            if use_height:
                height = cam_h - (px * g0 + py * g1 + d * g2)
                if height < hmin or height > hmax:
                    continue
            n_band += 1
            key = _pack(px, py, d, 0.0, 0.0, 0.0, leaf)
            if key != last_key:
                vid, n_vox = _insert(tab_keys, tab_vals, shift, mask, key, n_vox, vox_slot, sums, counts)
                if vid < 0:
                    for v in range(n_vox):
                        tab_keys[vox_slot[v]] = _EMPTY
                    return -1, np.empty((0, 3), np.float64)
                last_key = key
            sums[vid, 0] += px
            sums[vid, 1] += py
            sums[vid, 2] += d
            counts[vid] += 1
    centroids = np.empty((n_vox, 3), np.float64)
    kept_counts = np.empty(n_vox, np.int64)
    n_keep = _finish(tab_keys, shift, vox_slot, sums, counts, n_vox, min_nb, centroids, kept_counts)
    stats[0] = n_valid
    stats[1] = n_conf
    stats[2] = n_range
    stats[3] = n_band
    stats[4] = n_vox
    stats[5] = n_keep
    return n_keep, centroids[:n_keep]


# -- hash table ---------------------------------------------------------------------------------


class _VoxelTable:
    """Open-addressing table reused across frames; the kernels leave it empty after each call."""

    def __init__(self) -> None:
        self._alloc(_MIN_TABLE_BITS)

    def _alloc(self, bits: int) -> None:
        self.bits = bits
        self.keys = np.full(1 << bits, _EMPTY, dtype=np.int64)
        self.vals = np.empty(1 << bits, dtype=np.int64)
        self.shift = np.uint64(64 - bits)

    def grow(self) -> None:
        """Double the table (a call overflowed). Terminates: a table with at least two slots per
        point never overflows."""
        self._alloc(self.bits + 1)


# -- gravity helpers ----------------------------------------------------------------------------


def gravity_from_roll_pitch(roll: float, pitch: float) -> np.ndarray:
    """Unit DOWN vector in the optical frame of a camera with REP-103 roll/pitch (radians).

    Inverse of `depth_ros.core.imu.camera_roll_pitch`: level gives (0, 1, 0); pitch > 0 (looking
    down) tilts gravity towards optical +z, roll > 0 (image right side lower) towards +x.
    """
    if not (math.isfinite(roll) and math.isfinite(pitch)):
        raise InvalidInputError(f"mount roll/pitch must be finite radians, got ({roll}, {pitch})")
    cr, sr, cp, sp = math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch)
    return np.array([sr * cp, cr * cp, sp])


def gravity_frame_transform(
    gravity_optical: Sequence[float] | np.ndarray, camera_height: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) with ``p_gravity = R @ p_optical + t`` for the gravity-aligned frame (module doc).

    Rows of R are the frame's x (forward), y (left), z (up) axes in optical coordinates;
    t = (0, 0, camera_height) or zero. As a TF: parent = gravity frame, child = optical frame,
    rotation R, translation t.
    """
    g = unit_gravity(gravity_optical)
    up = -g
    fwd = np.array([0.0, 0.0, 1.0]) - g[2] * g
    if np.linalg.norm(fwd) < 1e-6:  # looking straight down (or up): use the image's up direction
        fwd = np.array([0.0, -1.0, 0.0]) - (-g[1]) * g
    fwd /= np.linalg.norm(fwd)
    left = np.cross(up, fwd)
    R = np.stack([fwd, left, up])
    t = np.array([0.0, 0.0, 0.0 if camera_height is None else float(camera_height)])
    return R, t


# -- public API ---------------------------------------------------------------------------------


def _check_leaf(leaf_size: float) -> float:
    leaf = float(leaf_size)
    if not (math.isfinite(leaf) and leaf > 0.0):
        raise InvalidInputError(f"leaf_size must be a positive number of metres, got {leaf_size}")
    return leaf


def _check_neighbors(min_neighbors: int) -> int:
    if int(min_neighbors) != min_neighbors or not 0 <= int(min_neighbors) <= 26:
        raise InvalidInputError(f"min_neighbors must be an integer in [0, 26], got {min_neighbors}")
    return int(min_neighbors)


def voxel_downsample(
    points: np.ndarray,
    leaf_size: float,
    origin: Sequence[float] | np.ndarray | None = None,
    min_neighbors: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Voxel centroids (M, 3) float64 and point counts (M,) int64 of (N, 3) points.

    Voxel index = floor((p - origin) / leaf_size), origin (0, 0, 0) by default (Open3D uses
    ``min_bound - leaf_size / 2``). Non-finite points are skipped. With `min_neighbors` > 0,
    voxels with fewer occupied voxels among their 26 neighbours are dropped. Order: first
    occurrence of each voxel in `points`.
    """
    leaf = _check_leaf(leaf_size)
    min_nb = _check_neighbors(min_neighbors)
    p = np.asarray(points)
    if p.ndim != 2 or p.shape[1] != 3:
        raise InvalidInputError(f"points must have shape (N, 3), got {p.shape}")
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    p = np.ascontiguousarray(p)
    o = np.zeros(3) if origin is None else np.asarray(origin, dtype=np.float64).reshape(-1)
    if o.shape != (3,) or not np.isfinite(o).all():
        raise InvalidInputError(f"origin must be 3 finite numbers, got {origin}")
    finite = np.isfinite(p).all(axis=1)
    if finite.any():
        extent = float(np.abs(p[finite] - o).max()) / leaf
        if extent >= float(_OFF) - 1:
            raise InvalidInputError(
                f"points reach {extent:.0f} voxels from the origin; at most {int(_OFF) - 2} fit (leaf_size {leaf})"
            )
    table = _VoxelTable()
    while True:
        n, centroids, counts = _voxel_points(p, leaf, o, min_nb, table.keys, table.vals, table.shift)
        if n >= 0:
            return centroids, counts
        table.grow()


@dataclass
class ObstacleCloud:
    """Obstacle points (N, 3) float32 in `frame` ("optical" or "gravity") and per-stage counts."""

    points: np.ndarray
    stats: dict = field(default_factory=dict)
    frame: str = OPTICAL


class ObstacleFilter:
    """Depth -> obstacle cloud for costmaps (see the module docstring for the stages).

    Parameters: `leaf_size` voxel edge (m); `min_confidence` threshold in [0, 1] applied when a
    confidence map is given; depth range [`min_depth`, `max_depth`] (m, optical z); `min_neighbors`
    occupied neighbours (of 26) a voxel needs to be kept, 0 disables; `height_band` (low, high) in
    metres above the ground, None disables; `camera_height` above the ground (m), required for the
    height band when gravity is known; `decimation` uses every n-th row and column;
    `mount_roll_pitch` fixed camera (roll, pitch) in radians used when `compute` gets no gravity.
    An instance reuses its hash table across frames: use one instance per thread.
    """

    def __init__(
        self,
        leaf_size: float = 0.05,
        min_confidence: float = 0.5,
        min_depth: float = 0.1,
        max_depth: float = 5.0,
        min_neighbors: int = 2,
        height_band: tuple[float, float] | None = (0.05, 2.0),
        camera_height: float | None = None,
        decimation: int = 1,
        mount_roll_pitch: tuple[float, float] | None = None,
    ) -> None:
        self.leaf_size = _check_leaf(leaf_size)
        if not (math.isfinite(min_confidence) and 0.0 <= min_confidence <= 1.0):
            raise InvalidInputError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if not (math.isfinite(min_depth) and math.isfinite(max_depth) and 0.0 <= min_depth < max_depth):
            raise InvalidInputError(f"need 0 <= min_depth < max_depth (finite), got [{min_depth}, {max_depth}]")
        self.min_neighbors = _check_neighbors(min_neighbors)
        if height_band is not None:
            lo, hi = (float(v) for v in height_band)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise InvalidInputError(f"height_band must be (low, high) with low < high, got {height_band}")
            height_band = (lo, hi)
        if camera_height is not None and not (math.isfinite(camera_height) and camera_height > 0.0):
            raise InvalidInputError(f"camera_height must be a positive number of metres, got {camera_height}")
        if int(decimation) != decimation or decimation < 1:
            raise InvalidInputError(f"decimation must be an integer >= 1, got {decimation}")
        self.mount_gravity: np.ndarray | None = None
        if mount_roll_pitch is not None:
            if len(mount_roll_pitch) != 2:
                raise InvalidInputError(f"mount_roll_pitch must be (roll, pitch) in radians, got {mount_roll_pitch}")
            self.mount_gravity = gravity_from_roll_pitch(float(mount_roll_pitch[0]), float(mount_roll_pitch[1]))
            if height_band is not None and camera_height is None:
                raise InvalidInputError(
                    "mount_roll_pitch with a height_band needs camera_height (metres above the floor); "
                    "pass height_band=None to use gravity for the output frame only"
                )
        self.min_confidence = float(min_confidence)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.height_band = height_band
        self.camera_height = None if camera_height is None else float(camera_height)
        self.decimation = int(decimation)
        self._table = _VoxelTable()
        self._rays_key: tuple | None = None
        self._rays: tuple[np.ndarray, np.ndarray] | None = None

    def _decimated_rays(self, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
        key = (camera, self.decimation)
        if self._rays_key != key:
            r, d = camera.rays, self.decimation
            shape = (camera.height, camera.width)
            rx = np.ascontiguousarray(np.broadcast_to(r.x, shape)[::d, ::d], dtype=np.float32)
            ry = np.ascontiguousarray(np.broadcast_to(r.y, shape)[::d, ::d], dtype=np.float32)
            reach = max(float(np.abs(rx).max()), float(np.abs(ry).max()), 1.0) * self.max_depth / self.leaf_size
            if reach >= float(_OFF) - 1:
                raise InvalidInputError(
                    f"max_depth {self.max_depth} m with leaf_size {self.leaf_size} m spans {reach:.0f} voxels; "
                    f"at most {int(_OFF) - 2} fit: raise leaf_size or lower max_depth"
                )
            self._rays, self._rays_key = (rx, ry), key
        return self._rays  # type: ignore[return-value]

    def compute(
        self,
        depth: np.ndarray,
        camera: CameraModel,
        confidence: np.ndarray | None = None,
        gravity_optical: Sequence[float] | np.ndarray | None = None,
        output_frame: str = OPTICAL,
    ) -> ObstacleCloud:
        """Obstacle points of one depth frame (metres, NaN = invalid) seen by `camera`.

        `gravity_optical` (DOWN, optical frame) overrides `mount_roll_pitch`. `output_frame` is
        "optical" or "gravity" (the latter needs gravity). stats: pixels, valid, confident,
        in_range, in_height_band, voxels, kept (point count after each stage), height_filtered.
        """
        depth = np.asarray(depth)
        if depth.ndim != 2 or depth.shape != (camera.height, camera.width):
            raise InvalidInputError(
                f"depth shape {depth.shape} does not match camera size {camera.height}x{camera.width}"
            )
        if output_frame not in (OPTICAL, GRAVITY):
            raise InvalidInputError(f"output_frame must be '{OPTICAL}' or '{GRAVITY}', got '{output_frame}'")
        use_conf = confidence is not None
        if use_conf:
            confidence = np.asarray(confidence)
            if confidence.shape != depth.shape:
                raise InvalidInputError(f"confidence shape {confidence.shape} does not match depth {depth.shape}")
        g = unit_gravity(gravity_optical) if gravity_optical is not None else self.mount_gravity
        use_height = g is not None and self.height_band is not None
        if use_height and self.camera_height is None:
            raise InvalidInputError(
                "gravity is known but camera_height is None: the height band needs the camera height "
                "above the floor (or construct the filter with height_band=None)"
            )
        if output_frame == GRAVITY and g is None:
            raise InvalidInputError("output_frame 'gravity' needs gravity_optical or mount_roll_pitch")
        d = self.decimation
        z = np.ascontiguousarray(depth[::d, ::d], dtype=np.float32)
        conf = (
            np.ascontiguousarray(confidence[::d, ::d], dtype=np.float32) if use_conf else np.zeros((1, 1), np.float32)
        )
        rx, ry = self._decimated_rays(camera)
        hmin, hmax = self.height_band if use_height else (0.0, 0.0)
        stats = np.zeros(6, np.int64)
        while True:
            n, centroids = _voxel_depth(
                z, rx, ry, conf, use_conf, self.min_confidence, self.min_depth, self.max_depth,
                g if g is not None else np.zeros(3), use_height,
                self.camera_height or 0.0, hmin, hmax, self.leaf_size, self.min_neighbors,
                self._table.keys, self._table.vals, self._table.shift, stats,
            )  # fmt: skip
            if n >= 0:
                break
            self._table.grow()
        if output_frame == GRAVITY:
            R, t = gravity_frame_transform(g, self.camera_height)  # type: ignore[arg-type]
            centroids = centroids @ R.T + t
        names = ("valid", "confident", "in_range", "in_height_band", "voxels", "kept")
        info: dict = {"pixels": int(z.size), **{k: int(v) for k, v in zip(names, stats)}}
        info["height_filtered"] = bool(use_height)
        return ObstacleCloud(np.ascontiguousarray(centroids, dtype=np.float32), info, output_frame)
