"""Scores of depth results against ground truth: per frame, per range bin, fused / network / oracle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depth_ros.core.metrics import binned_metrics, depth_metrics, median_scale
from depth_ros.core.radar import project_points
from depth_ros.ros.conversions import read_fields


@dataclass
class FrameRecord:
    """What the evaluator keeps of one frame (metrics are computed on the fly)."""

    stamp_ns: int
    metrics: dict[str, dict[str, float]]
    bins: list[dict[str, Any]]
    scale_source: str
    info: dict[str, Any]
    timings: dict[str, float]


@dataclass
class Evaluation:
    frames: list[FrameRecord] = field(default_factory=list)
    samples: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    skipped_no_gt: int = 0
    metric: bool = True


def gt_from_lidar(msg: Any, camera: Any, T_cam_lidar: Any) -> np.ndarray:
    """Sparse ground-truth depth: lidar points moved into the camera and z-buffered per pixel."""

    f = read_fields(msg, ("x", "y", "z"))
    pts = T_cam_lidar.apply(np.stack([f["x"], f["y"], f["z"]], axis=1))
    proj = project_points(pts, camera, 0.05, 1000.0)
    depth = np.full((camera.height, camera.width), np.inf, np.float32)
    uv = np.rint(proj.uv).astype(np.int64)
    np.minimum.at(depth, (uv[:, 1], uv[:, 0]), proj.depth.astype(np.float32))
    depth[~np.isfinite(depth)] = np.nan
    return depth


class FrameEvaluator:
    """Scores depth results against ground truth: fused, the raw network, and oracle median scaling."""

    def __init__(self, samples: int = 3, expected_frames: int | None = None) -> None:
        self.result = Evaluation()
        self.sample_every = max(1, (expected_frames or 30) // max(samples, 1))
        self.max_samples = samples

    def add(self, frame: Any, result: Any, gt: np.ndarray) -> None:
        """Score one `DepthResult` of `frame` (its stamp and RGB) against the ground-truth depth `gt`."""
        stamp_ns, rgb, depth, raw, metric = frame.stamp_ns, frame.rgb, result.depth, result.raw, result.metric
        scale_source, info, timings, confidence = result.scale_source, result.info, result.timings, result.confidence

        if depth.shape != gt.shape:
            import cv2  # noqa: PLC0415

            gt = cv2.resize(gt, (depth.shape[1], depth.shape[0]), interpolation=cv2.INTER_NEAREST)
        modes = {"fused": depth}
        if raw is not None and metric and scale_source != "model":
            modes["network"] = raw
        base = depth if raw is None or not metric else raw
        if np.isfinite(base).any():
            with np.errstate(invalid="ignore"):
                modes["oracle_median"] = base * np.float32(median_scale(base, gt))
        metrics = {name: depth_metrics(d, gt).to_dict() for name, d in modes.items()}
        bins = [{"lo": lo, "hi": hi, **m.to_dict()} for lo, hi, m in binned_metrics(depth, gt)]
        self.result.metric &= metric
        k = len(self.result.frames)
        self.result.frames.append(FrameRecord(stamp_ns, metrics, bins, scale_source, dict(info), dict(timings)))
        if k % self.sample_every == 0 and len(self.result.samples) < self.max_samples:
            conf = None if confidence is None else confidence.copy()
            self.result.samples.append((stamp_ns, rgb.copy(), gt, depth.copy(), conf))
