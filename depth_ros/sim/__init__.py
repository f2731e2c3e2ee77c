"""Synthetic worlds with exact ground truth: procedural scenes, a numba ray caster, ground-robot
trajectories, IMU synthesis and simulated radar (see world.py for the conventions).

Typical use by a data loader::

    from depth_ros.sim import generate_sequence
    seq = generate_sequence("hall", seconds=20, seed=3, width=320, height=240)
    for f in seq.frames: f.rgb, f.depth, f.T_world_cam
"""

from depth_ros.sim.render import RenderResult, cast_rays, render
from depth_ros.sim.scenes import SCENES, Box, Cylinder, Light, Material, Plane, Scene, build_scene
from depth_ros.sim.trajectory import GroundTrajectory, ImuNoise, LoopPath, MotionParams, synthesize_imu
from depth_ros.sim.world import (
    EPOCH_NS,
    FRAME_IDS,
    TOPICS,
    Extrinsics,
    Frame,
    ImuStream,
    RadarFrame,
    Sequence,
    World,
    default_camera,
    generate_sequence,
)

__all__ = [
    "EPOCH_NS",
    "FRAME_IDS",
    "SCENES",
    "TOPICS",
    "Box",
    "Cylinder",
    "Extrinsics",
    "Frame",
    "GroundTrajectory",
    "ImuNoise",
    "ImuStream",
    "Light",
    "LoopPath",
    "Material",
    "MotionParams",
    "Plane",
    "RadarFrame",
    "RenderResult",
    "Scene",
    "Sequence",
    "World",
    "build_scene",
    "cast_rays",
    "default_camera",
    "generate_sequence",
    "render",
    "synthesize_imu",
]
