"""depth-ros-play: publish a bag (rosbag2 MCAP/sqlite3 or ROS 1) on the ROS graph, like `ros2 bag play`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from depth_ros.bags.io import open_bag
from depth_ros.cli import ArgumentParser
from depth_ros.core.errors import BagError, InvalidInputError
from depth_ros.ros.dds import use_large_data_profile
from depth_ros.ros.startup import init_ros

if TYPE_CHECKING:
    from depth_ros.bags.io import BagReader
    from depth_ros.ros.bag_player import BagPlayer

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(
        prog="depth-ros-play",
        description="Publish the messages of a bag on the ROS 2 graph with their recorded timing, and /clock with "
        "the bag time (for nodes with use_sim_time:=true). Reads rosbag2 directories, .mcap/.db3 files and "
        "ROS 1 .bag files (converted to ROS 2 messages). Topics whose message type is not installed are skipped.",
    )
    p.add_argument("bag", metavar="BAG", help="rosbag2 directory, .mcap/.db3 file or ROS 1 .bag file")
    p.add_argument("--rate", type=float, default=1.0,
                   help="playback speed factor: 2 plays twice as fast, 0.5 half as fast (default: %(default)s)")
    p.add_argument("--loop", action="store_true",
                   help="play the bag again and again until Ctrl-C; /clock jumps back to the start at each loop")
    p.add_argument("--start-offset", type=float, default=0.0, metavar="S",
                   help="start S seconds after the bag's first message (default: %(default)s)")
    p.add_argument("--topics", nargs="+", metavar="T", default=None,
                   help="play only these bag topics (default: all topics)")
    p.add_argument("--remap", nargs="+", metavar="OLD:=NEW", default=[],
                   help="publish bag topic OLD as NEW, e.g. --remap /topic:=/chatter2")
    p.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p.add_argument("--clock-hz", type=float, default=100.0,
                   help="rate of /clock messages in Hz of wall time (default: %(default)s)")
    p.add_argument("--delay", type=float, default=0.0, metavar="S",
                   help="wait S seconds before playing (before each loop with --loop), giving subscribers time "
                   "to connect (default: %(default)s)")
    p.add_argument("--wait-for-subscribers", nargs="+", metavar="TOPIC", default=[],
                   help="before playing, wait until each of these (published) topics has a subscriber")
    p.add_argument("--wait-timeout", type=float, default=None, metavar="S",
                   help="give up waiting for subscribers after S seconds and exit with code 1 (default: wait forever)")
    p.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    return p.parse_args(argv)


def split_ros_args(argv: list[str] | None) -> tuple[list[str], list[str]]:
    """(tool arguments, rclpy init arguments) of a command line: rclpy sees only what follows --ros-args.

    rcl would otherwise read a tool argument such as `/imu:=sensor_msgs/msg/Imu` as a remap rule.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--ros-args" in argv:
        cut = argv.index("--ros-args")
        return argv[:cut], [sys.argv[0], *argv[cut:]]
    return argv, [sys.argv[0]]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0: played, or stopped by Ctrl-C; 1: error)."""
    tool_args, ros_args = split_ros_args(argv)
    args = parse_args(tool_args)
    from depth_ros.ros.bag_player import parse_remap  # noqa: PLC0415

    try:
        remap = parse_remap(args.remap)
        with open_bag(args.bag) as reader:
            return _play(args, ros_args, reader, remap)
    except (BagError, InvalidInputError) as err:
        print(f"depth-ros-play: {err}", file=sys.stderr)
        return 1


def _play(args: argparse.Namespace, ros_args: list[str], reader: BagReader, remap: dict[str, str]) -> int:
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

    use_large_data_profile()
    import rclpy  # noqa: PLC0415
    from rclpy.signals import SignalHandlerOptions  # noqa: PLC0415

    from depth_ros.ros.bag_player import BagPlayer  # noqa: PLC0415

    # Playing runs in a thread; Ctrl-C and SIGTERM only raise a flag that the main thread turns
    # into player.stop() (rclpy's own handler would shut the context down under the publishers).
    interrupted: list[bool] = []
    previous = {signum: signal.signal(signum, lambda *_: interrupted.append(True)) for signum in _SIGNALS}
    outcome: dict[str, Any] = {}
    try:
        init_ros(ros_args, signal_handler_options=SignalHandlerOptions.NO)
        node = rclpy.create_node("depth_ros_play")
        try:
            player = BagPlayer(
                node, reader, rate=args.rate, loop=args.loop, start_offset_s=args.start_offset, topics=args.topics,
                remap=remap, clock=not args.no_clock, clock_hz=args.clock_hz, delay_s=args.delay,
            )
            worker = threading.Thread(target=_run, args=(player, args, outcome), daemon=True)
            worker.start()
            while worker.is_alive():
                worker.join(0.05)
                if interrupted:
                    player.stop()
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if "error" in outcome:
        raise outcome["error"]
    if interrupted:
        print("depth-ros-play: interrupted", file=sys.stderr)
    report = outcome.get("report")
    if report is None:  # stopped or timed out while waiting for subscribers
        return 0 if interrupted else 1
    for topic, count in sorted(report.published.items()):
        print(f"{topic}: {count} messages")
    for topic, reason in sorted(report.skipped.items()):
        print(f"{topic}: skipped ({reason})")
    print(f"loops: {report.loops}, /clock messages: {report.clock_published}, "
          f"max lateness: {report.max_lateness_s * 1e3:.1f} ms")
    return 0


def _run(player: BagPlayer, args: argparse.Namespace, outcome: dict[str, Any]) -> None:
    """The playing thread: wait for subscribers, then play; errors go back to the main thread."""

    try:
        if args.wait_for_subscribers:
            print(f"depth-ros-play: waiting for subscribers on {' '.join(args.wait_for_subscribers)}", file=sys.stderr)
            if not player.wait_for_subscribers(args.wait_for_subscribers, args.wait_timeout):
                if args.wait_timeout is not None:
                    print(f"depth-ros-play: no subscriber after {args.wait_timeout} s", file=sys.stderr)
                return
        total = None if args.loop else player.expected_count()
        with tqdm(total=total, unit="msg", desc="playing", disable=args.no_progress, file=sys.stderr) as bar:
            outcome["report"] = player.play(on_publish=lambda topic, stamp_ns: bar.update())
    except Exception as err:  # re-raised in the main thread (BagError becomes a one-line error)
        outcome["error"] = err


if __name__ == "__main__":
    sys.exit(main())
