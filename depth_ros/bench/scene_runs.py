"""Options shared by the benchmarks that run `compact_depth` over fresh synthetic `hall` and `yard` runs."""

from __future__ import annotations

import argparse

from depth_ros.cli import ArgumentParser, HelpFormatter

SCENES = ("hall", "yard")


def scene_run_parser(prog: str, description: str, seed: int) -> argparse.ArgumentParser:
    """--seconds, --seed (default `seed`), --scenes and --model, with their help."""
    p = ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    p.add_argument("--seed", type=int, default=seed, help="seed of the runs (not one compact_depth was trained on)")
    p.add_argument("--scenes", default=",".join(SCENES), help="comma-separated scenes")
    p.add_argument("--model", default="compact_depth", help="registered model (trained on these worlds)")
    return p


def parse_scene_runs(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The options and the scenes asked for; a usage error (one line, exit 1) when they are not valid."""
    args = parser.parse_args(argv)
    scenes = [s for s in args.scenes.split(",") if s]
    if not scenes or any(s not in SCENES for s in scenes):
        parser.error(f"--scenes must list hall and/or yard, got {args.scenes!r}")
    if not 1.0 <= args.seconds <= 600.0:
        parser.error(f"--seconds must be in [1, 600], got {args.seconds}")
    return args, scenes
