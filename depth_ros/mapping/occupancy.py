"""A 2D occupancy grid for Nav2 from depth frames and the TSDF surface.

Cells count frames: `hits` (a point of the frame between `min_height` and `max_height` above the
ground fell in the cell) and `passes` (no hit, but a camera ray crossed the cell on its way to a
point, or hit the floor there). `grid()` gives nav_msgs/OccupancyGrid values: -1 where nothing was
observed, 100 where hits make up at least `occupied_ratio` of the frames that observed the cell,
else 0. The map node also marks the TSDF's surface in the band as occupied (`DepthMapper.grid`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_ros.core.errors import InvalidInputError

UNKNOWN, FREE, OCCUPIED = -1, 0, 100


@dataclass(frozen=True)
class GridConfig:
    """Cell size (m), square extent (m) centred on the map origin, the obstacle height band above
    the ground (m, z of the map frame), ray subsampling (pixels) and the occupied ratio."""

    resolution: float = 0.05
    size: float = 40.0
    ground_z: float = 0.0
    min_height: float = 0.1
    max_height: float = 1.5
    pixel_step: int = 4
    occupied_ratio: float = 0.3

    def __post_init__(self) -> None:
        if not (self.resolution > 0 and self.size > self.resolution):
            raise InvalidInputError(f"need 0 < resolution < size, got {self.resolution}, {self.size}")
        if not self.min_height < self.max_height:
            raise InvalidInputError(f"need min_height < max_height, got {self.min_height}, {self.max_height}")
        if self.pixel_step < 1 or not 0 < self.occupied_ratio <= 1:
            raise InvalidInputError(f"pixel_step must be >= 1 and occupied_ratio in (0, 1], got "
                                    f"{self.pixel_step}, {self.occupied_ratio}")


class OccupancyGrid2D:
    """Hit and pass counts on a square grid whose cell (0, 0) starts at `origin` (x, y, metres)."""

    def __init__(self, config: GridConfig | None = None) -> None:
        self.config = config or GridConfig()
        n = int(np.ceil(self.config.size / self.config.resolution))
        self.cells = n
        self.origin = (-n * self.config.resolution / 2.0, -n * self.config.resolution / 2.0)
        self.hits = np.zeros((n, n), np.int32)
        self.passes = np.zeros((n, n), np.int32)

    def clear(self) -> None:
        self.hits[:] = 0
        self.passes[:] = 0

    def _cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, inside) of world (x, y) points."""
        r = self.config.resolution
        col = np.floor((xy[:, 0] - self.origin[0]) / r).astype(np.int64)
        row = np.floor((xy[:, 1] - self.origin[1]) / r).astype(np.int64)
        inside = (row >= 0) & (row < self.cells) & (col >= 0) & (col < self.cells)
        return row, col, inside

    def add_frame(self, points_world: np.ndarray, camera_position: np.ndarray) -> None:
        """One frame's valid points (N, 3) in the map frame and the camera position they were seen from.

        A cell counts at most once per frame: as a hit when a point of the frame lies in the obstacle
        band there, else as a pass when a ray crossed it or hit the floor there.
        """
        c = self.config
        pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) == 0:
            return
        height = pts[:, 2] - c.ground_z
        band = (height >= c.min_height) & (height <= c.max_height)
        floor = height < c.min_height
        free = np.zeros(self.cells * self.cells, bool)
        start = np.asarray(camera_position, dtype=np.float64)[:2]
        ends = pts[band | floor, :2]
        if len(ends):
            # Samples every half cell from the camera to half a cell short of each ray's end.
            length = np.linalg.norm(ends - start, axis=1)
            spacing = 0.5 * c.resolution
            dist = np.arange(max(1, int(np.ceil(length.max() / spacing)))) * spacing
            stop = dist[None, :] < length[:, None] - spacing
            frac = dist[None, :] / np.maximum(length, 1e-9)[:, None]
            samples = (start + frac[..., None] * (ends - start)[:, None, :])[stop]
            row, col, inside = self._cells(samples)
            free[row[inside] * self.cells + col[inside]] = True
        if floor.any():
            row, col, inside = self._cells(pts[floor, :2])
            free[row[inside] * self.cells + col[inside]] = True
        hit = np.zeros(self.cells * self.cells, bool)
        if band.any():
            row, col, inside = self._cells(pts[band, :2])
            hit[row[inside] * self.cells + col[inside]] = True
        self.hits.reshape(-1)[hit] += 1
        self.passes.reshape(-1)[free & ~hit] += 1

    def grid(self) -> np.ndarray:
        """(cells, cells) int8, row-major from `origin` (nav_msgs/OccupancyGrid order): -1, 0 or 100."""
        seen = self.hits + self.passes
        out = np.full(self.hits.shape, UNKNOWN, np.int8)
        out[seen > 0] = FREE
        with np.errstate(invalid="ignore", divide="ignore"):
            occupied = (self.hits > 0) & (self.hits >= self.config.occupied_ratio * seen)
        out[occupied] = OCCUPIED
        return out
