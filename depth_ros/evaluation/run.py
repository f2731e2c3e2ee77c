"""depth-ros-eval's work: the offline replay, the optional live run, the report and the output bag."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from depth_ros.bags.io import BagWriter, open_bag
from depth_ros.core.cloud import CloudBuilder
from depth_ros.core.errors import BagError, DepthRosError
from depth_ros.evaluation.live import run_live
from depth_ros.evaluation.map_eval import MapEvaluator, map_evaluator
from depth_ros.evaluation.replay import gt_function, iterate_offline, node_values, pick_topics
from depth_ros.evaluation.report import print_table, write_report
from depth_ros.evaluation.scoring import FrameEvaluator
from depth_ros.evaluation.temporal_eval import print_temporal, replay_switched, temporal_evaluator, write_temporal_report
from depth_ros.ros.conversions import array_to_image, make_header
from depth_ros.ros.conversions.result import RESULT_TOPICS, result_messages
from depth_ros.ros.pipeline_factory import build_pipeline


class ErrorCounter:
    """Error reports of the feeder, counted by kind (the node logs them; the evaluator tallies)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


def run_evaluation(args: argparse.Namespace) -> int:
    bag_path = Path(args.bag)
    report_dir = Path(args.report)
    with open_bag(bag_path) as bag:
        topics = pick_topics(bag.topics, args)
        if topics.gt is None:
            raise BagError(f"{bag_path}: no ground-truth depth topic; pass --gt-topic or --gt-lidar")
        node, values, params_file = node_values(args, bag_path, topics)
        n_images = bag.topics[topics.image].count
        errors = ErrorCounter()
        pipeline, feeder = build_pipeline(values, errors)
        evaluator = FrameEvaluator(args.samples, n_images)
        # With --live the output bag records what the node publishes; offline it is written here.
        writer = _OutputBag(args.output_bag, values) if args.output_bag and not args.live else None
        gt_fn = gt_function(topics, tuple(args.gt_lidar_extrinsic))
        mapper = map_evaluator(bag, args.map_poses) if args.map else None
        temporal = temporal_evaluator(bag) if getattr(args, "temporal", False) else None
        with tqdm(total=min(n_images, args.max_frames or n_images), desc="offline", unit="frame",
                  disable=args.no_progress) as bar:
            for frame, result, gt in iterate_offline(bag, topics, feeder, gt_fn, args.max_frames, bar):
                evaluator.add(frame, result, gt)
                if mapper is not None:
                    mapper.add(frame, result, gt)
                if temporal is not None:
                    temporal.add(frame, result, gt)
                if writer is not None:
                    writer.write(frame, result, pipeline)
        if writer is not None:
            writer.close()
        if temporal is not None:
            with tqdm(total=min(n_images, args.max_frames or n_images), desc="temporal stage switched", unit="frame",
                      disable=args.no_progress) as bar:
                switched = replay_switched(bag, topics, values, pipeline.model, gt_fn, args.max_frames, bar)
    offline = evaluator.result
    offline.errors = errors.counts
    if not offline.frames:
        raise DepthRosError(f"{bag_path}: no frame had both an image and ground truth; nothing was evaluated")
    live_summary = None
    if args.live:
        live_summary = run_live(args, bag_path, topics, node, values, offline)
    summary = write_report(report_dir, offline, report_context(args, bag_path, topics, node, values, params_file), live_summary)
    print_table(summary)
    if mapper is not None:
        _map_report(mapper, report_dir, args.map_poses)
    if temporal is not None:
        on = values["temporal.enabled"]
        passes = {"temporal off": switched if on else temporal, "temporal on": temporal if on else switched}
        print_temporal(write_temporal_report(report_dir, passes))
    print(f"\nreport: {report_dir / 'report.md'}  metrics: {report_dir / 'metrics.json'}")
    if args.output_bag:
        print(f"output bag: {args.output_bag}")
    return 0


def _map_report(mapper: MapEvaluator, report_dir: Path, poses: str) -> None:
    """Score the maps, write their files and print the lines of the map report."""
    summary = mapper.summary()
    paths = mapper.save(report_dir, summary)
    print(f"\nmap ({poses} poses, {summary['frames']} frames, {summary['frames_without_pose']} without a pose):")
    for name in ("published", "network", "ground_truth_depth"):
        if f"{name}_fscore10" in summary:
            print(f"  {name:<19} F@5cm {summary[f'{name}_fscore5']:.3f}  F@10cm {summary[f'{name}_fscore10']:.3f}  "
                  f"(precision {summary[f'{name}_precision10']:.3f}, recall {summary[f'{name}_recall10']:.3f})")
    print(f"  occupancy IoU published vs ground-truth depth {summary['grid_iou_published']:.3f}; integration "
          f"{summary['integrate_ms_per_frame']:.1f} ms a frame; peak RSS {summary['peak_rss_mb']:.0f} MB")
    print(f"  files: {', '.join(str(p) for p in paths)}")


def report_context(args, bag_path, topics, node, values, params_file) -> dict[str, Any]:
    """The `context` object of a bag's metrics.json: what was evaluated, and how."""
    return {"bag": str(bag_path), "node": node, "model": values["model"], "model_path": values["model_path"],
            "params_file": params_file, "topics": vars(topics), "radar": values["radar.enabled"],
            "imu": values["imu.enabled"], "scale_mode": values["scale.mode"], "live": bool(args.live)}


class _OutputBag:
    """Depth, confidence, camera info and a decimated cloud per frame, for RViz or Foxglove: the same
    messages the node publishes (`result_messages`), plus the camera image."""

    OUTPUTS = ("depth", "confidence", "info", "points")

    def __init__(self, path: str, values: dict[str, Any]) -> None:
        self.topics = {key: "/" + RESULT_TOPICS[key] for key in self.OUTPUTS}
        self.writer = BagWriter(path)
        types = {"depth": "Image", "confidence": "Image", "info": "CameraInfo", "points": "PointCloud2"}
        for key in self.OUTPUTS:
            self.writer.add_topic(self.topics[key], f"sensor_msgs/msg/{types[key]}")
        self.writer.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        self.cloud = CloudBuilder(rgb=True, min_depth=values["min_depth"], max_depth=values["max_depth"],
                                  decimation=max(2, values["cloud_decimation"]))

    def write(self, frame: Any, result: Any, pipeline: Any) -> None:
        header = make_header(frame.stamp_ns, frame.frame_id)
        t = frame.stamp_ns
        self.writer.write("/camera/image_raw", t, array_to_image(np.ascontiguousarray(frame.rgb), "rgb8", header=header))
        cloud = self.cloud.build(result.depth, frame.camera, frame.rgb, reuse=False) if frame.camera is not None else None
        for key, msg in result_messages(result, header, self.OUTPUTS, cloud=cloud).items():
            self.writer.write(self.topics[key], t, msg)

    def close(self) -> None:
        self.writer.close()


