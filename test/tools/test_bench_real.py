"""depth-ros-bench real: the protocol end to end on a small manifest of real frames (numbers are not targets here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from depth_ros.bench import real as bench_real


@pytest.fixture(scope="module")
def small_manifest(shared_dir, tmp_path_factory) -> Path:
    """Two real frames of two sets, in the manifest format, pointing at ../shared's files."""
    source = shared_dir / "data" / "rgbd" / "manifest.json"
    spec = json.loads(source.read_text())
    frames = [f for f in spec["frames"] if f["id"] in ("tum_fr1_1", "redwood_lr_0")]
    for f in frames:
        f["rgb"], f["depth"] = str(source.parent / f["rgb"]), str(source.parent / f["depth"])
    path = tmp_path_factory.mktemp("manifest") / "manifest.json"
    path.write_text(json.dumps({"frames": frames}))
    return path


def test_shipped_models_are_the_ones_with_weights_in_the_package():
    assert set(bench_real.shipped_models()) == {"compact_depth", "fastdepth_tflite", "tcmonodepth_small"}


def test_short_run_prints_tables_defaults_and_the_result_line(small_manifest, tmp_path, capsys):
    argv = ["--manifest", str(small_manifest), "--models", "fastdepth_tflite,tcmonodepth_small", "--seeds", "1",
            "--yard-seconds", "1", "--out", str(tmp_path), "--no-progress"]
    assert bench_real.main(argv) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"RESULT depth_default_absrel=(\S+) radar_default_absrel=(\S+) relative_fused_vs_oracle=(\S+) "
                     r"scaled_scenes_fused_absrel=(\S+) metric_share=(\S+)", last)
    assert m, last
    values = [float(v) for v in m.groups()]
    assert all(0 < v < 2 for v in values[:4]) and 0 <= values[4] <= 1
    for label in ("tum_fr1: AbsRel / delta1", "redwood_livingroom: AbsRel / delta1", "all (frame mean",
                  "best alone:", "best radar-fused:", "scaled frames", "yard run", "metric share"):
        assert label in out
    result = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "real.png").stat().st_size > 10_000
    rows = result["rows"]
    # Every model x mode x frame (radar modes once per seed), relative models without "alone".
    assert {(r["model"], r["mode"]) for r in rows if r["set"] == "tum_fr1"} == {
        ("fastdepth_tflite", m) for m in bench_real.MODES} | {
        ("tcmonodepth_small", m) for m in bench_real.MODES if m != "alone"}
    assert {r["set"] for r in rows} == {"tum_fr1", "redwood_livingroom", "tum_fr1 x4-8", "redwood_livingroom x4-8",
                                        "yard (sim)"}
    assert all(0 <= r["coverage"] <= 1 for r in rows)
    # The RESULT line reports the nodes' own defaults, frame means over the real frames.
    real = [bench_real.Row(**r) for r in rows if r["set"] in ("tum_fr1", "redwood_livingroom")]
    assert result["radar_default_absrel"] == pytest.approx(bench_real.mean_of(
        real, model=bench_real.node_default("radar_depth_node"), mode="radar_spatial"))
    assert result["depth_default_absrel"] == pytest.approx(bench_real.mean_of(
        real, model=bench_real.node_default("depth_node"), mode="alone"))


def test_bad_manifest_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "manifest.json"
    bad.write_text("{not json")
    assert bench_real.main(["--manifest", str(bad), "--no-progress", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "manifest" in err and "\n" not in err and "Traceback" not in err
