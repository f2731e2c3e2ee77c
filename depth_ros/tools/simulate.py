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
import time
from pathlib import Path

from depth_ros.cli import ArgumentParser
from depth_ros.core.errors import DepthRosError
from depth_ros.datasets.world_bags import (
    PARAMS_FILE,
    WORLD_FILE,
    params_dict,
    write_rgbd_bag,
    write_world_bag,
    write_yaml,
)
from depth_ros.sim.odometry import OdometryNoise

PROG = "depth-ros-simulate"


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Generate a rosbag2 with camera images, camera_info, ground-truth depth, simulated mmWave radar, "
        "IMU, static TF, wheel-like odometry (/odom, /tf) and the exact pose (/ground_truth/pose) from a seeded "
        "synthetic world (hall or yard), or from RGB-D frames with --from-rgbd. "
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
    p.add_argument("--odom-hz", type=float, default=50.0,
                   help="rate of /odom, /tf (odom -> base_link) and /ground_truth/pose (synthetic worlds)")
    p.add_argument("--odom-scale-noise", type=float, default=OdometryNoise.scale_noise,
                   help="odometry distance scale error, standard deviation per run (fraction)")
    p.add_argument("--odom-yaw-noise", type=float, default=OdometryNoise.yaw_noise,
                   help="odometry heading random walk, rad per sqrt(s)")
    p.add_argument("--odom-yaw-bias", type=float, default=OdometryNoise.yaw_bias,
                   help="odometry heading drift, standard deviation per run of a constant rate (rad/s)")
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
    noise = (a.odom_scale_noise, a.odom_yaw_noise, a.odom_yaw_bias)
    if not all(math.isfinite(x) and x >= 0 for x in noise):
        p.error(f"--odom-scale-noise, --odom-yaw-noise and --odom-yaw-bias must be finite and >= 0, got {noise}")
    for name in ("camera_hz", "radar_hz", "imu_hz", "odom_hz"):
        hz = getattr(a, name)
        if not (math.isfinite(hz) and 0 < hz <= 2000):
            p.error(f"--{name.replace('_', '-')} must be in (0, 2000], got {hz}")
    if a.seed < 0:
        p.error(f"--seed must be >= 0, got {a.seed}")


# -- messages ---------------------------------------------------------------------------------


# -- writers ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)


    meta = args.meta_dir if args.meta_dir is not None else args.out.resolve().parent
    t0 = time.perf_counter()
    try:
        args.out.resolve().parent.mkdir(parents=True, exist_ok=True)
        if args.from_rgbd is not None:
            counts, info = write_rgbd_bag(args.from_rgbd, args.out, args.seed, args.camera_hz, args.imu_hz,
                                          args.storage, not args.no_progress)
            from depth_ros.core.transforms import RigidTransform  # noqa: PLC0415
            from depth_ros.sim.world import default_extrinsics  # noqa: PLC0415

            ext, height = default_extrinsics(RigidTransform.identity()), 0.0
        else:
            from depth_ros.sim.world import World  # noqa: PLC0415

            world = World(args.scene, args.seconds, args.seed, args.width, args.height,
                          args.camera_hz, args.radar_hz, args.imu_hz)
            noise = OdometryNoise(args.odom_scale_noise, args.odom_yaw_noise, args.odom_yaw_bias)
            counts = write_world_bag(world, args.out, args.storage, not args.no_progress, args.odom_hz, noise)
            info, ext, height = world.describe(), world.extrinsics, world.camera_height
        src = f"--from-rgbd {args.from_rgbd}" if args.from_rgbd is not None else f"--scene {args.scene} --seed {args.seed}"
        write_yaml(meta / WORLD_FILE, {"bag": str(args.out.resolve()), **info},
                    f"# Written by {PROG} {src}. Poses: parent->child translation (m) + REP-103 roll, pitch, yaw (rad).\n")
        write_yaml(meta / PARAMS_FILE, params_dict(ext, height),
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
