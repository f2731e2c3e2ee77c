"""depth-ros-eval: replay a bag through the depth pipeline and measure it against ground truth.

Offline (default), the bag's messages go, in time order, through the same `MessageFeeder` and
`DepthPipeline` that depth_node runs, deterministically, frame by frame. With --live the node
runs as its own process, the bag is played to it over DDS, and its published depth is
evaluated the same way (and compared with the offline numbers).

Ground truth comes from a depth image topic (32FC1 metres or 16UC1 millimetres) or from a lidar
PointCloud2 projected into the camera (--gt-lidar TOPIC with --gt-lidar-extrinsic).

Several bags (or --bags GLOB) are a fleet: each bag is evaluated the same way, in parallel on Ray
(a local instance, or a cluster with --ray-address), and the report aggregates them.
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
    p.add_argument("bag", nargs="*", metavar="BAG", help="bag to evaluate (rosbag2 directory, .mcap/.db3 file, or "
                   "ROS 1 .bag); several bags are evaluated in parallel (on Ray) into one report")
    p.add_argument("--bags", action="append", default=[], metavar="GLOB",
                   help="also evaluate every bag this glob matches (quote it), e.g. --bags 'fleet/*/bag'; repeatable")
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
    p.add_argument("--temporal", action="store_true", help="also measure how steady the depth is (temporal "
                   "consistency against the previous frame moved by the true motion, flicker while still) with and "
                   "without the temporal stage: the bag is replayed a second time with temporal.enabled switched "
                   "(needs /ground_truth/pose; temporal_metrics.json, temporal_consistency.png)")
    p.add_argument("--live", action="store_true", help="run the node as its own process, play the bag to it over "
                   "DDS, evaluate what it publishes and compare with the offline numbers")
    p.add_argument("--rate", type=float, default=0.5, help="playback rate factor for --live (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    fleet = p.add_argument_group("several bags (a fleet)")
    fleet.add_argument("--ray-address", metavar="ADDRESS",
                       help="Ray cluster to run on: 'auto' (the cluster this machine belongs to) or ray://HOST:PORT "
                       "(default: start a local Ray instance; the bags must be readable on every worker)")
    fleet.add_argument("--workers", type=int, metavar="N", help="at most this many bags at a time (default: the Ray instance's "
                       "CPUs / --threads-per-bag)")
    fleet.add_argument("--threads-per-bag", type=int, default=1, metavar="N", help="CPU threads of each bag's evaluation "
                       "(inference, OpenCV, OpenMP), the same in and out of Ray (default: %(default)s)")
    fleet.add_argument("--no-ray", action="store_true", help="evaluate the bags one after the other in this process "
                       "(what one bag does); the numbers are the same as on Ray")
    args = p.parse_intermixed_args(argv)  # BAG paths before and after options
    args.bag_list, args.fleet = list(args.bag), bool(args.bags) or len(args.bag) > 1 or args.ray_address is not None
    args.bag = args.bag[0] if len(args.bag) == 1 else None
    if not args.bag_list and not args.bags:
        p.error("give a BAG to evaluate (or several, or --bags GLOB)")
    if args.fleet and (args.live or args.map or args.output_bag or args.temporal):
        p.error("--live, --map, --temporal and --output-bag evaluate one bag; give one BAG without --bags/--ray-address")
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers must be >= 1, got {args.workers}")
    if not 1 <= args.threads_per_bag <= 64:
        p.error(f"--threads-per-bag must be in [1, 64], got {args.threads_per_bag}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.fleet:
            from depth_ros.evaluation.fleet_report import run_fleet_evaluation  # noqa: PLC0415

            return run_fleet_evaluation(args)
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
