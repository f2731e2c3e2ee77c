"""ROS messages -> the depth pipeline: the one adapter shared by depth_node and the bag evaluator.

Works with rclpy messages and with messages deserialised from bags by `rosbags` (the
conversions are duck-typed), so a live node and an offline evaluation compute the same thing
from the same messages. Bad messages are reported through a callback and never raise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import DepthRosError
from depth_ros.core.imu import ImuReading
from depth_ros.core.radar import RadarScan
from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import OPTICAL_FROM_BODY
from depth_ros.pipeline.pipeline import DepthPipeline, DepthResult, Frame
from depth_ros.ros.conversions import (
    camera_model_from_info,
    compressed_to_rgb,
    image_to_rgb,
    read_fields,
    stamp_to_ns,
)

# Optional per-point radar fields, read by name when present.
RADAR_FIELDS = ("intensity", "snr", "rcs", "doppler")
# After this many images without a matching CameraInfo, stop waiting for one (no info publisher).
MAX_INFO_MISSES = 3

Report = Callable[[str, str], None]


class CameraModelCache:
    """CameraInfo -> CameraModel, reusing the model (and its cached ray grid) while K/D/size stay put."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._model: CameraModel | None = None

    def get(self, msg: Any) -> CameraModel:
        roi = msg.roi
        k = getattr(msg, "k", None)
        k = getattr(msg, "K", None) if k is None else k
        d = getattr(msg, "d", None)
        d = getattr(msg, "D", None) if d is None else d
        key = (msg.width, msg.height, tuple(np.asarray(k).tolist()), tuple(np.asarray(d).tolist()),
               msg.distortion_model, msg.binning_x, msg.binning_y, roi.x_offset, roi.y_offset, roi.width, roi.height)
        if key != self._key:
            self._model = camera_model_from_info(msg)
            self._key = key
        return self._model


class MessageFeeder:
    """Adapts camera, CameraInfo, radar, IMU and odometry messages to a `DepthPipeline`."""

    def __init__(self, pipeline: DepthPipeline, report: Report, camera_info_slop: float = 0.02,
                 radar_max_points: int = 100_000) -> None:
        self.pipeline = pipeline
        self.report = report
        self.slop_ns = int(camera_info_slop * 1e9)
        self.radar_max_points = int(radar_max_points)
        self.infos: TimeBuffer = TimeBuffer(max_items=30)
        self._info_arrived = threading.Condition()
        self._info_misses = 0
        self._cameras = CameraModelCache()
        self._last_image_ns: int | None = None

    # -- side inputs -------------------------------------------------------------------------

    def add_camera_info(self, msg: Any) -> None:
        try:
            stamp_ns = stamp_to_ns(msg.header.stamp)
        except DepthRosError as exc:
            self.report("bad_camera_info", f"ignoring CameraInfo: {exc}")
            return
        with self._info_arrived:
            self.infos.add(stamp_ns, msg)
            self._info_arrived.notify_all()

    def add_radar(self, msg: Any) -> RadarScan | None:
        """PointCloud2 (x, y, z required; intensity/snr/rcs/doppler optional) -> buffered scan."""
        try:
            stamp_ns = stamp_to_ns(msg.header.stamp)
            fields = read_fields(msg, names=("x", "y", "z") + RADAR_FIELDS)
        except DepthRosError as exc:
            self.report("bad_radar", f"dropping radar cloud: {exc}")
            return None
        n = len(fields["x"])
        if n == 0:
            self.report("empty_radar", "radar cloud is empty")
        elif n > self.radar_max_points:
            self.report("radar_subsampled", f"radar cloud of {n} points subsampled to radar.max_points="
                                            f"{self.radar_max_points}")
            step = -(-n // self.radar_max_points)
            fields = {k: v[::step] for k, v in fields.items()}
        points = np.stack([fields.pop("x"), fields.pop("y"), fields.pop("z")], axis=1)
        scan = RadarScan(stamp_ns, points, fields, msg.header.frame_id)
        if self.pipeline.add_radar(scan):
            self.report("radar_time_jump", "radar stamps jumped backwards: radar buffer reset")
        return scan

    def add_imu(self, msg: Any) -> None:
        v, a = msg.angular_velocity, msg.linear_acceleration
        try:
            reading = ImuReading(stamp_to_ns(msg.header.stamp), (v.x, v.y, v.z), (a.x, a.y, a.z))
        except DepthRosError as exc:
            self.report("bad_imu", f"dropping IMU sample: {exc}")
            return
        self.pipeline.add_imu(reading)

    def add_odometry(self, msg: Any) -> None:
        v = msg.twist.twist.linear
        velocity = np.array([v.x, v.y, v.z], dtype=np.float64)
        try:
            stamp_ns = stamp_to_ns(msg.header.stamp)
        except DepthRosError as exc:
            self.report("bad_odom", f"dropping odometry: {exc}")
            return
        if not np.isfinite(velocity).all():
            self.report("bad_odom", f"dropping odometry with non-finite velocity {velocity.tolist()}")
            return
        # The twist is in the child (base) frame, taken as aligned with camera_link.
        self.pipeline.add_odometry(stamp_ns, OPTICAL_FROM_BODY.R @ velocity)

    # -- images ------------------------------------------------------------------------------

    def _matching_info(self, stamp_ns: int, wait_s: float) -> tuple[int, Any] | None:
        """Nearest CameraInfo within the slop, waiting up to `wait_s` for one still in flight
        (image and info travel on different topics); else the latest one."""
        if self._info_misses >= MAX_INFO_MISSES:
            wait_s = 0.0
        deadline = time.monotonic() + wait_s
        with self._info_arrived:
            while True:
                entry = self.infos.nearest(stamp_ns, self.slop_ns)
                remaining = deadline - time.monotonic()
                if entry is not None or remaining <= 0:
                    break
                self._info_arrived.wait(remaining)
        self._info_misses = 0 if entry is not None else self._info_misses + 1
        return entry or self.infos.latest()

    def camera_for(self, stamp_ns: int, width: int, height: int, wait_s: float = 0.0) -> CameraModel | None:
        """The camera model paired with an image, or None (reported) when there is none that fits."""
        entry = self._matching_info(stamp_ns, wait_s)
        if entry is None:
            self.report("no_camera_info", "no CameraInfo received on 'camera_info' yet: publishing depth without points")
            return None
        try:
            camera = self._cameras.get(entry[1])
        except DepthRosError as exc:
            self.report("bad_camera_info", f"ignoring CameraInfo: {exc}")
            return None
        if (camera.width, camera.height) != (width, height):
            self.report("camera_info_size", f"CameraInfo describes a {camera.width}x{camera.height} image but the "
                                            f"image is {width}x{height}: publishing depth without points")
            return None
        return camera

    def frame(self, msg: Any, wait_s: float = 0.0) -> Frame | None:
        """Image or CompressedImage -> pipeline frame (None when the image is unusable, reported)."""
        try:
            stamp_ns = stamp_to_ns(msg.header.stamp)
            rgb = compressed_to_rgb(msg) if hasattr(msg, "format") else image_to_rgb(msg)
        except DepthRosError as exc:
            self.report("bad_image", f"dropping image: {exc}")
            return None
        if self._last_image_ns is not None and stamp_ns < self._last_image_ns - 1_000_000_000:
            self.report("time_jump", "image stamps jumped backwards (bag loop?): pipeline reset")
            self.pipeline.reset()
        self._last_image_ns = stamp_ns
        camera = self.camera_for(stamp_ns, rgb.shape[1], rgb.shape[0], wait_s)
        return Frame(rgb, camera, stamp_ns, msg.header.frame_id)

    def process(self, msg: Any, wait_s: float = 0.0) -> tuple[Frame, DepthResult] | None:
        """Run the pipeline on one image message."""
        frame = self.frame(msg, wait_s)
        if frame is None:
            return None
        return frame, self.pipeline.process(frame)
