"""Temporal depth stage: each frame's metric depth fused with the previous frames, moved by the camera motion.

The motion between two frames comes from the fusion stage's buffers: rotation from the integrated
gyro, translation from odometry when `odom.enabled` (or TF, through the same odometry input);
without odometry the translation is taken as zero and its absence as uncertainty (the history
counts less, and the confidence shows it); without an IMU the camera is assumed not to rotate, and
a rotation shows as disagreement that the gate catches. The per-pixel filter is
`depth_ros.core.temporal.TemporalFilter`. The history starts over when time jumps (the pipeline's
`reset`), when frames are more than `temporal.max_gap` apart, when the gyro rotation between them
exceeds `temporal.max_rotation`, when most warped pixels disagree with the new frame (motion not
explained), and whenever a frame has no metric depth.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.temporal import CameraMotion, TemporalFilter, TemporalSettings
from depth_ros.pipeline.param_schema import param

ODOMETRY_SIGMA = 0.1  # relative uncertainty of an odometry translation between frames (slip, timing)
ODOMETRY_SIGMA_MIN = 0.002  # m

# (t0_ns, t1_ns) -> (R or None, t or None): X_1 = R X_0 + t, None where no source knows it.
MotionSource = Callable[[int, int], tuple[np.ndarray | None, np.ndarray | None]]


@dataclass
class TemporalConfig:
    """The temporal stage's settings; every field is a ROS parameter (see README "Temporal depth")."""

    enabled: bool = param(False, "temporal.enabled",
                          "Fuse each frame's depth with the previous frames warped by the camera motion (gyro "
                          "rotation, odometry translation): steadier depth, clouds and costmaps.")
    memory: float = param(0.6, "temporal.memory", "Weight of the history in a steady state (fading memory); the new "
                          "frame weighs 1 - memory.", min=0.05, max=0.95)
    sigma: float = param(0.05, "temporal.sigma", "Relative depth error of a full-confidence pixel (the filter's "
                         "measurement noise; lower confidence means proportionally more).", min=0.005, max=1.0)
    gate: float = param(3.0, "temporal.gate", "Pixels whose warped and current depth differ by more than this many "
                        "standard deviations take the current depth (disocclusions, moving objects).",
                        min=0.5, max=20.0)
    reset_share: float = param(0.5, "temporal.reset_share", "When more than this share of the warped pixels "
                               "disagree, the motion is not explained and the history starts over.", min=0.05, max=1.0)
    max_gap: float = param(0.5, "temporal.max_gap", "Frames farther apart (s) start over.", min=0.01, max=10.0)
    max_rotation: float = param(0.3, "temporal.max_rotation", "A larger gyro rotation (rad) between frames starts "
                                "over.", min=0.01, max=3.15)
    assumed_speed: float = param(0.5, "temporal.assumed_speed", "Without odometry: the speed (m/s) whose unknown "
                                 "translation the filter allows for (uncertainty, not an estimate).", min=0.0, max=50.0)

    @property
    def settings(self) -> TemporalSettings:
        return TemporalSettings(sigma=self.sigma, memory=self.memory, gate=self.gate, reset_share=self.reset_share)


class TemporalStage:
    """Runs the temporal filter on a frame's fused result (see module doc)."""

    def __init__(self, config: TemporalConfig) -> None:
        self.config = config
        self.filter = TemporalFilter(config.settings)

    def reset(self) -> None:
        self.filter.reset()

    def motion(self, motion_source: MotionSource, stamp_ns: int) -> tuple[CameraMotion | None, str]:
        """The camera motion since the previous frame, and where it came from (or why there is none)."""
        last = self.filter.stamp_ns
        if last is None:
            return None, "first frame"
        dt = (stamp_ns - last) * 1e-9
        if not 0.0 < dt <= self.config.max_gap:
            return None, f"gap {dt:.3f} s"
        R, t = motion_source(last, stamp_ns)
        used = "gyro" if R is not None else "no gyro"
        R = np.eye(3) if R is None else R
        if t is None:
            motion = CameraMotion(R, np.zeros(3), self.config.assumed_speed * dt)
        else:
            motion = CameraMotion(R, t, ODOMETRY_SIGMA * float(np.linalg.norm(t)) + ODOMETRY_SIGMA_MIN)
            used += "+odometry"
        if motion.angle > self.config.max_rotation:
            return None, f"rotation {math.degrees(motion.angle):.1f} deg"
        return motion, used

    def apply(self, depth: np.ndarray, confidence: np.ndarray | None, metric: bool, camera: CameraModel | None,
              stamp_ns: int, motion_source: MotionSource, info: dict[str, Any]
              ) -> tuple[np.ndarray, np.ndarray | None, float]:
        """(depth, confidence, seconds spent) of one frame after the filter; notes in `info`."""
        started = time.perf_counter()
        if not metric or camera is None:
            self.filter.reset()
            info["temporal"] = "off: no metric depth" if camera is not None else "off: no camera model"
            return depth, confidence, time.perf_counter() - started
        motion, source = self.motion(motion_source, stamp_ns)
        out = self.filter.update(depth, confidence, camera, stamp_ns, motion)
        if motion is None or out.reset:
            info["temporal"] = f"restart: {source if motion is None else out.reset}"
        else:
            info["temporal"] = f"fused {out.fused_share:.0%} ({source})"
        info["temporal_fused"] = round(out.fused_share, 3)
        conf = out.confidence if confidence is not None else None
        return out.depth, conf, time.perf_counter() - started
