"""Navigation outputs of a depth result: a filtered obstacle cloud and a LaserScan.

Gravity comes from the IMU (the fusion stage's attitude) or, without an IMU, from a fixed
mounting roll/pitch; without either, obstacles are not height-filtered and the scan uses the
row band around the optical centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from depth_ros.pipeline.param_schema import ParamDef, converted, param, shared
from depth_ros.pipeline.pipeline import DepthResult

if TYPE_CHECKING:
    from depth_ros.core.laserscan import Scan
    from depth_ros.core.obstacles import ObstacleCloud


@dataclass
class NavConfig:
    """Obstacle cloud and LaserScan settings; fields made with `param` are the node's ROS parameters."""

    obstacles_enabled: bool = param(False, "obstacles.enabled",
                                    "Publish `points/obstacles`: filtered, voxelised obstacle cloud for costmaps.")
    leaf_size: float = param(0.05, "obstacles.leaf_size", "Voxel size (metres); one centroid per occupied voxel.",
                             min=0.01, max=1.0)
    min_confidence: float = param(0.5, "obstacles.min_confidence", "Pixels with lower depth confidence are ignored.",
                                  min=0.0, max=1.0)
    obstacle_min_depth: float = param(0.1, "obstacles.min_depth", "Nearest depth used for obstacles (metres).",
                                      min=0.0, max=100.0)
    obstacle_max_depth: float = param(5.0, "obstacles.max_depth", "Farthest depth used for obstacles (metres).",
                                      min=0.1, max=100.0)
    min_neighbors: int = param(2, "obstacles.min_neighbors", "Voxels with fewer occupied neighbours (of 26) are noise.",
                               min=0, max=26)
    height_band: tuple[float, float] = converted(
        ParamDef("obstacles.min_height", 0.05, "Lowest obstacle height above the ground (metres; needs gravity).",
                 -10.0, 10.0),
        ParamDef("obstacles.max_height", 2.0, "Highest obstacle height above the ground (metres; needs gravity).",
                 -10.0, 20.0),
        default=(0.05, 2.0),
    )
    output_frame: str = param("optical", "obstacles.output_frame", "optical: the image's frame; gravity: "
                              "gravity-aligned frame obstacles.gravity_frame_id (z up; its TF must be provided).",
                              choices=("optical", "gravity"))
    gravity_frame_id: str = param("camera_gravity", "obstacles.gravity_frame_id",
                                  "frame_id of gravity-aligned obstacle clouds.")
    scan_enabled: bool = param(False, "scan.enabled",
                               "Publish `scan` (sensor_msgs/LaserScan) like depthimage_to_laserscan.")
    scan_range_min: float = param(0.1, "scan.range_min", "LaserScan range_min (metres).", min=0.0, max=100.0)
    scan_range_max: float = param(8.0, "scan.range_max", "LaserScan range_max (metres).", min=0.1, max=200.0)
    scan_height_rows: int = param(10, "scan.height_rows",
                                  "Rows around the optical centre used per beam (row-band mode).", min=1, max=4096)
    scan_use_gravity: bool = param(False, "scan.use_gravity_band", "With gravity and ground.camera_height: use every "
                                   "pixel whose height is inside [obstacles.min_height, obstacles.max_height].")
    scan_frame_id: str = param("camera_link", "scan.frame_id",
                               "frame_id of the scan: a frame with x forward, z up at the camera.")
    camera_height: float = shared(0.0, "ground.camera_height")  # metres; 0 = unknown (no height band)
    # Fixed mounting when there is no IMU (None: not fixed).
    mount_roll_pitch: tuple[float, float] | None = converted(
        ParamDef("mount.fixed_gravity", False, "Without an IMU: take gravity from mount.roll / mount.pitch."),
        ParamDef("mount.roll", 0.0, "Camera roll w.r.t. gravity (rad, REP-103) when mount.fixed_gravity.",
                 -3.15, 3.15),
        ParamDef("mount.pitch", 0.0, "Camera pitch w.r.t. gravity (rad, + = looking down) when mount.fixed_gravity.",
                 -1.58, 1.58),
        default=None,
    )


class NavOutputs:
    """Computes obstacle clouds and scans from pipeline results (one instance per worker thread)."""

    def __init__(self, config: NavConfig) -> None:
        # The kernels' modules import numba (its import and JIT cost ~125 MB): loaded only by a node that
        # publishes obstacles or a scan, not by every node that declares the parameters (NavConfig).
        from depth_ros.core.laserscan import DepthToScan  # noqa: PLC0415
        from depth_ros.core.obstacles import ObstacleFilter, gravity_from_roll_pitch  # noqa: PLC0415

        self._gravity_from_roll_pitch = gravity_from_roll_pitch
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
            return self._gravity_from_roll_pitch(*self.config.mount_roll_pitch)
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
