"""depth-ros-export on tiny random Depth Anything V2 checkpoints: export -> registry load -> same depth as torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from depth_ros.models import OutputKind, load_model
from depth_ros.tools.export import main

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _tiny_dav2(root: Path, metric: bool) -> Path:
    from transformers import AutoModelForDepthEstimation, DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            mlp_ratio=2, out_features=["stage1", "stage2"], reshape_hidden_states=False)
    extra = {"depth_estimation_type": "metric", "max_depth": 6} if metric else {}
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, reassemble_factors=[2, 1],
                                 neck_hidden_sizes=[16, 32], fusion_hidden_size=16, head_hidden_size=8, **extra)
    torch.manual_seed(int(metric))
    model = AutoModelForDepthEstimation.from_config(config)
    gen = torch.Generator().manual_seed(int(metric))
    with torch.no_grad():  # unit-gain random weights so that the depth varies across the image
        for name, param in model.named_parameters():
            if param.ndim > 1:
                param.copy_(torch.randn(param.shape, generator=gen) / param[0].numel() ** 0.5)
            else:
                param.copy_((1.0 if "norm" in name and name.endswith("weight") else 0.0)
                            + 0.1 * torch.randn(param.shape, generator=gen))
        model.head.conv3.bias.fill_(0.5)
    out = root / ("metric" if metric else "relative")
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_export")
    return {"relative": _tiny_dav2(root, False), "metric": _tiny_dav2(root, True)}


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:120, 0:160]
    img = np.stack([xx * 255 // 160, yy * 255 // 120, (xx + yy) % 256], axis=2) + rng.normal(0, 25, (120, 160, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("name", "key", "size"), [
    ("depth_anything_v2_small", "relative", (70, 98)),
    ("depth_anything_v2_metric_indoor_small", "metric", None),  # default: the size of a 640x480 image
])
def test_export_then_registry_load_matches_torch(tiny, tmp_path, capsys, name, key, size) -> None:
    out = tmp_path / "export"
    argv = ["--model", name, "--model-path", str(tiny[key]), "--out", str(out)]
    if size is not None:
        argv += ["--input-size", *map(str, size)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "OK" in printed and "max |torch - onnx|" in printed
    onnx_model = load_model("onnx", path=str(out / "model.onnx"))
    torch_model = load_model(name, path=str(tiny[key]), input_size=onnx_model.spec.input_size)
    ours, theirs = onnx_model.spec, torch_model.spec
    expect_size = size or (518, 686)
    assert ours.input_size == expect_size and ours.backend == "onnx"
    for field in ("output_kind", "max_depth", "mean", "std", "scale", "multiple_of", "resample", "channel_order",
                  "input_channels", "output_scale"):
        assert getattr(ours, field) == getattr(theirs, field), field
    if key == "metric":
        assert ours.output_kind is OutputKind.METRIC and ours.max_depth == 6.0
    rgb = _image(1)
    expected, got = torch_model.predict(rgb), onnx_model.predict(rgb)
    assert got.shape == rgb.shape[:2] and expected.std() > 0
    assert np.abs(got - expected).max() < 1e-3 * float(expected.max() - expected.min())


@pytest.mark.parametrize("argv", [
    ["--model", "no_such_model"],
    ["--model", "depth_anything_v2_small", "--model-path", "/nonexistent/weights"],
    ["--model", "fastdepth_tflite"],
    ["--model", "depth_anything_v2_small", "--input-size", "100", "100"],
], ids=["unknown-name", "missing-path", "not-torch", "bad-size"])
def test_bad_input_exits_1_with_one_line(tmp_path, capsys, argv) -> None:
    assert main([*argv, "--out", str(tmp_path / "x")]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("depth-ros-export: error:"), captured.err
    assert not (tmp_path / "x" / "model.onnx").exists()


def test_loading_onnx_and_tflite_does_not_import_torch(tiny, tmp_path, fastdepth_path) -> None:
    out = tmp_path / "export"
    assert main(["--model", "depth_anything_v2_small", "--model-path", str(tiny["relative"]), "--out", str(out),
                 "--input-size", "28", "42"]) == 0
    code = (
        "import sys, numpy as np\n"
        "import depth_ros.models as m\n"
        "rgb = np.zeros((48, 64, 3), np.uint8)\n"
        f"m.load_model('onnx', path={str(out / 'model.onnx')!r}).predict(rgb)\n"
        f"m.load_model('fastdepth_tflite', path={str(fastdepth_path)!r}).predict(rgb)\n"
        "print(','.join(k for k in ('torch', 'transformers') if k in sys.modules) or 'clean')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "clean"
