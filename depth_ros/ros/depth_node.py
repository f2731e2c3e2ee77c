"""depth_node: camera image (+ CameraInfo) -> metric depth image, camera info and point cloud.

Topics (relative names; remap them):
  in:  image (sensor_msgs/Image) or image/compressed (sensor_msgs/CompressedImage), camera_info
  out: depth/image (32FC1 metres, NaN = no depth), depth/camera_info, points (PointCloud2),
       /diagnostics
The node only adapts messages to `DepthPipeline`, the object the offline evaluator also runs.
Inference runs on a worker thread on the newest frame; nothing runs while nobody subscribes.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile
from sensor_msgs.msg import (
    CameraInfo,
    CompressedImage,
    Image,
    Imu,
    LaserScan,
    PointCloud2,
)

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError, ModelError
from depth_ros.core.output_kind import OutputKind
from depth_ros.core.transforms import RigidTransform, quat_to_matrix
from depth_ros.pipeline.nav import NavOutputs
from depth_ros.pipeline.pipeline import DepthPipeline
from depth_ros.pipeline.stats import NodeStats
from depth_ros.pipeline.worker import FrameWorker
from depth_ros.ros.conversions.result import RESULT_TOPICS, result_messages
from depth_ros.ros.dds import use_large_data_profile
from depth_ros.ros.diagnostics import build_diagnostics, scale_source_warning
from depth_ros.ros.message_feeder import MessageFeeder
from depth_ros.ros.params import (
    DepthNodeConfig,
    declare_params,
    nav_config_from_values,
    params_for,
)
from depth_ros.ros.pipeline_factory import build_pipeline
from depth_ros.ros.qos import (
    DIAGNOSTICS_QOS,
    NO_PUBLISHER_EVENTS,
    NO_SUBSCRIPTION_EVENTS,
    OUTPUT_QOS,
    SENSOR_QOS,
)
from depth_ros.ros.startup import init_ros, params_files
from depth_ros.ros.tf_buffer import make_tf_buffer
from depth_ros.ros.worker_owner import WorkerOwner

LOG_THROTTLE_S = 5.0
# How long the worker waits for the CameraInfo of an image that arrived first.
CAMERA_INFO_WAIT_S = 0.1


class DepthNode(WorkerOwner, LifecycleNode):
    """Lifecycle node: configure loads the model, activate starts the topics."""

    def __init__(self, node_name: str = "depth_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._worker: FrameWorker | None = None  # before anything can fail: destroy_node reads it
        self._param_values = declare_params(self, params_for(node_name))
        self.config = DepthNodeConfig.from_values(self._param_values)
        self.fusion_config = None
        self._tf_buffer = None
        self.stats = NodeStats()
        self.pipeline: DepthPipeline | None = None
        self._model = None
        self._subs: list = []
        self._pubs: dict[str, Any] = {}
        self._diag_pub = None
        self._diag_timer = None
        self.feeder: MessageFeeder | None = None
        self.nav: NavOutputs | None = None
        self._image_frame = ""
        self._extrinsic_source = ""
        self._last_result_info: dict = {}
        self._last_logged: dict[str, float] = {}
        self.active = False
        if self.config.autostart and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # -- lifecycle -------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        c = self.config
        try:
            self.pipeline, self.feeder = build_pipeline(self._param_values, self._report)
            self._model = self.pipeline.model
            self.fusion_config = self.pipeline.fusion_config
            nav_config = nav_config_from_values(self._param_values)
            self.nav = None
            if nav_config.obstacles_enabled or nav_config.scan_enabled:
                self.nav = NavOutputs(nav_config)
                self.nav.warmup(CameraModel(64, 48, 50.0, 50.0, 31.5, 23.5))
        except (ModelError, InvalidInputError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self._release_model()  # a model that loaded but failed its warm-up is not kept
            return TransitionCallbackReturn.FAILURE
        kind = self._model.spec.output_kind
        self.get_logger().info(f"model '{c.model}' loaded ({kind.value}, backend {self._model.spec.backend}, {c.device})")
        if kind is not OutputKind.METRIC and not self.fusion_config.any_source:
            self.get_logger().warning(
                f"model '{c.model}' is relative: depth/image holds RELATIVE depth (median 1.0), not metres, "
                "until a scale source (radar, ground plane) is enabled"
            )
        self._log_scale_sources()
        outputs = {"depth": Image, "info": CameraInfo, "points": PointCloud2}
        if c.publish_confidence and self.fusion_config.any_source or self._model.spec.input_channels == 4:
            outputs["confidence"] = Image
        if self.nav is not None and self.nav.config.obstacles_enabled:
            outputs["obstacles"] = PointCloud2
        if self.nav is not None and self.nav.config.scan_enabled:
            outputs["scan"] = LaserScan
        self._pubs = {key: self._publisher(msg_type, RESULT_TOPICS[key]) for key, msg_type in outputs.items()}
        self._diag_pub = self._publisher(DiagnosticArray, "/diagnostics", DIAGNOSTICS_QOS)
        # Diagnostics run on the steady clock: they keep their rate while a bag is paused, and a sim-time
        # jump (bag loop) cannot stall them (a ROS-time timer can lose its reset to a concurrent call on a
        # multi-threaded executor). Their stamps stay on the node clock.
        self._diag_timer = self.create_timer(c.diagnostics_period, self._publish_diagnostics,
                                             clock=Clock(clock_type=ClockType.STEADY_TIME))
        return TransitionCallbackReturn.SUCCESS

    def _publisher(self, msg_type, topic: str, qos: QoSProfile = OUTPUT_QOS):
        return self.create_publisher(msg_type, topic, qos, event_callbacks=NO_PUBLISHER_EVENTS)

    def _subscribe(self, msg_type, topic: str, callback) -> None:
        self._subs.append(
            self.create_subscription(msg_type, topic, callback, SENSOR_QOS, event_callbacks=NO_SUBSCRIPTION_EVENTS)
        )

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        c = self.config
        self._worker = FrameWorker(self._process, self._on_worker_error, c.queue_policy, c.queue_size)
        if c.image_transport == "compressed":
            self._subscribe(CompressedImage, "image/compressed", self._on_image)
        else:
            self._subscribe(Image, "image", self._on_image)
        self._subscribe(CameraInfo, "camera_info", self.feeder.add_camera_info)
        f = self.fusion_config
        if f.radar_enabled:
            self._subscribe(PointCloud2, "radar/points", self._on_radar)
        if f.imu_enabled:
            self._subscribe(Imu, "imu/data", self.feeder.add_imu)
        if self._param_values["odom.enabled"]:
            self._subscribe(Odometry, "odom", self.feeder.add_odometry)
        self.active = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs.clear()
        self._stop_worker()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        self._pubs.clear()
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
            self._diag_pub = None
        self._release_model()
        return TransitionCallbackReturn.SUCCESS

    def _release_model(self) -> None:
        if self._model is not None:
            self._model.close()
        self._model = None
        self.pipeline = None
        self.feeder = None
        self.nav = None
        self._last_result_info = {}


    # -- callbacks (executor thread: cheap) --------------------------------------------------

    def _on_image(self, msg: Any) -> None:
        self.stats.frame_in()
        if self._worker is not None:
            self._worker.submit((msg, time.monotonic()))

    def _on_radar(self, msg: PointCloud2) -> None:
        if self.feeder.add_radar(msg) is not None:
            self._update_radar_extrinsic(msg.header.frame_id)

    def _log_scale_sources(self) -> None:
        f = self.fusion_config
        sources = [name for name, on in (("radar", f.radar_enabled), ("imu", f.imu_enabled),
                                         ("ground plane", f.ground_enabled and f.camera_height > 0)) if on]
        if f.radar_enabled:
            via = "tf2" if self._use_tf() else "parameters radar.translation/radar.rotation_*"
            self.get_logger().info(f"radar extrinsic from {via}")
            self._extrinsic_source = via.split()[0]
            v = self._param_values
            if via != "tf2" and not any(v["radar.translation"]) and not any(v["radar.rotation_rpy"]) \
                    and list(v["radar.rotation_quaternion"]) == [0.0, 0.0, 0.0, 1.0]:
                self._extrinsic_source = "parameters (defaults: radar assumed at the camera)"
                self.get_logger().warning(
                    "radar extrinsic not set: radar.translation / radar.rotation_* are defaults, so the radar is "
                    "assumed to sit at the camera facing forward; set them for your robot (README: Radar and IMU)")
        self.get_logger().info(f"scale sources: {', '.join(sources) or 'none (model scale)'}")

    def _use_tf(self) -> bool:
        if not self._param_values["radar.use_tf"]:
            return False
        if self._tf_buffer is None:
            made = make_tf_buffer(self)
            self._tf_buffer, self._tf_listener = made if made is not None else (False, None)
        return self._tf_buffer is not False

    def _update_radar_extrinsic(self, radar_frame: str) -> None:
        """With tf2, the radar -> camera optical transform comes from TF (camera frame = image frame_id)."""
        if not (self._image_frame and radar_frame and self._use_tf()):
            return
        try:
            tf = self._tf_buffer.lookup_transform(self._image_frame, radar_frame, rclpy.time.Time()).transform
        except Exception as exc:  # tf2 raises several unrelated exception types
            self._report("radar_tf", f"no TF {radar_frame} -> {self._image_frame} ({exc}); using parameters")
            return
        q, t = tf.rotation, tf.translation
        self.pipeline.set_radar_extrinsic(RigidTransform(quat_to_matrix((q.x, q.y, q.z, q.w)), np.array([t.x, t.y, t.z])))

    # -- worker thread -----------------------------------------------------------------------

    def _wanted(self) -> tuple[bool, bool]:
        want_depth = any(self._subscribed(k) for k in ("depth", "info", "confidence", "obstacles", "scan"))
        return want_depth, self.config.publish_cloud and self._subscribed("points")

    def _process(self, item: tuple[Any, float]) -> None:
        msg, received = item
        want_depth, want_points = self._wanted()
        if not (want_depth or want_points):
            self.stats.skipped_no_subscribers += 1
            self.get_logger().debug("nobody subscribes to depth/image, depth/camera_info or points: frame skipped")
            return
        frame = self.feeder.frame(msg, wait_s=CAMERA_INFO_WAIT_S)
        if frame is None:
            return
        camera, rgb = frame.camera, frame.rgb
        self._image_frame = msg.header.frame_id
        try:
            result = self.pipeline.process(frame)
        except InvalidInputError as exc:  # e.g. smaller than the model accepts; model errors propagate
            self._report("bad_image", f"dropping image: {exc}")
            return
        self._last_result_info = {"scale_source": result.scale_source, "metric": result.metric, **result.info}
        outputs = {k for k in ("confidence", "obstacles", "scan") if self._subscribed(k)}
        outputs |= {"depth", "info"} if want_depth else set()
        outputs |= {"points"} if want_points else set()
        cloud = self.pipeline.build_cloud(result, rgb) if want_points else None
        obstacles = scan = None
        if self.nav is not None and camera is not None and result.metric:
            # The attitude at this frame's time, as the ground fit used it.
            obstacles = self.nav.obstacle_cloud(result, result.gravity) if "obstacles" in outputs else None
            scan = self.nav.laser_scan(result, result.gravity) if "scan" in outputs else None
            if obstacles is not None:
                self._last_result_info["obstacle_points"] = len(obstacles.points)
        messages = result_messages(result, msg.header, outputs, cloud, obstacles, scan,
                                   gravity_frame_id=self._param_values["obstacles.gravity_frame_id"],
                                   scan_frame_id=self._param_values["scan.frame_id"])
        for key, out in messages.items():
            self._pubs[key].publish(out)
        self.stats.frame_out(time.monotonic() - received, result.timings.get("model", 0.0))

    def _subscribed(self, output: str) -> bool:
        pub = self._pubs.get(output)
        return pub is not None and pub.get_subscription_count() > 0

    def _report(self, kind: str, message: str) -> None:
        self.stats.error(kind, message)
        if self._log_due(kind):
            self.get_logger().warning(message)

    def _log_due(self, kind: str) -> bool:
        """Per-kind log throttle (rclpy's throttle is per call site: one kind would hide the others)."""
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < LOG_THROTTLE_S:
            return False
        self._last_logged[kind] = now
        return True

    def _on_worker_error(self, exc: BaseException) -> None:
        if not self.context.ok():
            return  # shutting down: publishers are already gone
        kind = "model" if isinstance(exc, ModelError) else "internal"
        self.stats.error(kind, f"frame skipped: {type(exc).__name__}: {exc}")
        if self._log_due(kind):
            self.get_logger().error(f"frame skipped: {type(exc).__name__}: {exc}")

    def _publish_diagnostics(self) -> None:
        if self._diag_pub is None:
            return
        model = self._model
        msg = build_diagnostics(
            self.get_fully_qualified_name(),
            self.stats,
            model_name=self.config.model,
            # What the last frame was published as (a relative network scaled by radar is metric); before
            # the first frame, what the model gives alone.
            metric=self._last_result_info.get("metric", model is not None and model.spec.output_kind is OutputKind.METRIC),
            dropped=self._worker.dropped if self._worker else 0,
            stamp=self.get_clock().now().to_msg(),
            stale_after_s=max(5.0, 3 * self.config.diagnostics_period),
            extra=self._diagnostic_extras(),
            warning=self._scale_warning(),
        )
        self._diag_pub.publish(msg)

    def _scale_warning(self) -> str:
        f = self.fusion_config
        if self.pipeline is None or f is None or not f.any_source:
            return ""
        return scale_source_warning(self._last_result_info, f.radar_enabled, f.imu_enabled, f.radar_max_age_s,
                                    f.imu_max_age_s)

    def _diagnostic_extras(self) -> dict:
        if self.pipeline is None or not (self.fusion_config.any_source or self.pipeline.temporal is not None):
            return {}
        extra = {k: v for k, v in self._last_result_info.items() if k != "metric"}  # reported as depth_kind
        if self.fusion_config.radar_enabled:
            extra["radar_extrinsic"] = self._extrinsic_source
        extra.update({f"counter_{k}": v for k, v in self.pipeline.diagnostics().counters.items()})
        return extra


def run_node(node_name: str, args: list[str] | None = None) -> int:
    """Start a DepthNode and spin until shutdown; returns a process exit code.

    Start-up errors (unreadable params file, invalid parameter, model that does not load) are
    one line on stderr and exit code 1.
    """
    use_large_data_profile()
    args = list(args if args is not None else sys.argv)
    try:
        init_ros(args)
    except InvalidInputError as exc:  # a params file that is missing or not valid YAML, a bad remap, ...
        print(f"{node_name}: {exc}", file=sys.stderr)
        return 1
    try:
        node = DepthNode(node_name)
    except (ParameterException, ValueError) as exc:  # declared type/range/choices violated
        where = ", ".join(repr(f) for f in params_files(args)) or "the command line"
        print(f"{node_name}: invalid parameter in {where}: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    try:
        if node.config.autostart and not node.active:
            return 1  # on_configure logged the one-line reason (path and parameter)
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    except rclpy.executors.ExternalShutdownException:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def main() -> None:
    sys.exit(run_node("depth_node"))


def radar_main() -> None:
    sys.exit(run_node("radar_depth_node"))


# Executable name -> node constructor (keyword arguments go to rclpy's Node), for tests and tools.
def _map_node(**kwargs: Any) -> Any:
    from depth_ros.ros.map_node import DepthMapNode  # noqa: PLC0415 - the map node's own module

    return DepthMapNode("depth_map_node", **kwargs)


NODE_FACTORIES = {
    "depth_node": lambda **kwargs: DepthNode("depth_node", **kwargs),
    "radar_depth_node": lambda **kwargs: DepthNode("radar_depth_node", **kwargs),
    "depth_map_node": _map_node,
}
# Relative input topic names of each executable (what launch files may remap).
OUTPUT_TOPICS = ("depth/image", "depth/camera_info", "depth/confidence", "points", "points/obstacles", "scan")
INPUT_TOPICS = {
    "depth_node": ("image", "image/compressed", "camera_info", "radar/points", "imu/data", "odom"),
    "radar_depth_node": ("image", "image/compressed", "camera_info", "radar/points", "imu/data", "odom"),
    "depth_map_node": ("depth/image", "depth/confidence", "depth/camera_info", "odom"),
}
