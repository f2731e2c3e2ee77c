"""depth-ros-view: depth_ros in 3D with Rerun, no ROS install needed.

One Rerun recording with a default layout: the camera image with the radar points on it (green: used
by the scale fit), the depth colour-mapped with its metres scale, the confidence, the point cloud,
radar points, obstacle cloud and LaserScan in 3D with the camera frustum and its trajectory (when the
bag has poses), and time series of scale, fit residual, scale source, radar points used and latency.

Sources: a bag runs through the same pipeline as depth-ros-eval's offline replay (a bag that holds a
node's outputs, e.g. depth-ros-eval --output-bag or the demo's output bag, is shown as recorded); an
.rrd opens as it is; --live subscribes to a running node's topics. Output: the native viewer
(default, needs a display), --save FILE.rrd, or --web (the web viewer on localhost; prints its URL).
"""

from __future__ import annotations

import argparse
import sys

from depth_ros.cli import ArgumentParser, HelpFormatter
from depth_ros.core.errors import DepthRosError

POSE_CHOICES = ("auto", "ground_truth", "odom", "none")


class _Formatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Real defaults in the option help, the description as written."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(prog="depth-ros-view", description=__doc__.split("\n\n", 1)[1], formatter_class=_Formatter)
    p.add_argument("source", nargs="?", help="bag (rosbag2 directory, .mcap/.db3, ROS 1 .bag) or a Rerun .rrd")
    p.add_argument("--live", action="store_true", help="subscribe to a running node's topics instead of a bag")
    p.add_argument("--save", metavar="FILE.rrd", help="write the recording to this file instead of opening a viewer")
    p.add_argument("--web", action="store_true", help="serve Rerun's web viewer on localhost and print its URL "
                   "(stays up until Ctrl-C)")
    p.add_argument("--web-port", type=int, default=9090, help="port of the web viewer")
    p.add_argument("--no-browser", action="store_true", help="with --web, do not open a browser even with a display")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    bag = p.add_argument_group("bag through the pipeline (as depth-ros-eval)")
    bag.add_argument("--model", help="registered model name (default: the params file's, else the node's default)")
    bag.add_argument("--model-path", help="weights file or directory for --model")
    bag.add_argument("--params", help="ROS params YAML for the node (default: radar_depth_node.params.yaml next to "
                     "the bag, when present); with --live, where the radar extrinsic comes from")
    bag.add_argument("--node", choices=("depth_node", "radar_depth_node"),
                     help="whose parameters and defaults to use (default: radar_depth_node when the bag has radar or "
                     "IMU)")
    bag.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                     help="override one node parameter (YAML value), e.g. -p obstacles.enabled:=true -p "
                     "scan.enabled:=true; repeatable")
    bag.add_argument("--no-radar", action="store_true", help="ignore the radar topic")
    bag.add_argument("--no-imu", action="store_true", help="ignore the IMU topic")
    bag.add_argument("--odom", action="store_true", help="use the odometry topic (bag: translation compensation; "
                     "--live: the camera trajectory from `odom`)")
    bag.add_argument("--image-topic", help="camera image topic (default: detected)")
    bag.add_argument("--camera-info-topic", help="CameraInfo topic (default: detected)")
    bag.add_argument("--radar-topic", help="radar PointCloud2 topic (default: detected)")
    bag.add_argument("--imu-topic", help="IMU topic (default: detected)")
    bag.add_argument("--poses", choices=POSE_CHOICES, default="auto",
                     help="camera poses for the frustum and trajectory: auto = /ground_truth/pose, else /odom")
    bag.add_argument("--replay", action="store_true",
                     help="run the pipeline even when the bag holds recorded outputs (depth/image)")
    live = p.add_argument_group("--live")
    live.add_argument("--namespace", default="", help="the node's namespace (its topics are relative to it)")
    live.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO",
                      help="remap one of the node's relative topic names, e.g. -r image:=/camera/image_raw; "
                      "repeatable")
    live.add_argument("--duration", type=float, help="stop after this many seconds (default: at Ctrl-C)")
    args = p.parse_args(argv)
    if not args.live and not args.source:
        p.error("give a BAG or an .rrd, or --live")
    if args.max_frames is not None and args.max_frames < 1:
        p.error(f"--max-frames must be >= 1, got {args.max_frames}")
    if not 0 < args.web_port < 65536:
        p.error(f"--web-port must be in 1..65535, got {args.web_port}")
    if args.duration is not None and not args.duration > 0:
        p.error(f"--duration must be > 0, got {args.duration}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from depth_ros.view.run import run_view  # noqa: PLC0415 - --help stays fast

        return run_view(args)
    except DepthRosError as exc:
        print(f"depth-ros-view: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("depth-ros-view: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
