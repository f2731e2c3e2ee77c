"""Start a depth node as its own process and talk to it over the ROS graph.

Used by the demo, the live evaluator, benchmarks and tests: a `NodeProcess` runs a console
script with ROS arguments; a `FrameClient` publishes camera frames to it and collects the
outputs that come back, matched by stamp.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depth_ros.core.camera import CameraModel
from depth_ros.ros.conversions import array_to_image, camera_info_from_model, make_header, stamp_to_ns
from depth_ros.ros.qos import OUTPUT_QOS


def node_command(executable: str, params: dict[str, Any] | None = None, remaps: dict[str, str] | None = None,
                 params_file: str | None = None, name: str | None = None) -> list[str]:
    """Command line for a console script with --ros-args (params, remaps, params file)."""
    exe = shutil.which(executable) or str(Path(sys.executable).parent / executable)
    cmd = [exe, "--ros-args"]
    if name:
        cmd += ["-r", f"__node:={name}"]
    if params_file:
        cmd += ["--params-file", params_file]
    for key, value in (params or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        cmd += ["-p", f"{key}:={value}"]
    for src, dst in (remaps or {}).items():
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


class NodeProcess:
    """A node running as a child process; stopped with SIGINT (then SIGKILL) on exit."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None, log_path: str | None = None) -> None:
        self.cmd = cmd
        self._log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        return self.proc.returncode

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class Outputs:
    """What came back for one stamp."""

    depth: Image | None = None
    info: CameraInfo | None = None
    points: PointCloud2 | None = None
    received: dict[str, float] = field(default_factory=dict)


class FrameClient(Node):
    """Publishes Image + CameraInfo and records depth/image, depth/camera_info and points by stamp."""

    def __init__(self, name: str = "depth_ros_client", namespace: str = "", want_points: bool = True,
                 extra_topics: dict[str, type] | None = None) -> None:
        super().__init__(name, namespace=namespace)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.create_publisher(Image, "image", reliable)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", reliable)
        self._lock = threading.Lock()
        self.outputs: dict[int, Outputs] = {}
        self.create_subscription(Image, "depth/image", lambda m: self._store(m, "depth"), OUTPUT_QOS)
        self.create_subscription(CameraInfo, "depth/camera_info", lambda m: self._store(m, "info"), OUTPUT_QOS)
        if want_points:
            self.create_subscription(PointCloud2, "points", lambda m: self._store(m, "points"), OUTPUT_QOS)
        self.extra: dict[str, list] = {}
        for topic, msg_type in (extra_topics or {}).items():
            self.extra[topic] = []
            self.create_subscription(msg_type, topic, self.extra[topic].append, OUTPUT_QOS)

    def _store(self, msg: Any, kind: str) -> None:
        with self._lock:
            out = self.outputs.setdefault(stamp_to_ns(msg.header.stamp), Outputs())
            setattr(out, kind, msg)
            out.received[kind] = time.monotonic()

    def publish_frame(self, rgb: np.ndarray, camera: CameraModel | None, stamp_ns: int, frame_id: str = "camera") -> float:
        """Publish one RGB frame (and its CameraInfo first); returns the monotonic send time."""
        header = make_header(stamp_ns, frame_id)
        if camera is not None:
            self.info_pub.publish(camera_info_from_model(camera, header))
        sent = time.monotonic()
        self.image_pub.publish(array_to_image(rgb, "rgb8", header=header))
        return sent

    def pop_received(self, kind: str) -> dict[int, float]:
        """Forget every output that has `kind`; returns their stamps with its arrival time (monotonic).

        For long runs: holding every received message would grow this process by megabytes a frame.
        """
        with self._lock:
            done = {stamp: out.received[kind] for stamp, out in self.outputs.items() if kind in out.received}
            for stamp in done:
                del self.outputs[stamp]
        return done

    def get(self, stamp_ns: int) -> Outputs | None:
        with self._lock:
            return self.outputs.get(stamp_ns)

    def wait_for(self, stamp_ns: int, kinds: tuple[str, ...], timeout: float, executor: Any = None) -> Outputs | None:
        """Spin until every kind in `kinds` arrived for the stamp (None on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if executor is not None:
                executor.spin_once(timeout_sec=0.02)
            else:
                rclpy.spin_once(self, timeout_sec=0.02)
            out = self.get(stamp_ns)
            if out is not None and all(getattr(out, k) is not None for k in kinds):
                return out
        return None

    def handshake(self, rgb: np.ndarray, camera: CameraModel | None, timeout: float, executor: Any = None,
                  kinds: tuple[str, ...] = ("depth",)) -> bool:
        """Publish a warm-up frame every 0.5 s until its outputs come back.

        DDS discovery is asymmetric: our publisher may see the node's subscription before the node's
        subscription has matched our publisher, and a best-effort sample sent in that gap is lost.
        An answered frame proves both directions are matched.
        """
        deadline = time.monotonic() + timeout
        sent: list[int] = []
        while time.monotonic() < deadline:
            stamp = len(sent) + 1
            self.publish_frame(rgb, camera, stamp)
            sent.append(stamp)
            # A slow model may answer an earlier warm-up frame: any answered one proves the link.
            step_end = min(time.monotonic() + 0.5, deadline)
            while time.monotonic() < step_end:
                if executor is not None:
                    executor.spin_once(timeout_sec=0.02)
                else:
                    rclpy.spin_once(self, timeout_sec=0.02)
                for s in sent:
                    out = self.get(s)
                    if out is not None and all(getattr(out, k) is not None for k in kinds):
                        return True
        return False

    def wait_for_subscribers(self, timeout: float, executor: Any = None, publisher: Any = None) -> bool:
        """Wait until the node under test subscribes to `publisher` (default: our image topic)."""
        publisher = publisher or self.image_pub
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if publisher.get_subscription_count() > 0:
                return True
            if executor is not None:
                executor.spin_once(timeout_sec=0.05)
            else:
                rclpy.spin_once(self, timeout_sec=0.05)
        return False
