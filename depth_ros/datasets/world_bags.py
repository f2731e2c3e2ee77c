"""Bags of the synthetic world and of real RGB-D frames, written like the robot's sensors would (depth-ros-simulate)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability
from tqdm import tqdm

from depth_ros.bags.codec import default_typestore
from depth_ros.bags.io import DEFAULT_QOS, BagWriter
from depth_ros.core.imu import STANDARD_GRAVITY
from depth_ros.core.transforms import RigidTransform, matrix_to_rpy
from depth_ros.datasets.rgbd import load_manifest
from depth_ros.ros.conversions import array_to_image, camera_info_from_model, depth_to_image, make_header, points_to_msg
from depth_ros.ros.conversions.stamps import sensor_msgs
from depth_ros.sim.odometry import OdometryNoise

PARAMS_FILE = "radar_depth_node.params.yaml"

WORLD_FILE = "world.yaml"

NODE_NAME = "radar_depth_node"


def _tf_static(stamp_ns: int, transforms: list[tuple[str, str, Any]]) -> Any:
    """tf2_msgs/TFMessage (static or not) as a rosbags object (tf2_msgs has no rclpy wheel here)."""

    ts = default_typestore()
    T = ts.types
    sec, nsec = divmod(stamp_ns, 1_000_000_000)
    out = []
    for parent, child, tf in transforms:
        q = tf.quaternion
        out.append(T["geometry_msgs/msg/TransformStamped"](
            header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec), frame_id=parent),
            child_frame_id=child,
            transform=T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=float(tf.t[0]), y=float(tf.t[1]), z=float(tf.t[2])),
                rotation=T["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
            ),
        ))
    return T["tf2_msgs/msg/TFMessage"](transforms=out)


def _imu_msg(stamp_ns: int, frame_id: str, gyro: np.ndarray, accel: np.ndarray, gyro_var: float, accel_var: float) -> Any:
    m = sensor_msgs().Imu()
    m.header = make_header(stamp_ns, frame_id)
    m.orientation.w = 1.0
    m.orientation_covariance[0] = -1.0
    m.angular_velocity.x, m.angular_velocity.y, m.angular_velocity.z = (float(v) for v in gyro)
    m.linear_acceleration.x, m.linear_acceleration.y, m.linear_acceleration.z = (float(v) for v in accel)
    for i in (0, 4, 8):
        m.angular_velocity_covariance[i] = gyro_var
        m.linear_acceleration_covariance[i] = accel_var
    return m


def _radar_msg(scan: Any) -> Any:
    return points_to_msg(
        scan.points.astype(np.float32),
        extra={"snr": scan.fields["snr"].astype(np.float32), "doppler": scan.fields["doppler"].astype(np.float32)},
        frame_id=scan.frame_id,
        stamp=scan.stamp_ns,
    )


class _CanonicalWriter:
    """Writes rclpy messages as canonical CDR: rclpy's serializer leaves alignment padding
    uninitialised (random bytes), so each message goes through the rosbags type store, which
    zero-fills it. That makes a seed's bag reproducible byte for byte."""

    def __init__(self, bag: Any) -> None:
        self._bag = bag
        self._store = default_typestore()
        self._types: dict[str, str] = {}

    def add_topic(self, topic: str, msgtype: str, qos: Any = None) -> None:
        self._bag.add_topic(topic, msgtype, qos)
        self._types[topic] = msgtype

    def write(self, topic: str, stamp: int, msg: Any) -> None:
        if not hasattr(msg, "__msgtype__"):  # an rclpy message
            from rclpy.serialization import serialize_message  # noqa: PLC0415

            msgtype = self._types[topic]
            msg = self._store.deserialize_cdr(serialize_message(msg), msgtype)
        self._bag.write(topic, stamp, msg)


def _add_topics(bag: Any) -> None:
    from depth_ros.sim.world import TOPICS  # noqa: PLC0415

    for key, msgtype in (("image", "sensor_msgs/msg/Image"), ("camera_info", "sensor_msgs/msg/CameraInfo"),
                         ("depth_gt", "sensor_msgs/msg/Image"), ("radar", "sensor_msgs/msg/PointCloud2"),
                         ("imu", "sensor_msgs/msg/Imu")):
        bag.add_topic(TOPICS[key], msgtype)
    d = DEFAULT_QOS
    # Transient local, as tf2's static broadcaster offers it: late subscribers still get the transforms.
    latched = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                  d.deadline, d.lifespan, QosLiveliness.AUTOMATIC, d.liveliness_lease_duration, False)
    bag.add_topic(TOPICS["tf_static"], "tf2_msgs/msg/TFMessage", latched)


def _add_pose_topics(bag: Any) -> None:
    from depth_ros.sim.world import TOPICS  # noqa: PLC0415

    bag.add_topic(TOPICS["odom"], "nav_msgs/msg/Odometry")
    bag.add_topic(TOPICS["tf"], "tf2_msgs/msg/TFMessage")
    bag.add_topic(TOPICS["pose_gt"], "geometry_msgs/msg/PoseStamped")


def _odometry_msg(stamp_ns: int, pose: Any, linear: np.ndarray, angular: np.ndarray) -> Any:
    from nav_msgs.msg import Odometry  # noqa: PLC0415

    from depth_ros.sim.world import FRAME_IDS  # noqa: PLC0415

    msg = Odometry(header=make_header(stamp_ns, FRAME_IDS["odom"]), child_frame_id=FRAME_IDS["base"])
    _set_pose(msg.pose.pose, pose)
    v, w = msg.twist.twist.linear, msg.twist.twist.angular
    v.x, v.y, v.z = (float(x) for x in linear)
    w.x, w.y, w.z = (float(x) for x in angular)
    return msg


def _pose_msg(stamp_ns: int, pose: Any) -> Any:
    from geometry_msgs.msg import PoseStamped  # noqa: PLC0415

    from depth_ros.sim.world import FRAME_IDS  # noqa: PLC0415

    msg = PoseStamped(header=make_header(stamp_ns, FRAME_IDS["odom"]))
    _set_pose(msg.pose, pose)
    return msg


def _set_pose(target: Any, pose: Any) -> None:
    q = pose.quaternion
    target.position.x, target.position.y, target.position.z = (float(x) for x in pose.t)
    target.orientation.x, target.orientation.y, target.orientation.z, target.orientation.w = (float(x) for x in q)


def _static_transforms(ext: Any) -> list[tuple[str, str, Any]]:
    from depth_ros.sim.world import FRAME_IDS as F  # noqa: PLC0415

    return [
        (F["base"], F["camera"], ext.T_base_camera_link),
        (F["camera"], F["optical"], ext.T_camera_link_optical),
        (F["camera"], F["radar"], ext.T_camera_link_radar),
        (F["camera"], F["imu"], ext.T_camera_link_imu),
    ]


def write_yaml(path: Path, data: dict, header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def params_dict(ext: Any, camera_height: float) -> dict:
    """The node's parameters: sensor mounts on camera_link (translation m, REP-103 rpy rad) and camera height."""

    def vec(v: Any) -> list[float]:
        return [float(x) + 0.0 for x in v]  # no -0.0

    return {f"/**/{NODE_NAME}": {"ros__parameters": {
        "radar": {"translation": vec(ext.T_camera_link_radar.t), "rotation_rpy": vec(matrix_to_rpy(ext.T_camera_link_radar.R))},
        "imu": {"translation": vec(ext.T_camera_link_imu.t), "rotation_rpy": vec(matrix_to_rpy(ext.T_camera_link_imu.R))},
        "ground": {"camera_height": float(camera_height)},
    }}}


def _progress(total: int, enabled: bool, desc: str) -> Any:
    return tqdm(total=total, desc=desc, unit="msg", disable=not enabled, file=sys.stderr, leave=False)


def write_world_bag(world: Any, out: Path, storage: str = "mcap", progress: bool = False, odom_hz: float = 50.0,
                    odom_noise: OdometryNoise | None = None) -> dict[str, int]:
    """Write the run of a `depth_ros.sim.World` to a rosbag2; returns message counts per topic.

    Besides the sensors: /odom (wheel-odometry-like, `odom_noise`) and /tf odom -> base_link at
    `odom_hz`, and the exact base_link pose on /ground_truth/pose at the same stamps.
    """
    from depth_ros.sim.odometry import simulate_odometry  # noqa: PLC0415
    from depth_ros.sim.world import FRAME_IDS, TOPICS, sensor_stamps  # noqa: PLC0415

    odom_stamps = sensor_stamps(world.epoch_ns, odom_hz, world.seconds, inclusive=True)
    truth = [world.T_world_frame(world.time_of(s), FRAME_IDS["base"]) for s in odom_stamps]
    odom = simulate_odometry(truth, odom_stamps, odom_noise or OdometryNoise(),
                             np.random.default_rng([world.seed, 7, 11]))
    imu = world.imu()
    gyro_var, accel_var = world.imu_noise.gyro_sigma ** 2, world.imu_noise.accel_sigma ** 2
    # (stamp, priority, kind, index): a global time order, with a fixed order at equal stamps.
    events = [(world.epoch_ns, 0, "tf", 0)]
    events += [(int(s), 1, "imu", i) for i, s in enumerate(imu.stamps_ns)]
    events += [(int(s), 2, "frame", k) for k, s in enumerate(world.frame_stamps_ns)]
    events += [(int(s), 3, "radar", j) for j, s in enumerate(world.radar_stamps_ns)]
    events += [(int(s), 4, "odom", n) for n, s in enumerate(odom_stamps)]
    events.sort()
    counts = {t: 0 for t in TOPICS.values()}
    optical = FRAME_IDS["optical"]
    with BagWriter(out, storage=storage) as raw_bag, \
            _progress(len(world.frame_stamps_ns) + len(world.radar_stamps_ns), progress, f"world {world.scene_name}") as bar:
        bag = _CanonicalWriter(raw_bag)
        _add_topics(bag)
        _add_pose_topics(bag)
        for stamp, _, kind, i in events:
            if kind == "tf":
                bag.write(TOPICS["tf_static"], stamp, _tf_static(stamp, _static_transforms(world.extrinsics)))
                counts[TOPICS["tf_static"]] += 1
            elif kind == "imu":
                bag.write(TOPICS["imu"], stamp, _imu_msg(stamp, FRAME_IDS["imu"], imu.gyro[i], imu.accel[i], gyro_var, accel_var))
                counts[TOPICS["imu"]] += 1
            elif kind == "frame":
                f = world.frame(i)
                bag.write(TOPICS["image"], stamp, array_to_image(f.rgb, "rgb8", frame_id=optical, stamp=stamp))
                bag.write(TOPICS["camera_info"], stamp, camera_info_from_model(world.camera, frame_id=optical, stamp=stamp))
                bag.write(TOPICS["depth_gt"], stamp, depth_to_image(f.depth, frame_id=optical, stamp=stamp))
                for key in ("image", "camera_info", "depth_gt"):
                    counts[TOPICS[key]] += 1
                bar.update(1)
            elif kind == "odom":
                bag.write(TOPICS["odom"], stamp, _odometry_msg(stamp, odom.poses[i], odom.linear[i], odom.angular[i]))
                tf = _tf_static(stamp, [(FRAME_IDS["odom"], FRAME_IDS["base"], odom.poses[i])])
                bag.write(TOPICS["tf"], stamp, tf)
                bag.write(TOPICS["pose_gt"], stamp, _pose_msg(stamp, truth[i]))
                for key in ("odom", "tf", "pose_gt"):
                    counts[TOPICS[key]] += 1
            else:
                bag.write(TOPICS["radar"], stamp, _radar_msg(world.radar_scan(i).scan))
                counts[TOPICS["radar"]] += 1
                bar.update(1)
    return counts


def write_rgbd_bag(manifest: Path, out: Path, seed: int = 0, camera_hz: float = 10.0, imu_hz: float = 200.0,
                   storage: str = "mcap", progress: bool = False) -> tuple[dict[str, int], dict]:
    """Convert RGB-D frames to a bag (assumptions: module docstring); returns (counts, world description)."""
    from depth_ros.sim.radar import simulate_radar  # noqa: PLC0415
    from depth_ros.sim.trajectory import ImuNoise  # noqa: PLC0415
    from depth_ros.sim.world import EPOCH_NS, FRAME_IDS, TOPICS, camera_dict, default_extrinsics, extrinsics_dict  # noqa: PLC0415

    frames = load_manifest(manifest)
    if not frames:
        raise ValueError(f"manifest {manifest} lists no frames")
    ext = default_extrinsics(RigidTransform.identity())
    noise = ImuNoise()
    frame_stamps = [EPOCH_NS + int(round(k * 1e9 / camera_hz)) for k in range(len(frames))]
    seconds = len(frames) / camera_hz
    n_imu = int(math.floor(seconds * imu_hz + 1e-9)) + 1
    imu_stamps = [EPOCH_NS + int(round(i * 1e9 / imu_hz)) for i in range(n_imu)]
    rng = np.random.default_rng([seed, 99, 4])
    R_imu = ext.T_camera_link_imu.R  # camera_link is level: world z = camera_link z
    f_true = R_imu.T @ np.array([0.0, 0.0, STANDARD_GRAVITY])
    gyro_bias = rng.normal(0.0, noise.gyro_bias_sigma, 3)
    accel_bias = rng.normal(0.0, noise.accel_bias_sigma, 3)
    gyro = gyro_bias + rng.normal(0.0, noise.gyro_sigma, (n_imu, 3))
    accel = f_true + accel_bias + rng.normal(0.0, noise.accel_sigma, (n_imu, 3))
    events = [(EPOCH_NS, 0, "tf", 0)] + [(s, 1, "imu", i) for i, s in enumerate(imu_stamps)]
    events += [(s, 2, "frame", k) for k, s in enumerate(frame_stamps)]
    events.sort()
    counts = {t: 0 for t in TOPICS.values()}
    optical = FRAME_IDS["optical"]
    with BagWriter(out, storage=storage) as raw_bag, _progress(len(frames), progress, "rgbd frames") as bar:
        bag = _CanonicalWriter(raw_bag)
        _add_topics(bag)
        for stamp, _, kind, i in events:
            if kind == "tf":
                bag.write(TOPICS["tf_static"], stamp, _tf_static(stamp, _static_transforms(ext)))
                counts[TOPICS["tf_static"]] += 1
            elif kind == "imu":
                bag.write(TOPICS["imu"], stamp, _imu_msg(stamp, FRAME_IDS["imu"], gyro[i], accel[i],
                                                         noise.gyro_sigma ** 2, noise.accel_sigma ** 2))
                counts[TOPICS["imu"]] += 1
            else:
                fr = frames[i]
                bag.write(TOPICS["image"], stamp, array_to_image(fr.rgb, "rgb8", frame_id=optical, stamp=stamp))
                bag.write(TOPICS["camera_info"], stamp, camera_info_from_model(fr.camera, frame_id=optical, stamp=stamp))
                bag.write(TOPICS["depth_gt"], stamp, depth_to_image(fr.depth, frame_id=optical, stamp=stamp))
                sim = simulate_radar(fr.depth, fr.camera, np.random.default_rng([seed, 99, 3, i]),
                                     T_cam_radar=ext.T_cam_radar, stamp_ns=stamp, frame_id=FRAME_IDS["radar"])
                bag.write(TOPICS["radar"], stamp, _radar_msg(sim.scan))
                for key in ("image", "camera_info", "depth_gt", "radar"):
                    counts[TOPICS[key]] += 1
                bar.update(1)
    info = {
        "source": "rgbd",
        "manifest": str(Path(manifest).resolve()),
        "frames": [f.id for f in frames],
        "seed": seed,
        "epoch_ns": EPOCH_NS,
        "rates_hz": {"camera": camera_hz, "radar": camera_hz, "imu": imu_hz},
        "camera": camera_dict(frames[0].camera),
        "camera_height": None,
        "extrinsics": extrinsics_dict(ext),
        "frame_ids": dict(FRAME_IDS),
        "topics": dict(TOPICS),
        "gravity": float(STANDARD_GRAVITY),
        "imu_noise": {"gyro_sigma": noise.gyro_sigma, "accel_sigma": noise.accel_sigma,
                      "gyro_bias": [float(v) for v in gyro_bias], "accel_bias": [float(v) for v in accel_bias]},
        "assumptions": "static independent frames; IMU at rest with camera_link level; one radar scan per frame "
                       "at the frame's stamp; camera height unknown",
    }
    return counts, info
