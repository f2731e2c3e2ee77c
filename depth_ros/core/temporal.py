"""Temporal depth: the previous depth warped into the current camera and fused per pixel in inverse depth.

`TemporalFilter.update` takes the current metric depth (NaN = none), its confidence and the camera
motion since the previous frame (rotation R and translation t with X_cur = R X_prev + t) and returns
the fused depth and confidence. Per pixel (two numba kernels around an OpenCV remap):

1. **Warp (backward, along the current depth).** The current pixel's point X = d * ray(u) is moved
   into the previous camera, X_prev = R^T (X - t), and projected there; the previous inverse depth is
   sampled bilinearly at that pixel (`cv2.remap`; NaN, no prior, where a neighbour has no depth or
   the pixel is outside the image), its variance at the nearest pixel. The previous
   surface point on that ray, X_prev * d_prev / z_prev, moved into the current camera, has depth
   ``z_w = d_prev / z_prev * (d - t_z) + t_z``: the previous depth as seen from here. Lens
   distortion: the pixel offset between the two rays is mapped with the focal lengths (exact for a
   pinhole; for a distorted lens the error is the distortion's gradient times the offset, a fraction
   of a pixel for frame-to-frame motion).
2. **Filter in inverse depth x = 1/d.** The measurement's variance comes from its confidence c,
   ``(sigma * x / c)^2`` (relative error `sigma` at full confidence); the warped prior keeps its own
   variance, scaled with the warp, divided by `memory` (fading memory: in a steady state the history
   weighs `memory`, the new frame 1 - memory) and increased by the motion's uncertainty
   ``(sigma_t * x^2)^2`` (an unknown translation of sigma_t metres along the ray changes x by
   about sigma_t * x^2).
3. **Gate.** Where measurement and prior disagree beyond `gate` standard deviations of their
   difference (disocclusions, moving objects, a wrong motion) the pixel falls back to the current
   frame; when more than `reset_share` of the pixels with a prior do, the motion is not explained and
   the whole frame starts over.

The output confidence maps the fused variance back with the same relation (capped at 1): a
pixel seen consistently over several frames is more certain than one frame says; a pixel whose prior
came with an unknown translation gains less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError

MIN_CONFIDENCE = 0.05  # a measurement's confidence is floored here (its variance stays finite)

# Per-pixel status codes of the last update.
NO_DEPTH, CURRENT, FUSED, REJECTED = 0, 1, 2, 3


@dataclass(frozen=True)
class CameraMotion:
    """Rigid motion of the camera between two frames: X_cur = R X_prev + t (optical frames).

    `translation_sigma`: uncertainty (m) of t, e.g. the assumed travel when no odometry gave t.
    """

    R: np.ndarray
    t: np.ndarray
    translation_sigma: float = 0.0

    def __post_init__(self) -> None:
        R = np.asarray(self.R, dtype=np.float64)
        t = np.asarray(self.t, dtype=np.float64).reshape(-1)
        if R.shape != (3, 3) or not np.isfinite(R).all() or float(np.abs(R @ R.T - np.eye(3)).max()) > 1e-6:
            raise InvalidInputError(f"motion rotation must be a finite 3x3 rotation matrix, got {R.tolist()}")
        if t.shape != (3,) or not np.isfinite(t).all():
            raise InvalidInputError(f"motion translation must be 3 finite values, got {t.tolist()}")
        if not (self.translation_sigma >= 0 and math.isfinite(self.translation_sigma)):
            raise InvalidInputError(f"translation_sigma must be finite and >= 0, got {self.translation_sigma}")
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)

    @classmethod
    def identity(cls, translation_sigma: float = 0.0) -> CameraMotion:
        return cls(np.eye(3), np.zeros(3), translation_sigma)

    @property
    def angle(self) -> float:
        """Rotation angle (rad)."""
        return float(math.acos(max(-1.0, min(1.0, (np.trace(self.R) - 1.0) / 2.0))))


@dataclass(frozen=True)
class TemporalSettings:
    """The filter's constants (module doc); `depth_ros.pipeline.temporal.TemporalConfig` holds them as parameters."""

    sigma: float = 0.05
    memory: float = 0.6
    gate: float = 3.0
    reset_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.sigma <= 10.0:
            raise InvalidInputError(f"sigma must be in (0, 10], got {self.sigma}")
        if not 0.0 < self.memory < 1.0:
            raise InvalidInputError(f"memory must be in (0, 1), got {self.memory}")
        if not self.gate > 0.0:
            raise InvalidInputError(f"gate must be > 0, got {self.gate}")
        if not 0.0 < self.reset_share <= 1.0:
            raise InvalidInputError(f"reset_share must be in (0, 1], got {self.reset_share}")


@dataclass
class TemporalOutput:
    depth: np.ndarray  # float32 metres, NaN = none
    confidence: np.ndarray  # float32 0..1
    status: np.ndarray  # uint8 per pixel: NO_DEPTH, CURRENT (no prior), FUSED, REJECTED (gate); until the next update
    warped: np.ndarray  # float32: the previous depth seen from the current camera (NaN where none); ditto
    fused_share: float  # of the pixels with depth
    rejected_share: float  # of the pixels that had a prior
    reset: str = ""  # why the history was dropped at this frame ("" = it was not)


class TemporalFilter:
    """Holds the previous fused inverse depth and its variance; `update` once per frame (module doc)."""

    def __init__(self, settings: TemporalSettings | None = None) -> None:
        self.settings = settings or TemporalSettings()
        self._state: tuple[np.ndarray, np.ndarray] | None = None  # fused inverse depth (NaN = none), variance
        self._camera: CameraModel | None = None
        self._grid: tuple[np.ndarray, ...] = ()
        self._work: _Work | None = None
        self.stamp_ns: int | None = None

    @property
    def has_state(self) -> bool:
        return self._state is not None

    def reset(self) -> None:
        """Forget the history (time jump, camera change, a frame without metric depth)."""
        self._state = None
        self.stamp_ns = None

    def update(self, depth: np.ndarray, confidence: np.ndarray | None, camera: CameraModel, stamp_ns: int,
               motion: CameraMotion | None) -> TemporalOutput:
        """Fuse the current `depth` (metres, NaN = none) with the history moved by `motion`.

        `motion` None (or no history, or another camera) starts over from this frame.
        """
        depth = np.ascontiguousarray(depth, dtype=np.float32)
        if depth.shape != (camera.height, camera.width):
            raise InvalidInputError(f"depth is {depth.shape}, camera is {camera.width}x{camera.height}")
        reason = ""
        if self._camera is None or self._camera != camera:
            reason = "camera changed" if self._state is not None else ""
            self._camera, self._grid, self._state = camera, _pixel_grid(camera), None
            self._work = _Work(depth.shape)
        conf = self._work.ones if confidence is None else np.ascontiguousarray(confidence, dtype=np.float32)
        if conf.shape != depth.shape:
            raise InvalidInputError(f"confidence is {conf.shape}, depth is {depth.shape}")
        if self._state is not None and motion is None:
            reason = "no motion estimate"
        s = self.settings
        f32 = np.float32
        work = self._work
        rx, ry = self._grid
        R, t = (motion.R, motion.t) if motion is not None else (np.eye(3), np.zeros(3))
        rotation, translation = tuple(f32(r) for r in R.ravel()), tuple(f32(v) for v in t)
        if self._state is not None and motion is not None:
            _maps_kernel()(depth, rx, ry, f32(camera.fx), f32(camera.fy), *rotation, *translation, work.map_u, work.map_v)
            # Inverse depth bilinear; its variance from the nearest pixel (it varies slowly, and a third
            # of the remap's time is saved).
            for src, dst, how in zip(self._state, (work.xs, work.vs), (cv2.INTER_LINEAR, cv2.INTER_NEAREST)):
                cv2.remap(src, work.map_u, work.map_v, how, dst=dst, borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
            xs, vs, var_t = work.xs, work.vs, f32(motion.translation_sigma ** 2)
        else:
            xs = vs = work.none
            var_t = f32(0.0)
        state = work.next_state()
        # depth and confidence go out with the result (callers keep them): fresh arrays every frame.
        d_out, c_out, warped, status = np.empty_like(depth), np.empty_like(depth), work.warped, work.status
        filter_constants = (f32(s.sigma), f32(1.0 / s.memory), f32(s.gate ** 2))
        _fuse_kernel()(depth, conf, xs, vs, rx, ry, rotation[2], rotation[5], rotation[8], *translation, var_t,
                       *filter_constants, *state, d_out, c_out, warped, status)
        n_depth = depth.size - int(np.count_nonzero(status == NO_DEPTH))
        n_fused, n_rejected = int(np.count_nonzero(status == FUSED)), int(np.count_nonzero(status == REJECTED))
        n_prior = n_fused + n_rejected
        if n_prior and n_rejected > s.reset_share * n_prior:
            reason = f"{n_rejected / n_prior:.0%} of the warped pixels disagree: unexplained motion"
            _fuse_kernel()(depth, conf, work.none, work.none, rx, ry, rotation[2], rotation[5], rotation[8],
                           *translation, f32(0.0), *filter_constants, *state, d_out, c_out, warped, status)
            n_fused = 0
        self._state, self.stamp_ns = state, int(stamp_ns)
        return TemporalOutput(d_out, c_out, status, warped, n_fused / max(n_depth, 1),
                              n_rejected / max(n_prior, 1), reason)


class _Work:
    """The filter's working arrays for one image size, reused frame after frame (fresh arrays of this
    size cost more in page faults than the kernels' work); the state alternates between two pairs."""

    def __init__(self, shape: tuple[int, int]) -> None:
        f = np.float32
        self.map_u, self.map_v, self.xs, self.vs, self.warped = (np.empty(shape, f) for _ in range(5))
        self.status = np.empty(shape, np.uint8)
        self.none = np.full(shape, np.nan, f)  # "no prior" for a frame that starts over
        self.ones = np.ones(shape, f)  # the confidence of a depth that comes without one
        self._states = [(np.empty(shape, f), np.empty(shape, f)) for _ in range(2)]
        self._next = 0

    def next_state(self) -> tuple[np.ndarray, np.ndarray]:
        """The pair the kernel writes this frame (the other pair holds the history it reads)."""
        self._next ^= 1
        return self._states[self._next]


def _pixel_grid(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """The camera's rays (x/z, y/z) as float32: (1, W) and (H, 1) for a pinhole camera (less memory to
    stream through every frame), (H, W) each with distortion."""
    r = camera.rays
    return np.ascontiguousarray(r.x, dtype=np.float32), np.ascontiguousarray(r.y, dtype=np.float32)


# Kernels: numba is imported and they are compiled (or loaded from numba's cache) on first use, so a
# node with the temporal stage off never pays for it. Fast-math without the no-NaN assumption: NaN
# marks "no depth" and "no prior" all the way through, and division by zero is IEEE (no checks), so
# that the pixel loops vectorise.
_FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}


@cache
def _maps_kernel():
    import numba  # noqa: PLC0415

    return numba.njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")(_maps)


@cache
def _fuse_kernel():
    import numba  # noqa: PLC0415

    return numba.njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")(_fuse)


def _maps(depth, rx, ry, fx, fy, r00, r01, r02, r10, r11, r12, r20, r21, r22, t0, t1, t2,
          map_u, map_v):  # pragma: no cover - compiled
    """Where each pixel's point lies in the previous image (module doc, step 1): the remap's maps."""
    h, w = depth.shape
    full_x, full_y = rx.shape[0] > 1, ry.shape[1] > 1  # separable rays (pinhole) or a full grid
    # Landings in the outer half pixel are clamped to the last pixel centres, 1/32 px inside (the remap's
    # interpolation step), so that both taps lie in the image; farther out the map points outside
    # (the remap's NaN border: no prior).
    u_max, v_max = np.float32(w - 1 - 1 / 32), np.float32(h - 1 - 1 / 32)
    zero, outside = np.float32(0.0), np.float32(-10.0)
    for v in range(h):
        for u in range(w):
            d = depth[v, u]
            rxv = rx[v, u] if full_x else rx[0, u]
            ryv = ry[v, u] if full_y else ry[v, 0]
            ax = rxv * d - t0
            ay = ryv * d - t1
            az = d - t2
            pz = r02 * ax + r12 * ay + r22 * az
            ipz = np.float32(1.0) / pz
            mu = u + fx * ((r00 * ax + r10 * ay + r20 * az) * ipz - rxv)
            mv = v + fy * ((r01 * ax + r11 * ay + r21 * az) * ipz - ryv)
            ok = d > 0 and pz > np.float32(1e-6) and mu > -0.5 and mv > -0.5 and mu < w - 0.5 and mv < h - 0.5
            map_u[v, u] = min(max(mu, zero), u_max) if ok else outside
            map_v[v, u] = min(max(mv, zero), v_max) if ok else outside


def _fuse(depth, conf, xs_map, vs_map, rx, ry, r02, r12, r22, t0, t1, tz, var_t, sigma, inv_memory, gate2,
          x_out, v_out, d_out, c_out, warped, status):  # pragma: no cover - compiled
    """Filter step per pixel (module doc, steps 2-3): measurement vs warped prior (NaN = none)."""
    h, w = depth.shape
    one = np.float32(1.0)
    full_x, full_y = rx.shape[0] > 1, ry.shape[1] > 1
    for v in range(h):
        for u in range(w):
            d = depth[v, u]
            rxv = rx[v, u] if full_x else rx[0, u]
            ryv = ry[v, u] if full_y else ry[v, 0]
            z_prev = r02 * (rxv * d - t0) + r12 * (ryv * d - t1) + r22 * (d - tz)  # the point's depth there
            has_depth = d > 0
            c = conf[v, u]
            c = c if c > np.float32(MIN_CONFIDENCE) else np.float32(MIN_CONFIDENCE)
            xm = one / d
            sm = sigma * xm / c
            vm = sm * sm
            xs = xs_map[v, u]
            zw = (d - tz) / (z_prev * xs) + tz
            xw = one / zw
            q = xw / xs
            q2 = q * q
            x2 = xw * xw
            vw = vs_map[v, u] * q2 * q2 * inv_memory + var_t * x2 * x2
            has_prior = has_depth and xs > 0 and zw > np.float32(1e-6) and vw < np.inf
            innov = xm - xw
            sv = vw + vm
            fused = has_prior and innov * innov <= gate2 * sv
            k = vw / sv
            xf = xw + k * innov if fused else xm
            vf = vw * (one - k) if fused else vm
            cf = sigma * xf / np.sqrt(vf) if fused else conf[v, u]
            cf = cf if cf < one else one
            x_out[v, u] = xf if has_depth else np.nan
            v_out[v, u] = vf if has_depth else np.inf
            d_out[v, u] = (one / xf if fused else d) if has_depth else np.nan
            c_out[v, u] = cf if has_depth and cf > 0 else np.float32(0.0)
            warped[v, u] = zw if has_prior else np.nan
            status[v, u] = (FUSED if fused else REJECTED) if has_prior else (CURRENT if has_depth else NO_DEPTH)
