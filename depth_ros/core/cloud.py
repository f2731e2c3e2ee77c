"""Depth image -> organised point cloud in depth_image_proc's byte layout.

Layouts (little-endian float32 fields, `is_dense=false`, one point per pixel, row-major):
- xyz:     x@0 y@4 z@8,          point_step 16 (bytes 12-15 padding)
- xyzrgb:  x@0 y@4 z@8 rgb@16,   point_step 32; rgb is the packed-float 0x00RRGGBB
           (b at byte 16, g at 17, r at 18), as depth_image_proc writes it.
An optional extra float32 field (e.g. `confidence`) goes into the padding: offset 12 for xyz,
20 for xyzrgb, so the point step stays that of depth_image_proc.

Invalid pixels (NaN, <= 0, outside [min_depth, max_depth]) become NaN points; the cloud stays
organised. The output buffer is an `array.array('B')` that a sensor_msgs/PointCloud2 can take
without a copy; a builder reuses it across frames of the same size.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Sequence

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
        ok = (d > 0) & (d <= max_depth)
        if min_depth > 0:
            ok &= d >= min_depth
    return np.where(ok, d, np.float32(np.nan))


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
        self._rays_key: tuple | None = None
        self._rays: tuple[np.ndarray, np.ndarray] | None = None

    def _decimated_rays(self, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
        key = (camera, self.decimation)
        if self._rays_key != key:
            r, d = camera.rays, self.decimation
            self._rays = (r.x[::d, ::d], r.y[::d, ::d])
            self._rays_key = key
        return self._rays

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
        z = valid_depth(depth[::d, ::d], self.min_depth, self.max_depth)
        h, w = z.shape
        step = self.layout.point_step
        nbytes = h * w * step
        if reuse and self._buffer is not None and len(self._buffer) == nbytes:
            buf = self._buffer
        else:
            buf = array.array("B", bytes(nbytes))
            if reuse:
                self._buffer = buf
        words = np.frombuffer(buf, dtype=np.float32).reshape(h, w, step // 4)
        rx, ry = self._decimated_rays(camera)
        np.multiply(z, rx, out=words[:, :, 0])
        np.multiply(z, ry, out=words[:, :, 1])
        words[:, :, 2] = z
        if self.rgb:
            raw = np.frombuffer(buf, dtype=np.uint8).reshape(h, w, step)
            c = rgb[::d, ::d]
            raw[:, :, 16] = c[:, :, 2]
            raw[:, :, 17] = c[:, :, 1]
            raw[:, :, 18] = c[:, :, 0]
        if self.extra_field:
            words[:, :, self.layout.offset(self.extra_field) // 4] = extra[::d, ::d]
        return OrganizedCloud(buffer=buf, height=h, width=w, layout=self.layout)


def depth_to_points(
    depth: np.ndarray, camera: CameraModel, min_depth: float = 0.0, max_depth: float = float("inf")
) -> np.ndarray:
    """(H, W) depth -> (H, W, 3) float32 optical-frame points, NaN where depth is invalid."""
    z = valid_depth(depth, min_depth, max_depth)
    r = camera.rays
    return np.stack([z * r.x, z * r.y, z], axis=-1)


def pack_rgb_float(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 whose bits are 0x00RRGGBB (PCL/RViz packed colour)."""
    c = rgb.astype(np.uint32)
    return ((c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]).view(np.float32)
