"""The work behind depth-ros-eval: offline replay, the optional live run, the output bag."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.errors import BagError, DepthRosError
from depth_ros.tools.evaluate import (
    Evaluation,
    FrameEvaluator,
    Topics,
    gt_from_lidar,
    iterate_offline,
    node_values,
    pick_topics,
)
from depth_ros.tools.eval_report import print_table, write_report

GT_SLOP_NS = 100_000_000


def _gt_function(topics: Topics, extrinsic: tuple[float, ...]):
    from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical
    from depth_ros.ros.conversions import image_to_depth_m

    T = body_extrinsic_to_optical(RigidTransform.from_translation_rpy(extrinsic[:3], extrinsic[3:]))

    def gt(msg: Any, frame: Any) -> np.ndarray | None:
        if msg is None:
            return None
        if topics.gt_is_lidar:
            return None if frame.camera is None else gt_from_lidar(msg, frame.camera, T)
        return image_to_depth_m(msg)

    return gt


class _Counter:
    """Error reports of the feeder, counted by kind (the node logs them; the evaluator tallies)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


def run_evaluation(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from depth_ros.ros.bag import open_bag
    from depth_ros.ros.pipeline_factory import build_pipeline

    bag_path = Path(args.bag)
    report_dir = Path(args.report)
    with open_bag(bag_path) as bag:
        topics = pick_topics(bag.topics, args)
        if topics.gt is None:
            raise BagError(f"{bag_path}: no ground-truth depth topic; pass --gt-topic or --gt-lidar")
        node, values, params_file = node_values(args, bag_path, topics)
        n_images = bag.topics[topics.image].count
        errors = _Counter()
        pipeline, feeder = build_pipeline(values, errors)
        evaluator = FrameEvaluator(args.samples, n_images)
        # With --live the output bag records what the node publishes; offline it is written here.
        writer = _OutputBag(args.output_bag, values) if args.output_bag and not args.live else None
        gt_fn = _gt_function(topics, tuple(args.gt_lidar_extrinsic))
        with tqdm(total=min(n_images, args.max_frames or n_images), desc="offline", unit="frame",
                  disable=args.no_progress) as bar:
            for frame, result, gt in iterate_offline(bag, topics, feeder, gt_fn, args.max_frames, bar):
                evaluator.add(frame.stamp_ns, frame.rgb, result.depth, gt, result.raw, result.metric,
                              result.scale_source, result.info, result.timings, result.confidence)
                if writer is not None:
                    writer.write(frame, result, pipeline)
        if writer is not None:
            writer.close()
    offline = evaluator.result
    offline.errors = errors.counts
    if not offline.frames:
        raise DepthRosError(f"{bag_path}: no frame had both an image and ground truth; nothing was evaluated")
    live_summary = None
    if args.live:
        live_summary = run_live(args, bag_path, topics, node, values, offline)
    summary = write_report(report_dir, offline, _context(args, bag_path, topics, node, values, params_file), live_summary)
    print_table(summary)
    print(f"\nreport: {report_dir / 'report.md'}  metrics: {report_dir / 'metrics.json'}")
    if args.output_bag:
        print(f"output bag: {args.output_bag}")
    return 0


def _context(args, bag_path, topics, node, values, params_file) -> dict[str, Any]:
    return {"bag": str(bag_path), "node": node, "model": values["model"], "model_path": values["model_path"],
            "params_file": params_file, "topics": vars(topics), "radar": values["radar.enabled"],
            "imu": values["imu.enabled"], "scale_mode": values["scale.mode"], "live": bool(args.live)}


class _OutputBag:
    """Depth, confidence, camera info and a decimated cloud per frame, for RViz or Foxglove: the same
    messages the node publishes (`result_messages`), plus the camera image."""

    OUTPUTS = ("depth", "confidence", "info", "points")

    def __init__(self, path: str, values: dict[str, Any]) -> None:
        from depth_ros.core.cloud import CloudBuilder
        from depth_ros.ros.bag import BagWriter
        from depth_ros.ros.conversions.result import RESULT_TOPICS

        self.topics = {key: "/" + RESULT_TOPICS[key] for key in self.OUTPUTS}
        self.writer = BagWriter(path)
        types = {"depth": "Image", "confidence": "Image", "info": "CameraInfo", "points": "PointCloud2"}
        for key in self.OUTPUTS:
            self.writer.add_topic(self.topics[key], f"sensor_msgs/msg/{types[key]}")
        self.writer.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        self.cloud = CloudBuilder(rgb=True, min_depth=values["min_depth"], max_depth=values["max_depth"],
                                  decimation=max(2, values["cloud_decimation"]))

    def write(self, frame: Any, result: Any, pipeline: Any) -> None:
        from depth_ros.ros.conversions import array_to_image, make_header
        from depth_ros.ros.conversions.result import result_messages

        header = make_header(frame.stamp_ns, frame.frame_id)
        t = frame.stamp_ns
        self.writer.write("/camera/image_raw", t, array_to_image(np.ascontiguousarray(frame.rgb), "rgb8", header=header))
        cloud = self.cloud.build(result.depth, frame.camera, frame.rgb, reuse=False) if frame.camera is not None else None
        for key, msg in result_messages(result, header, self.OUTPUTS, cloud=cloud).items():
            self.writer.write(self.topics[key], t, msg)

    def close(self) -> None:
        self.writer.close()


def run_live(args: argparse.Namespace, bag_path: Path, topics: Topics, node: str, values: dict[str, Any],
             offline: Evaluation) -> dict[str, Any]:
    """Node as a process, bag played over DDS, outputs evaluated like the offline ones."""
    import rclpy

    from depth_ros.ros.bag import open_bag
    from depth_ros.ros.bag_player import BagPlayer
    from depth_ros.ros.conversions import image_to_depth_m, image_to_rgb, stamp_to_ns
    from depth_ros.ros.dds import use_large_data_profile
    from depth_ros.ros.node_process import FrameClient, NodeProcess, node_command
    from depth_ros.ros.params import params_yaml

    use_large_data_profile()
    report_dir = Path(args.report)
    report_dir.mkdir(parents=True, exist_ok=True)
    params_path = report_dir / f"{node}.live.params.yaml"
    params_path.write_text(params_yaml(node, values))
    remaps = {"image": topics.image, "camera_info": topics.camera_info or "camera_info"}
    if topics.radar:
        remaps["radar/points"] = topics.radar
    if topics.imu:
        remaps["imu/data"] = topics.imu
    remaps["__ns"] = "/depth_ros_eval"
    cmd = node_command(node, params_file=str(params_path), remaps=remaps)
    own_ctx = not rclpy.ok()
    if own_ctx:
        rclpy.init()
    client = FrameClient("depth_ros_eval_client", namespace="depth_ros_eval", want_points=False)
    recorder = None
    if args.output_bag:
        from depth_ros.ros.bag_player import BagRecorder

        outputs = ["depth/image", "depth/camera_info", "depth/confidence", "points"]
        outputs += [topic for topic, key in (("points/obstacles", "obstacles.enabled"), ("scan", "scan.enabled"))
                    if values.get(key)]
        recorder = BagRecorder(client, args.output_bag, outputs, use_header_stamp=True)
    received: dict[int, np.ndarray] = {}
    log = report_dir / f"{node}.live.log"
    try:
        with NodeProcess(cmd, log_path=str(log)) as proc, open_bag(bag_path) as bag:
            player_node = rclpy.create_node("depth_ros_eval_player")
            wanted = [t for t in (topics.image, topics.camera_info, topics.radar, topics.imu) if t]
            player = BagPlayer(player_node, bag, rate=args.rate, topics=wanted, clock=False)
            if not player.wait_for_subscribers([topics.image], timeout_s=60):
                raise DepthRosError(f"{node} did not subscribe to {topics.image} within 60 s; see {log}")
            time.sleep(1.0)  # let the node's outputs match our subscriptions too
            if recorder is not None:
                recorder.start(timeout_s=5.0)
            t = threading.Thread(target=player.play, daemon=True)
            t.start()
            n = bag.topics[topics.image].count
            deadline = time.monotonic() + n / max(args.rate, 1e-3) / 5 + 120
            while (t.is_alive() or len(client.outputs) < n) and time.monotonic() < deadline and proc.alive():
                rclpy.spin_once(client, timeout_sec=0.05)
                if not t.is_alive() and time.monotonic() > deadline - 110:
                    break
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                rclpy.spin_once(client, timeout_sec=0.05)
            player.stop()
            player_node.destroy_node()
            if not proc.alive():
                raise DepthRosError(f"{node} exited during the live run; see {log}")
        for stamp, out in client.outputs.items():
            if out.depth is not None:
                received[stamp] = image_to_depth_m(out.depth)
    finally:
        if recorder is not None:
            recorder.close()
        client.destroy_node()
        if own_ctx:
            rclpy.shutdown()
    # Score the live depth with the bag's ground truth, and compare it with the offline run.
    offline_by_stamp = {f.stamp_ns: f for f in offline.frames}
    gt_fn = _gt_function(topics, tuple(args.gt_lidar_extrinsic))
    live_eval = FrameEvaluator(0)
    with open_bag(bag_path) as bag:
        frames = {}
        for m in bag.messages(topics=[t for t in (topics.image, topics.gt, topics.camera_info) if t]):
            stamp = stamp_to_ns(m.msg.header.stamp)
            if stamp in received and stamp in offline_by_stamp:
                frames.setdefault(stamp, {})[m.topic] = m.msg
        for stamp, msgs in sorted(frames.items()):
            if topics.gt not in msgs or topics.image not in msgs:
                continue

            class _F:  # the minimal frame gt_fn needs
                camera = None

            gt = gt_fn(msgs[topics.gt], _F)
            if gt is None:
                continue
            rec = offline_by_stamp[stamp]
            live_eval.add(stamp, image_to_rgb(msgs[topics.image]), received[stamp], gt, None, True,
                          rec.scale_source, {}, {}, None)
    live = live_eval.result
    if not live.frames:
        return {"frames": 0, "received": len(received), "note": f"no live output matched the bag; see {log}"}
    fused_live = float(np.mean([f.metrics["fused"]["absrel"] for f in live.frames]))
    matched = [offline_by_stamp[f.stamp_ns] for f in live.frames]
    fused_offline = float(np.mean([f.metrics["fused"]["absrel"] for f in matched]))
    return {"frames": len(live.frames), "received": len(received), "absrel_live": fused_live,
            "absrel_offline_same_frames": fused_offline, "absrel_difference": abs(fused_live - fused_offline),
            "delta1_live": float(np.mean([f.metrics["fused"]["delta1"] for f in live.frames])),
            "node_log": str(log)}
