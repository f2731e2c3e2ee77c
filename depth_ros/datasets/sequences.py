"""Simulated sequences as the pipeline sees them: events in time order, fusion settings of their rig."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical
from depth_ros.pipeline.fusion import FusionConfig
from depth_ros.pipeline.pipeline import Frame

IMU, FRAME, RADAR = 1, 2, 3


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


def sequence_events(seq: Any) -> list[tuple[int, int, Any]]:
    """(stamp_ns, kind, item) of a `Sequence` in time order: IMU readings, frames, radar scans."""
    events: list[tuple[int, int, Any]] = [(r.stamp_ns, IMU, r) for r in seq.imu.readings()]
    events += [(f.stamp_ns, FRAME, f) for f in seq.frames]
    events += [(r.stamp_ns, RADAR, r.scan) for r in seq.radar]
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def play_sequence(pipeline: Any, seq: Any) -> Iterator[tuple[Any, Any]]:
    """Feed a `Sequence`'s IMU, radar and frames to a `DepthPipeline` in time order; yields (frame, result)."""

    for stamp, kind, item in sequence_events(seq):
        if kind == IMU:
            pipeline.add_imu(item)
        elif kind == RADAR:
            pipeline.add_radar(item)
        else:
            yield item, pipeline.process(Frame(item.rgb, seq.camera, stamp))
