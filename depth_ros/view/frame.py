"""What one frame of the view shows, independent of where it came from (pipeline, output bag, live topics)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.transforms import OPTICAL_FROM_BODY, RigidTransform


@dataclass
class RadarPoints:
    """Radar points of one frame in the image: pixels (pixel centres at integers), optical-frame xyz (metres)
    and whether the scale fit used each one (None: unknown, e.g. live)."""

    uv: np.ndarray
    xyz: np.ndarray
    used: np.ndarray | None = None


@dataclass
class ViewFrame:
    """One frame: the images, the clouds (optical frame, metres), the camera pose and the numbers over time."""

    stamp_ns: int
    rgb: np.ndarray | None = None
    camera: CameraModel | None = None
    depth: np.ndarray | None = None  # float32 metres, NaN = no depth
    metric: bool = True
    confidence: np.ndarray | None = None  # float32 0..1
    radar: RadarPoints | None = None
    cloud_xyz: np.ndarray | None = None  # (N, 3) finite points
    cloud_rgb: np.ndarray | None = None  # (N, 3) uint8, or None
    obstacles: np.ndarray | None = None  # (N, 3)
    scan: np.ndarray | None = None  # (N, 3) the LaserScan's returns
    pose: RigidTransform | None = None  # world <- optical frame
    scale_source: str | None = None
    scalars: dict[str, float] = field(default_factory=dict)  # scale, fit_residual, radar_used, radar_points
    latency_ms: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds


def radar_xyz(camera: CameraModel, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Optical-frame points (N, 3) of pixels `uv` at optical depth (z) `depth`, through the camera model."""
    xy = camera.undistort_pixels(uv)
    z = np.asarray(depth, dtype=np.float64).reshape(-1)
    return np.column_stack([xy[:, 0] * z, xy[:, 1] * z, z]).astype(np.float32)


def scan_points(angle_min: float, angle_increment: float, ranges: np.ndarray) -> np.ndarray:
    """The finite returns of a LaserScan (frame x forward, y left, z up at the camera) in the optical frame."""
    r = np.asarray(ranges, dtype=np.float64)
    a = angle_min + angle_increment * np.arange(r.size)
    ok = np.isfinite(r)
    body = np.column_stack([r[ok] * np.cos(a[ok]), r[ok] * np.sin(a[ok]), np.zeros(int(ok.sum()))])
    return (body @ OPTICAL_FROM_BODY.R.T).astype(np.float32)


def finite_points(xyz: np.ndarray, rgb: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of an (..., 3) cloud whose coordinates are all finite, with their colours."""
    pts = np.asarray(xyz, dtype=np.float32).reshape(-1, 3)
    ok = np.isfinite(pts).all(axis=1)
    colours = None if rgb is None else np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)[ok]
    return pts[ok], colours


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 colours of depth_image_proc's packed-float rgb field (0x00RRGGBB)."""
    words = np.ascontiguousarray(packed, dtype=np.float32).reshape(-1).view(np.uint32)
    return np.column_stack([(words >> 16) & 0xFF, (words >> 8) & 0xFF, words & 0xFF]).astype(np.uint8)
