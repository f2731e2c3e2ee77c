"""depth-ros-eval-compact: held-out accuracy and speed of a depth model through the real pipeline.

For each scene a run is generated with `depth_ros.sim.world.generate_sequence` (seed --seed, not
used in training; --seconds long, 320x240) and played through `DepthPipeline` twice, each time
from a fresh pipeline, feeding IMU readings, radar scans and frames in time order (at equal
stamps: IMU, frame, radar, as depth-ros-simulate writes them):

* radar: FusionConfig with radar and IMU on (extrinsics of the run), ground off;
* no radar: IMU ground prior only (``ground_enabled=True, camera_height=<the run's>``, IMU on).

Both with ``scale.temporal`` on and the other FusionConfig fields at their defaults (spatial scale
mode, 3 radar scans within 0.5 s, 3 px prior discs); PipelineConfig(min_depth=0.1,
max_depth=--max-depth). Metrics (`depth_metrics`) per frame over the pixels with ground truth in
(0.1, --max-depth] and a finite prediction, then averaged over the frames of all scenes;
"coverage" is the fraction of ground-truth pixels that got a finite prediction.

Speed: median wall time of ``model.predict`` on a 320x240 frame with its radar prior over --runs
calls (after 10 warm-up calls), with --threads CPU threads.

Last line: ``RESULT radar_absrel=.. radar_delta1=.. noradar_absrel=.. noradar_delta1=.. fps=..``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from depth_ros.cli import ArgumentParser, HelpFormatter
from depth_ros.core.errors import DepthRosError
from depth_ros.evaluation.compact import MIN_DEPTH, MODES, evaluate

PROG = "depth-ros-eval-compact"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                        epilog="Exact protocol: see the module docstring of depth_ros.tools.eval_compact.",
                        formatter_class=HelpFormatter)
    p.add_argument("--model", default="compact_depth", help="registered model name")
    p.add_argument("--model-path", default=None,
                   help="weights of the model (default: the model's own, for compact_depth the shipped ONNX)")
    p.add_argument("--scenes", default="hall,yard", help="comma-separated scenes to evaluate")
    p.add_argument("--seed", type=int, default=1000, help="seed of the held-out runs (must not be a training seed)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each held-out run")
    p.add_argument("--max-depth", type=float, default=40.0,
                   help="PipelineConfig.max_depth and the largest ground truth evaluated (the worlds reach 40 m)")
    p.add_argument("--runs", type=int, default=100, help="predict calls timed for the frame rate")
    p.add_argument("--threads", type=int, default=2, help="CPU threads of the model runtime (and torch)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--no-progress", action="store_true", help="do not show progress bars")
    return p


def _report(results: dict[str, Any], out: Callable[[str], None]) -> None:
    out(f"{'scene':<8}{'mode':<9}{'AbsRel':>8}{'delta1':>8}{'RMSE':>8}{'SILog':>8}{'cover':>7}  sources")
    for scene, res in results["scenes"].items():
        for mode in MODES:
            r = res[mode]
            sources = ", ".join(f"{k[7:]} {v}" for k, v in r.items() if k.startswith("source_"))
            out(f"{scene:<8}{mode:<9}{r['absrel']:8.4f}{r['delta1']:8.4f}{r['rmse']:8.3f}{r['silog']:8.2f}"
                f"{r['coverage']:7.3f}  {sources}")
    for mode in MODES:
        r = results[mode]
        out(f"{'all':<8}{mode:<9}{r['absrel']:8.4f}{r['delta1']:8.4f}{r['rmse']:8.3f}{r['silog']:8.2f}"
            f"{r['coverage']:7.3f}")
    s = results["speed"]
    out(f"predict {s['input']}: median {s['median_ms']:.2f} ms ({s['fps']:.1f} frames/s), p90 {s['p90_ms']:.2f} ms")
    out(f"RESULT radar_absrel={results['radar']['absrel']:.4f} radar_delta1={results['radar']['delta1']:.4f} "
        f"noradar_absrel={results['noradar']['absrel']:.4f} noradar_delta1={results['noradar']['delta1']:.4f} "
        f"fps={s['fps']:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
    if not scenes or any(s not in ("hall", "yard") for s in scenes):
        parser.error(f"--scenes must list hall and/or yard, got {args.scenes!r}")
    if not (math.isfinite(args.seconds) and 0 < args.seconds <= 600):
        parser.error(f"--seconds must be in (0, 600], got {args.seconds}")
    if not (math.isfinite(args.max_depth) and args.max_depth > MIN_DEPTH):
        parser.error(f"--max-depth must be > {MIN_DEPTH}, got {args.max_depth}")
    if args.runs < 1 or args.threads < 1 or args.seed < 0:
        parser.error("--runs and --threads must be >= 1 and --seed >= 0")

    try:
        from depth_ros.models.registry import load_model  # noqa: PLC0415

        try:
            import torch  # noqa: PLC0415

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
        model = load_model(args.model, path=args.model_path, num_threads=args.threads)
        results = evaluate(model, scenes, args.seed, args.seconds, args.max_depth, args.runs,
                           progress=not args.no_progress)
        _report(results, print)
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    except (DepthRosError, OSError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
