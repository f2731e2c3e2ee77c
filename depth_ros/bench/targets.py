"""The targets of the README's Performance table, in one place: `depth-ros-bench NAME --check` checks
a run's RESULT line against them, and a test checks that the README shows the same numbers."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    """`key` of a benchmark's RESULT line must satisfy `key op value` (e.g. cloud_vs_memcpy <= 2.5)."""

    key: str
    op: str
    value: float

    def met(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.key} {self.op} {self.value:g}"


TARGETS: dict[str, tuple[Target, ...]] = {
    "cloud": (Target("cloud_vs_open3d", "<=", 0.30), Target("cloud_vs_memcpy", "<=", 2.5),
              Target("cloud_distorted_vs_pinhole", "<=", 1.2)),
    "node": (Target("node_overhead", "<=", 1.5), Target("out_rate_ratio", ">=", 0.95), Target("out_rate_ratio", "<=", 1.05),
             Target("rss_tflite_mb", "<=", 200), Target("rss_torch_mb", "<=", 1500)),
    "models": (Target("ort_vs_torch", "<=", 0.75), Target("ort_rel_diff", "<", 1e-3)),
    "real": (Target("depth_default_absrel", "<=", 0.25), Target("radar_default_absrel", "<=", 0.12),
             Target("relative_fused_vs_oracle", "<=", 1.0), Target("scaled_scenes_fused_absrel", "<=", 0.20),
             Target("metric_share", ">=", 0.95)),
    "fusion": (Target("reduction", ">=", 0.40), Target("fused_vs_oracle", "<", 1.0),
               Target("fusion_vs_inference", "<", 0.5)),
    "nav": (Target("nav_vs_open3d", "<=", 0.5),),
    "map": (Target("fscore10_fused_hall", ">=", 0.80), Target("fscore10_fused_yard", ">=", 0.70),
            Target("fscore10_gain_hall", ">=", 0.15), Target("fscore10_gain_yard", ">=", 0.15),
            Target("grid_iou_fused_hall", ">=", 0.85), Target("grid_iou_fused_yard", ">=", 0.85),
            Target("frame_period_ratio", "<=", 0.5)),
    "soak": (Target("rss_growth", "<=", 1.05), Target("p95_drift", "<=", 1.2), Target("errors", "<=", 0)),
    "map_memory": (Target("blocks_vs_budget", "<=", 1.0), Target("rss_growth", "<=", 1.05)),
    "temporal": (Target("tce_reduction", ">=", 0.40), Target("absrel_gain", ">=", 0.0),
                 Target("rotation_only_gain", ">=", 0.0), Target("temporal_ms", "<=", 2.0)),
    "fleet": (Target("fleet_speedup", ">=", 1.6), Target("metrics_identical", ">=", 1)),
}


def parse_result(text: str) -> dict[str, float]:
    """The values of the last `RESULT k=v ...` line of a benchmark's output (non-numbers skipped)."""
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    if not lines:
        return {}
    values = {}
    for key, value in re.findall(r"(\w+)=(\S+)", lines[-1]):
        try:
            values[key] = float(value)
        except ValueError:
            continue
    return values


def check(name: str, values: dict[str, float]) -> list[str]:
    """One line per target of benchmark `name` not met by `values` (a missing value misses its target)."""
    misses = []
    for target in TARGETS.get(name, ()):
        measured = values.get(target.key)
        if measured is None:
            misses.append(f"{target}: not in the RESULT line")
        elif not target.met(measured):
            misses.append(f"{target}: measured {measured:g}")
    return misses
