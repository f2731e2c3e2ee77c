"""Offline replay of a bag through the node's own feeder and pipeline, frame by frame, in time order."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from depth_ros.core.errors import BagError, DepthRosError
from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical
from depth_ros.evaluation.scoring import gt_from_lidar
from depth_ros.ros.conversions import image_to_depth_m, stamp_to_ns
from depth_ros.ros.params import load_params_file, resolve_values

TYPE_IMAGE = "sensor_msgs/msg/Image"
TYPE_COMPRESSED = "sensor_msgs/msg/CompressedImage"
TYPE_INFO = "sensor_msgs/msg/CameraInfo"
TYPE_CLOUD = "sensor_msgs/msg/PointCloud2"
TYPE_IMU = "sensor_msgs/msg/Imu"
TYPE_ODOM = "nav_msgs/msg/Odometry"


@dataclass
class Topics:
    image: str
    camera_info: str | None
    gt: str | None
    radar: str | None = None
    imu: str | None = None
    odom: str | None = None
    gt_is_lidar: bool = False


def pick_topics(bag_topics: dict[str, Any], args: argparse.Namespace) -> Topics:
    """Topics by explicit option, else by type and name (the simulator's names first)."""
    def of_type(*types: str) -> list[str]:
        return sorted(t for t, info in bag_topics.items() if info.msgtype in types)

    def choose(explicit: str | None, candidates: list[str], prefer: tuple[str, ...] = (), avoid: str = "") -> str | None:
        if explicit:
            if explicit not in bag_topics:
                raise BagError(f"topic {explicit} is not in the bag; it has: {', '.join(sorted(bag_topics))}")
            return explicit
        for word in prefer:
            hits = [t for t in candidates if word in t and not (avoid and avoid in t)]
            if hits:
                return hits[0]
        rest = [t for t in candidates if not (avoid and avoid in t)]
        return rest[0] if rest else None

    images = of_type(TYPE_IMAGE, TYPE_COMPRESSED)
    image = choose(args.image_topic, images, ("image_raw", "image", "color"), avoid="depth")
    if image is None:
        raise BagError(f"no camera image topic in the bag (topics: {', '.join(sorted(bag_topics))}); pass --image-topic")
    gt_lidar = args.gt_lidar
    gt = gt_lidar or choose(args.gt_topic, [t for t in images if t != image], ("ground_truth", "depth"))
    return Topics(
        image=image,
        camera_info=choose(args.camera_info_topic, of_type(TYPE_INFO), ("camera_info",), avoid="depth"),
        gt=gt,
        radar=None if args.no_radar else choose(args.radar_topic, of_type(TYPE_CLOUD), ("radar",), avoid="lidar"),
        imu=None if args.no_imu else choose(args.imu_topic, of_type(TYPE_IMU), ("imu",)),
        odom=choose(None, of_type(TYPE_ODOM), ("odom",)) if args.odom else None,
        gt_is_lidar=bool(gt_lidar),
    )


def iterate_offline(bag: Any, topics: Topics, feeder: Any, gt_fn: Any, max_frames: int | None,
                    progress: Any) -> Iterator[tuple[Any, Any, np.ndarray]]:
    """Feed the bag in time order; yield (frame, result, gt) for every image that has ground truth.

    An image is processed once a message with a later timestamp arrives (or at the end), so that
    its CameraInfo and ground truth stamped at the same instant are in, whichever was written first.
    """
    wanted = [t for t in (topics.image, topics.camera_info, topics.gt, topics.radar, topics.imu, topics.odom) if t]
    gts: dict[int, Any] = {}
    pending: list[tuple[int, Any]] = []
    done = 0

    def flush(before_ns: int | None):
        nonlocal done
        while pending and (before_ns is None or pending[0][0] < before_ns):
            stamp, msg = pending.pop(0)
            if max_frames is not None and done >= max_frames:
                continue
            out = feeder.process(msg)
            progress.update(1)
            if out is None:
                continue
            frame, result = out
            gt = gt_fn(gts.pop(stamp, None), frame)
            if gt is None:
                continue
            done += 1
            yield frame, result, gt

    for m in bag.messages(topics=wanted):
        yield from flush(m.timestamp_ns)
        stamp = _header_ns(m.msg, m.timestamp_ns)
        if m.topic == topics.image:
            pending.append((stamp, m.msg))
        elif m.topic == topics.camera_info:
            feeder.add_camera_info(m.msg)
        elif m.topic == topics.gt:
            gts[stamp] = m.msg
            if len(gts) > 200:
                gts.pop(min(gts))
        elif m.topic == topics.radar:
            feeder.add_radar(m.msg)
        elif m.topic == topics.imu:
            feeder.add_imu(m.msg)
        elif m.topic == topics.odom:
            feeder.add_odometry(m.msg)
        if max_frames is not None and done >= max_frames:
            break
    yield from flush(None)


def _header_ns(msg: Any, default: int) -> int:
    header = getattr(msg, "header", None)
    return stamp_to_ns(header.stamp) if header is not None else default


def node_values(args: argparse.Namespace, bag_path: Path, topics: Topics) -> tuple[str, dict[str, Any], str | None]:
    """(node name, full parameter values, params file used) for this evaluation."""


    node = args.node or ("radar_depth_node" if (topics.radar or topics.imu) else "depth_node")
    params_file = args.params
    if params_file is None:
        candidate = bag_path.parent / "radar_depth_node.params.yaml"
        params_file = str(candidate) if candidate.is_file() else None
    overrides = load_params_file(params_file, node) if params_file else {}
    for item in args.param:
        name, sep, value = item.partition(":=")
        if not sep:
            raise DepthRosError(f"--param expects NAME:=VALUE, got {item!r}")
        overrides[name] = yaml.safe_load(value)
    if args.model:
        overrides["model"] = args.model
        overrides.setdefault("model_path", "")
    if args.model_path:
        overrides["model_path"] = args.model_path
    if topics.radar is None:
        overrides["radar.enabled"] = False
    if topics.imu is None:
        overrides["imu.enabled"] = False
    overrides["queue_policy"], overrides["queue_size"] = "fifo", 100  # evaluate every frame
    return node, resolve_values(node, overrides), params_file


GT_SLOP_NS = 100_000_000


def gt_function(topics: Topics, extrinsic: tuple[float, ...]):
    T = body_extrinsic_to_optical(RigidTransform.from_translation_rpy(extrinsic[:3], extrinsic[3:]))

    def gt(msg: Any, frame: Any) -> np.ndarray | None:
        if msg is None:
            return None
        if topics.gt_is_lidar:
            return None if frame.camera is None else gt_from_lidar(msg, frame.camera, T)
        return image_to_depth_m(msg)

    return gt
