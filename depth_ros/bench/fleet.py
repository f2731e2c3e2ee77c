"""Fleet benchmark: `depth-ros-eval` over 8 short simulated bags on Ray with 2 workers vs the same bags
one after the other in process (`--no-ray`), in one run, on the same machine.

The bags (hall and yard runs, seeds 100.., cached per simulator version) are made once with
depth-ros-simulate. Both evaluations run as the real command, each in its own process, on one
thread per bag; their metrics.json must be identical. Ratios:

- fleet_speedup: in-process seconds / Ray seconds, each the fleet's own time from run.json: from
  the first bag handed out to the last result, so Ray's includes starting its worker processes
  and each worker's model load, but not `ray.init()` (starting the local instance, a one-off per
  command, reported as ray_init_s);
- fleet_speedup_with_init: the same over the whole command (interpreter, imports, `ray.init()`,
  report, Ray's shutdown), what a user waits for with 8 bags; the more bags, the closer it comes to
  fleet_speedup.

Last line: ``RESULT fleet_speedup=<> fleet_speedup_with_init=<> ray_init_s=<> sequential_s=<>
ray_s=<> metrics_identical=<0|1> bags=8``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from depth_ros.cli import ArgumentParser, HelpFormatter
from depth_ros.package_data import package_sources, user_cache_dir

PROG = "depth-ros-bench fleet"
SCENES = ("hall", "yard")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--bags", type=int, default=8, help="number of bags (hall and yard in turn)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each bag (10 frames a second)")
    p.add_argument("--workers", type=int, default=2, help="Ray workers")
    p.add_argument("--cache", default=str(user_cache_dir("bench", "fleet")), help="folder of the generated bags")
    p.add_argument("--out", help="folder for the two reports (default: a temporary folder, removed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def fleet_bags(cache: Path, count: int, seconds: float, progress: bool) -> list[Path]:
    """`count` bags of `seconds` each in `cache`, each in its own folder beside its world.yaml and params
    file; generated with depth-ros-simulate when missing (per simulator version)."""
    version = hashlib.sha256(b"".join(f.read_bytes() for f in package_sources("sim"))).hexdigest()[:10]
    bags = []
    for i in range(count):
        scene, seed = SCENES[i % len(SCENES)], 100 + i
        folder = cache / f"{scene}-seed{seed}-{seconds:g}s-{version}"
        bag = folder / "bag"
        if not (bag / "metadata.yaml").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            print(f"generating bag {i + 1}/{count} ({scene}, {seconds:g} s, seed {seed}) -> {bag}", flush=True)
            cmd = [sys.executable, "-m", "depth_ros.tools.simulate", "--scene", scene, "--seconds", f"{seconds:g}",
                   "--seed", str(seed), "--out", str(bag)] + ([] if progress else ["--no-progress"])
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        bags.append(bag)
    return bags


def run_eval(bags: list[Path], report: Path, extra: list[str], progress: bool) -> tuple[float, dict, bytes]:
    """One `depth-ros-eval` over the bags: (wall seconds of the command, its run.json, its metrics.json)."""
    cmd = [sys.executable, "-m", "depth_ros.tools.evaluate", *map(str, bags), "--report", str(report), *extra]
    started = time.perf_counter()
    done = subprocess.run(cmd + ([] if progress else ["--no-progress"]), stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {done.returncode}:\n{done.stdout[-2000:]}")
    return wall, json.loads((report / "run.json").read_text()), (report / "metrics.json").read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 2 <= args.bags <= 200 or not 0.5 <= args.seconds <= 120 or not 1 <= args.workers <= 64:
        parser.error("--bags must be in [2, 200], --seconds in [0.5, 120], --workers in [1, 64]")
    progress = not args.no_progress
    try:
        bags = fleet_bags(Path(args.cache), args.bags, args.seconds, progress)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"{PROG}: error: cannot make the bags: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="depth_ros_bench_fleet_"))
    try:
        print(f"{args.bags} bags of {args.seconds:g} s; {os.cpu_count()} CPUs; one thread per bag", flush=True)
        seq_wall, seq_run, seq_metrics = run_eval(bags, out / "in_process", ["--no-ray"], progress)
        print(f"in process (--no-ray):   {seq_run['seconds']:6.1f} s for the bags, {seq_wall:6.1f} s the command",
              flush=True)
        ray_wall, ray_run, ray_metrics = run_eval(bags, out / "ray", ["--workers", str(args.workers)], progress)
        print(f"Ray, {ray_run['workers']} workers:         {ray_run['seconds']:6.1f} s for the bags, {ray_wall:6.1f} s "
              f"the command (ray.init() {ray_run['ray_startup_seconds']:.1f} s)")
    except RuntimeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    speedup = seq_run["seconds"] / ray_run["seconds"]
    with_init = seq_wall / ray_wall
    identical = int(seq_metrics == ray_metrics)
    print(f"speed-up {speedup:.2f} (bags only; {with_init:.2f} for the whole command); metrics.json "
          f"{'identical' if identical else 'DIFFERENT'} in process and on Ray")
    print(f"RESULT fleet_speedup={speedup:.3f} fleet_speedup_with_init={with_init:.3f} "
          f"ray_init_s={ray_run['ray_startup_seconds']:.2f} sequential_s={seq_run['seconds']:.2f} "
          f"ray_s={ray_run['seconds']:.2f} metrics_identical={identical} bags={args.bags}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
