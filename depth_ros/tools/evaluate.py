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

from depth_ros.cli import ArgumentParser
from depth_ros.core.errors import DepthRosError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(
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
    p.add_argument("--map", action="store_true", help="also integrate the published depth, the network's own and "
                   "the ground-truth depth into TSDF maps with the bag's poses and score them (needs the [map] "
                   "extra; map_metrics.json, map_grids.png, map_published.ply in the report folder)")
    p.add_argument("--map-poses", choices=("ground_truth", "odom"), default="ground_truth",
                   help="poses for --map: /ground_truth/pose (exact) or /odom (drifting, as a robot has)")
    p.add_argument("--live", action="store_true", help="run the node as its own process, play the bag to it over "
                   "DDS, evaluate what it publishes and compare with the offline numbers")
    p.add_argument("--rate", type=float, default=0.5, help="playback rate factor for --live (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from depth_ros.evaluation.run import run_evaluation  # noqa: PLC0415

        return run_evaluation(args)
    except DepthRosError as exc:
        print(f"depth-ros-eval: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("depth-ros-eval: interrupted; no report written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
