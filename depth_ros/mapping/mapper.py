"""Depth frames + camera poses -> the TSDF and the occupancy grid, the object the map node runs."""

from __future__ import annotations

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.cloud import depth_to_points
from depth_ros.mapping.occupancy import OCCUPIED, GridConfig, OccupancyGrid2D
from depth_ros.mapping.tsdf import TsdfConfig, TsdfMap


class DepthMapper:
    """Integrates frames into a `TsdfMap` and an `OccupancyGrid2D` (poses: camera optical -> map)."""

    def __init__(self, tsdf: TsdfConfig | None = None, grid: GridConfig | None = None) -> None:
        self.tsdf = TsdfMap(tsdf)
        self.occupancy = OccupancyGrid2D(grid)

    def add(self, depth: np.ndarray, camera: CameraModel, T_map_cam: np.ndarray,
            confidence: np.ndarray | None = None) -> None:
        """Fuse one depth image (float32 metres, NaN = none) seen from `T_map_cam` (4x4)."""
        self.tsdf.integrate(depth, camera, T_map_cam, confidence)
        step = self.occupancy.config.pixel_step
        pts = depth_to_points(depth, camera, 0.0, self.tsdf.config.max_depth, step).reshape(-1, 3)
        pts = pts[np.isfinite(pts[:, 2])]
        T = np.asarray(T_map_cam, dtype=np.float64)
        self.occupancy.add_frame(pts @ T[:3, :3].T + T[:3, 3], T[:3, 3])

    def clear(self) -> None:
        self.tsdf.clear()
        self.occupancy.clear()

    def surface_points(self) -> np.ndarray:
        return self.tsdf.surface_points()

    def grid(self, surface: np.ndarray | None = None) -> np.ndarray:
        """The occupancy grid (int8, -1/0/100), with the TSDF's surface in the obstacle band occupied
        (`surface`: the surface points when the caller extracted them already)."""
        out = self.occupancy.grid()
        c, occ = self.occupancy.config, self.occupancy
        pts = self.tsdf.surface_points() if surface is None else surface
        if len(pts):
            height = pts[:, 2] - c.ground_z
            pts = pts[(height >= c.min_height) & (height <= c.max_height)]
            row, col, inside = occ._cells(pts[:, :2])
            out[row[inside], col[inside]] = OCCUPIED
        return out
