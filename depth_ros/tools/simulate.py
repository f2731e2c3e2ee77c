"""depth-ros-simulate: write a rosbag2 of a simulated robot run (or of RGB-D frames) with ground truth.

Topics (all stamped with the header stamp; the run starts at the fixed epoch 1.7e9 s):
  /camera/image_raw           sensor_msgs/Image rgb8          camera_optical_frame
  /camera/camera_info         sensor_msgs/CameraInfo          camera_optical_frame (plumb_bob, as rendered)
  /camera/depth/ground_truth  sensor_msgs/Image 32FC1 metres  camera_optical_frame (NaN = no truth)
  /radar/points               sensor_msgs/PointCloud2 x y z snr doppler (float32)   radar_link
  /imu/data                   sensor_msgs/Imu                 imu_link (no orientation)
  /tf_static                  tf2_msgs/TFMessage (transient local): base_link->camera_link,
                              camera_link->camera_optical_frame, camera_link->radar_link, camera_link->imu_link
Beside the bag (default: its parent folder) go world.yaml (the run's description and ground truth
parameters) and radar_depth_node.params.yaml (a ROS 2 parameters file for the node).

--from-rgbd assumptions: every frame of the manifest is an independent, static scene shown for
1 / camera-hz seconds; one radar scan per frame is simulated from that frame's ground-truth depth
and stamped with the frame's stamp; the robot is at rest with camera_link level (gravity along
-z of camera_link), so the IMU reads the gravity reaction rotated into its mount plus noise and
bias, and a zero rate plus noise and bias. The camera height is unknown (0.0 in the params file).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.tools.cli import ArgumentParser

PROG = "depth-ros-simulate"
PARAMS_FILE = "radar_depth_node.params.yaml"
WORLD_FILE = "world.yaml"
NODE_NAME = "radar_depth_node"


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Generate a rosbag2 with camera images, camera_info, ground-truth depth, simulated mmWave radar, "
        "IMU and static TF from a seeded synthetic world (hall or yard), or from RGB-D frames with --from-rgbd. "
        f"Writes {WORLD_FILE} and {PARAMS_FILE} next to the bag.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scene", choices=["hall", "yard"],
                     help="synthetic world: 'hall' (indoor hall with shelves and box stacks) or 'yard' "
                     "(outdoor ground, buildings, containers, poles, sky)")
    src.add_argument("--from-rgbd", metavar="MANIFEST", type=Path,
                     help="convert the frames of an RGB-D manifest.json (layout of shared/data/rgbd) instead; "
                     "frames are static scenes, radar is simulated from each frame's depth, the IMU is at rest")
    p.add_argument("--out", required=True, type=Path, metavar="BAG",
                   help="rosbag2 directory to create (must not exist)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the synthetic run in seconds")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the scene, trajectory and all sensor noise (same seed -> identical messages)")
    p.add_argument("--width", type=int, default=320, help="image width in pixels (synthetic worlds)")
    p.add_argument("--height", type=int, default=240, help="image height in pixels (synthetic worlds)")
    p.add_argument("--camera-hz", type=float, default=10.0, help="camera frame rate (also the frame spacing of --from-rgbd)")
    p.add_argument("--radar-hz", type=float, default=15.0, help="radar scan rate (synthetic worlds)")
    p.add_argument("--imu-hz", type=float, default=200.0, help="IMU sample rate")
    p.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap", help="rosbag2 storage plugin")
    p.add_argument("--meta-dir", type=Path, default=None,
                   help=f"folder for {WORLD_FILE} and {PARAMS_FILE} (default: the bag's parent folder)")
    p.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    return p


def _check_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    if a.out.exists():
        p.error(f"--out {a.out}: the path exists already")
    if a.from_rgbd is not None and not a.from_rgbd.is_file():
        p.error(f"--from-rgbd {a.from_rgbd}: no such manifest file")
    if not (math.isfinite(a.seconds) and 0 < a.seconds <= 3600):
        p.error(f"--seconds must be in (0, 3600], got {a.seconds}")
    if not (8 <= a.width <= 4096 and 8 <= a.height <= 4096):
        p.error(f"--width/--height must be in [8, 4096], got {a.width}x{a.height}")
    for name in ("camera_hz", "radar_hz", "imu_hz"):
        hz = getattr(a, name)
        if not (math.isfinite(hz) and 0 < hz <= 2000):
            p.error(f"--{name.replace('_', '-')} must be in (0, 2000], got {hz}")
    if a.seed < 0:
        p.error(f"--seed must be >= 0, got {a.seed}")


# -- messages ---------------------------------------------------------------------------------


def _tf_static(stamp_ns: int, transforms: list[tuple[str, str, Any]]) -> Any:
    """tf2_msgs/TFMessage as a rosbags object (tf2_msgs has no rclpy wheel here)."""
    from depth_ros.ros.bag_codec import default_typestore

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
    from depth_ros.ros.conversions import make_header
    from depth_ros.ros.conversions.stamps import sensor_msgs

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
    from depth_ros.ros.conversions import points_to_msg

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
        from depth_ros.ros.bag_codec import default_typestore

        self._bag = bag
        self._store = default_typestore()
        self._types: dict[str, str] = {}

    def add_topic(self, topic: str, msgtype: str, qos: Any = None) -> None:
        self._bag.add_topic(topic, msgtype, qos)
        self._types[topic] = msgtype

    def write(self, topic: str, stamp: int, msg: Any) -> None:
        if not hasattr(msg, "__msgtype__"):  # an rclpy message
            from rclpy.serialization import serialize_message

            msgtype = self._types[topic]
            msg = self._store.deserialize_cdr(serialize_message(msg), msgtype)
        self._bag.write(topic, stamp, msg)


def _add_topics(bag: Any) -> None:
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability

    from depth_ros.ros.bag import DEFAULT_QOS
    from depth_ros.sim.world import TOPICS

    for key, msgtype in (("image", "sensor_msgs/msg/Image"), ("camera_info", "sensor_msgs/msg/CameraInfo"),
                         ("depth_gt", "sensor_msgs/msg/Image"), ("radar", "sensor_msgs/msg/PointCloud2"),
                         ("imu", "sensor_msgs/msg/Imu")):
        bag.add_topic(TOPICS[key], msgtype)
    d = DEFAULT_QOS
    # Transient local, as tf2's static broadcaster offers it: late subscribers still get the transforms.
    latched = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                  d.deadline, d.lifespan, QosLiveliness.AUTOMATIC, d.liveliness_lease_duration, False)
    bag.add_topic(TOPICS["tf_static"], "tf2_msgs/msg/TFMessage", latched)


def _static_transforms(ext: Any) -> list[tuple[str, str, Any]]:
    from depth_ros.sim.world import FRAME_IDS as F

    return [
        (F["base"], F["camera"], ext.T_base_camera_link),
        (F["camera"], F["optical"], ext.T_camera_link_optical),
        (F["camera"], F["radar"], ext.T_camera_link_radar),
        (F["camera"], F["imu"], ext.T_camera_link_imu),
    ]


def _write_yaml(path: Path, data: dict, header: str) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def params_dict(ext: Any, camera_height: float) -> dict:
    """The node's parameters: sensor mounts on camera_link (translation m, REP-103 rpy rad) and camera height."""
    from depth_ros.core.transforms import matrix_to_rpy

    def vec(v: Any) -> list[float]:
        return [float(x) + 0.0 for x in v]  # no -0.0

    return {f"/**/{NODE_NAME}": {"ros__parameters": {
        "radar": {"translation": vec(ext.T_camera_link_radar.t), "rotation_rpy": vec(matrix_to_rpy(ext.T_camera_link_radar.R))},
        "imu": {"translation": vec(ext.T_camera_link_imu.t), "rotation_rpy": vec(matrix_to_rpy(ext.T_camera_link_imu.R))},
        "ground": {"camera_height": float(camera_height)},
    }}}


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="msg", disable=not enabled, file=sys.stderr, leave=False)


# -- writers ----------------------------------------------------------------------------------


def write_world_bag(world: Any, out: Path, storage: str = "mcap", progress: bool = False) -> dict[str, int]:
    """Write the run of a `depth_ros.sim.World` to a rosbag2; returns message counts per topic."""
    from depth_ros.ros.bag import BagWriter
    from depth_ros.ros.conversions import array_to_image, camera_info_from_model, depth_to_image
    from depth_ros.sim.world import FRAME_IDS, TOPICS

    imu = world.imu()
    gyro_var, accel_var = world.imu_noise.gyro_sigma ** 2, world.imu_noise.accel_sigma ** 2
    # (stamp, priority, kind, index): a global time order, with a fixed order at equal stamps.
    events = [(world.epoch_ns, 0, "tf", 0)]
    events += [(int(s), 1, "imu", i) for i, s in enumerate(imu.stamps_ns)]
    events += [(int(s), 2, "frame", k) for k, s in enumerate(world.frame_stamps_ns)]
    events += [(int(s), 3, "radar", j) for j, s in enumerate(world.radar_stamps_ns)]
    events.sort()
    counts = {t: 0 for t in TOPICS.values()}
    optical = FRAME_IDS["optical"]
    with BagWriter(out, storage=storage) as raw_bag, \
            _progress(len(world.frame_stamps_ns) + len(world.radar_stamps_ns), progress, f"{PROG} {world.scene_name}") as bar:
        bag = _CanonicalWriter(raw_bag)
        _add_topics(bag)
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
            else:
                bag.write(TOPICS["radar"], stamp, _radar_msg(world.radar_scan(i).scan))
                counts[TOPICS["radar"]] += 1
                bar.update(1)
    return counts


def write_rgbd_bag(manifest: Path, out: Path, seed: int = 0, camera_hz: float = 10.0, imu_hz: float = 200.0,
                   storage: str = "mcap", progress: bool = False) -> tuple[dict[str, int], dict]:
    """Convert RGB-D frames to a bag (assumptions: module docstring); returns (counts, world description)."""
    from depth_ros.core.imu import STANDARD_GRAVITY
    from depth_ros.core.radar_sim import simulate_radar
    from depth_ros.core.transforms import RigidTransform
    from depth_ros.ros.bag import BagWriter
    from depth_ros.ros.conversions import array_to_image, camera_info_from_model, depth_to_image
    from depth_ros.sim.trajectory import ImuNoise
    from depth_ros.sim.world import EPOCH_NS, FRAME_IDS, TOPICS, camera_dict, default_extrinsics, extrinsics_dict
    from depth_ros.tools.rgbd_dataset import load_manifest

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
    with BagWriter(out, storage=storage) as raw_bag, _progress(len(frames), progress, f"{PROG} rgbd") as bar:
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    import time

    from depth_ros.core.errors import DepthRosError

    meta = args.meta_dir if args.meta_dir is not None else args.out.resolve().parent
    t0 = time.perf_counter()
    try:
        args.out.resolve().parent.mkdir(parents=True, exist_ok=True)
        if args.from_rgbd is not None:
            counts, info = write_rgbd_bag(args.from_rgbd, args.out, args.seed, args.camera_hz, args.imu_hz,
                                          args.storage, not args.no_progress)
            from depth_ros.sim.world import default_extrinsics
            from depth_ros.core.transforms import RigidTransform

            ext, height = default_extrinsics(RigidTransform.identity()), 0.0
        else:
            from depth_ros.sim.world import World

            world = World(args.scene, args.seconds, args.seed, args.width, args.height,
                          args.camera_hz, args.radar_hz, args.imu_hz)
            counts = write_world_bag(world, args.out, args.storage, not args.no_progress)
            info, ext, height = world.describe(), world.extrinsics, world.camera_height
        src = f"--from-rgbd {args.from_rgbd}" if args.from_rgbd is not None else f"--scene {args.scene} --seed {args.seed}"
        _write_yaml(meta / WORLD_FILE, {"bag": str(args.out.resolve()), **info},
                    f"# Written by {PROG} {src}. Poses: parent->child translation (m) + REP-103 roll, pitch, yaw (rad).\n")
        _write_yaml(meta / PARAMS_FILE, params_dict(ext, height),
                    f"# Written by {PROG} {src}: sensor mounts on camera_link (translation m, REP-103 roll, pitch, "
                    "yaw rad)\n# and the camera height above the ground (m; 0.0 = unknown).\n")
    except (DepthRosError, OSError, ValueError, KeyError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    total = sum(counts.values())
    print(f"{PROG}: wrote {total} messages to {args.out} in {time.perf_counter() - t0:.1f} s "
          f"({', '.join(f'{t}: {n}' for t, n in counts.items())}); {meta / WORLD_FILE}, {meta / PARAMS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
