"""Depth image -> organised point cloud in depth_image_proc's byte layout.

Layouts (little-endian float32 fields, `is_dense=false`, one point per pixel, row-major):
- xyz:     x@0 y@4 z@8,          point_step 16 (bytes 12-15 padding)
- xyzrgb:  x@0 y@4 z@8 rgb@16,   point_step 32; rgb is the packed-float 0x00RRGGBB
           (b at byte 16, g at 17, r at 18), as depth_image_proc writes it.
An optional extra float32 field (e.g. `confidence`) goes into the padding: offset 12 for xyz,
20 for xyzrgb, so the point step stays that of depth_image_proc.

Invalid pixels (NaN, inf, <= 0, outside [min_depth, max_depth]) become NaN points; the cloud
stays organised. The output buffer is an `array.array('B')` that a sensor_msgs/PointCloud2 can
take without a copy; a builder reuses it across frames of the same size.

Speed: `CloudBuilder.build` computes the x, y, z and colour planes with OpenCV's vectorised
kernels (range mask, masked copy, two multiplications by the camera's cached ray grid, a channel
shuffle for the colour) and interleaves them into the output buffer in one `mixChannels` pass:
about the time of copying the cloud's bytes, with no JIT compiler in the process (numba's import and
JIT cost a node ~125 MB of memory). `_fill_numpy` is the plain NumPy version kept as the reference
for tests.
"""

from __future__ import annotations

import array
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError

FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


@dataclass(frozen=True)
class CloudField:
    name: str
    offset: int
    datatype: int = FLOAT32
    count: int = 1


@dataclass(frozen=True)
class CloudLayout:
    fields: tuple[CloudField, ...]
    point_step: int

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def offset(self, name: str) -> int:
        for f in self.fields:
            if f.name == name:
                return f.offset
        raise KeyError(name)


def cloud_layout(rgb: bool = False, extra: Sequence[str] = ()) -> CloudLayout:
    """The depth_image_proc layout, plus at most one extra float32 field in the padding."""
    fields = [CloudField("x", 0), CloudField("y", 4), CloudField("z", 8)]
    extra = tuple(extra)
    if len(extra) > 1:
        raise InvalidInputError(f"at most one extra cloud field is supported, got {extra}")
    if rgb:
        fields.append(CloudField("rgb", 16))
        fields += [CloudField(name, 20) for name in extra]
        return CloudLayout(tuple(fields), 32)
    fields += [CloudField(name, 12) for name in extra]
    return CloudLayout(tuple(fields), 16)


@dataclass
class OrganizedCloud:
    """An organised cloud ready for a PointCloud2: `buffer` holds height*width*point_step bytes."""

    buffer: array.array
    height: int
    width: int
    layout: CloudLayout

    @property
    def row_step(self) -> int:
        return self.width * self.layout.point_step

    def field(self, name: str) -> np.ndarray:
        """An (H, W) float32 view of one field (no copy)."""
        words = self.layout.point_step // 4
        view = np.frombuffer(self.buffer, dtype=np.float32).reshape(self.height, self.width, words)
        return view[:, :, self.layout.offset(name) // 4]

    def xyz(self) -> np.ndarray:
        """(H, W, 3) float32 copy of the coordinates."""
        words = self.layout.point_step // 4
        return np.frombuffer(self.buffer, dtype=np.float32).reshape(self.height, self.width, words)[:, :, :3].copy()


def valid_depth(depth: np.ndarray, min_depth: float = 0.0, max_depth: float = np.inf) -> np.ndarray:
    """Depth with every invalid value (NaN, inf, <= 0, outside [min, max]) replaced by NaN."""
    d = np.asarray(depth, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        ok = (d > 0) & (d <= max_depth) & (d < np.inf)
        if min_depth > 0:
            ok &= d >= min_depth
    return np.where(ok, d, np.float32(np.nan))


_SMALLEST = float(np.nextafter(np.float32(0), np.float32(1)))
_LARGEST = float(np.finfo(np.float32).max)


class _Scratch:
    """Per-size working planes of `_fill_planes` and the rays of one camera at one decimation."""

    def __init__(self, h: int, w: int) -> None:
        self.shape = (h, w)
        self.z, self.x, self.y = (np.empty((h, w), np.float32) for _ in range(3))
        self.mask = np.empty((h, w), np.uint8)
        self.bgr0 = np.zeros((h, w, 4), np.uint8)  # the packed colour's bytes b, g, r, 0
        self.rays_of: tuple[CameraModel, int] | None = None
        self.rx = self.ry = self.z

    def rays(self, camera: CameraModel, decimation: int) -> tuple[np.ndarray, np.ndarray]:
        if self.rays_of != (camera, decimation):
            r, d = camera.rays, decimation
            self.rx = np.ascontiguousarray(np.broadcast_to(r.x[::d, ::d], self.shape), dtype=np.float32)
            self.ry = np.ascontiguousarray(np.broadcast_to(r.y[::d, ::d], self.shape), dtype=np.float32)
            self.rays_of = (camera, decimation)
        return self.rx, self.ry


def _fill_planes(words: np.ndarray, depth: np.ndarray, rays: tuple[np.ndarray, np.ndarray], lo: float, hi: float,
                 rgb: np.ndarray | None, extra: np.ndarray | None, extra_word: int, scratch: _Scratch) -> None:
    """x, y, z (NaN when invalid), packed colour and extra into the (h, w, point_step / 4) float32 view
    `words` of the output buffer: each plane computed with OpenCV's vector kernels, then one
    `mixChannels` pass interleaves them into the buffer (the padding words are left as they are, zero)."""
    s = scratch
    cv2.inRange(depth, max(lo, _SMALLEST), min(hi, _LARGEST), dst=s.mask)  # NaN, inf, <= 0 and out of range: 0
    s.z.fill(np.nan)
    cv2.copyTo(depth, s.mask, dst=s.z)
    cv2.multiply(s.z, rays[0], dst=s.x)
    cv2.multiply(s.z, rays[1], dst=s.y)
    planes, pairs = [s.x, s.y, s.z], [0, 0, 1, 1, 2, 2]
    if rgb is not None:
        cv2.mixChannels([rgb], [s.bgr0], [0, 2, 1, 1, 2, 0])
        planes.append(s.bgr0.view(np.float32)[:, :, 0])
        pairs += [len(planes) - 1, 4]
    if extra is not None:
        planes.append(extra)
        pairs += [len(planes) - 1, extra_word]
    cv2.mixChannels(planes, [words], pairs)


def _fill_numpy(
    buffer: array.array,
    layout: CloudLayout,
    depth: np.ndarray,
    camera: CameraModel,
    rgb: np.ndarray | None,
    extra: np.ndarray | None,
    extra_field: str | None,
    min_depth: float,
    max_depth: float,
    decimation: int,
) -> None:
    """NumPy reference of `_fill_cloud` (same bytes), for tests and comparisons."""
    d = decimation
    z = valid_depth(depth[::d, ::d], min_depth, max_depth)
    h, w = z.shape
    step = layout.point_step
    words = np.frombuffer(buffer, dtype=np.float32).reshape(h, w, step // 4)
    r = camera.rays
    np.multiply(z, r.x[::d, ::d], out=words[:, :, 0])
    np.multiply(z, r.y[::d, ::d], out=words[:, :, 1])
    words[:, :, 2] = z
    if rgb is not None:
        raw = np.frombuffer(buffer, dtype=np.uint8).reshape(h, w, step)
        c = rgb[::d, ::d]
        raw[:, :, 16] = c[:, :, 2]
        raw[:, :, 17] = c[:, :, 1]
        raw[:, :, 18] = c[:, :, 0]
    if extra_field is not None:
        words[:, :, layout.offset(extra_field) // 4] = extra[::d, ::d]


def _new_buffer(nbytes: int) -> array.array:
    # array repetition is one memset; array.array("B", bytes(n)) would zero twice.
    return array.array("B", [0]) * nbytes


class CloudBuilder:
    """Builds organised clouds from depth (+ colour, + one extra field), reusing its buffer.

    A cloud returned by `build` stays valid until the next call with `reuse=True` (the default
    for nodes); pass `reuse=False` to get a fresh buffer that the caller owns.
    """

    def __init__(
        self,
        rgb: bool = False,
        extra_field: str | None = None,
        min_depth: float = 0.0,
        max_depth: float = float("inf"),
        decimation: int = 1,
    ) -> None:
        if decimation < 1:
            raise InvalidInputError(f"cloud decimation must be >= 1, got {decimation}")
        if not (max_depth > min_depth >= 0):
            raise InvalidInputError(f"need 0 <= min_depth < max_depth, got [{min_depth}, {max_depth}]")
        self.layout = cloud_layout(rgb, (extra_field,) if extra_field else ())
        self.rgb = rgb
        self.extra_field = extra_field
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.decimation = int(decimation)
        self._buffer: array.array | None = None
        self._scratch: _Scratch | None = None

    def build(
        self,
        depth: np.ndarray,
        camera: CameraModel,
        rgb: np.ndarray | None = None,
        extra: np.ndarray | None = None,
        reuse: bool = True,
    ) -> OrganizedCloud:
        """Depth (H, W) in metres with the camera of that image -> organised cloud."""
        if depth.ndim != 2 or depth.shape != (camera.height, camera.width):
            raise InvalidInputError(
                f"depth shape {depth.shape} does not match camera size {camera.height}x{camera.width}"
            )
        if self.rgb and (rgb is None or rgb.shape[:2] != depth.shape or rgb.ndim != 3 or rgb.shape[2] < 3):
            raise InvalidInputError(
                f"colour image of shape {None if rgb is None else rgb.shape} does not match depth {depth.shape}"
            )
        if self.extra_field and (extra is None or extra.shape != depth.shape):
            raise InvalidInputError(
                f"extra field '{self.extra_field}' of shape {None if extra is None else extra.shape} "
                f"does not match depth {depth.shape}"
            )
        d = self.decimation
        h, w = -(-depth.shape[0] // d), -(-depth.shape[1] // d)
        step = self.layout.point_step
        nbytes = h * w * step
        if reuse and self._buffer is not None and len(self._buffer) == nbytes:
            buf = self._buffer
        else:
            buf = _new_buffer(nbytes)
            if reuse:
                self._buffer = buf
        words = np.frombuffer(buf, dtype=np.float32).reshape(h, w, step // 4)
        if self._scratch is None or self._scratch.shape != (h, w):
            self._scratch = _Scratch(h, w)
        depth = np.ascontiguousarray(depth[::d, ::d], dtype=np.float32)
        colour = np.ascontiguousarray(rgb[::d, ::d], dtype=np.uint8) if self.rgb else None
        extra_word = 0
        if self.extra_field:
            extra = np.ascontiguousarray(extra[::d, ::d], dtype=np.float32)
            extra_word = self.layout.offset(self.extra_field) // 4
        _fill_planes(words, depth, self._scratch.rays(camera, d), self.min_depth, self.max_depth, colour,
                     extra if self.extra_field else None, extra_word, self._scratch)
        return OrganizedCloud(buffer=buf, height=h, width=w, layout=self.layout)


def depth_to_points(
    depth: np.ndarray, camera: CameraModel, min_depth: float = 0.0, max_depth: float = float("inf"), step: int = 1
) -> np.ndarray:
    """(H, W) depth -> (H, W, 3) float32 optical-frame points, NaN where depth is invalid; every
    `step`-th pixel in both directions only (the others are never computed)."""
    z = valid_depth(depth[::step, ::step], min_depth, max_depth)
    r = camera.rays  # (1, W) / (H, 1) when separable, else (H, W): both slice the same way
    return np.stack([z * r.x[::step, ::step], z * r.y[::step, ::step], z], axis=-1)


def pack_rgb_float(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 whose bits are 0x00RRGGBB (PCL/RViz packed colour)."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    # The 4 bytes of each word written in place (one pass, no per-channel uint32 temporaries).
    out = np.zeros(rgb.shape[:-1] + (4,), np.uint8)
    if sys.byteorder == "little":
        out[..., :3] = rgb[..., 2::-1]
    else:
        out[..., 1:] = rgb[..., :3]
    return out.view(np.float32)[..., 0]
