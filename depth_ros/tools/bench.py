"""depth-ros-bench: benchmarks that compare against a peer in one run and end with a RESULT line.

  python -m depth_ros.tools.bench <name> [options] [--check]   (name --help for the options of one)

--check: exit 1 when the run misses a target of the README's Performance table
(depth_ros.bench.targets), printing which.

Benchmarks print; they are not tests. Each measures ours and its reference on the same machine
in the same run and reports ratios, so numbers from different machines stay comparable.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from typing import TextIO

from depth_ros.bench.targets import TARGETS, check, parse_result

BENCHMARKS = {
    "real": ("depth_ros.bench.real", "every shipped model x scale source on real RGB-D frames (+ 4-8x, yard)"),
    "fusion": ("depth_ros.bench.fusion", "radar/IMU scale fusion on real RGB-D frames with simulated radar"),
    "cloud": ("depth_ros.bench.cloud", "publish-ready xyzrgb cloud vs Open3D and vs a plain copy"),
    "node": ("depth_ros.bench.node", "node latency/rate/memory on the ROS graph vs a relay node"),
    "models": ("depth_ros.bench.models", "torch vs ONNX Runtime for Depth Anything V2 and the compact model"),
    "nav": ("depth_ros.bench.nav", "obstacle cloud vs Open3D voxel + outlier filter, LaserScan time"),
    "map": ("depth_ros.bench.map", "TSDF map and occupancy grid from fused / network / true depth on hall and yard"),
    "map_memory": ("depth_ros.bench.map_memory", "a 10-minute map run: block budget held, memory flat after the first minute"),
    "temporal": ("depth_ros.bench.temporal", "temporal depth stage off / on / rotation only: consistency, AbsRel, time"),
    "soak": ("depth_ros.bench.soak", "10,000 frames through the running node: memory, latency drift, errors"),
    "fleet": ("depth_ros.bench.fleet", "depth-ros-eval over 8 bags: Ray with 2 workers vs one after the other"),
}


def usage() -> str:
    lines = [__doc__.strip(), "", "benchmarks:"]
    lines += [f"  {name:<8} {what}" for name, (_, what) in BENCHMARKS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 1
    name, rest = argv[0], argv[1:]
    checked = "--check" in rest
    rest = [a for a in rest if a != "--check"]
    if name not in BENCHMARKS:
        print(f"depth-ros-bench: unknown benchmark {name!r}\n\n{usage()}", file=sys.stderr)
        return 1
    module_name = BENCHMARKS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # a dependency of an existing benchmark is missing: a real error, with its traceback
        print(f"depth-ros-bench: benchmark {name!r} is not part of this installation ({module_name} is missing)",
              file=sys.stderr)
        return 1
    if not checked:
        return int(module.main(rest) or 0)
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        code = int(module.main(rest) or 0)
    if code:
        return code
    misses = check(name, parse_result(tee.text.getvalue()))
    for miss in misses:
        print(f"CHECK {name}: target missed: {miss}")
    if not misses:
        print(f"CHECK {name}: all {len(TARGETS.get(name, ()))} targets met")
    return 1 if misses else 0


class _Tee(io.TextIOBase):
    """Writes through to `out` and keeps a copy (the RESULT line is read from it)."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.text = out, io.StringIO()

    def write(self, s: str) -> int:
        self.text.write(s)
        return self.out.write(s)

    def flush(self) -> None:
        self.out.flush()


if __name__ == "__main__":
    sys.exit(main())
