"""Map memory benchmark: the TSDF and occupancy grid of a long run stay within the block budget and their memory flat.

A fresh `hall` run of `--loop-seconds` (320x240, 10 Hz) is rendered once and integrated again and
again, each loop with its world moved `--shift` metres further along x, until `--minutes` of camera
time have passed: a robot that keeps driving into new space, so the TSDF reaches its block budget
and must drop the farthest blocks (what depth_map_node does with `tsdf.block_budget`). The depth is
the run's ground truth: what is measured is the map's memory, not a network's. The process's RSS
is sampled every 100 frames; `rss_growth` is the largest sample after the first minute over the
sample at one minute.

Last line: ``RESULT minutes=<> frames=<> block_budget=<> max_blocks=<> blocks_vs_budget=<max blocks /
budget> dropped_blocks=<> rss_first_minute_mb=<> rss_peak_mb=<> rss_growth=<> integrate_ms=<median>``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from tqdm import tqdm

from depth_ros.cli import ArgumentParser, HelpFormatter
from depth_ros.core.errors import DepthRosError
from depth_ros.mapping.mapper import DepthMapper
from depth_ros.mapping.occupancy import GridConfig
from depth_ros.mapping.tsdf import TsdfConfig

PROG = "depth-ros-bench map_memory"
SAMPLE_EVERY = 100  # frames


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="camera time integrated (at 10 Hz)")
    p.add_argument("--loop-seconds", type=float, default=60.0, help="length of the rendered run that is looped")
    p.add_argument("--shift", type=float, default=25.0, help="metres the world moves along x at each loop")
    p.add_argument("--block-budget", type=int, default=20000, help="tsdf.block_budget (depth_map_node's default)")
    p.add_argument("--seed", type=int, default=1013, help="seed of the run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1.0 <= args.minutes <= 120.0:
        parser.error(f"--minutes must be in [1, 120], got {args.minutes}")
    if not 5.0 <= args.loop_seconds <= 600.0:
        parser.error(f"--loop-seconds must be in [5, 600], got {args.loop_seconds}")
    try:
        import psutil  # noqa: PLC0415 - the tools extra

        from depth_ros.sim.world import generate_sequence  # noqa: PLC0415

        seq = generate_sequence("hall", seconds=args.loop_seconds, seed=args.seed, width=320, height=240,
                                radar=False)
        mapper = DepthMapper(TsdfConfig(voxel_size=0.05, block_budget=args.block_budget, max_depth=8.0),
                             GridConfig(resolution=0.05, size=60.0))
    except DepthRosError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    proc = psutil.Process()
    hz = seq.world.camera_hz
    total = int(round(args.minutes * 60 * hz))
    first_minute = int(round(60 * hz))
    samples: list[tuple[int, float]] = []
    times, max_blocks = [], 0
    with tqdm(total=total, desc="map memory", unit="frame", disable=args.no_progress, file=sys.stderr) as bar:
        for k in range(total):
            loop, item = divmod(k, len(seq.frames))
            frame = seq.frames[item]
            T = frame.T_world_cam.as_matrix()
            T[0, 3] += loop * args.shift
            started = time.perf_counter()
            mapper.add(frame.depth, seq.camera, T)
            times.append(time.perf_counter() - started)
            max_blocks = max(max_blocks, mapper.tsdf.blocks)
            if (k + 1) % SAMPLE_EVERY == 0:
                samples.append((k + 1, proc.memory_info().rss / 2**20))
            bar.update(1)
    at_minute = next(rss for n, rss in samples if n >= first_minute)
    peak_after = max(rss for n, rss in samples if n >= first_minute)
    for n, rss in samples:
        if n % first_minute == 0:
            print(f"  {n / first_minute:4.0f} min  RSS {rss:7.1f} MB")
    result = {"minutes": args.minutes, "frames": total, "block_budget": args.block_budget, "max_blocks": max_blocks,
              "blocks_vs_budget": max_blocks / args.block_budget, "dropped_blocks": mapper.tsdf.dropped_blocks,
              "rss_first_minute_mb": at_minute, "rss_peak_mb": peak_after, "rss_growth": peak_after / at_minute,
              "integrate_ms": 1e3 * float(np.median(times))}
    print("RESULT " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
