"""Publisher process of the DDS fuzz test: seeded valid and malformed messages of every input type.

    python dds_fuzz_publisher.py --namespace NS --per-type 2000 --seed 7

Publishes, through Fast DDS, `--per-type` messages of each of Image, CompressedImage, CameraInfo,
PointCloud2 (radar), Imu and Odometry, interleaved in time order, each either valid or broken in
one of a fixed set of ways (the kind is chosen by the seeded generator, so a run is reproducible).
Prints one JSON line: {"sent": {type: n}, "malformed": {type: n}, "kinds": {kind: n}}.
Malformed is counted by construction: the messages built by a breaking mutation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import cv2
import numpy as np
import rclpy
from nav_msgs.msg import Odometry
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, PointCloud2

from depth_ros.core.camera import CameraModel
from depth_ros.ros.conversions import array_to_image, camera_info_from_model, make_header, points_to_msg

S = 1_000_000_000
CAM = CameraModel(32, 24, 30.0, 30.0, 15.5, 11.5)


def _header(stamp_ns: int, frame_id: str = "cam"):
    return make_header(stamp_ns, frame_id)


def _bad_stamp(msg) -> None:
    msg.header.stamp.nanosec = 2_000_000_000  # outside [0, 1e9)


def image(rng: np.random.Generator, stamp: int) -> tuple[Image, str]:
    rgb = rng.integers(0, 256, (CAM.height, CAM.width, 3), dtype=np.uint8)
    msg = array_to_image(rgb, "rgb8", header=_header(stamp))
    kind = rng.choice(["valid", "valid", "short_data", "bad_step", "encoding", "zero_size", "huge_claim", "stamp"])
    if kind == "short_data":
        msg.data = bytes(msg.data)[: len(msg.data) // 2]
    elif kind == "bad_step":
        msg.step = msg.width  # 1 byte per pixel for rgb8
    elif kind == "encoding":
        msg.encoding = "yuv422_yuy2"
    elif kind == "zero_size":
        msg.width = 0
    elif kind == "huge_claim":
        msg.height, msg.width, msg.step = 100_000, 100_000, 300_000
    elif kind == "stamp":
        _bad_stamp(msg)
    return msg, f"image_{kind}"


def compressed(rng: np.random.Generator, stamp: int) -> tuple[CompressedImage, str]:
    rgb = rng.integers(0, 256, (CAM.height, CAM.width, 3), dtype=np.uint8)
    ok, jpeg = cv2.imencode(".jpg", rgb)
    msg = CompressedImage(header=_header(stamp), format="rgb8; jpeg compressed bgr8", data=jpeg.tobytes())
    kind = rng.choice(["valid", "valid", "garbage", "truncated", "format", "empty"])
    if kind == "garbage":
        msg.data = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    elif kind == "truncated":
        msg.data = jpeg.tobytes()[:40]
    elif kind == "format":
        msg.format = "webp"
    elif kind == "empty":
        msg.data = b""
    return msg, f"compressed_{kind}"


def camera_info(rng: np.random.Generator, stamp: int) -> tuple[CameraInfo, str]:
    msg = camera_info_from_model(CAM, _header(stamp))
    kind = rng.choice(["valid", "valid", "zero_k", "nan_k", "zero_size", "stamp"])
    if kind == "zero_k":
        msg.k = [0.0] * 9
    elif kind == "nan_k":
        msg.k = [float("nan")] * 9
    elif kind == "zero_size":
        msg.width = 0
    elif kind == "stamp":
        _bad_stamp(msg)
    return msg, f"camera_info_{kind}"


def radar(rng: np.random.Generator, stamp: int) -> tuple[PointCloud2, str]:
    pts = np.stack([rng.uniform(1, 20, 16), rng.uniform(-3, 3, 16), rng.uniform(-1, 1, 16)], axis=1).astype(np.float32)
    msg = points_to_msg(pts, header=_header(stamp, "radar_link"))
    kind = rng.choice(["valid", "valid", "no_z", "short_data", "bad_point_step", "empty", "stamp"])
    if kind == "no_z":
        msg.fields = [f for f in msg.fields if f.name != "z"]
    elif kind == "short_data":
        msg.data = bytes(msg.data)[:10]
    elif kind == "bad_point_step":
        msg.point_step = 3
    elif kind == "empty":
        msg = points_to_msg(np.zeros((0, 3), np.float32), header=_header(stamp, "radar_link"))
    elif kind == "stamp":
        _bad_stamp(msg)
    return msg, f"radar_{kind}"


def imu(rng: np.random.Generator, stamp: int) -> tuple[Imu, str]:
    msg = Imu(header=_header(stamp, "imu_link"))
    msg.linear_acceleration.z = 9.81
    msg.orientation_covariance[0] = -1.0
    kind = rng.choice(["valid", "valid", "valid", "nan_accel", "inf_gyro", "stamp"])
    if kind == "nan_accel":
        msg.linear_acceleration.x = float("nan")
    elif kind == "inf_gyro":
        msg.angular_velocity.y = float("inf")
    elif kind == "stamp":
        _bad_stamp(msg)
    return msg, f"imu_{kind}"


def odometry(rng: np.random.Generator, stamp: int) -> tuple[Odometry, str]:
    msg = Odometry(header=_header(stamp, "odom"), child_frame_id="base_link")
    msg.twist.twist.linear.x = float(rng.uniform(0, 2))
    kind = rng.choice(["valid", "valid", "nan_velocity", "inf_velocity", "stamp"])
    if kind == "nan_velocity":
        msg.twist.twist.linear.y = float("nan")
    elif kind == "inf_velocity":
        msg.twist.twist.linear.x = float("inf")
    elif kind == "stamp":
        _bad_stamp(msg)
    return msg, f"odom_{kind}"


BUILDERS = {"Image": (image, Image, "image"), "CompressedImage": (compressed, CompressedImage, "image/compressed"),
            "CameraInfo": (camera_info, CameraInfo, "camera_info"), "PointCloud2": (radar, PointCloud2, "radar/points"),
            "Imu": (imu, Imu, "imu/data"), "Odometry": (odometry, Odometry, "odom")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--namespace", required=True, help="namespace of the node under test")
    p.add_argument("--per-type", type=int, default=2000, help="messages of each type (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="seed of the generator (default: %(default)s)")
    p.add_argument("--rate", type=float, default=2000.0, help="messages per second, all types (default: %(default)s)")
    p.add_argument("--subscribers-timeout", type=float, default=20.0, help="seconds to wait for the node to subscribe")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rclpy.init()
    node = rclpy.create_node("dds_fuzz_publisher", namespace=args.namespace)
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {name: node.create_publisher(msg_type, topic, qos) for name, (_, msg_type, topic) in BUILDERS.items()}
    deadline = time.monotonic() + args.subscribers_timeout
    while time.monotonic() < deadline and not all(pub.get_subscription_count() for pub in pubs.values()):
        rclpy.spin_once(node, timeout_sec=0.05)
    missing = [name for name, pub in pubs.items() if not pub.get_subscription_count()]
    if missing:
        print(f"dds_fuzz_publisher: no subscriber for {missing}", file=sys.stderr)
        return 1
    sent, malformed, kinds = Counter(), Counter(), Counter()
    order = [name for name in BUILDERS for _ in range(args.per_type)]
    rng.shuffle(order)
    period = 1.0 / args.rate
    start = time.monotonic()
    for i, name in enumerate(order):
        build = BUILDERS[name][0]
        msg, kind = build(rng, 100 * S + i * 1_000_000)  # 1 ms apart: time runs forward
        pubs[name].publish(msg)
        sent[name] += 1
        kinds[kind] += 1
        if not kind.endswith("_valid"):
            malformed[name] += 1
        wait = start + (i + 1) * period - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    time.sleep(1.0)  # let the last messages leave
    node.destroy_node()
    rclpy.shutdown()
    print(json.dumps({"sent": sent, "malformed": malformed, "kinds": kinds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
