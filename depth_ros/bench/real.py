"""Every shipped model on real RGB-D frames, alone and with each scale source, through `DepthPipeline`.

For each frame of an RGB-D manifest (default ../shared/data/rgbd; ``--manifest`` for your own frames in
the same format) and each model whose weights ship in the package, one fresh pipeline per mode
(the same object the nodes run, with the pipeline settings of the node that runs the mode: radar modes
the radar node's, the others depth_node's, e.g. its mirrored-image average):

* ``alone``: the network's own metres (metric models only), range-limited like the node;
* ``ground``: + IMU ground plane: gravity and camera height taken from the floor plane of the frame's
  ground truth (`floor_plane`; frames without a visible floor have no ground source);
* ``radar_global`` / ``radar_spatial``: + simulated radar as in ``bench fusion`` (20-60 points, range
  noise 5 cm + 1 %, azimuth 1 deg, elevation 4 deg, 10 % clutter, radar 10 cm beside the camera), one
  scale per frame or the spatially varying correction (the radar node's default), ``--seeds`` draws;
* ``oracle``: the network output scaled by the ground truth's median ratio (relative models: their
  inverse output turned into depth first): the best any global scale can do.

Two stress sets show what real streets do to the fusion without street data:

* scaled: the same frames with their ground truth scaled 4-8x (one factor per frame) and radar
  simulated from it; the networks see the same images, so a metric network is 4-8x off its scale
  and out of its range (pipeline ``max_depth`` 80 m, as on a street);
* yard: a simulated outdoor run (`depth_ros.sim`, seed ``--yard-seed``) with far structures, played
  in time order with radar and IMU through each model's pipeline.

Printed: per set a table of AbsRel / delta1 per model and mode, the frame-mean over all sets, which
models the benchmark picks as the nodes' defaults (best AbsRel alone; best radar-fused AbsRel), the
share of frames with radar points in view that were published with metric scale on the scaled frames
and on yard (relative model), and a plot (``--out``/real.png). Metrics: `depth_metrics` over the pixels
with ground truth and a finite published depth; coverage = that count / ground-truth pixels.

Last line: ``RESULT depth_default_absrel=<depth_node's default model, alone>
radar_default_absrel=<radar_depth_node's default model, radar_spatial> relative_fused_vs_oracle=<
tcmonodepth_small radar_spatial / its oracle> scaled_scenes_fused_absrel=<radar node default on the
scaled frames> metric_share=<the lower of the two metric shares>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from depth_ros.cli import ArgumentParser, HelpFormatter
from depth_ros.core.errors import DepthRosError
from depth_ros.core.imu import STANDARD_GRAVITY, ImuReading
from depth_ros.core.metrics import depth_metrics, median_scale, valid_mask
from depth_ros.core.output_kind import OutputKind
from depth_ros.datasets.rgbd import default_shared_dir, floor_plane, load_manifest, simulated_radar_points
from depth_ros.datasets.sequences import sequence_fusion_config
from depth_ros.evaluation.compact import run_pipeline
from depth_ros.models.registry import WEIGHTS_ROOT, available_models, get_spec, load_model
from depth_ros.optional import pyplot
from depth_ros.pipeline.fusion import FusionConfig
from depth_ros.pipeline.pipeline import DepthPipeline, Frame, PipelineConfig, relative_inverse_to_relative_depth
from depth_ros.ros.params import pipeline_config_from_values, resolve_values

PROG = "depth-ros-bench real"
MODES = ("alone", "ground", "radar_global", "radar_spatial", "oracle")
RELATIVE_MODEL = "tcmonodepth_small"
MIN_DEPTH = 0.1
INDOOR_MAX_DEPTH = 20.0  # the nodes' default max_depth
STREET_MAX_DEPTH = 80.0
SCALE_RANGE = (4.0, 8.0)
SCALED_SUFFIX = "x4-8"  # set name suffix of the scaled frames' rows
METRIC_SOURCES = ("radar", "ground", "filter")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0], epilog="Protocol: the module docstring of "
                       "depth_ros.bench.real.", formatter_class=HelpFormatter)
    p.add_argument("--manifest", type=Path, default=None,
                   help="RGB-D manifest.json (layout of shared/data/rgbd: rgb, depth, depth_units_per_metre, "
                        "fx, fy, cx, cy, width, height, set per frame); default: ../shared/data/rgbd")
    p.add_argument("--models", default=None,
                   help="comma-separated registered models (default: every model whose weights ship in the package)")
    p.add_argument("--weights", action="append", default=[], metavar="MODEL=PATH",
                   help="load MODEL from PATH instead of its shipped weights (e.g. compact_depth=runs/mine/best); "
                        "repeatable")
    p.add_argument("--seeds", type=int, default=3, help="radar draws per frame (seeds 0..N-1)")
    p.add_argument("--no-scaled", action="store_true", help="skip the 4-8x scaled frames")
    p.add_argument("--no-yard", action="store_true", help="skip the simulated yard run")
    p.add_argument("--yard-seconds", type=float, default=8.0, help="length of the yard run (s, 10 frames/s)")
    p.add_argument("--yard-seed", type=int, default=1000, help="seed of the yard run (not one compact_depth trained on)")
    p.add_argument("--out", type=Path, default=Path("out/bench_real"),
                   help="folder for real.png (the plot) and results.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


@dataclass
class Row:
    model: str
    mode: str
    set: str
    frame: str
    absrel: float
    delta1: float
    coverage: float
    source: str
    radar_points: int = 0


def shipped_models() -> list[str]:
    """Registered models whose default weights are inside the package (they work with no download)."""

    out = []
    for name in available_models():
        path = get_spec(name).default_path
        if path and Path(path).exists() and Path(path).resolve().is_relative_to(WEIGHTS_ROOT.resolve()):
            out.append(name)
    return out


def node_default(node: str, name: str = "model") -> Any:
    """A parameter's default in an executable (``model`` unless named)."""

    return resolve_values(node, {})[name]


def mode_config(mode: str, max_depth: float) -> PipelineConfig:
    """The pipeline settings of the node that runs ``mode`` (radar modes the radar node's, others depth_node's),
    with the benchmark's depth range."""

    node = "radar_depth_node" if mode.startswith("radar") else "depth_node"
    config = pipeline_config_from_values(resolve_values(node, {}))
    return dataclasses.replace(config, min_depth=MIN_DEPTH, max_depth=max_depth)


def _score(depth: np.ndarray, gt: np.ndarray, max_depth: float) -> tuple[float, float, float]:
    m = depth_metrics(depth, gt, min_depth=MIN_DEPTH, max_depth=max_depth)
    total = int(valid_mask(np.ones_like(gt), gt, min_depth=MIN_DEPTH, max_depth=max_depth).sum())
    return m.absrel, m.delta1, m.count / max(total, 1)


def _oracle(raw: np.ndarray, gt: np.ndarray, metric: bool, max_depth: float) -> np.ndarray:
    depth = raw if metric else relative_inverse_to_relative_depth(raw)
    return depth * np.float32(median_scale(depth, gt, min_depth=MIN_DEPTH, max_depth=max_depth))


def _imu_readings(gravity: np.ndarray, stamp_ns: int, n: int = 20) -> list[Any]:
    """A resting IMU whose axes are the optical frame's, reading the reaction to ``gravity`` (unit, down)."""

    accel = -STANDARD_GRAVITY * np.asarray(gravity, dtype=np.float64)
    return [ImuReading(stamp_ns - (n - 1 - i) * 5_000_000, np.zeros(3), accel) for i in range(n)]


def run_frame(model: Any, frame: Any, mode: str, gt: np.ndarray, max_depth: float, seed: int, index: int,
              floor: tuple[np.ndarray, float] | None, set_name: str | None = None) -> Row:
    """One frame through a fresh pipeline in ``mode`` (see the module doc)."""

    stamp = 1_000_000_000
    metric = model.spec.output_kind is OutputKind.METRIC
    config = mode_config(mode, max_depth)
    scan = None
    if mode.startswith("radar"):
        sim, _ = simulated_radar_points(frame, np.random.default_rng([seed, index]), depth=gt, stamp_ns=stamp)
        fusion = FusionConfig(radar_enabled=True, T_cam_radar=sim.T_cam_radar,
                              scale_mode="global" if mode == "radar_global" else "spatial")
        scan = sim.scan
    elif mode == "ground" and floor is not None:
        fusion = FusionConfig(imu_enabled=True, R_cam_imu=np.eye(3), ground_enabled=True, camera_height=floor[1])
    else:
        fusion = FusionConfig()
    pipeline = DepthPipeline(model, config, fusion)
    if scan is not None:
        pipeline.add_radar(scan)
    if mode == "ground" and floor is not None:
        for reading in _imu_readings(floor[0], stamp):
            pipeline.add_imu(reading)
    result = pipeline.process(Frame(frame.rgb, frame.camera, stamp))
    depth = _oracle(result.raw, gt, metric, max_depth) if mode == "oracle" else result.depth
    if mode == "oracle":
        depth = np.where((depth >= MIN_DEPTH) & (depth <= max_depth), depth, np.nan)
    absrel, delta1, coverage = _score(depth, gt, max_depth)
    return Row(model.spec.name, mode, set_name or frame.set, frame.id, absrel, delta1, coverage,
               "oracle" if mode == "oracle" else result.scale_source, int(result.info.get("radar_points", 0)))


def _modes(metric: bool) -> tuple[str, ...]:
    return MODES if metric else tuple(m for m in MODES if m != "alone")


def evaluate_frames(models: dict[str, Any], frames: list[Any], seeds: int, scaled: bool,
                    progress: Callable[[int], None]) -> list[Row]:
    """Rows of every model x mode x frame (x seed for radar modes); ``scaled``: ground truth 4-8x."""

    rows = []
    max_depth = STREET_MAX_DEPTH if scaled else INDOOR_MAX_DEPTH
    for i, frame in enumerate(frames):
        k = float(np.random.default_rng([7, i]).uniform(*SCALE_RANGE)) if scaled else 1.0
        gt = frame.depth * np.float32(k)
        floor = None if scaled else floor_plane(frame)
        for model in models.values():
            metric = model.spec.output_kind is OutputKind.METRIC
            modes = ("radar_spatial", "oracle") if scaled else _modes(metric)
            for mode in modes:
                for seed in range(seeds if mode.startswith("radar") else 1):
                    rows.append(run_frame(model, frame, mode, gt, max_depth, seed, i, floor,
                                          f"{frame.set} {SCALED_SUFFIX}" if scaled else None))
                progress(1)
    return rows


def evaluate_yard(models: dict[str, Any], seconds: float, seed: int, progress: Callable[[int], None]) -> list[Row]:
    """Each model over a simulated yard run with radar and IMU, in time order (temporal filter on)."""
    from depth_ros.sim.world import generate_sequence  # noqa: PLC0415

    seq = generate_sequence("yard", seconds, seed)
    rows = []
    for name, model in models.items():
        frames = run_pipeline(model, seq, sequence_fusion_config(seq, radar=True, imu=True), STREET_MAX_DEPTH)
        rows += [Row(name, "radar_spatial", "yard (sim)", f"yard_{k}", r["absrel"], r["delta1"], r["coverage"],
                     r["source"], r["radar_points"]) for k, r in enumerate(frames)]
        progress(1)
    return rows


def mean_of(rows: list[Row], field: str = "absrel", **match: str) -> float:
    values = [getattr(r, field) for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    values = [v for v in values if math.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


def metric_share(rows: list[Row], **match: str) -> tuple[float, int]:
    """Share of frames with radar points in view that were published with a metric scale source."""
    seen = [r for r in rows if r.radar_points > 0 and all(getattr(r, k) == v for k, v in match.items())]
    if not seen:
        return math.nan, 0
    return float(np.mean([r.source in METRIC_SOURCES for r in seen])), len(seen)


def table(rows: list[Row], models: list[str], sets: list[str], out: Callable[[str], None]) -> list[str]:
    """Print one AbsRel / delta1 table per set and one over all frames; returns the markdown of the last."""
    markdown = []
    for label in sets + ["all"]:
        sel = rows if label == "all" else [r for r in rows if r.set == label]
        out(f"\n{label}{' (frame mean over every set)' if label == 'all' else ''}: AbsRel / delta1")
        out(f"{'model':<20}" + "".join(f"{m:>17}" for m in MODES))
        if label == "all":
            markdown = ["| model | " + " | ".join(MODES) + " |", "|---" * (len(MODES) + 1) + "|"]
        for name in models:
            cells = []
            for mode in MODES:
                a, d = mean_of(sel, model=name, mode=mode), mean_of(sel, "delta1", model=name, mode=mode)
                cells.append("" if math.isnan(a) else f"{a:.3f} / {d:.3f}")
            out(f"{name:<20}" + "".join(f"{c:>17}" for c in cells))
            if label == "all":
                markdown.append(f"| `{name}` | " + " | ".join(c or "-" for c in cells) + " |")
    return markdown


def plot(rows: list[Row], models: list[str], sets: list[str], path: Path) -> None:
    """Grouped bars of AbsRel per model and mode, one panel per set."""
    plt = pyplot("the benchmark plot")

    panels = sets + ["all"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), sharey=True, squeeze=False)
    width = 0.8 / len(MODES)
    for ax, label in zip(axes[0], panels):
        sel = rows if label == "all" else [r for r in rows if r.set == label]
        for j, mode in enumerate(MODES):
            values = [mean_of(sel, model=m, mode=mode) for m in models]
            ax.bar(np.arange(len(models)) + (j - (len(MODES) - 1) / 2) * width, np.nan_to_num(values, nan=0.0),
                   width, label=mode)
        ax.set_title(label)
        ax.set_xticks(np.arange(len(models)), [m.replace("_", "\n", 1) for m in models], fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("AbsRel (lower is better)")
    axes[0][0].set_ylim(0, 1.0)
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("depth-ros-bench real: shipped models on real RGB-D frames")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole benchmark (module doc); returns the numbers of the RESULT line and the rows."""


    t0 = time.perf_counter()
    frames = load_manifest(args.manifest)
    names = [m.strip() for m in args.models.split(",")] if args.models else shipped_models()
    paths = dict(item.split("=", 1) for item in args.weights)
    models = {name: load_model(name, path=paths.get(name)) for name in names}
    for model in models.values():
        model.warmup()
    sets = list(dict.fromkeys(f.set for f in frames))
    steps = len(frames) * len(models) * (2 if not args.no_scaled else 1) + (0 if args.no_yard else len(models))
    with tqdm(total=steps, desc="bench real", disable=args.no_progress, file=sys.stderr, leave=False) as bar:
        rows = evaluate_frames(models, frames, args.seeds, False, bar.update)
        scaled = [] if args.no_scaled else evaluate_frames(models, frames, args.seeds, True, bar.update)
        yard = [] if args.no_yard else evaluate_yard(models, args.yard_seconds, args.yard_seed, bar.update)
    out(f"{len(frames)} frames of {args.manifest} ({', '.join(sets)}); models: {', '.join(names)}; "
        f"{args.seeds} radar draws per frame")
    markdown = table(rows, names, sets, out)

    depth_default, radar_default = node_default("depth_node"), node_default("radar_depth_node")
    alone = {n: mean_of(rows, model=n, mode="alone") for n in names}
    alone = {n: v for n, v in alone.items() if math.isfinite(v)}
    fused = {n: mean_of(rows, model=n, mode="radar_spatial") for n in names}
    best_alone = min(alone, key=alone.get) if alone else None
    best_fused = min(fused, key=fused.get)
    out(f"\nbest alone: {best_alone} ({alone.get(best_alone, math.nan):.3f}); depth_node default: {depth_default}"
        f" ({'matches' if depth_default == best_alone else 'DIFFERS'})")
    out(f"best radar-fused: {best_fused} ({fused[best_fused]:.3f}); radar_depth_node default: {radar_default}"
        f" ({'matches' if radar_default == best_fused else 'DIFFERS'})")
    result = {
        "depth_default_absrel": mean_of(rows, model=depth_default, mode="alone"),
        "radar_default_absrel": mean_of(rows, model=radar_default, mode="radar_spatial"),
        "relative_fused_vs_oracle": (mean_of(rows, model=RELATIVE_MODEL, mode="radar_spatial")
                                     / mean_of(rows, model=RELATIVE_MODEL, mode="oracle")),
        "scaled_scenes_fused_absrel": mean_of(scaled, model=radar_default, mode="radar_spatial"),
    }
    if scaled:
        out("\nscaled frames (ground truth 4-8x, max_depth 80 m): radar_spatial AbsRel / oracle, metric share")
        for n in names:
            share, count = metric_share(scaled, model=n)
            out(f"  {n:<20}{mean_of(scaled, model=n, mode='radar_spatial'):.3f} / "
                f"{mean_of(scaled, model=n, mode='oracle'):.3f}   published metric: {share:.1%} of {count}")
    if yard:
        out(f"\nyard run ({args.yard_seconds:g} s, seed {args.yard_seed}, radar + IMU): AbsRel, metric share")
        for n in names:
            share, count = metric_share(yard, model=n)
            out(f"  {n:<20}{mean_of(yard, model=n):.3f}   published metric: {share:.1%} of {count} frames")
    scaled_share = metric_share(scaled, model=radar_default)[0] if scaled else math.nan
    yard_share = metric_share(yard, model=RELATIVE_MODEL)[0] if yard and RELATIVE_MODEL in names else math.nan
    out(f"\nmetric share with radar in view: scaled frames ({radar_default}) {scaled_share:.1%}, "
        f"yard ({RELATIVE_MODEL}) {yard_share:.1%}")
    shares = [x for x in (scaled_share, yard_share) if math.isfinite(x)]
    result["metric_share"] = min(shares) if shares else math.nan  # the lower of the two
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, names, sets, args.out / "real.png")
    payload = {**result, "scaled_metric_share": scaled_share, "yard_metric_share": yard_share,
               "best_alone": best_alone, "best_fused": best_fused, "markdown": markdown,
               "rows": [r.__dict__ for r in rows + scaled + yard]}
    (args.out / "results.json").write_text(json.dumps(payload, indent=1) + "\n")
    out(f"plot: {args.out / 'real.png'}; rows: {args.out / 'results.json'}; {time.perf_counter() - t0:.0f} s")
    out("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in result.items()))
    for model in models.values():
        model.close()
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.manifest is None:
        shared = default_shared_dir()
        if shared is None:
            parser.error("no --manifest given and no ../shared/data/rgbd beside the checkout")
        args.manifest = shared / "data" / "rgbd" / "manifest.json"
    if not args.manifest.is_file():
        parser.error(f"--manifest {args.manifest}: no such file")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    for item in args.weights:
        if "=" not in item or not Path(item.split("=", 1)[1]).exists():
            parser.error(f"--weights {item}: expected MODEL=PATH with an existing PATH")
    if not (math.isfinite(args.yard_seconds) and 1.0 <= args.yard_seconds <= 120.0):
        parser.error(f"--yard-seconds must be in [1, 120], got {args.yard_seconds}")
    try:
        run(args)
    except DepthRosError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
