"""A running node's topics for depth-ros-view --live: its inputs and outputs, grouped by image stamp.

Every topic name is relative (the node's names), so a namespace and remaps point the view at any node.
A stamp's bundle is handed over once its depth image has been in for `settle_s` (the cloud, scan and
confidence of that stamp arrive right after it), with the radar cloud nearest in time, the latest
odometry pose and the values of the node's last /diagnostics.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, LaserScan, PointCloud2

from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import RigidTransform, quat_to_matrix
from depth_ros.ros.conversions import stamp_to_ns

# kind -> (message class, relative topic); names as the nodes use them.
TOPICS = {
    "image": (Image, "image"),
    "camera_info": (CameraInfo, "camera_info"),
    "depth": (Image, "depth/image"),
    "depth_info": (CameraInfo, "depth/camera_info"),
    "confidence": (Image, "depth/confidence"),
    "points": (PointCloud2, "points"),
    "obstacles": (PointCloud2, "points/obstacles"),
    "scan": (LaserScan, "scan"),
}
RADAR_TOPIC = "radar/points"
ODOM_TOPIC = "odom"
DIAGNOSTICS_TOPIC = "/diagnostics"
# Best effort receives from reliable and best-effort publishers alike; a viewer may miss a frame.
VIEW_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
RADAR_SLOP_NS = 200_000_000
ODOM_SLOP_NS = 100_000_000
FORGET_AFTER_S = 5.0  # stamps that never got a depth image are dropped after this


@dataclass
class ViewBundle:
    """The messages of one image stamp, keyed like `TOPICS` (plus "radar"), and what goes with them."""

    stamp_ns: int
    messages: dict[str, Any]
    diagnostics: dict[str, str] = field(default_factory=dict)
    odom_pose: RigidTransform | None = None  # base_link in the odometry frame


class ViewSubscriber(Node):
    """Subscribes to the node's topics and collects them by header stamp (see the module docstring)."""

    def __init__(self, name: str = "depth_ros_view", namespace: str = "", remaps: dict[str, str] | None = None,
                 settle_s: float = 0.3, radar: bool = True, odom: bool = False) -> None:
        super().__init__(name, namespace=namespace)
        remaps = remaps or {}
        self.settle_s = settle_s
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, Any]] = {}
        self._first_seen: dict[int, float] = {}
        self._depth_seen: dict[int, float] = {}
        self._radar: TimeBuffer[Any] = TimeBuffer(max_items=50)
        self._odom: TimeBuffer[RigidTransform] = TimeBuffer(max_items=500)
        self.diagnostics: dict[str, str] = {}
        for kind, (cls, topic) in TOPICS.items():
            self.create_subscription(cls, remaps.get(topic, topic), functools.partial(self._on_message, kind), VIEW_QOS)
        if radar:
            self.create_subscription(PointCloud2, remaps.get(RADAR_TOPIC, RADAR_TOPIC), self._on_radar, VIEW_QOS)
        if odom:
            self.create_subscription(Odometry, remaps.get(ODOM_TOPIC, ODOM_TOPIC), self._on_odom, VIEW_QOS)
        self.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diagnostics, VIEW_QOS)

    def _on_message(self, kind: str, msg: Any) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        now = time.monotonic()
        with self._lock:
            self._pending.setdefault(stamp, {})[kind] = msg
            self._first_seen.setdefault(stamp, now)
            if kind == "depth":
                self._depth_seen[stamp] = now

    def _on_radar(self, msg: PointCloud2) -> None:
        self._radar.add(stamp_to_ns(msg.header.stamp), msg)

    def _on_odom(self, msg: Odometry) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        pose = RigidTransform(quat_to_matrix((q.x, q.y, q.z, q.w)), [p.x, p.y, p.z])
        self._odom.add(stamp_to_ns(msg.header.stamp), pose)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "depth_kind" in values:  # a depth node's status
                with self._lock:
                    self.diagnostics = values

    def ready(self) -> list[ViewBundle]:
        """The bundles whose depth image settled, oldest first (each handed over once)."""
        now = time.monotonic()
        out = []
        with self._lock:
            for stamp in sorted(s for s, t in self._depth_seen.items() if now - t >= self.settle_s):
                messages = self._pending.pop(stamp)
                del self._depth_seen[stamp], self._first_seen[stamp]
                out.append(ViewBundle(stamp, messages, dict(self.diagnostics)))
            for stamp in [s for s, t in self._first_seen.items() if now - t > FORGET_AFTER_S and s not in self._depth_seen]:
                self._pending.pop(stamp, None)
                del self._first_seen[stamp]
        for bundle in out:
            radar = self._radar.nearest(bundle.stamp_ns, RADAR_SLOP_NS)
            if radar is not None:
                bundle.messages["radar"] = radar[1]
            odom = self._odom.nearest(bundle.stamp_ns, ODOM_SLOP_NS)
            bundle.odom_pose = odom[1] if odom is not None else None
        return out


def run_view_subscriber(on_bundle: Callable[[ViewBundle], None], namespace: str = "",
                        remaps: dict[str, str] | None = None, odom: bool = False, duration_s: float | None = None,
                        max_frames: int | None = None) -> int:
    """Spin a `ViewSubscriber`, handing each bundle to `on_bundle`, until Ctrl-C, `duration_s` or `max_frames`;
    returns the number of bundles."""
    own_context = not rclpy.ok()
    if own_context:
        rclpy.init(args=[])  # not sys.argv: the view's own options are no ROS arguments
    node = ViewSubscriber(namespace=namespace, remaps=remaps, odom=odom)
    done = 0
    end = time.monotonic() + duration_s if duration_s else None
    try:
        while (end is None or time.monotonic() < end) and (max_frames is None or done < max_frames):
            rclpy.spin_once(node, timeout_sec=0.05)
            for bundle in node.ready():
                if max_frames is not None and done >= max_frames:
                    break
                on_bundle(bundle)
                done += 1
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if own_context and rclpy.ok():
            rclpy.shutdown()
    return done
