"""Temporal benchmark: the temporal stage off and on over fresh synthetic `hall` and `yard` runs with camera motion.

For each scene, `compact_depth` with radar and IMU (the radar node's sources) runs through the
pipeline three times over the same run: the temporal stage off, on with wheel-like odometry (the
run's simulated /odom: scale error, heading bias and noise), and on without odometry (rotation only).
Each published depth is scored per frame against the ground truth (AbsRel) and against the
previous frame moved with the true motion (temporal consistency error, `depth_ros.core.temporal_metrics`;
the ground truth's own is the floor). The stage's time is measured per 320x240 frame.

Last line: ``RESULT tce_off_<scene>=<> tce_on_<scene>=<> tce_reduction_<scene>=<1 - on/off>
absrel_off_<scene>=<> absrel_on_<scene>=<> absrel_rotation_only_<scene>=<> ... tce_reduction=<min over
scenes> absrel_gain=<min of absrel_off - absrel_on> rotation_only_gain=<min of absrel_off - absrel_rotation_only>
temporal_ms=<median stage time> temporal_vs_model=<median stage time / median network time>``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from depth_ros.bench.scene_runs import parse_scene_runs, scene_run_parser
from depth_ros.core.errors import DepthRosError
from depth_ros.core.metrics import depth_metrics
from depth_ros.core.temporal_metrics import temporal_consistency

PROG = "depth-ros-bench temporal"
VARIANTS = ("off", "on", "rotation_only")


def score_run(seq: Any, results: Iterable[tuple[Any, Any]], times: list[tuple[float, float]]) -> dict[str, float]:
    """Mean AbsRel and TCE (and the ground truth's TCE floor) of one pass over `seq`, scored as the frames
    come (only the previous one is kept, as in a node); (stage, network) times are appended to `times`."""
    absrel, tce, floor = [], [], []
    prev = None
    for item, result in results:
        if "temporal" in result.timings:
            times.append((result.timings["temporal"], result.timings["model"]))
        absrel.append(depth_metrics(result.depth, item.depth).absrel)
        if prev is not None:
            T = item.T_world_cam.inverse() @ prev[0].T_world_cam  # previous optical frame -> current
            c = temporal_consistency(result.depth, prev[1].depth, item.depth, prev[0].depth, seq.camera, T.R, T.t)
            if c.pixels:
                tce.append(c.tce)
                floor.append(c.tce_gt)
        prev = (item, result)
    return {"absrel": float(np.nanmean(absrel)), "tce": float(np.mean(tce)), "tce_gt": float(np.mean(floor))}


def run_scene(scene: str, seconds: float, seed: int, model: Any,
              out=print) -> tuple[dict[str, float], list[tuple[float, float]]]:
    """The three passes of one fresh run (module doc): its numbers and the (stage, network) times (s)."""
    from depth_ros.datasets.sequences import play_sequence, sequence_fusion_config  # noqa: PLC0415
    from depth_ros.pipeline.pipeline import DepthPipeline, PipelineConfig  # noqa: PLC0415
    from depth_ros.pipeline.temporal import TemporalConfig  # noqa: PLC0415
    from depth_ros.sim.odometry import OdometryNoise  # noqa: PLC0415
    from depth_ros.sim.world import generate_sequence  # noqa: PLC0415

    seq = generate_sequence(scene, seconds=seconds, seed=seed, width=320, height=240)
    config = PipelineConfig(min_depth=0.1, max_depth=model.spec.max_depth)
    runs = {"off": (None, OdometryNoise()), "on": (TemporalConfig(enabled=True), OdometryNoise()),
            "rotation_only": (TemporalConfig(enabled=True), None)}
    result: dict[str, float] = {}
    times: list[tuple[float, float]] = []
    for name in VARIANTS:
        temporal, odometry = runs[name]
        pipeline = DepthPipeline(model, config, sequence_fusion_config(seq), temporal)
        s = score_run(seq, play_sequence(pipeline, seq, odometry), times)
        out(f"  {scene:<5} {name:<13} AbsRel {s['absrel']:.4f}  TCE {s['tce']:.4f}  (ground truth's own {s['tce_gt']:.4f})")
        result[f"tce_{name}_{scene}"], result[f"absrel_{name}_{scene}"] = s["tce"], s["absrel"]
        result[f"tce_floor_{scene}"] = s["tce_gt"]
    result[f"tce_reduction_{scene}"] = 1.0 - result[f"tce_on_{scene}"] / result[f"tce_off_{scene}"]
    return result, times


def build_parser() -> argparse.ArgumentParser:
    return scene_run_parser(PROG, __doc__.split("\n\n")[0], seed=1011)


def main(argv: list[str] | None = None) -> int:
    args, scenes = parse_scene_runs(build_parser(), argv)
    try:
        from depth_ros.models.registry import load_model  # noqa: PLC0415

        model = load_model(args.model)
        result: dict[str, float] = {}
        times: list[tuple[float, float]] = []
        for scene in scenes:
            r, t = run_scene(scene, args.seconds, args.seed, model)
            times += t
            result.update(r)
    except DepthRosError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    result["tce_reduction"] = min(result[f"tce_reduction_{s}"] for s in scenes)
    result["absrel_gain"] = min(result[f"absrel_off_{s}"] - result[f"absrel_on_{s}"] for s in scenes)
    result["rotation_only_gain"] = min(result[f"absrel_off_{s}"] - result[f"absrel_rotation_only_{s}"] for s in scenes)
    stage, network = (np.array([t[k] for t in times]) for k in (0, 1))
    result["temporal_ms"] = 1e3 * float(np.median(stage))
    result["temporal_vs_model"] = float(np.median(stage) / np.median(network))
    print(f"temporal stage (320x240): {result['temporal_ms']:.2f} ms per frame (median of {len(times)}), "
          f"{result['temporal_vs_model']:.2f} of the network's time in the same frames")
    print("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
