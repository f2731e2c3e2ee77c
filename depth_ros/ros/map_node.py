"""depth_map_node: the depth stream integrated into a TSDF and a Nav2 occupancy grid (MonoNav's loop).

Subscribes to `depth/image` (32FC1 metres, NaN = none), `depth/camera_info` and optionally
`depth/confidence` (paired by stamp), and takes the camera pose from odometry (`odom`,
nav_msgs/Odometry of base_link) composed with the camera's mount on base_link (`camera.*`
parameters); with tf2_ros importable and `pose_source: tf`, from TF (`map_frame` -> the image's
frame_id). Integration runs on a worker thread (newest frame kept). Publishes `map`
(nav_msgs/OccupancyGrid, transient local like Nav2's map server) and `map/points` (the TSDF's
surface) every `publish_period` seconds, with `mesh.enabled` `map/mesh` (visualization_msgs/Marker
TRIANGLE_LIST of the TSDF's mesh) every `mesh.period`; services `~/save_map` (mesh .ply, grid .pgm + .yaml in
map_server's format) and `~/clear_map` (std_srvs/Trigger).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import OccupancyGrid, Odometry
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from depth_ros.core.errors import DepthRosError, InvalidInputError
from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import RigidTransform, quat_to_matrix
from depth_ros.mapping.mapper import DepthMapper
from depth_ros.mapping.occupancy import GridConfig
from depth_ros.mapping.tsdf import TsdfConfig
from depth_ros.pipeline.worker import FrameWorker
from depth_ros.ros.conversions import camera_model_from_info, image_to_depth_m, make_header, points_to_msg, stamp_to_ns
from depth_ros.ros.map_params import MAP_NODE_PARAMS, MapNodeConfig
from depth_ros.ros.params import declare_params
from depth_ros.ros.qos import DIAGNOSTICS_QOS, OUTPUT_QOS, SENSOR_QOS
from depth_ros.ros.startup import init_ros
from depth_ros.ros.tf_buffer import make_tf_buffer
from depth_ros.ros.worker_owner import WorkerOwner

NODE = "depth_map_node"
MAP_OUTPUT_TOPICS = ("map", "map/points", "map/mesh")
MAP_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
PAIR_SLOP_NS = 5_000_000  # depth, its camera info and confidence carry the same stamp (the node copies it)


def grid_message(grid: np.ndarray, origin: tuple[float, float], resolution: float, header: Any) -> OccupancyGrid:
    """nav_msgs/OccupancyGrid of an int8 (H, W) grid whose cell (0, 0) starts at `origin`."""
    msg = OccupancyGrid(header=header)
    msg.info.map_load_time = header.stamp
    msg.info.resolution = float(resolution)
    msg.info.height, msg.info.width = int(grid.shape[0]), int(grid.shape[1])
    msg.info.origin.position.x, msg.info.origin.position.y = float(origin[0]), float(origin[1])
    msg.info.origin.orientation.w = 1.0
    msg.data = grid.astype(np.int8).reshape(-1).tolist()
    return msg


def mesh_marker(vertices: np.ndarray, triangles: np.ndarray, header: Any) -> Marker:
    """visualization_msgs/Marker TRIANGLE_LIST: three points per triangle, one colour (RViz shades it)."""
    from geometry_msgs.msg import Point  # noqa: PLC0415 - only a node publishing its mesh needs it

    msg = Marker(header=header, ns="depth_map", id=0, type=Marker.TRIANGLE_LIST, action=Marker.ADD)
    msg.pose.orientation.w = 1.0
    msg.scale.x = msg.scale.y = msg.scale.z = 1.0
    msg.color.r, msg.color.g, msg.color.b, msg.color.a = 0.62, 0.72, 0.85, 1.0
    corners = vertices[np.asarray(triangles, np.int64).reshape(-1)]
    msg.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in corners.tolist()]
    return msg


def save_map_files(folder: Path, mapper: DepthMapper) -> list[Path]:
    """map.ply (mesh), map.pgm + map.yaml (map_server's format: free 254, occupied 0, unknown 205)."""
    import open3d as o3d  # noqa: PLC0415 - the [map] extra, loaded by the mapper already
    import yaml  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    mesh_path, pgm_path, yaml_path = folder / "map.ply", folder / "map.pgm", folder / "map.yaml"
    if not o3d.io.write_triangle_mesh(str(mesh_path), mapper.tsdf.mesh()):
        raise DepthRosError(f"cannot write {mesh_path}")
    grid = mapper.grid()
    image = np.full(grid.shape, 205, np.uint8)
    image[grid == 0] = 254
    image[grid == 100] = 0
    # PGM rows run top-down; the grid's row 0 is its lowest y: map_server flips it back.
    header = f"P5\n{grid.shape[1]} {grid.shape[0]}\n255\n".encode()
    pgm_path.write_bytes(header + np.ascontiguousarray(image[::-1]).tobytes())
    occ = mapper.occupancy
    yaml_path.write_text(yaml.safe_dump({
        "image": pgm_path.name, "mode": "trinary", "resolution": occ.config.resolution,
        "origin": [float(occ.origin[0]), float(occ.origin[1]), 0.0], "negate": 0,
        "occupied_thresh": 0.65, "free_thresh": 0.25}, sort_keys=False))
    return [mesh_path, pgm_path, yaml_path]


class DepthMapNode(WorkerOwner, LifecycleNode):
    """Lifecycle node: configure builds the map, activate starts the topics and services."""

    def __init__(self, node_name: str = NODE, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._worker: FrameWorker | None = None  # before anything can fail: destroy_node reads it
        self.config = MapNodeConfig.from_values(declare_params(self, MAP_NODE_PARAMS))
        self.mapper: DepthMapper | None = None
        self._mount = self.config.camera_mount
        self._odometry: TimeBuffer = TimeBuffer(max_items=500, max_age_ns=5_000_000_000)
        self._infos: TimeBuffer = TimeBuffer(max_items=30)
        self._confidence: TimeBuffer = TimeBuffer(max_items=10)
        self._lock = threading.Lock()  # the mapper: integration (worker) vs publishing and services
        self._subs: list = []
        self._services: list = []
        self._timers: list = []
        self._pubs: dict[str, Any] = {}
        self._tf_buffer = None
        self.errors: dict[str, int] = {}
        self.integrated = 0
        self._last_integrate_s = 0.0
        self._last_logged: dict[str, float] = {}
        if self.config.autostart and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # -- lifecycle -------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        c = self.config
        try:
            self.mapper = DepthMapper(
                TsdfConfig(voxel_size=c.voxel_size, block_budget=c.block_budget, max_depth=c.max_depth,
                           min_confidence=c.min_confidence),
                GridConfig(resolution=c.resolution, size=c.grid_size, ground_z=c.ground_z, min_height=c.min_height,
                           max_height=c.max_height))
        except DepthRosError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        if c.pose_source == "tf" and not self._use_tf():
            self.get_logger().error("pose_source tf needs tf2_ros, which is not importable; use pose_source odom")
            return TransitionCallbackReturn.FAILURE
        self._pubs = {"map": self.create_publisher(OccupancyGrid, "map", MAP_QOS),
                      "points": self.create_publisher(PointCloud2, "map/points", OUTPUT_QOS),
                      "mesh": self.create_publisher(Marker, "map/mesh", OUTPUT_QOS),
                      "diagnostics": self.create_publisher(DiagnosticArray, "/diagnostics", DIAGNOSTICS_QOS)}
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._worker = FrameWorker(self._integrate, self._on_worker_error, "newest", 1, name="map-worker")
        self._subs = [
            self.create_subscription(Image, "depth/image", self._on_depth, SENSOR_QOS),
            self.create_subscription(Image, "depth/confidence", self._on_confidence, SENSOR_QOS),
            self.create_subscription(CameraInfo, "depth/camera_info", self._on_info, SENSOR_QOS),
        ]
        if self.config.pose_source == "odom":
            self._subs.append(self.create_subscription(Odometry, "odom", self._on_odometry, SENSOR_QOS))
        self._services = [self.create_service(Trigger, "~/save_map", self._save),
                          self.create_service(Trigger, "~/clear_map", self._clear)]
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timers = [self.create_timer(self.config.publish_period, self._publish, clock=steady),
                        self.create_timer(self.config.diagnostics_period, self._publish_diagnostics, clock=steady)]
        if self.config.mesh_enabled:
            self._timers.append(self.create_timer(self.config.mesh_period, self._publish_mesh, clock=steady))
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for sub in self._subs:
            self.destroy_subscription(sub)
        for srv in self._services:
            self.destroy_service(srv)
        for timer in self._timers:
            self.destroy_timer(timer)
        self._subs, self._services, self._timers = [], [], []
        self._stop_worker()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        self._pubs = {}
        self.mapper = None
        return TransitionCallbackReturn.SUCCESS


    # -- inputs ----------------------------------------------------------------------------

    def _report(self, kind: str, message: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last_logged.get(kind, -math.inf) >= 5.0:
            self._last_logged[kind] = now
            self.get_logger().warning(message)

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            self._infos.add(stamp_to_ns(msg.header.stamp), msg)
        except DepthRosError as exc:
            self._report("bad_camera_info", f"ignoring CameraInfo: {exc}")

    def _on_confidence(self, msg: Image) -> None:
        try:
            self._confidence.add(stamp_to_ns(msg.header.stamp), msg)
        except DepthRosError as exc:
            self._report("bad_confidence", f"ignoring depth/confidence: {exc}")

    def _on_odometry(self, msg: Odometry) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        try:
            stamp = stamp_to_ns(msg.header.stamp)
            T = RigidTransform(quat_to_matrix((q.x, q.y, q.z, q.w)), np.array([p.x, p.y, p.z]))
        except (DepthRosError, ValueError) as exc:
            self._report("bad_odom", f"dropping odometry: {exc}")
            return
        self._odometry.add(stamp, T)

    def _on_depth(self, msg: Image) -> None:
        if self._worker is not None:
            self._worker.submit(msg)

    def _use_tf(self) -> bool:
        if self._tf_buffer is None:
            made = make_tf_buffer(self)
            self._tf_buffer, self._tf_listener = made if made is not None else (False, None)
        return self._tf_buffer is not False

    def _pose(self, stamp_ns: int, frame_id: str) -> np.ndarray | None:
        """T_map_optical (4x4) at the image time, or None (reported)."""
        if self.config.pose_source == "tf":
            try:
                tf = self._tf_buffer.lookup_transform(self.config.map_frame, frame_id,
                                                      rclpy.time.Time(nanoseconds=stamp_ns)).transform
            except Exception as exc:  # tf2 raises several unrelated exception types
                self._report("no_pose", f"no TF {self.config.map_frame} -> {frame_id}: {exc}")
                return None
            q, t = tf.rotation, tf.translation
            return RigidTransform(quat_to_matrix((q.x, q.y, q.z, q.w)), np.array([t.x, t.y, t.z])).as_matrix()
        found = self._odometry.nearest(stamp_ns, int(self.config.pose_slop * 1e9))
        if found is None:
            self._report("no_pose", f"no odometry within {self.config.pose_slop} s of a depth image")
            return None
        return (found[1] @ self._mount).as_matrix()

    def _integrate(self, msg: Image) -> None:
        try:
            stamp = stamp_to_ns(msg.header.stamp)
            depth = image_to_depth_m(msg)
        except DepthRosError as exc:
            self._report("bad_depth", f"dropping depth image: {exc}")
            return
        info = self._infos.nearest(stamp, PAIR_SLOP_NS)
        if info is None:
            self._report("no_camera_info", "no depth/camera_info with the stamp of a depth image")
            return
        try:
            camera = camera_model_from_info(info[1])
        except DepthRosError as exc:
            self._report("bad_camera_info", f"ignoring CameraInfo: {exc}")
            return
        pose = self._pose(stamp, msg.header.frame_id)
        if pose is None:
            return
        conf_msg = self._confidence.nearest(stamp, PAIR_SLOP_NS)
        confidence = None
        if conf_msg is not None:
            try:
                confidence = image_to_depth_m(conf_msg[1])
            except DepthRosError:
                confidence = None
        if confidence is not None and confidence.shape != depth.shape:
            confidence = None
        started = time.perf_counter()
        try:
            with self._lock:
                self.mapper.add(depth, camera, pose, confidence)
        except DepthRosError as exc:
            self._report("bad_depth", f"dropping depth image: {exc}")
            return
        self._last_integrate_s = time.perf_counter() - started
        self.integrated += 1

    def _on_worker_error(self, exc: BaseException) -> None:
        self._report("internal", f"integration failed: {type(exc).__name__}: {exc}")

    # -- outputs ---------------------------------------------------------------------------

    def _publish(self) -> None:
        if self.mapper is None or not self.integrated:
            return
        header = make_header(self.get_clock().now().nanoseconds, self.config.map_frame)
        with self._lock:
            surface = self.mapper.surface_points()
            grid = self.mapper.grid(surface)
        points = surface if self._pubs["points"].get_subscription_count() else None
        occ = self.mapper.occupancy
        self._pubs["map"].publish(grid_message(grid, occ.origin, occ.config.resolution, header))
        if points is not None:
            self._pubs["points"].publish(points_to_msg(points.astype(np.float32), header=header))

    def _publish_mesh(self) -> None:
        if self.mapper is None or not self.integrated or not self._pubs["mesh"].get_subscription_count():
            return
        with self._lock:
            vertices, triangles = self.mapper.tsdf.mesh_arrays(self.config.mesh_max_triangles)
        if len(triangles):
            header = make_header(self.get_clock().now().nanoseconds, self.config.map_frame)
            self._pubs["mesh"].publish(mesh_marker(vertices, triangles, header))

    def _publish_diagnostics(self) -> None:
        if self.mapper is None:
            return
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name().lstrip('/')}: map", hardware_id="depth_ros")
        tsdf = self.mapper.tsdf
        recent = any(time.monotonic() - t < 5.0 for t in self._last_logged.values())
        if recent:
            status.level, status.message = DiagnosticStatus.WARN, "bad or missing input (see errors_*)"
        elif tsdf.dropped_blocks:
            status.level, status.message = DiagnosticStatus.WARN, "block budget reached: far blocks dropped"
        else:
            status.level, status.message = DiagnosticStatus.OK, f"{self.integrated} frames integrated"
        values = {"frames_integrated": self.integrated, "blocks": tsdf.blocks, "block_budget": tsdf.config.block_budget,
                  "dropped_blocks": tsdf.dropped_blocks, "integrate_ms": round(1e3 * self._last_integrate_s, 2)}
        values.update({f"errors_{k}": v for k, v in sorted(self.errors.items())})
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray(header=make_header(self.get_clock().now().nanoseconds, ""))
        msg.status = [status]
        self._pubs["diagnostics"].publish(msg)

    def _save(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.mapper is None or not self.integrated:
            response.success, response.message = False, "nothing integrated yet"
            return response
        try:
            with self._lock:
                paths = save_map_files(Path(self.config.save_directory), self.mapper)
        except (DepthRosError, OSError) as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success, response.message = True, ", ".join(str(p) for p in paths)
        return response

    def _clear(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            if self.mapper is not None:
                self.mapper.clear()
        self.integrated = 0
        response.success, response.message = True, "map cleared"
        return response


def main(args: list[str] | None = None) -> int:
    """Start depth_map_node and spin until shutdown; start-up errors are one line and exit code 1."""
    args = list(args if args is not None else sys.argv)
    try:
        init_ros(args)
    except InvalidInputError as exc:
        print(f"{NODE}: {exc}", file=sys.stderr)
        return 1
    try:
        node = DepthMapNode(NODE)
    except (ParameterException, ValueError) as exc:
        print(f"{NODE}: invalid parameter: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    try:
        if node.config.autostart and node.mapper is None:
            return 1
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def console_main() -> None:
    sys.exit(main())
