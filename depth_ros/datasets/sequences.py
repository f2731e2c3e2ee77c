"""Simulated sequences as the pipeline sees them: events in time order, fusion settings of their rig."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical
from depth_ros.pipeline.fusion import FusionConfig
from depth_ros.pipeline.pipeline import Frame

ODOM, IMU, FRAME, RADAR = 0, 1, 2, 3


def fusion_config(T_cam_radar: RigidTransform, R_cam_imu: np.ndarray, radar: bool = True, imu: bool = True,
                  ground: bool = False, camera_height: float = 0.0, **overrides: Any) -> FusionConfig:
    """FusionConfig of a rig (optical-frame extrinsics), temporal scale filter on, other fields default."""
    return FusionConfig(radar_enabled=radar, T_cam_radar=T_cam_radar, imu_enabled=imu,
                        R_cam_imu=np.asarray(R_cam_imu, dtype=np.float64), ground_enabled=ground,
                        camera_height=float(camera_height), temporal=True, **overrides)


def sequence_fusion_config(seq: Any, radar: bool = True, imu: bool = True, ground: bool = False) -> FusionConfig:
    """`fusion_config` from a generated `Sequence`'s extrinsics (camera_link mounts -> optical frame)."""
    ext = seq.extrinsics
    return fusion_config(body_extrinsic_to_optical(ext.T_camera_link_radar),
                         body_extrinsic_to_optical(RigidTransform(ext.T_camera_link_imu.R, np.zeros(3))).R,
                         radar=radar, imu=imu, ground=ground, camera_height=seq.camera_height if ground else 0.0)


def sequence_events(seq: Any, odometry: Any = None, odom_hz: float = 50.0) -> list[tuple[int, int, Any]]:
    """(stamp_ns, kind, item) of a `Sequence` in time order: IMU readings, frames, radar scans and,
    given an `OdometryNoise`, wheel-like odometry as the camera's linear velocity (optical frame)."""
    events: list[tuple[int, int, Any]] = [(r.stamp_ns, IMU, r) for r in seq.imu.readings()]
    events += [(f.stamp_ns, FRAME, f) for f in seq.frames]
    events += [(r.stamp_ns, RADAR, r.scan) for r in seq.radar]
    if odometry is not None:
        events += odometry_events(seq, odometry, odom_hz)
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def odometry_events(seq: Any, noise: Any, hz: float = 50.0) -> list[tuple[int, int, np.ndarray]]:
    """(stamp_ns, ODOM, camera velocity in the optical frame) of the run's simulated wheel odometry, as
    depth-ros-simulate writes it on /odom (same seed), with the camera's mount applied exactly."""
    from depth_ros.sim.odometry import simulate_odometry  # noqa: PLC0415 - the simulator's lazy exports
    from depth_ros.sim.world import sensor_stamps  # noqa: PLC0415

    world = seq.world
    stamps = sensor_stamps(world.epoch_ns, hz, world.seconds, inclusive=True)
    truth = [world.T_world_frame(world.time_of(s), "base_link") for s in stamps]
    track = simulate_odometry(truth, stamps, noise, np.random.default_rng([world.seed, 7, 11]))
    R_optical_base = world.extrinsics.T_base_optical.R.T
    return [(int(s), ODOM, R_optical_base @ v) for s, v in zip(track.stamps_ns, track.linear)]


def play_sequence(pipeline: Any, seq: Any, odometry: Any = None) -> Iterator[tuple[Any, Any]]:
    """Feed a `Sequence`'s IMU, radar (and odometry, given an `OdometryNoise`) and frames to a
    `DepthPipeline` in time order; yields (frame, result)."""

    for stamp, kind, item in sequence_events(seq, odometry):
        if kind == IMU:
            pipeline.add_imu(item)
        elif kind == RADAR:
            pipeline.add_radar(item)
        elif kind == ODOM:
            pipeline.add_odometry(stamp, item)
        else:
            yield item, pipeline.process(Frame(item.rgb, seq.camera, stamp))
