"""Synthetic worlds with exact ground truth: procedural scenes, a numba ray caster, ground-robot
trajectories, IMU synthesis and simulated radar (see world.py for the conventions).

Typical use by a data loader::

    from depth_ros.sim import generate_sequence
    seq = generate_sequence("hall", seconds=20, seed=3, width=320, height=240)
    for f in seq.frames: f.rgb, f.depth, f.T_world_cam
"""

import importlib
from typing import Any

# Name -> module. Loaded on first use, so that importing one submodule (e.g. depth_ros.sim.odometry)
# does not pay for the renderer's numba kernels or the trajectories' SciPy (an optional extra).
_EXPORTS = {
    **dict.fromkeys(("RenderResult", "cast_rays", "render"), "depth_ros.sim.render"),
    **dict.fromkeys(("SCENES", "Box", "Cylinder", "Light", "Material", "Plane", "Scene", "build_scene"),
                    "depth_ros.sim.scenes"),
    **dict.fromkeys(("GroundTrajectory", "ImuNoise", "LoopPath", "MotionParams", "synthesize_imu"),
                    "depth_ros.sim.trajectory"),
    **dict.fromkeys(("EPOCH_NS", "FRAME_IDS", "TOPICS", "Extrinsics", "Frame", "ImuStream", "RadarFrame", "Sequence",
                     "World", "default_camera", "generate_sequence"), "depth_ros.sim.world"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'depth_ros.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
