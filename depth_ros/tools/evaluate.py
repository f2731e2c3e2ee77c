"""depth-ros-eval: replay a bag through the depth pipeline and measure it against ground truth.

Offline (default), the bag's messages go, in time order, through the same `MessageFeeder` and
`DepthPipeline` that depth_node runs, deterministically, frame by frame. With --live the node
runs as its own process, the bag is played to it over DDS, and its published depth is
evaluated the same way (and compared with the offline numbers).

Ground truth comes from a depth image topic (32FC1 metres or 16UC1 millimetres) or from a lidar
PointCloud2 projected into the camera (--gt-lidar TOPIC with --gt-lidar-extrinsic).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from depth_ros.core.errors import BagError, DepthRosError

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


@dataclass
class FrameRecord:
    """What the evaluator keeps of one frame (metrics are computed on the fly)."""

    stamp_ns: int
    metrics: dict[str, dict[str, float]]
    bins: list[dict[str, Any]]
    scale_source: str
    info: dict[str, Any]
    timings: dict[str, float]


@dataclass
class Evaluation:
    frames: list[FrameRecord] = field(default_factory=list)
    samples: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    skipped_no_gt: int = 0
    metric: bool = True


def gt_from_lidar(msg: Any, camera: Any, T_cam_lidar: Any) -> np.ndarray:
    """Sparse ground-truth depth: lidar points moved into the camera and z-buffered per pixel."""
    from depth_ros.core.radar import project_points
    from depth_ros.ros.conversions import read_fields

    f = read_fields(msg, ("x", "y", "z"))
    pts = T_cam_lidar.apply(np.stack([f["x"], f["y"], f["z"]], axis=1))
    proj = project_points(pts, camera, 0.05, 1000.0)
    depth = np.full((camera.height, camera.width), np.inf, np.float32)
    uv = np.rint(proj.uv).astype(np.int64)
    np.minimum.at(depth, (uv[:, 1], uv[:, 0]), proj.depth.astype(np.float32))
    depth[~np.isfinite(depth)] = np.nan
    return depth


class FrameEvaluator:
    """Scores depth results against ground truth: fused, the raw network, and oracle median scaling."""

    def __init__(self, samples: int = 3, expected_frames: int | None = None) -> None:
        self.result = Evaluation()
        self.sample_every = max(1, (expected_frames or 30) // max(samples, 1))
        self.max_samples = samples

    def add(self, stamp_ns: int, rgb: np.ndarray, depth: np.ndarray, gt: np.ndarray, raw: np.ndarray | None,
            metric: bool, scale_source: str, info: dict, timings: dict, confidence: np.ndarray | None) -> None:
        from depth_ros.core.metrics import binned_metrics, depth_metrics, median_scale

        if depth.shape != gt.shape:
            import cv2

            gt = cv2.resize(gt, (depth.shape[1], depth.shape[0]), interpolation=cv2.INTER_NEAREST)
        modes = {"fused": depth}
        if raw is not None and metric and scale_source != "model":
            modes["network"] = raw
        base = depth if raw is None or not metric else raw
        if np.isfinite(base).any():
            with np.errstate(invalid="ignore"):
                modes["oracle_median"] = base * np.float32(median_scale(base, gt))
        metrics = {name: depth_metrics(d, gt).to_dict() for name, d in modes.items()}
        bins = [{"lo": lo, "hi": hi, **m.to_dict()} for lo, hi, m in binned_metrics(depth, gt)]
        self.result.metric &= metric
        k = len(self.result.frames)
        self.result.frames.append(FrameRecord(stamp_ns, metrics, bins, scale_source, dict(info), dict(timings)))
        if k % self.sample_every == 0 and len(self.result.samples) < self.max_samples:
            self.result.samples.append((stamp_ns, rgb.copy(), gt, depth.copy(), None if confidence is None else confidence.copy()))


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
    from depth_ros.ros.conversions import stamp_to_ns

    header = getattr(msg, "header", None)
    return stamp_to_ns(header.stamp) if header is not None else default


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="depth-ros-eval",
        description="Replay a rosbag2 (or ROS 1) bag through depth_ros and measure the depth against ground truth. "
        "Prints a metrics table and writes a report folder (metrics.json, report.md, PNG plots).",
    )
    p.add_argument("bag", help="bag to evaluate (rosbag2 directory, .mcap/.db3 file, or ROS 1 .bag)")
    p.add_argument("--report", required=True, help="folder for metrics.json, report.md and the plots (created)")
    p.add_argument("--model", help="registered model name (default: the params file's, else the node's default)")
    p.add_argument("--model-path", help="weights file or directory for --model")
    p.add_argument("--params", help="ROS params YAML for the node (default: radar_depth_node.params.yaml next to the "
                   "bag, as depth-ros-simulate writes it, when present)")
    p.add_argument("--node", choices=("depth_node", "radar_depth_node"),
                   help="whose parameters and defaults to use (default: radar_depth_node when the bag has radar or IMU)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                   help="override one node parameter (YAML value), e.g. -p scale.mode:=global; repeatable")
    p.add_argument("--no-radar", action="store_true", help="ignore the radar topic (radar.enabled false)")
    p.add_argument("--no-imu", action="store_true", help="ignore the IMU topic (imu.enabled false: no gravity, "
                   "no motion compensation, no ground prior)")
    p.add_argument("--odom", action="store_true", help="use an odometry topic for translation compensation")
    p.add_argument("--image-topic", help="camera image topic (Image or CompressedImage; default: detected)")
    p.add_argument("--camera-info-topic", help="CameraInfo topic (default: detected)")
    p.add_argument("--radar-topic", help="radar PointCloud2 topic (default: detected, a name containing 'radar')")
    p.add_argument("--imu-topic", help="IMU topic (default: detected)")
    p.add_argument("--gt-topic", help="ground-truth depth image topic (default: detected, a name with 'depth')")
    p.add_argument("--gt-lidar", metavar="TOPIC", help="use a lidar PointCloud2 projected into the camera as ground truth")
    p.add_argument("--gt-lidar-extrinsic", type=float, nargs=6, metavar=("X", "Y", "Z", "ROLL", "PITCH", "YAW"),
                   default=(0, 0, 0, 0, 0, 0), help="lidar pose in camera_link (REP-103 metres/radians) for --gt-lidar")
    p.add_argument("--max-frames", type=int, help="stop after this many evaluated frames")
    p.add_argument("--samples", type=int, default=3, help="sample frames drawn as depth/error maps (default: %(default)s)")
    p.add_argument("--output-bag", help="also write depth, confidence, camera info and (decimated) points to this bag")
    p.add_argument("--live", action="store_true", help="run the node as its own process, play the bag to it over "
                   "DDS, evaluate what it publishes and compare with the offline numbers")
    p.add_argument("--rate", type=float, default=0.5, help="playback rate factor for --live (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def node_values(args: argparse.Namespace, bag_path: Path, topics: Topics) -> tuple[str, dict[str, Any], str | None]:
    """(node name, full parameter values, params file used) for this evaluation."""
    import yaml

    from depth_ros.ros.params import load_params_file, resolve_values

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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from depth_ros.tools.eval_run import run_evaluation

        return run_evaluation(args)
    except DepthRosError as exc:
        print(f"depth-ros-eval: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("depth-ros-eval: interrupted; no report written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
