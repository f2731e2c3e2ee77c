"""A bag through the same feeder and pipeline as depth-ros-eval's offline replay, as view frames."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.evaluation.replay import iterate_offline, node_values, pick_topics
from depth_ros.pipeline.nav import NavOutputs
from depth_ros.pipeline.pipeline import DepthResult, Frame
from depth_ros.ros.params import nav_config_from_values
from depth_ros.ros.pipeline_factory import build_pipeline
from depth_ros.view.frame import ViewFrame, finite_points, scan_points, unpack_rgb
from depth_ros.view.poses import CameraPoses
from depth_ros.view.radar_fit import radar_points

# The options of depth-ros-eval that pick topics and parameters, with depth-ros-eval's defaults.
EVAL_DEFAULTS: dict[str, Any] = {
    "image_topic": None, "camera_info_topic": None, "radar_topic": None, "imu_topic": None, "gt_topic": None,
    "gt_lidar": None, "no_radar": False, "no_imu": False, "odom": False, "node": None, "params": None,
    "param": [], "model": None, "model_path": None,
}
SCALARS = ("scale", "fit_residual", "radar_used", "radar_points")
_EVERY_FRAME = np.empty(0)  # iterate_offline yields the frames whose "ground truth" is not None: all of them


def _every_frame(msg: Any, frame: Any) -> np.ndarray:
    """The "ground truth" of every frame for `iterate_offline`: the view shows frames without one too."""
    return _EVERY_FRAME


class _Errors:
    """Feeder error reports, counted by kind (the node would log them)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


def eval_namespace(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with every option that depth-ros-eval's topic and parameter choice reads (defaults filled in)."""
    values = {**EVAL_DEFAULTS, **{k: v for k, v in vars(args).items() if k in EVAL_DEFAULTS and v is not None}}
    return argparse.Namespace(**values)


class PipelineReplay:
    """The bag's frames through the pipeline built from the node's parameters (as depth-ros-eval builds it)."""

    def __init__(self, bag: Any, bag_path: Path, args: argparse.Namespace, poses: str = "auto") -> None:
        self.bag = bag
        ns = eval_namespace(args)
        self.topics = pick_topics(bag.topics, ns)
        self.node, self.values, self.params_file = node_values(ns, bag_path, self.topics)
        self.errors = _Errors()
        self.pipeline, self.feeder = build_pipeline(self.values, self.errors)
        nav = nav_config_from_values(self.values)
        self.nav = NavOutputs(nav) if nav.obstacles_enabled or nav.scan_enabled else None
        self.poses = CameraPoses.from_bag(bag, poses)

    @property
    def depth_range(self) -> tuple[float, float]:
        return float(self.values["min_depth"]), float(self.values["max_depth"])

    @property
    def n_images(self) -> int:
        return self.bag.topics[self.topics.image].count

    def frames(self, max_frames: int | None, progress: Any) -> Iterator[ViewFrame]:
        """Every processed image in time order (`progress.update(1)` per image fed)."""
        for frame, result, _ in iterate_offline(self.bag, self.topics, self.feeder, _every_frame, max_frames,
                                             progress):
            yield self.view_frame(frame, result)

    def view_frame(self, frame: Frame, result: DepthResult) -> ViewFrame:
        """What the view shows of one processed frame (radar read before the next message is fed)."""
        out = ViewFrame(frame.stamp_ns, rgb=frame.rgb, camera=frame.camera, depth=result.depth, metric=result.metric,
                        confidence=result.confidence, scale_source=result.scale_source)
        out.radar = radar_points(frame, result)
        out.scalars = {k: float(result.info[k]) for k in SCALARS if isinstance(result.info.get(k), (int, float))}
        out.latency_ms = {k: 1e3 * v for k, v in result.timings.items()}
        started = time.perf_counter()
        cloud = self.pipeline.build_cloud(result, frame.rgb, reuse=False)
        if cloud is not None:
            rgb = unpack_rgb(cloud.field("rgb")) if "rgb" in cloud.layout.names else None
            out.cloud_xyz, out.cloud_rgb = finite_points(cloud.xyz(), rgb)
        out.latency_ms["cloud"] = 1e3 * (time.perf_counter() - started)
        if self.nav is not None and frame.camera is not None and result.metric:
            started = time.perf_counter()
            if self.nav.config.obstacles_enabled:
                obstacles = self.nav.obstacle_cloud(result, result.gravity)
                out.obstacles = np.asarray(obstacles.points, np.float32) if obstacles.frame == "optical" else None
            if self.nav.config.scan_enabled:
                scan = self.nav.laser_scan(result, result.gravity)
                out.scan = scan_points(scan.angle_min, scan.angle_increment, scan.ranges)
            out.latency_ms["navigation"] = 1e3 * (time.perf_counter() - started)
        if self.poses is not None:
            out.pose = self.poses.at(frame.stamp_ns, frame.frame_id)
        return out
