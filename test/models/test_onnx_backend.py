"""ONNX backend: tiny torch nets exported with a JSON sidecar, loaded through `load_model("onnx", ...)`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError, ModelLoadError, ModelOutputError
from depth_ros.models import ModelSpec, OutputKind, load_model
from depth_ros.models.onnx_backend import read_sidecar, sidecar_path, write_sidecar
from depth_ros.models.preprocess import preprocess

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SPEC = ModelSpec("tiny_conv", "onnx", OutputKind.METRIC, 50.0, None, multiple_of=8, short_side=40,
                 mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), resample="bicubic", output_scale=2.0,
                 description="tiny conv net for tests")


class _Net(torch.nn.Module):
    def __init__(self, channels: int = 3, nan: bool = False) -> None:
        super().__init__()
        torch.manual_seed(channels)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(channels, 6, 3, padding=1), torch.nn.ReLU(),
                                        torch.nn.Conv2d(6, 1, 3, stride=2, padding=1), torch.nn.Softplus())
        self.nan = nan

    def forward(self, x):
        y = self.body(x) * 10.0
        return torch.log(-y) if self.nan else y  # (1, 1, h/2, w/2)


def _export(net: torch.nn.Module, path: Path, channels: int = 3, dynamic: bool = True) -> Path:
    axes = {"pixel_values": {2: "h", 3: "w"}, "depth": {2: "h2", 3: "w2"}} if dynamic else None
    torch.onnx.export(net.eval(), (torch.zeros(1, channels, 32, 48),), str(path), dynamo=False,
                      input_names=["pixel_values"], output_names=["depth"], dynamic_axes=axes)
    return path


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _reference(net: torch.nn.Module, rgb: np.ndarray, spec: ModelSpec, prior: np.ndarray | None = None) -> np.ndarray:
    with torch.no_grad():
        out = net(torch.from_numpy(preprocess(rgb, spec, prior).nchw())).double() * spec.output_scale
        out = torch.nn.functional.interpolate(out, size=rgb.shape[:2], mode="bilinear")[0, 0].numpy()
    return np.clip(out, 0, spec.max_depth)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[_Net, Path]:
    net = _Net()
    onnx_file = _export(net, tmp_path_factory.mktemp("onnx") / "tiny_conv.onnx")
    write_sidecar(SPEC, onnx_file)
    return net, onnx_file


def test_sidecar_round_trip(exported) -> None:
    _, onnx_file = exported
    data = json.loads(sidecar_path(onnx_file).read_text())
    assert data["output_kind"] == "metric" and data["short_side"] == 40 and "backend" not in data
    assert read_sidecar(onnx_file) == SPEC


def test_matches_torch(exported) -> None:
    net, onnx_file = exported
    model = load_model("onnx", path=str(onnx_file), num_threads=1)
    assert model.spec == SPEC
    for size in ((45, 61), (120, 90)):
        rgb = _image(*size)
        depth = model.predict(rgb)
        assert depth.shape == size and depth.dtype == np.float32
        np.testing.assert_allclose(depth, _reference(net, rgb, SPEC), rtol=1e-4, atol=1e-4)
        assert depth.std() > 0
    model.close()


def test_directory_path_and_static_input_size(tmp_path: Path) -> None:
    net = _Net()
    onnx_file = _export(net, tmp_path / "static.onnx", dynamic=False)
    write_sidecar(ModelSpec("static", "onnx", OutputKind.RELATIVE_INVERSE, 10.0, None), onnx_file)
    model = load_model("onnx", path=str(tmp_path))  # a directory holding one .onnx
    assert model.spec.input_size == (32, 48) and model.spec.name == "static"
    rgb = _image(64, 64)
    np.testing.assert_allclose(model.predict(rgb), _reference(net, rgb, model.spec), rtol=1e-4, atol=1e-4)
    with pytest.raises(InvalidInputError, match="fixed input size"):
        load_model("onnx", path=str(onnx_file), input_size=(64, 64))


def test_prior_channel(tmp_path: Path) -> None:
    net = _Net(channels=4)
    onnx_file = _export(net, tmp_path / "radar.onnx", channels=4)
    spec = ModelSpec("radar", "onnx", OutputKind.METRIC, 80.0, (32, 48), input_channels=4)
    write_sidecar(spec, onnx_file)
    model = load_model("onnx", path=str(onnx_file))
    rgb = _image(64, 96)
    prior = np.zeros((64, 96), np.float32)
    prior[10:30, 20:60] = 7.0
    with_prior = model.predict(rgb, prior)
    np.testing.assert_allclose(with_prior, _reference(net, rgb, spec, prior), rtol=1e-4, atol=1e-4)
    assert not np.allclose(with_prior, model.predict(rgb))
    with pytest.raises(InvalidInputError, match="prior"):
        model.predict(rgb, np.zeros((32, 48), np.float32))


def test_nan_output_is_reported(tmp_path: Path) -> None:
    onnx_file = _export(_Net(nan=True), tmp_path / "nan.onnx")
    write_sidecar(ModelSpec("nan", "onnx", OutputKind.METRIC, 10.0, None), onnx_file)
    with pytest.raises(ModelOutputError, match="NaN"):
        load_model("onnx", path=str(onnx_file)).predict(_image(32, 48))


def test_load_errors(exported, tmp_path: Path) -> None:
    _, onnx_file = exported
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(onnx_file.read_bytes())
    with pytest.raises(ModelLoadError, match="lonely.json"):
        load_model("onnx", path=str(lonely))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a protobuf at all" * 10)
    write_sidecar(SPEC, corrupt)
    with pytest.raises(ModelLoadError, match="corrupt.onnx") as info:
        load_model("onnx", path=str(corrupt))
    assert "model_path" in str(info.value)
    bad_sidecar = tmp_path / "bad.onnx"
    bad_sidecar.write_bytes(onnx_file.read_bytes())
    sidecar_path(bad_sidecar).write_text(json.dumps({"output_kind": "metric", "max_depth": 5, "colour": "red"}))
    with pytest.raises(ModelLoadError, match="colour"):
        load_model("onnx", path=str(bad_sidecar))
    with pytest.raises(ModelLoadError, match="model_path"):
        load_model("onnx", path=str(tmp_path / "missing.onnx"))
    with pytest.raises(InvalidInputError, match="fp16"):
        load_model("onnx", path=str(onnx_file), fp16=True)
