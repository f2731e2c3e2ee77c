"""depth-ros-record: record topics from the ROS graph into a rosbag2 bag, like `ros2 bag record`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from depth_ros.cli import ArgumentParser
from depth_ros.core.errors import BagError, InvalidInputError
from depth_ros.ros.dds import use_large_data_profile
from depth_ros.ros.startup import init_ros
from depth_ros.tools.play import split_ros_args

if TYPE_CHECKING:
    from depth_ros.ros.bag_player import BagRecorder

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = ArgumentParser(
        prog="depth-ros-record",
        description="Record topics from the ROS 2 graph into a new rosbag2 bag (MCAP or sqlite3). Message types "
        "are looked up on the graph, or given as TOPIC:=pkg/msg/Type. Subscriptions are reliable when every "
        "publisher of a topic is reliable, best effort otherwise. Stops after --duration or on Ctrl-C, and "
        "finalises the bag either way.",
    )
    p.add_argument("topics", nargs="+", metavar="TOPIC",
                   help="topic to record, or TOPIC:=pkg/msg/Type to record it before any publisher appears")
    p.add_argument("--out", "-o", required=True, metavar="BAG", help="bag directory to create (must not exist)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds of recording (default: until Ctrl-C)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                   help="storage format of the bag (default: %(default)s)")
    p.add_argument("--use-header-stamp", action="store_true",
                   help="stamp messages with their header.stamp instead of the receive time "
                   "(messages without header keep the receive time)")
    p.add_argument("--discovery-timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for the topics to appear before recording starts; topics that appear "
                   "later are still recorded (default: %(default)s)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0: bag written, 1: error)."""

    tool_args, ros_args = split_ros_args(argv)
    args = parse_args(tool_args)
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

    use_large_data_profile()
    import rclpy  # noqa: PLC0415
    from rclpy.executors import SingleThreadedExecutor  # noqa: PLC0415
    from rclpy.signals import SignalHandlerOptions  # noqa: PLC0415

    from depth_ros.ros.bag_player import BagRecorder  # noqa: PLC0415

    try:
        init_ros(ros_args, signal_handler_options=SignalHandlerOptions.NO)
    except InvalidInputError as err:
        print(f"depth-ros-record: {err}", file=sys.stderr)
        return 1
    # Ctrl-C and SIGTERM only raise a flag: an exception in the middle of a write could leave the
    # bag unreadable, and rclpy's own handler would shut the context down under the executor.
    stop = []
    previous = {signum: signal.signal(signum, lambda *_: stop.append(True)) for signum in _SIGNALS}
    node = rclpy.create_node("depth_ros_record")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    recorder = None
    code = 0
    try:
        recorder = BagRecorder(node, args.out, args.topics, storage=args.storage,
                               use_header_stamp=args.use_header_stamp)
        discovery_end = time.monotonic() + args.discovery_timeout
        while recorder.poll() and time.monotonic() < discovery_end and not stop:
            time.sleep(0.05)
        if not recorder.start(0.0) and not recorder.counts:  # start() logs the topics still missing
            raise BagError(f"none of the topics can be recorded: {recorder.failed}")
        print(f"depth-ros-record: recording to {recorder.path}", file=sys.stderr)
        stop_at = None if args.duration is None else time.monotonic() + args.duration
        while not stop and (stop_at is None or time.monotonic() < stop_at):
            executor.spin_once(timeout_sec=0.05)
    except (BagError, InvalidInputError) as err:
        print(f"depth-ros-record: {err}", file=sys.stderr)
        code = 1
    finally:
        counts = _close(recorder)
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if recorder is None or counts is None:
        return 1
    if code != 0:  # the error above is the report; counts of a failed recording are not a result
        return code
    for topic, count in sorted(counts.items()):
        print(f"{topic}: {count} messages")
    for topic, reason in sorted(recorder.failed.items()):
        print(f"{topic}: not recorded ({reason})")
    print(f"bag: {recorder.path}")
    return code


def _close(recorder: BagRecorder | None) -> dict[str, int] | None:
    """Finalise the bag; None (after a one-line error) when that fails."""
    from depth_ros.core.errors import BagError  # noqa: PLC0415

    if recorder is None:
        return None
    try:
        return recorder.close()
    except BagError as err:
        print(f"depth-ros-record: {err}", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
