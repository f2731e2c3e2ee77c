"""depth-ros-eval-compact: the held-out protocol runs end to end and the shipped model is metric there."""

from __future__ import annotations

import json

import pytest

from depth_ros.tools import eval_compact

pytest.importorskip("onnxruntime")


def test_short_held_out_run_reports_metrics_and_result_line(tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert eval_compact.main(["--scenes", "hall", "--seconds", "1", "--runs", "3", "--no-progress",
                              "--json", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("RESULT radar_absrel=")
    result = json.loads(out.read_text())
    # Radar (and the trained prior channel) must beat the ground-plane-only scale on the same frames,
    # and both must be metric: a model that lost its scale gives AbsRel near 1.
    assert result["radar"]["absrel"] < result["noradar"]["absrel"] < 0.3
    assert result["radar"]["delta1"] > 0.85


@pytest.mark.parametrize("argv, message", [
    (["--scenes", "moon"], "--scenes"),
    (["--seconds", "-1"], "--seconds"),
    (["--model", "no_such_model"], "no_such_model"),
])
def test_bad_options_give_one_line_error_and_exit_1(argv, message, capsys):
    try:
        code = eval_compact.main(argv + ["--no-progress"])
    except SystemExit as exit_:  # argparse-level errors exit from the parser
        code = exit_.code
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
