"""`depth-ros-eval BAG --temporal`: how steady the published depth is, with and without the temporal stage.

Per frame, with the bag's exact poses (`/ground_truth/pose` and the static transforms to the image's
frame): the temporal consistency error of the published depth against the previous frame moved by
the true motion, and the ground truth's own as the floor (`depth_ros.core.temporal_metrics`); over
windows of `STILL_FRAMES` frames in which the camera is nearly still (`STILL_TRANSLATION`,
`STILL_ROTATION`), the flicker of the depth (per-pixel std / mean). The evaluation replays the bag a
second time with `temporal.enabled` switched, so that one report holds both (temporal_metrics.json,
temporal_consistency.png: TCE over time).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.metrics import depth_metrics
from depth_ros.core.temporal_metrics import flicker, temporal_consistency
from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import RigidTransform
from depth_ros.evaluation.map_eval import POSE_SLOP_NS, mount, read_poses
from depth_ros.optional import pyplot

STILL_FRAMES = 5
STILL_TRANSLATION = 0.01  # m over the window
STILL_ROTATION = math.radians(0.5)  # over the window


class TemporalEvaluator:
    """Consistency and flicker of one pass over a bag (module doc)."""

    def __init__(self, poses: TimeBuffer, tree: dict[str, tuple[str, RigidTransform]]) -> None:
        self.poses, self.tree = poses, tree
        self._mounts: dict[str, RigidTransform | None] = {}
        self._prev: tuple[np.ndarray, np.ndarray, RigidTransform] | None = None
        self._window: list[tuple[np.ndarray, RigidTransform]] = []
        self.stamps: list[int] = []
        self.tce: list[float] = []
        self.tce_gt: list[float] = []
        self.flicker: list[float] = []
        self.absrel: list[tuple[int, float]] = []  # (stamp, AbsRel) of every metric frame
        self.without_pose = 0

    def _pose(self, frame: Any) -> RigidTransform | None:
        if frame.frame_id not in self._mounts:
            self._mounts[frame.frame_id] = mount(self.tree, frame.frame_id)
        T_base_cam = self._mounts[frame.frame_id]
        found = self.poses.nearest(frame.stamp_ns, POSE_SLOP_NS)
        return None if T_base_cam is None or found is None else found[1] @ T_base_cam

    def add(self, frame: Any, result: Any, gt: np.ndarray) -> None:
        """One evaluated frame (its stamp, frame_id and camera), its result and ground truth."""
        if result.metric and gt.shape == result.depth.shape:
            self.absrel.append((frame.stamp_ns, depth_metrics(result.depth, gt).absrel))
        T = self._pose(frame)
        if T is None or frame.camera is None or not result.metric or gt.shape != result.depth.shape:
            self.without_pose += 1
            self._prev, self._window = None, []
            return
        depth = np.asarray(result.depth, np.float32)
        if self._prev is not None:
            prev_depth, prev_gt, T_prev = self._prev
            M = T.inverse() @ T_prev  # previous optical frame -> this one
            c = temporal_consistency(depth, prev_depth, gt, prev_gt, frame.camera, M.R, M.t)
            if c.pixels:
                self.stamps.append(frame.stamp_ns)
                self.tce.append(c.tce)
                self.tce_gt.append(c.tce_gt)
        self._prev = (depth, gt, T)
        self._window = (self._window + [(depth, T)])[-STILL_FRAMES:]
        if len(self._window) == STILL_FRAMES and _still([p for _, p in self._window]):
            self.flicker.append(flicker([d for d, _ in self._window]))

    def summary(self) -> dict[str, Any]:
        """Mean TCE, its floor, flicker (None without a still window) and frame counts."""
        mean = (lambda v: float(np.nanmean(v)) if v else None)
        return {"tce": mean(self.tce), "tce_ground_truth": mean(self.tce_gt), "frame_pairs": len(self.tce),
                "absrel": mean([a for _, a in self.absrel]),
                "flicker": mean(self.flicker), "still_windows": len(self.flicker),
                "frames_without_pose": self.without_pose}


def _still(poses: list[RigidTransform]) -> bool:
    first = poses[0]
    for p in poses[1:]:
        rel = first.inverse() @ p
        angle = math.acos(max(-1.0, min(1.0, (float(np.trace(rel.R)) - 1.0) / 2.0)))
        if float(np.linalg.norm(rel.t)) > STILL_TRANSLATION or angle > STILL_ROTATION:
            return False
    return True


def temporal_evaluator(bag: Any) -> TemporalEvaluator:
    """A TemporalEvaluator on the bag's exact poses (depth-ros-simulate writes /ground_truth/pose)."""
    poses, tree = read_poses(bag, "ground_truth")
    return TemporalEvaluator(poses, tree)


def write_temporal_report(folder: Path, passes: dict[str, TemporalEvaluator]) -> dict[str, Any]:
    """temporal_metrics.json and temporal_consistency.png (TCE and AbsRel over time) of the passes
    ({"temporal off": evaluator, "temporal on": evaluator}); returns the summary written."""
    folder.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {name: ev.summary() for name, ev in passes.items()}
    names = list(passes)
    if len(names) == 2 and all(summary[n]["tce"] for n in names):
        off, on = (summary[n]["tce"] for n in ("temporal off", "temporal on"))
        summary["tce_reduction"] = 1.0 - on / off
    (folder / "temporal_metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    plt = pyplot("the temporal consistency plot")
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True)
    starts = [ev.absrel[0][0] for ev in passes.values() if ev.absrel]
    t0 = min(starts) if starts else 0
    for name, ev in passes.items():
        ax.plot((np.asarray(ev.stamps) - t0) * 1e-9, ev.tce, label=f"{name} (mean {summary[name]['tce'] or 0:.3f})")
        ax2.plot([(s - t0) * 1e-9 for s, _ in ev.absrel], [a for _, a in ev.absrel],
                 label=f"{name} (mean {summary[name]['absrel'] or 0:.3f})")
    floor = next(iter(passes.values()))
    ax.plot((np.asarray(floor.stamps) - t0) * 1e-9, floor.tce_gt, color="grey", lw=0.8,
            label="ground truth's own (the warp's floor)")
    ax.set_ylabel("|d_t - warp(d_t-1)| / d_t")
    ax.set_title("temporal consistency of the published depth (true motion)")
    ax2.set_ylabel("AbsRel")
    ax2.set_xlabel("time (s)")
    for a in (ax, ax2):
        a.legend(loc="upper right", fontsize=8)
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "temporal_consistency.png", dpi=100)
    plt.close(fig)
    return summary


def print_temporal(summary: dict[str, Any]) -> None:
    """The lines of the temporal report."""
    print("\ntemporal (true motion from /ground_truth/pose):")
    for name, s in summary.items():
        if not isinstance(s, dict):
            continue
        fl = f"{s['flicker']:.4f} over {s['still_windows']} still windows" if s["flicker"] is not None else \
            "n/a (the camera is never still)"
        tce = "n/a" if s["tce"] is None else f"{s['tce']:.4f}"
        print(f"  {name:<13} TCE {tce} (ground truth's own {s['tce_ground_truth'] or 0:.4f})  "
              f"AbsRel {s['absrel'] or float('nan'):.4f}  flicker {fl}")
    if "tce_reduction" in summary:
        print(f"  TCE reduction with the stage: {summary['tce_reduction']:.1%}")


def replay_switched(bag: Any, topics: Any, values: dict[str, Any], model: Any, gt_fn: Any, max_frames: int | None,
                    progress: Any) -> TemporalEvaluator:
    """The same offline replay with `temporal.enabled` switched (same model object), evaluated."""
    from depth_ros.evaluation.replay import iterate_offline  # noqa: PLC0415
    from depth_ros.ros.pipeline_factory import build_pipeline  # noqa: PLC0415

    switched = {**values, "temporal.enabled": not values["temporal.enabled"]}
    _, feeder = build_pipeline(switched, lambda kind, message: None, model=model)
    evaluator = temporal_evaluator(bag)
    for frame, result, gt in iterate_offline(bag, topics, feeder, gt_fn, max_frames, progress):
        evaluator.add(frame, result, gt)
    return evaluator
