"""TSDF map and occupancy grid against hand-computed scenes.

A camera 0.5 m above the ground looking along the map's x axis sees a wall 3.02 m ahead (every
pixel's optical depth is 3.02 m): the TSDF's surface must lie on the plane x = 3.02, the grid must
mark the wall's cells between the obstacle heights as occupied, the cells the rays crossed as
free and the rest unknown; the block budget must hold.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("open3d")

from depth_ros.core.camera import CameraModel  # noqa: E402
from depth_ros.core.transforms import OPTICAL_FROM_BODY  # noqa: E402
from depth_ros.mapping.mapper import DepthMapper  # noqa: E402
from depth_ros.mapping.occupancy import FREE, OCCUPIED, UNKNOWN, GridConfig, OccupancyGrid2D  # noqa: E402
from depth_ros.mapping.tsdf import TsdfConfig, TsdfMap  # noqa: E402

CAM = CameraModel(160, 120, 120.0, 120.0, 79.5, 59.5)
WALL = 3.02


def _looking_along_x(height: float = 0.5, x: float = 0.0) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = OPTICAL_FROM_BODY.R.T  # optical -> map axes (x forward, z up)
    T[:3, 3] = [x, 0.0, height]
    return T


def test_tsdf_surface_lies_on_the_wall_and_nan_is_ignored():
    tsdf = TsdfMap(TsdfConfig(voxel_size=0.05))
    depth = np.full((CAM.height, CAM.width), WALL, np.float32)
    depth[:, :40] = np.nan  # no depth on the left quarter
    for _ in range(3):
        tsdf.integrate(depth, CAM, _looking_along_x())
    pts = tsdf.surface_points()
    assert len(pts) > 1000
    np.testing.assert_allclose(pts[:, 0], WALL, atol=1e-4)
    # The half-angle of the image is atan(79.5 / 120): the wall spans |y| <= 3.02 * 79.5 / 120 = 2.0 m,
    # and the NaN columns (u < 40) are its y > 3.02 * (79.5 - 40) / 120 = 0.99 m part (left = +y).
    assert pts[:, 1].min() == pytest.approx(-WALL * 79.5 / 120, abs=0.1)
    assert pts[:, 1].max() == pytest.approx(WALL * (79.5 - 39.5) / 120, abs=0.1)


def test_block_budget_drops_the_farthest_blocks():
    tsdf = TsdfMap(TsdfConfig(voxel_size=0.05, block_budget=300))
    depth = np.full((CAM.height, CAM.width), WALL, np.float32)
    for x in (0.0, -4.0, -8.0):  # backing away: the new wall blocks (farther) replace nothing; the old near ones go
        tsdf.integrate(depth, CAM, _looking_along_x(x=x))
    assert tsdf.blocks <= 300 and tsdf.dropped_blocks > 0


def test_grid_marks_the_wall_occupied_the_way_free_and_the_rest_unknown():
    mapper = DepthMapper(TsdfConfig(voxel_size=0.05), GridConfig(resolution=0.1, size=10.0))
    depth = np.full((CAM.height, CAM.width), WALL, np.float32)
    for _ in range(3):
        mapper.add(depth, CAM, _looking_along_x())
    grid = mapper.grid()
    occ = mapper.occupancy
    x_of = lambda col: occ.origin[0] + (col + 0.5) * 0.1  # noqa: E731
    y_of = lambda row: occ.origin[1] + (row + 0.5) * 0.1  # noqa: E731
    rows, cols = np.nonzero(grid == OCCUPIED)
    assert len(rows) and np.all(np.abs(x_of(cols) - WALL) < 0.1)
    row0 = int((0.0 - occ.origin[1]) / 0.1)
    line = grid[row0]  # y = 0: from the camera at x = 0 to the wall
    free = [c for c in range(occ.cells) if 0.2 < x_of(c) < WALL - 0.2]
    assert np.all(line[free] == FREE)
    assert line[int((WALL + 1.0 - occ.origin[0]) / 0.1)] == UNKNOWN  # behind the wall
    assert grid[int((-2.0 - occ.origin[1]) / 0.1), int((-2.0 - occ.origin[0]) / 0.1)] == UNKNOWN  # behind the camera
    assert np.all(np.abs(y_of(rows)) <= WALL * 79.5 / 120 + 0.15)


def test_obstacles_outside_the_height_band_are_not_occupied():
    grid = OccupancyGrid2D(GridConfig(resolution=0.1, size=10.0, min_height=0.1, max_height=1.5))
    pts = np.array([[2.0, 0.0, 0.05], [2.0, 1.0, 2.0], [2.0, -1.0, 1.0]])  # floor, above the band, in the band
    grid.add_frame(pts, np.array([0.0, 0.0, 0.5]))
    g = grid.grid()
    cell = lambda x, y: g[int((y - grid.origin[1]) / 0.1), int((x - grid.origin[0]) / 0.1)]  # noqa: E731
    assert cell(2.0, 0.0) == FREE and cell(2.0, -1.0) == OCCUPIED and cell(2.05, 1.05) != OCCUPIED
