"""depth-ros-eval over several bags: on a local Ray instance with 2 workers, 4 short bags (one corrupt)
give exactly the numbers of the in-process run, which give those of `depth-ros-eval BAG` for each bag;
the aggregate is checked against the bags' own reports; a corrupt bag fails its row only."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest

from depth_ros.evaluation.fleet import evaluate_fleet
from depth_ros.evaluation.fleet_report import aggregate, write_fleet_report
from depth_ros.tools.evaluate import main as eval_main
from depth_ros.tools.evaluate import parse_args


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    """hall, corrupt, yard, hall: 1 s (10 frames of 160x120) each, each bag in its own folder beside its world.yaml."""
    from depth_ros.tools.simulate import main as simulate

    root = tmp_path_factory.mktemp("fleet")
    made = {}
    for name, scene, seed in (("hall1", "hall", 1), ("yard2", "yard", 2), ("hall3", "hall", 3)):
        made[name] = root / name / "bag"
        argv = ["--scene", scene, "--seconds", "1", "--seed", str(seed), "--width", "160", "--height", "120",
                "--out", str(made[name]), "--no-progress"]
        assert simulate(argv) == 0
    bad = root / "broken" / "bag"
    shutil.copytree(made["hall1"], bad)
    mcap = next(bad.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 3])  # cut short, as by a full disk
    return [str(made["hall1"]), str(bad), str(made["yard2"]), str(made["hall3"])]


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def _canon(value) -> str:
    """Exact comparison that treats NaN as equal to NaN (float reprs, as metrics.json writes them)."""
    return json.dumps(value, sort_keys=True)


def _deterministic(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "latency"}


@pytest.fixture(scope="module")
def runs(bags, local_ray):
    args = parse_args([*bags, "--report", "unused", "--no-progress", "--samples", "1"])
    in_process = evaluate_fleet(bags, args, use_ray=False, progress=False)
    on_ray = evaluate_fleet(bags, args, use_ray=True, workers=2, progress=False)
    return in_process, on_ray


@pytest.mark.slow
def test_ray_with_two_workers_matches_the_in_process_run_exactly(runs, bags, tmp_path):
    in_process, on_ray = runs
    assert (in_process.engine, on_ray.engine, on_ray.workers) == ("in-process", "ray", 2)
    assert [o.bag for o in on_ray.outcomes] == bags == [o.bag for o in in_process.outcomes]
    assert [o.ok for o in on_ray.outcomes] == [True, False, True, True] == [o.ok for o in in_process.outcomes]
    for seq, par in zip(in_process.outcomes, on_ray.outcomes):
        assert par.error == seq.error
        assert _canon(par.frame_metrics) == _canon(seq.frame_metrics)
        if seq.ok:
            assert _canon(_deterministic(par.summary)) == _canon(_deterministic(seq.summary))
            assert sorted(par.files) == sorted(seq.files) and "sample_0.png" in par.files
    # Two worker processes did the work, each loading the model once; in process, one load for 3 bags.
    workers = {o.worker for o in on_ray.outcomes}
    assert len(workers) == 2 and not any(w.endswith(f":{os.getpid()}") for w in workers)
    loads = [o.worker for o in on_ray.outcomes if o.loaded_model]
    assert len(loads) == len(set(loads)) == len({o.worker for o in on_ray.outcomes if o.ok})
    assert sum(o.loaded_model for o in in_process.outcomes) == 1
    # The same metrics.json (byte for byte) from both.
    write_fleet_report(tmp_path / "seq", in_process)
    write_fleet_report(tmp_path / "ray", on_ray)
    assert (tmp_path / "seq" / "metrics.json").read_bytes() == (tmp_path / "ray" / "metrics.json").read_bytes()


@pytest.mark.slow
def test_each_bag_gets_the_numbers_of_a_single_bag_evaluation(runs, bags, tmp_path):
    from depth_ros.evaluation.run import run_evaluation

    in_process, _ = runs
    single = parse_args([bags[2], "--report", str(tmp_path / "one"), "--no-progress", "--samples", "1",
                         "-p", "num_threads:=1"])
    assert run_evaluation(single) == 0
    reference = json.loads((tmp_path / "one" / "metrics.json").read_text())
    fleet_bag = in_process.outcomes[2].summary
    for key in ("overall", "modes", "per_range_bin", "per_scale_source", "per_frame"):
        assert _canon(fleet_bag[key]) == _canon(reference[key]), key


@pytest.mark.slow
def test_the_aggregate_agrees_with_the_bags_own_reports(runs, bags):
    in_process, _ = runs
    summary = aggregate(in_process.outcomes)
    reports = {o.bag: json.loads(o.files["metrics.json"]) for o in in_process.outcomes if o.ok}
    frames = {bag: [f["absrel"] for f in r["per_frame"]] for bag, r in reports.items()}
    assert summary["overall"]["frames"] == sum(map(len, frames.values())) == 30
    assert summary["overall"]["absrel"] == pytest.approx(np.mean(np.concatenate(list(frames.values()))), rel=1e-12)
    assert summary["overall_by_bag"]["absrel"] == pytest.approx(
        np.mean([r["overall"]["absrel"] for r in reports.values()]), rel=1e-12)
    hall = [bags[0], bags[3]]
    assert set(summary["per_tag"]) == {"hall", "yard"}
    assert summary["per_tag"]["hall"]["by_frame"]["absrel"] == pytest.approx(
        np.mean(frames[hall[0]] + frames[hall[1]]), rel=1e-12)
    assert summary["per_tag"]["yard"]["by_bag"]["bags"] == 1
    rows = summary["per_bag"]
    assert rows[0]["bag"] == bags[1] and rows[0]["status"] == "failed"  # failed first, then worst AbsRel first
    absrels = [r["absrel"] for r in rows[1:]]
    assert absrels == sorted(absrels, reverse=True)
    assert {r["bag"]: r["absrel"] for r in rows[1:]} == {b: r["overall"]["absrel"] for b, r in reports.items()}


@pytest.mark.slow
def test_the_command_fails_with_the_corrupt_bag_and_names_the_reason(bags, local_ray, runs, tmp_path, capsys):
    code = eval_main([*bags, "--report", str(tmp_path / "cli"), "--workers", "2", "--no-progress", "--samples", "1"])
    out, err = capsys.readouterr()
    assert code == 1 and "1 of 4 bags failed" in err
    row = next(line for line in out.splitlines() if "FAILED" in line)
    assert bags[1] in row and "cannot open bag" in row, out
    for name in ("report.md", "absrel_per_bag.png", "run.json", "per_bag/000_hall1_bag/sample_0.png"):
        assert (tmp_path / "cli" / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "cli" / "run.json").read_text())["engine"] == "ray"
    # The command on Ray writes the metrics.json of the in-process run.
    in_process, _ = runs
    write_fleet_report(tmp_path / "seq", in_process)
    assert (tmp_path / "cli" / "metrics.json").read_bytes() == (tmp_path / "seq" / "metrics.json").read_bytes()


def test_usage_errors_are_one_line(tmp_path, capsys):
    assert eval_main(["--bags", str(tmp_path / "nothing*"), "--report", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matches no bag" in err[0]
    for extra in (["--live"], ["--workers", "0"]):
        with pytest.raises(SystemExit) as exit_:
            parse_args([str(tmp_path / "a"), str(tmp_path / "b"), "--report", str(tmp_path / "r"), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 1 and len(err) == 1 and ("evaluate one bag" in err[0] or "--workers" in err[0])
    # One BAG (whatever its place among the options) is today's single-bag evaluation, not a fleet.
    args = parse_args(["--report", str(tmp_path / "r"), str(tmp_path / "a"), "--samples", "1"])
    assert (args.fleet, args.bag) == (False, str(tmp_path / "a"))
    assert parse_args([str(tmp_path / "a"), "--report", "r", "--bags", "x*"]).fleet
