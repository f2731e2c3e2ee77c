"""Exact ray-cast depth of simple synthetic scenes, shared by the core, pipeline and graph tests.

World frame REP-103 (x forward, y left, z up), ground plane z = 0, the camera's optical centre at
(0, 0, `height`); `R_world_optical` rotates optical coordinates (x right, y down, z forward) into
the world, e.g. ``LEVEL`` for a level camera looking along world +x. Every pixel's ray is
(x, y, 1) in optical coordinates (the camera's own, possibly distorted, `rays`), so the ray
parameter t of a hit is its optical depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.transforms import OPTICAL_FROM_BODY, rpy_to_matrix

# R_world_optical of a level camera: optical x (right) = -y, optical y (down) = -z, optical z = +x.
LEVEL = OPTICAL_FROM_BODY.R.T


def pitched(pitch: float, roll: float = 0.0) -> np.ndarray:
    """R_world_optical of a camera with REP-103 roll/pitch in radians (pitch > 0 looks down), no yaw."""
    return rpy_to_matrix(roll, pitch, 0.0) @ LEVEL


@dataclass(frozen=True)
class Hits:
    """Per-pixel first hits: ray parameter `t` (= optical depth, float64, inf where nothing is hit),
    `ground` (t of the ground plane alone), world ray directions `dirs` (H, W, 3) and the origin."""

    t: np.ndarray
    ground: np.ndarray
    dirs: np.ndarray
    origin: np.ndarray

    @property
    def depth(self) -> np.ndarray:
        """Optical depth as a depth image: float32, NaN where nothing is hit."""
        return np.where(np.isfinite(self.t), self.t, np.nan).astype(np.float32)

    @property
    def points(self) -> np.ndarray:
        """World hit points (H, W, 3), inf/NaN where nothing is hit."""
        return self.origin + self.t[..., None] * self.dirs

    @property
    def ground_mask(self) -> np.ndarray:
        """Pixels whose first hit is the ground."""
        return (self.t == self.ground) & np.isfinite(self.ground)


def cast(camera: CameraModel, R_world_optical: np.ndarray, height: float, boxes=(), ceiling: float | None = None,
         wall_x: float | None = None) -> Hits:
    """Cast every pixel's ray at the ground plane z = 0, an optional ceiling (plane z = `ceiling`),
    an optional wall (plane x = `wall_x`) and axis-aligned `boxes` ((lo, hi) corners in the world)."""
    rays = camera.rays
    x = np.broadcast_to(rays.x, (camera.height, camera.width)).astype(np.float64)
    y = np.broadcast_to(rays.y, (camera.height, camera.width)).astype(np.float64)
    d = np.stack([x, y, np.ones_like(x)], axis=-1) @ np.asarray(R_world_optical).T  # optical z = 1
    origin = np.array([0.0, 0.0, height])
    with np.errstate(divide="ignore", invalid="ignore"):
        ground = np.where(d[..., 2] < 0, -height / d[..., 2], np.inf)
        t = ground.copy()
        if ceiling is not None:
            t = np.where(d[..., 2] > 0, np.minimum(t, (ceiling - height) / d[..., 2]), t)
        if wall_x is not None:
            t = np.where(d[..., 0] > 0, np.minimum(t, wall_x / d[..., 0]), t)
        for lo, hi in boxes:  # slab test
            t1 = (np.asarray(lo, float) - origin) / d
            t2 = (np.asarray(hi, float) - origin) / d
            near = np.nanmax(np.minimum(t1, t2), axis=-1)
            far = np.nanmin(np.maximum(t1, t2), axis=-1)
            hit = (near <= far) & (near > 0)
            t = np.where(hit & (near < t), near, t)
    return Hits(t, ground, d, origin)
