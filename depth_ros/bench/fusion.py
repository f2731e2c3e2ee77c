"""Radar fusion on real RGB-D frames: the real FastDepth model plus simulated radar.

For each of the frames of ../shared/data/rgbd the FastDepth TFLite model predicts depth once;
a seeded radar simulation (20-60 points, range noise 5 cm + 1 %, azimuth 1 deg, elevation 4 deg,
10 % clutter, radar 10 cm beside the camera) gives the metric points; the pipeline's fusion stage
(the same object the node runs) aligns the prediction. Compared, per frame and on average:
monocular (raw network), global radar scale, spatially varying radar scale, and the oracle
global median scale from the ground truth. Timing: the fusion work per 640x480 frame with 60
radar points against the FastDepth inference time, both measured in this run.

Last line: ``RESULT mono_absrel=<x> fused_absrel=<y> oracle_absrel=<z> reduction=<(x-y)/x> fused_vs_oracle=<y/z>
fusion_vs_inference=<fusion time / FastDepth inference time>``
(fused = spatially varying radar scale).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from depth_ros.cli import ArgumentParser
from depth_ros.core.metrics import depth_metrics, median_scale
from depth_ros.datasets.rgbd import default_shared_dir, load_manifest
from depth_ros.models.registry import load_model
from depth_ros.pipeline.fusion import FusionConfig, FusionStage

MODES = ("mono", "global", "spatial", "oracle")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="depth-ros-bench fusion", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=None,
                   help="the shared data folder with models/ and data/rgbd (default: ../shared beside the checkout)")
    p.add_argument("--seed", type=int, default=0, help="seed of the radar simulation (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=30,
                   help="repetitions for the timing of fusion and inference (default: %(default)s)")
    return p.parse_args(argv)


def run(shared: Path, seed: int = 0, repeat: int = 30, out=print) -> dict:
    """Run the benchmark; returns the per-mode mean metrics and timings."""
    from depth_ros.sim.radar import simulate_radar  # noqa: PLC0415

    frames = load_manifest(shared / "data" / "rgbd" / "manifest.json")
    model = load_model("fastdepth_tflite", path=str(shared / "models" / "fastdepth_224_int8" / "fast_depth_224.tflite"))
    kind = model.spec.output_kind
    stages = {mode: FusionStage(FusionConfig(radar_enabled=True, scale_mode=mode, temporal=False), 0.1, 20.0)
              for mode in ("global", "spatial")}
    rows = []
    out(f"{'frame':<16}" + "".join(f"{m + ' AbsRel':>16}" for m in MODES) + f"{'delta1 fused':>14}{'radar':>7}{'used':>6}")
    for i, frame in enumerate(frames):
        pred = model.predict(frame.rgb)
        sim = simulate_radar(frame.depth, frame.camera, np.random.default_rng([seed, i]))
        stamp = 1_000_000_000 * (i + 1)
        results = {"mono": pred, "oracle": pred * np.float32(median_scale(pred, frame.depth))}
        info = {}
        for mode, stage in stages.items():
            stage.reset()
            stage.set_radar_extrinsic(sim.T_cam_radar)
            stage.add_radar(sim.scan.__class__(stamp, sim.scan.points, sim.scan.fields, sim.scan.frame_id))
            fused = stage.align(pred, kind, frame.camera, stamp, stage.radar_points(frame.camera, stamp),
                                guide=frame.rgb)
            results[mode], info = fused.depth, fused.info
        metrics = {mode: depth_metrics(results[mode], frame.depth) for mode in MODES}
        rows.append({mode: (m.absrel, m.delta1) for mode, m in metrics.items()})
        out(f"{frame.id:<16}" + "".join(f"{metrics[m].absrel:16.3f}" for m in MODES)
            + f"{metrics['spatial'].delta1:14.3f}{info.get('radar_points', 0):7d}{info.get('radar_used', 0):6d}")
    mean = {mode: float(np.mean([r[mode][0] for r in rows])) for mode in MODES}
    delta1 = {mode: float(np.mean([r[mode][1] for r in rows])) for mode in MODES}
    out(f"{'mean':<16}" + "".join(f"{mean[m]:16.3f}" for m in MODES) + f"{delta1['spatial']:14.3f}")
    out("mean delta1: " + "  ".join(f"{m} {delta1[m]:.3f}" for m in MODES))

    # Timing on one 640x480 frame with exactly 60 radar points.
    frame = frames[0]
    pred = model.predict(frame.rgb)
    sim = simulate_radar(frame.depth, frame.camera, np.random.default_rng([seed, 99]), n_points=(60, 60))
    stage = stages["spatial"]
    stage.set_radar_extrinsic(sim.T_cam_radar)
    fusion_s, infer_s, predict_s = [], [], []
    for k in range(repeat + 5):
        stamp = 10**12 + k
        stage.reset()
        stage.add_radar(sim.scan.__class__(stamp, sim.scan.points, sim.scan.fields, sim.scan.frame_id))
        t0 = time.perf_counter()
        stage.align(pred, kind, frame.camera, stamp, stage.radar_points(frame.camera, stamp), guide=frame.rgb)
        t1 = time.perf_counter()
        model.predict(frame.rgb)
        t2 = time.perf_counter()
        if k >= 5:
            fusion_s.append(t1 - t0)
            predict_s.append(t2 - t1)
            infer_s.append(model.last_timings["inference"])
    fusion_ms, infer_ms, predict_ms = (1e3 * float(np.median(v)) for v in (fusion_s, infer_s, predict_s))
    out(f"timing (median of {repeat}, 640x480, 60 radar points): fusion {fusion_ms:.2f} ms, FastDepth inference "
        f"{infer_ms:.2f} ms (predict incl. resize {predict_ms:.2f} ms): fusion/inference = {fusion_ms / infer_ms:.2f}")
    reduction = (mean["mono"] - mean["spatial"]) / mean["mono"]
    out(f"RESULT mono_absrel={mean['mono']:.4f} fused_absrel={mean['spatial']:.4f} oracle_absrel={mean['oracle']:.4f} "
        f"reduction={reduction:.3f} fused_vs_oracle={mean['spatial'] / mean['oracle']:.3f} "
        f"fusion_vs_inference={fusion_ms / infer_ms:.3f}")
    return {"mean": mean, "delta1": delta1, "fusion_ms": fusion_ms, "inference_ms": infer_ms, "reduction": reduction}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shared = args.shared or default_shared_dir()
    if shared is None or not (shared / "data" / "rgbd" / "manifest.json").is_file():
        print("bench fusion: the shared data folder is missing; pass --shared PATH", file=sys.stderr)
        return 2
    run(shared, args.seed, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
