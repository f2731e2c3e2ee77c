"""View frames from the messages a node publishes: recorded in an output bag, or received live.

A bundle is the messages of one image stamp keyed by kind (see `KINDS`), plus optionally the radar
cloud nearest in time and the values of the node's last /diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from depth_ros.core.errors import BagError
from depth_ros.core.radar import project_points, to_camera
from depth_ros.core.transforms import RigidTransform
from depth_ros.ros.conversions import (
    camera_model_from_info,
    image_to_array,
    image_to_depth_m,
    image_to_rgb,
    read_fields,
    stamp_to_ns,
)
from depth_ros.view.frame import RadarPoints, ViewFrame, finite_points, radar_xyz, scan_points, unpack_rgb

# kind -> (message type, topic name relative to the node's namespace)
KINDS = {
    "image": ("sensor_msgs/msg/Image", "image"),
    "camera_info": ("sensor_msgs/msg/CameraInfo", "camera_info"),
    "depth": ("sensor_msgs/msg/Image", "depth/image"),
    "depth_info": ("sensor_msgs/msg/CameraInfo", "depth/camera_info"),
    "confidence": ("sensor_msgs/msg/Image", "depth/confidence"),
    "points": ("sensor_msgs/msg/PointCloud2", "points"),
    "obstacles": ("sensor_msgs/msg/PointCloud2", "points/obstacles"),
    "scan": ("sensor_msgs/msg/LaserScan", "scan"),
}
# /diagnostics key -> the view's scalar (the node reports its last frame's fusion info there).
DIAGNOSTIC_SCALARS = {"scale": "scale", "fit_residual": "fit_residual", "radar_used": "radar_used",
                      "radar_points": "radar_points"}
DIAGNOSTIC_LATENCY = {"inference_ms_mean": "inference (mean)", "latency_ms_p95": "latency (p95)"}
RADAR_RANGE = (0.2, 100.0)


def frame_from_messages(msgs: dict[str, Any], diagnostics: dict[str, str] | None = None,
                        T_cam_radar: RigidTransform | None = None, pose: RigidTransform | None = None) -> ViewFrame:
    """The view frame of one stamp's messages (`depth` required); radar needs its extrinsic `T_cam_radar`."""
    depth_msg = msgs["depth"]
    out = ViewFrame(stamp_to_ns(depth_msg.header.stamp), depth=image_to_depth_m(depth_msg), pose=pose)
    info = msgs.get("depth_info") or msgs.get("camera_info")
    out.camera = camera_model_from_info(info) if info is not None else None
    if "image" in msgs:
        rgb = image_to_rgb(msgs["image"])
        out.rgb = rgb if rgb.shape[:2] == out.depth.shape else None
    if "confidence" in msgs:
        out.confidence = image_to_array(msgs["confidence"]).astype(np.float32)
    if "points" in msgs:
        fields = read_fields(msgs["points"], ("x", "y", "z", "rgb"), dtype=None)
        xyz = np.column_stack([fields[k].astype(np.float32) for k in ("x", "y", "z")])
        out.cloud_xyz, out.cloud_rgb = finite_points(xyz, unpack_rgb(fields["rgb"]) if "rgb" in fields else None)
    if "obstacles" in msgs:
        fields = read_fields(msgs["obstacles"], ("x", "y", "z"))
        out.obstacles = np.column_stack([fields[k] for k in ("x", "y", "z")]).astype(np.float32)
    if "scan" in msgs:
        scan = msgs["scan"]
        out.scan = scan_points(float(scan.angle_min), float(scan.angle_increment), np.asarray(scan.ranges))
    if "radar" in msgs and T_cam_radar is not None and out.camera is not None:
        fields = read_fields(msgs["radar"], ("x", "y", "z"))
        pts = to_camera(np.column_stack([fields[k] for k in ("x", "y", "z")]), T_cam_radar)
        proj = project_points(pts, out.camera, *RADAR_RANGE)
        out.radar = RadarPoints(proj.uv, radar_xyz(out.camera, proj.uv, proj.depth), used=None)
    if diagnostics:
        _apply_diagnostics(out, diagnostics)
    return out


def _apply_diagnostics(out: ViewFrame, values: dict[str, str]) -> None:
    for key, name in DIAGNOSTIC_SCALARS.items():
        number = _number(values.get(key))
        if number is not None:
            out.scalars[name] = number
    for key, name in DIAGNOSTIC_LATENCY.items():
        number = _number(values.get(key))
        if number is not None:
            out.latency_ms[name] = number
    if values.get("scale_source"):
        out.scale_source = values["scale_source"]


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def output_topics(bag_topics: dict[str, Any]) -> dict[str, str]:
    """kind -> topic of a bag of node outputs (names ending in the node's relative names); {} if no depth/image."""
    found: dict[str, str] = {}
    for kind, (msgtype, name) in KINDS.items():
        hits = sorted(t for t, info in bag_topics.items() if info.msgtype == msgtype and t.endswith("/" + name))
        if kind == "image":
            hits = [t for t in hits if "depth" not in t] or sorted(
                t for t, info in bag_topics.items() if info.msgtype == msgtype and t.endswith("image_raw"))
        if kind == "points":
            hits = [t for t in hits if "radar" not in t and "lidar" not in t]
        if hits:
            found[kind] = hits[0]
    return found if "depth" in found else {}


def recorded_frames(bag: Any, max_frames: int | None, progress: Any) -> Iterator[ViewFrame]:
    """The frames of a bag of node outputs, one per depth image, in stamp order."""
    topics = output_topics(bag.topics)
    if not topics:
        raise BagError("the bag holds no depth/image topic of a depth_ros node")
    kind_of = {topic: kind for kind, topic in topics.items()}
    pending: dict[int, dict[str, Any]] = {}
    done = 0

    def flush(before_ns: int | None) -> Iterator[ViewFrame]:
        nonlocal done
        for stamp in sorted(s for s in pending if before_ns is None or s < before_ns):
            msgs = pending.pop(stamp)
            if "depth" in msgs and (max_frames is None or done < max_frames):
                done += 1
                progress.update(1)
                yield frame_from_messages(msgs)

    for m in bag.messages(topics=list(kind_of)):
        stamp = stamp_to_ns(m.msg.header.stamp)
        yield from flush(stamp - 1_000_000_000)  # a second behind the newest stamp: complete
        pending.setdefault(stamp, {})[kind_of[m.topic]] = m.msg
        if max_frames is not None and done >= max_frames:
            return
    yield from flush(None)
