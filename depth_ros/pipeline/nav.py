"""Navigation outputs of a depth result: a filtered obstacle cloud and a LaserScan.

Gravity comes from the IMU (the fusion stage's attitude) or, without an IMU, from a fixed
mounting roll/pitch; without either, obstacles are not height-filtered and the scan uses the
row band around the optical centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_ros.core.laserscan import DepthToScan, Scan
from depth_ros.core.obstacles import ObstacleCloud, ObstacleFilter, gravity_from_roll_pitch
from depth_ros.pipeline.pipeline import DepthResult


@dataclass
class NavConfig:
    obstacles_enabled: bool = False
    leaf_size: float = 0.05
    min_confidence: float = 0.5
    obstacle_min_depth: float = 0.1
    obstacle_max_depth: float = 5.0
    min_neighbors: int = 2
    height_band: tuple[float, float] = (0.05, 2.0)
    output_frame: str = "optical"  # or "gravity"
    scan_enabled: bool = False
    scan_range_min: float = 0.1
    scan_range_max: float = 8.0
    scan_height_rows: int = 10
    scan_use_gravity: bool = False
    camera_height: float = 0.0  # metres; 0 = unknown (no height band)
    mount_roll_pitch: tuple[float, float] | None = None  # fixed mounting when there is no IMU


class NavOutputs:
    """Computes obstacle clouds and scans from pipeline results (one instance per worker thread)."""

    def __init__(self, config: NavConfig) -> None:
        self.config = c = config
        height = c.camera_height if c.camera_height > 0 else None
        self.obstacles = ObstacleFilter(
            leaf_size=c.leaf_size, min_confidence=c.min_confidence, min_depth=c.obstacle_min_depth,
            max_depth=c.obstacle_max_depth, min_neighbors=c.min_neighbors,
            height_band=c.height_band if height else None, camera_height=height,
        )
        self.scan_rows = DepthToScan(range_min=c.scan_range_min, range_max=c.scan_range_max,
                                     scan_height_rows=c.scan_height_rows)
        self.scan_gravity = (
            DepthToScan(range_min=c.scan_range_min, range_max=c.scan_range_max, use_gravity_band=True,
                        height_band=c.height_band, camera_height=height)
            if c.scan_use_gravity and height else None
        )

    def gravity(self, imu_gravity: np.ndarray | None) -> np.ndarray | None:
        if imu_gravity is not None:
            return imu_gravity
        if self.config.mount_roll_pitch is not None:
            return gravity_from_roll_pitch(*self.config.mount_roll_pitch)
        return None

    def obstacle_cloud(self, result: DepthResult, imu_gravity: np.ndarray | None) -> ObstacleCloud:
        g = self.gravity(imu_gravity)
        frame = self.config.output_frame if g is not None else "optical"
        return self.obstacles.compute(result.depth, result.camera, result.confidence, g, output_frame=frame)

    def laser_scan(self, result: DepthResult, imu_gravity: np.ndarray | None) -> Scan:
        """Gravity-band scan when configured and gravity is known, else the row band."""
        g = self.gravity(imu_gravity)
        if self.scan_gravity is not None and g is not None:
            return self.scan_gravity.compute(result.depth, result.camera, g)
        return self.scan_rows.compute(result.depth, result.camera)

    def warmup(self, camera) -> None:
        """Compile the numba kernels now rather than on the first frame."""
        depth = np.full((camera.height, camera.width), 2.0, np.float32)
        result = DepthResult(depth, True, 0, "", camera, confidence=np.ones_like(depth))
        g = self.gravity(None)
        self.obstacle_cloud(result, g)
        self.laser_scan(result, g)
