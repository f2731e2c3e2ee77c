"""Scores of a depth model on fresh simulated runs through the pipeline, with and without radar
(the work of depth-ros-eval-compact)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm import tqdm

from depth_ros.core.metrics import depth_metrics, valid_mask
from depth_ros.datasets.sequences import FRAME, IMU, RADAR, play_sequence, sequence_events, sequence_fusion_config
from depth_ros.pipeline.pipeline import DepthPipeline, PipelineConfig

MIN_DEPTH = 0.1

MODES = ("radar", "noradar")


def fusion_configs(seq: Any) -> dict[str, Any]:
    """The two FusionConfigs of the protocol for a generated run."""

    return {"radar": sequence_fusion_config(seq, radar=True, imu=True, ground=False),
            "noradar": sequence_fusion_config(seq, radar=False, imu=True, ground=True)}


def run_pipeline(model: Any, seq: Any, fusion: Any, max_depth: float,
                 progress: Callable[[int], None] | None = None) -> list[dict[str, float]]:
    """Play ``seq`` through a fresh `DepthPipeline`; per frame metrics plus ``coverage`` and the scale source."""

    pipeline = DepthPipeline(model, PipelineConfig(min_depth=MIN_DEPTH, max_depth=max_depth), fusion)
    rows = []
    for item, result in play_sequence(pipeline, seq):
        m = depth_metrics(result.depth, item.depth, min_depth=MIN_DEPTH, max_depth=max_depth)
        gt_valid = valid_mask(np.ones_like(item.depth), item.depth, min_depth=MIN_DEPTH, max_depth=max_depth)
        rows.append({**m.to_dict(), "coverage": m.count / max(int(gt_valid.sum()), 1),
                     "source": result.scale_source, "radar_points": int(result.info.get("radar_points", 0))})
        if progress is not None:
            progress(1)
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean over frames with valid pixels of absrel, delta1, rmse, silog, coverage; scale sources counted."""
    ok = [r for r in rows if r["count"] > 0]
    out = {k: float(np.mean([r[k] for r in ok])) if ok else math.nan
           for k in ("absrel", "delta1", "rmse", "silog", "coverage")}
    out["frames"] = len(rows)
    for source in sorted({r["source"] for r in rows}):
        out[f"source_{source}"] = sum(r["source"] == source for r in rows)
    return out


def measure_fps(model: Any, rgb: np.ndarray, prior: np.ndarray | None, runs: int = 100) -> dict[str, float]:
    """Median ``model.predict`` time (ms) and frame rate over ``runs`` calls after 10 warm-up calls."""
    for _ in range(10):
        model.predict(rgb, prior)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.predict(rgb, prior)
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    return {"median_ms": median * 1e3, "fps": 1.0 / median, "p90_ms": float(np.percentile(times, 90)) * 1e3}


def evaluate(model: Any, scenes: list[str], seed: int, seconds: float, max_depth: float, runs: int,
             progress: bool = True) -> dict[str, Any]:
    """The whole protocol (module doc); returns per-scene and overall results."""

    from depth_ros.sim.world import generate_sequence  # noqa: PLC0415

    results: dict[str, Any] = {"model": model.spec.name, "seed": seed, "seconds": seconds, "max_depth": max_depth,
                               "scenes": {}}
    all_rows: dict[str, list] = {mode: [] for mode in MODES}
    timing_frame = None
    for scene in scenes:
        t0 = time.perf_counter()
        seq = generate_sequence(scene, seconds, seed)
        gen_s = time.perf_counter() - t0
        scene_res = {"generate_s": gen_s}
        for mode, fusion in fusion_configs(seq).items():
            with tqdm(total=len(seq.frames), desc=f"{scene} {mode}", disable=not progress, file=sys.stderr,
                      leave=False) as bar:
                rows = run_pipeline(model, seq, fusion, max_depth, bar.update)
            all_rows[mode] += rows
            scene_res[mode] = summarize(rows)
        results["scenes"][scene] = scene_res
        if timing_frame is None:
            # A mid-run frame and its radar prior exactly as the pipeline builds it.
            pipe = DepthPipeline(model, PipelineConfig(MIN_DEPTH, max_depth), fusion_configs(seq)["radar"])
            target = seq.frames[len(seq.frames) // 2].stamp_ns
            for stamp, kind, item in sequence_events(seq):
                if stamp > target:
                    break
                if kind == IMU:
                    pipe.add_imu(item)
                elif kind == RADAR:
                    pipe.add_radar(item)
                elif kind == FRAME and stamp == target:
                    proj = pipe.fusion.radar_points(seq.camera, stamp)
                    timing_frame = (item.rgb, pipe.fusion.prior(proj, item.rgb.shape[:2]))
    for mode in MODES:
        results[mode] = summarize(all_rows[mode])
    rgb, prior = timing_frame
    results["speed"] = measure_fps(model, rgb, prior if model.spec.input_channels == 4 else None, runs)
    results["speed"]["input"] = f"{rgb.shape[1]}x{rgb.shape[0]}"
    return results
