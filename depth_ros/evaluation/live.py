"""The live half of depth-ros-eval: the node as its own process, the bag played to it over DDS."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.bags.io import open_bag
from depth_ros.core.errors import DepthRosError
from depth_ros.evaluation.replay import Topics, gt_function
from depth_ros.evaluation.scoring import Evaluation, FrameEvaluator
from depth_ros.pipeline.pipeline import DepthResult, Frame
from depth_ros.ros.conversions import image_to_depth_m, image_to_rgb, stamp_to_ns
from depth_ros.ros.dds import use_large_data_profile
from depth_ros.ros.params import params_yaml


def run_live(args: argparse.Namespace, bag_path: Path, topics: Topics, node: str, values: dict[str, Any],
             offline: Evaluation) -> dict[str, Any]:
    """Node as a process, bag played over DDS, outputs evaluated like the offline ones."""
    import rclpy  # noqa: PLC0415

    from depth_ros.ros.bag_player import BagPlayer  # noqa: PLC0415
    from depth_ros.ros.node_process import FrameClient, NodeProcess, node_command  # noqa: PLC0415

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
        from depth_ros.ros.bag_player import BagRecorder  # noqa: PLC0415

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
    gt_fn = gt_function(topics, tuple(args.gt_lidar_extrinsic))
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
            published = DepthResult(received[stamp], True, stamp, "", None, scale_source=rec.scale_source)
            live_eval.add(Frame(image_to_rgb(msgs[topics.image]), None, stamp), published, gt)
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
