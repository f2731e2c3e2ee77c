"""A pipeline result as the messages the nodes publish (and the evaluator's output bag records)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from depth_ros.core.cloud import OrganizedCloud
from depth_ros.ros.conversions.camera_info import camera_info_from_model
from depth_ros.ros.conversions.image import depth_to_image
from depth_ros.ros.conversions.pointcloud2 import cloud_to_msg, points_to_msg
from depth_ros.ros.conversions.stamps import make_header

if TYPE_CHECKING:  # types only: their modules import numba, which a node without navigation outputs never loads
    from depth_ros.core.laserscan import Scan
    from depth_ros.core.obstacles import ObstacleCloud

# Output name -> topic, relative to the node's namespace.
RESULT_TOPICS = {"depth": "depth/image", "info": "depth/camera_info", "confidence": "depth/confidence",
                 "points": "points", "obstacles": "points/obstacles", "scan": "scan"}


def result_messages(result: Any, header: Any, outputs: Collection[str], cloud: OrganizedCloud | None = None,
                    obstacles: ObstacleCloud | None = None, scan: Scan | None = None,
                    gravity_frame_id: str = "", scan_frame_id: str = "") -> dict[str, Any]:
    """The messages of one `DepthResult`, keyed by output name (see RESULT_TOPICS), for `outputs` only.

    Depth, confidence, camera info and cloud take `header` (the input image's stamp and frame_id).
    `cloud`, `obstacles` and `scan` are built by the caller (its decimation, its navigation
    settings); obstacles and scan in the "gravity" frame get `gravity_frame_id`, a row-band scan
    `scan_frame_id`. Outputs without data (no camera model, no confidence) are left out.
    """
    out: dict[str, Any] = {}
    if "depth" in outputs:
        out["depth"] = depth_to_image(result.depth, header)
    if "info" in outputs and result.camera is not None:
        out["info"] = camera_info_from_model(result.camera, header)
    if "confidence" in outputs and result.confidence is not None:
        out["confidence"] = depth_to_image(result.confidence, header)
    if "points" in outputs and cloud is not None:
        out["points"] = cloud_to_msg(cloud, header)
    if "obstacles" in outputs and obstacles is not None:
        frame_id = gravity_frame_id if obstacles.frame == "gravity" else header.frame_id
        out["obstacles"] = points_to_msg(obstacles.points, header=make_header(result.stamp_ns, frame_id))
    if "scan" in outputs and scan is not None:
        out["scan"] = scan_to_msg(scan, make_header(result.stamp_ns,
                                                    gravity_frame_id if scan.frame == "gravity" else scan_frame_id))
    return out


def scan_to_msg(scan: Scan, header: Any) -> Any:
    """sensor_msgs/LaserScan of a core `Scan`."""
    from sensor_msgs.msg import LaserScan  # noqa: PLC0415

    msg = LaserScan(header=header, angle_min=scan.angle_min, angle_max=scan.angle_max,
                    angle_increment=scan.angle_increment, time_increment=scan.time_increment,
                    scan_time=scan.scan_time, range_min=scan.range_min, range_max=scan.range_max)
    msg.ranges = scan.ranges.astype(np.float32).tolist()
    return msg
