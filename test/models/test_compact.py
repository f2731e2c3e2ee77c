"""compact_depth: network shapes, the shipped weights through the registry, training and exact resume, SILog."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from depth_ros.models import OutputKind, load_model
from depth_ros.models.compact_spec import NAME, ONNX_FILE, SPEC, WEIGHTS_DIR
from depth_ros.models.onnx_backend import OnnxDepthModel

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from depth_ros.models.compact import CompactConfig, CompactDepthNet, num_parameters  # noqa: E402 - needs torch
from depth_ros.tools import train as train_tool  # noqa: E402
from depth_ros.training import losses  # noqa: E402
from depth_ros.training.checkpoint import load_training_checkpoint  # noqa: E402

TINY = ["--generate", "hall:0", "--seconds", "1", "--width", "64", "--height", "48", "--val", "hall:1",
        "--val-seconds", "1", "--val-stride", "3", "--epochs", "2", "--steps-per-epoch", "1", "--batch-size", "2",
        "--threads", "1", "--no-onnx", "--no-progress"]


@pytest.fixture(scope="module")
def frame():
    """One 320x240 frame of a held-out run (seed not used in training), its depth and radar prior."""
    from depth_ros.training.data import RunSpec, generate_record, rasterize

    record = generate_record(RunSpec("hall", 1000, 0.6))
    k = len(record) - 1
    return record.rgb[k], record.depth[k].astype(np.float32), rasterize(record.points(k), (240, 320), 3)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train_cache")


def test_network_shapes_and_parameter_count():
    net = CompactDepthNet().eval()
    assert 0.5e6 <= num_parameters(net) <= 3e6
    x = torch.zeros(2, 4, 240, 320)
    x[:, 3, 100:107, 50:57] = 6.0
    x[0, 3, 0, 0], x[0, 3, 0, 1], x[0, 3, 0, 2] = float("nan"), float("inf"), -1.0  # all mean "no radar"
    with torch.no_grad():
        depth, log_depth = net(x), net.log_depth(x)
    assert depth.shape == (2, 240, 320)
    assert torch.isfinite(depth).all() and (depth > 0).all() and (depth < net.max_depth).all()
    torch.testing.assert_close(log_depth.exp(), depth, rtol=1e-5, atol=0)
    rgb_only = CompactDepthNet(CompactConfig(input_channels=3, width_mult=0.25, input_size=(50, 70))).eval()
    with torch.no_grad():
        assert rgb_only(torch.zeros(1, 3, 50, 70)).shape == (1, 50, 70)  # sizes that are no multiple of 32
    with pytest.raises(ValueError, match="expected"):
        rgb_only(torch.zeros(1, 4, 50, 70))


def test_spec_is_importable_without_torch_and_describes_the_weights():
    assert SPEC.input_channels == 4 and SPEC.output_kind is OutputKind.METRIC and SPEC.input_size == (240, 320)
    assert (WEIGHTS_DIR / ONNX_FILE).is_file() and (WEIGHTS_DIR / "model.safetensors").is_file()
    assert (WEIGHTS_DIR / "MODEL_CARD.md").is_file()
    assert sum(f.stat().st_size for f in WEIGHTS_DIR.iterdir()) <= 20e6
    sidecar = json.loads((WEIGHTS_DIR / "compact_depth.json").read_text())
    assert sidecar["input_channels"] == 4 and sidecar["output_kind"] == "metric"


def test_shipped_model_predicts_metric_depth_with_and_without_prior(frame):
    rgb, gt, prior = frame
    model = load_model(NAME)  # the package's weights, ONNX Runtime
    assert isinstance(model, OnnxDepthModel) and model.spec.max_depth == SPEC.max_depth
    with_prior, without = model.predict(rgb, prior), model.predict(rgb)
    for depth in (with_prior, without):
        assert depth.shape == (240, 320) and depth.dtype == np.float32
        assert np.isfinite(depth).all() and depth.min() > 0 and depth.max() <= SPEC.max_depth
        valid = np.isfinite(gt)
        assert np.mean(np.abs(depth[valid] - gt[valid]) / gt[valid]) < 0.35  # metric, not just finite
    assert not np.array_equal(with_prior, without)  # the prior is used
    assert model.predict(np.ascontiguousarray(np.repeat(np.repeat(rgb, 2, 0), 2, 1))).shape == (480, 640)
    torch_model = load_model(NAME, path=str(WEIGHTS_DIR / "model.safetensors"))  # same weights with torch
    np.testing.assert_allclose(torch_model.predict(rgb, prior), with_prior, rtol=2e-3, atol=2e-3)


def test_silog_loss_matches_a_hand_computed_value():
    log_pred = torch.tensor([[0.1, 1.0, 0.3, 5.0]])
    log_gt = torch.tensor([[0.0, 1.2, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    # d = 0.1, -0.2, 0.3: mean(d^2) = 0.14 / 3, mean(d) = 0.2 / 3
    expected = 10 * math.sqrt(0.14 / 3 - 0.85 * (0.2 / 3) ** 2)
    assert losses.silog_loss(log_pred, log_gt, mask).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(2.070963, rel=1e-6)
    depth_pred, depth_gt = torch.tensor([[2.0, 4.0]]), torch.tensor([[1.0, float("nan")]])
    d = math.log(2.0)  # one valid pixel: SILog = 10 * sqrt(0.15) * |d|, L1 = |d|
    total = losses.depth_loss(depth_pred.log(), depth_gt, 40.0, l1_weight=0.5).item()
    assert total == pytest.approx(10 * math.sqrt(0.15) * d + 0.5 * d, rel=1e-6)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_train_runs_and_resume_continues_exactly(tmp_path: Path, cache: Path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train_tool.main(TINY + ["--cache", str(cache), "--out", str(whole)]) == 0
    assert train_tool.main(TINY + ["--cache", str(cache), "--out", str(split), "--stop-after", "1"]) == 0
    assert not (split / "final").exists() and (split / "epoch_001.pt").is_file()
    assert train_tool.main(["--resume", str(split), "--no-progress"]) == 0
    a, b = _weights(whole / "final"), _weights(split / "final")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history_a = json.loads((whole / "history.json").read_text())["history"]
    history_b = json.loads((split / "history.json").read_text())["history"]
    assert [h["loss"] for h in history_a] == [h["loss"] for h in history_b] and len(history_a) == 2
    assert {"absrel_prior", "delta1_prior", "absrel_noprior", "delta1_noprior"} <= set(history_a[-1])
    state = load_training_checkpoint(split)
    assert state["epoch"] == 2 and state["step"] == 2 and set(state["rng"]) == {"data", "torch", "python"}
    model = load_model(NAME, path=str(whole / "best"))  # a training output loads through the registry (torch)
    assert model.spec.input_size == (48, 64)
    assert model.predict(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64)


def test_fine_tunes_on_real_rgbd_frames_held_apart_from_validation(tmp_path: Path, shared_dir: Path, capsys):
    from depth_ros.training.data import rgbd_record

    manifest = shared_dir / "data" / "rgbd_train" / "manifest.json"
    if not manifest.is_file():
        pytest.skip(f"{manifest} is missing")
    record = rgbd_record(manifest, "tum_fr1_360_sample", seed=0)
    assert len(record) == 2 and record.rgb.shape[1:] == (240, 320, 3)
    assert all(len(record.points(k)) >= 10 for k in range(len(record)))  # simulated radar per frame
    u, v, z = record.points(0).T
    gt = record.depth[0].astype(np.float32)[np.rint(v).astype(int), np.rint(u).astype(int)]
    ok = np.isfinite(gt)
    assert np.median(np.abs(np.log(z[ok] / gt[ok]))) < 0.15  # the radar measures the real scene
    out = tmp_path / "ft"
    argv = ["--init", "shipped", "--rgbd", f"{manifest}@tum_fr1_360_sample", "--rgbd-repeat", "2", "--val", "none",
            "--val-rgbd", f"{manifest}@tum_fr3_cabinet_kf", "--epochs", "1", "--steps-per-epoch", "1",
            "--batch-size", "2", "--threads", "1", "--no-onnx", "--no-progress", "--out", str(out)]
    assert train_tool.main(argv) == 0
    history = json.loads((out / "history.json").read_text())["history"]
    assert history[-1]["absrel_prior"] > 0 and (out / "best" / "model.safetensors").is_file()
    capsys.readouterr()
    assert train_tool.main(argv[:-1] + [str(tmp_path / "overlap")] + ["--val-rgbd", str(manifest)]) == 1
    assert "--val-rgbd names frames that --rgbd trains on" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--out", "x"], "no training data"),
    (["--generate", "moon:1", "--out", "x"], "unknown scene"),
    (["--generate", "hall:3-1", "--out", "x"], "bad seed range"),
    (["--bags", "/no/such/bag", "--out", "x"], "no such bag"),
    (["--generate", "hall:0", "--batch-size", "0", "--out", "x"], "--batch-size must be >= 1"),
    (["--resume", "/no/such/run"], "no such checkpoint"),
])
def test_bad_input_gives_one_line_error_and_exit_1(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = train_tool.main(argv + ["--no-progress", "--cache", str(tmp_path)])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 1 and message in err and len(err.splitlines()) == 1 and err.startswith("depth-ros-train: error")


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        train_tool.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    options = [a.option_strings[-1] for a in train_tool.build_parser()._actions if a.option_strings]
    assert all(o in text for o in options) and all(a.help for a in train_tool.build_parser()._actions)
