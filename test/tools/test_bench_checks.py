"""`depth-ros-bench NAME --check`: the README's Performance targets, held in one place in code.

The check logic on hand-made RESULT lines; the README table showing exactly those targets; and the
benchmarks CI runs with --check (cloud, fusion, nav, real) on this machine, and the temporal benchmark's
accuracy targets (its time target is checked by hand: it sits near its bound, within this machine's noise).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from depth_ros.bench.targets import TARGETS, check, parse_result

README = Path(__file__).resolve().parents[2] / "README.md"

# Targets the current models miss, each tracked by an open issue: --check may report only these (a run in
# which one of them is met says so in the test's output).
KNOWN_MISSES = {
    # FastDepth infers a 640x480 frame in 3-4 ms here; the spatial fusion takes 3-4 ms (0.85-1.03 of it).
    "fusion": {"fusion_vs_inference"},
}


def test_a_result_line_is_checked_against_each_target():
    line = "noise\nRESULT nav_vs_open3d=0.2 scan_ms=0.01\n"
    assert parse_result(line) == {"nav_vs_open3d": 0.2, "scan_ms": 0.01}
    assert check("nav", parse_result(line)) == []
    assert check("nav", {"nav_vs_open3d": 0.51}) == ["nav_vs_open3d <= 0.5: measured 0.51"]
    assert check("nav", {}) == ["nav_vs_open3d <= 0.5: not in the RESULT line"]
    misses = check("node", {"node_overhead": 1.2, "out_rate_ratio": 1.2, "rss_tflite_mb": 150, "rss_torch_mb": 900})
    assert misses == ["out_rate_ratio <= 1.05: measured 1.2"]
    assert check("soak", {"rss_growth": 1.0, "p95_drift": 1.0, "errors": 1}) == ["errors <= 0: measured 1"]
    assert check("fusion", {"reduction": 0.4, "fused_vs_oracle": 1.0, "fusion_vs_inference": 0.1}) == [
        "fused_vs_oracle < 1: measured 1"]


def test_the_readme_performance_table_shows_the_same_targets():
    table = README.read_text().split("## Performance", 1)[1].split("\n\n", 3)[2]
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `(\w+)` \|.*\| ([^|]+) \|$", table, re.MULTILINE)}
    assert set(rows) == set(TARGETS)
    for name, targets in TARGETS.items():
        assert rows[name].strip() == ", ".join(f"`{t}`" for t in targets), name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cloud", "fusion", "nav", "real"])
def test_ci_benchmarks_meet_their_targets(name, shared_dir, tmp_path):
    extra = ["--out", str(tmp_path), "--no-progress"] if name == "real" else []
    run = subprocess.run([sys.executable, "-m", "depth_ros.tools.bench", name, "--check", *extra],
                         capture_output=True, text=True, timeout=600)
    missed = set(re.findall(r"^CHECK \w+: target missed: (\w+)", run.stdout, re.MULTILINE))
    known = KNOWN_MISSES.get(name, set())
    # Only the known misses may miss; one of them meeting its target in a run is reported, not failed:
    # fusion_vs_inference sits at its bound as FastDepth's time on this machine varies (3-18 ms).
    assert missed <= known, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == (1 if missed else 0), run.stdout[-2000:]
    if known - missed:
        print(f"{name}: known misses met their targets in this run: {sorted(known - missed)}")
    print(re.findall(r"^RESULT .*$", run.stdout, re.MULTILINE)[-1])


@pytest.mark.slow
def test_temporal_benchmark_meets_its_accuracy_targets():
    """Shorter runs than the README's (8 s): the stage must make the depth steadier (TCE -40 %) without
    making it less accurate, with odometry and with rotation only."""
    run = subprocess.run([sys.executable, "-m", "depth_ros.tools.bench", "temporal", "--seconds", "8"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    values = parse_result(run.stdout)
    quality = [t for t in TARGETS["temporal"] if t.key != "temporal_ms"]
    assert len(quality) == 3
    missed = [str(t) for t in quality if not t.met(values[t.key])]
    assert not missed, run.stdout[-2000:]
    print(re.findall(r"^RESULT .*$", run.stdout, re.MULTILINE)[-1])
