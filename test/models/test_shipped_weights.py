"""Real pretrained weights inside the package: TCMonoDepth small (our module and our ONNX export, checked
against the reference outputs in ../shared) and FastDepth, each with its licence and model card."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_ros.core.errors import ModelLoadError
from depth_ros.models import OutputKind, get_spec, load_model
from depth_ros.models.registry import WEIGHTS_ROOT

REPO = Path(__file__).resolve().parents[2]
CARD_SECTIONS = ("source", "licence", "training data", "measured", "limits")


@pytest.fixture(scope="module")
def tcmono_dir(shared_dir) -> Path:
    path = shared_dir / "models" / "tcmonodepth_small"
    if not (path / "tcmonodepth_small.pt.tar").is_file():
        pytest.skip(f"{path} is missing")
    return path


def references(tcmono_dir: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB float32 0..255 (256, 352, 3), reference output) of each reference pair."""
    out = []
    for png in sorted((tcmono_dir / "reference").glob("*_input_256x352.png")):
        rgb = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB).astype(np.float32)
        out.append((png.name, rgb, np.load(png.with_name(png.name.replace("_input_", "_output_")).with_suffix(".npy"))))
    assert out, "no reference pairs"
    return out


def test_torch_module_reproduces_the_reference_outputs(tcmono_dir):
    import torch

    from depth_ros.models.tcmonodepth import load_tcmonodepth_state

    net = load_tcmonodepth_state(tcmono_dir / "tcmonodepth_small.pt.tar")
    for name, rgb, ref in references(tcmono_dir):
        with torch.no_grad():
            out = net(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0, 0].numpy()
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() < 1e-5, name


def test_shipped_onnx_reproduces_the_reference_outputs(tcmono_dir):
    import onnxruntime as ort

    session = ort.InferenceSession(str(WEIGHTS_ROOT / "tcmonodepth_small" / "tcmonodepth_small.onnx"))
    for name, rgb, ref in references(tcmono_dir):
        out = session.run(None, {"pixel_values": np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])})[0][0, 0]
        assert np.abs(out - ref).max() < 1e-5, name


def test_registry_default_runs_the_shipped_onnx_at_any_size(tcmono_dir):
    _, rgb, ref = references(tcmono_dir)[0]
    with load_model("tcmonodepth_small") as model:  # no path: the shipped weights
        assert model.spec.output_kind is OutputKind.RELATIVE_INVERSE
        assert Path(model.path).is_relative_to(WEIGHTS_ROOT)
        same = model.predict(rgb.astype(np.uint8))  # 352x256 is its own network size: no resize
        assert np.abs(same - ref).max() < 1e-4
        vga = model.predict(cv2.resize(rgb, (640, 480)).astype(np.uint8))
        assert vga.shape == (480, 640) and vga.min() >= 0
        # Same network, bigger input: the relative structure agrees with the reference (resized).
        small = cv2.resize(vga, (352, 256), interpolation=cv2.INTER_AREA)
        assert np.corrcoef(small.ravel(), ref.ravel())[0, 1] > 0.95


def test_original_state_dict_runs_with_torch_through_the_registry(tcmono_dir):
    _, rgb, ref = references(tcmono_dir)[0]
    with load_model("tcmonodepth_small", path=str(tcmono_dir / "tcmonodepth_small.pt.tar")) as model:
        assert np.abs(model.predict(rgb.astype(np.uint8)) - ref).max() < 1e-4


def test_runtime_imports_no_torch():
    code = ("import sys, numpy as np; from depth_ros.models import load_model; "
            "m = load_model('tcmonodepth_small'); m.predict(np.zeros((480, 640, 3), np.uint8)); "
            "m2 = load_model('fastdepth_tflite'); m2.predict(np.zeros((480, 640, 3), np.uint8)); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_wrong_state_dict_names_the_file(tmp_path):
    import torch

    bad = tmp_path / "not_tcmono.pt"
    torch.save({"conv.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(ModelLoadError, match="not_tcmono.pt.*does not hold TCMonoDepth"):
        load_model("tcmonodepth_small", path=str(bad))


def test_fastdepth_ships_in_the_package(fastdepth_path):
    spec = get_spec("fastdepth_tflite")
    shipped = Path(spec.default_path)
    assert shipped.is_relative_to(WEIGHTS_ROOT) and shipped.is_file()
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(shipped) == digest(fastdepth_path)  # the real model, byte for byte
    with load_model("fastdepth_tflite") as model:
        assert model.path == str(shipped)


@pytest.mark.parametrize("folder, licence", [("fastdepth_224_int8", "LICENSE.Apache-2.0.txt"),
                                             ("tcmonodepth_small", "LICENSE.MIT.txt"),
                                             ("compact_depth", None)])
def test_every_shipped_weight_has_its_licence_and_a_model_card(folder, licence):
    path = WEIGHTS_ROOT / folder
    if licence is not None:
        text = (path / licence).read_text()
        assert ("Apache License" in text) if "Apache" in licence else ("MIT License" in text or "Permission is hereby" in text)
    card = (path / "MODEL_CARD.md").read_text().lower()
    for section in CARD_SECTIONS:
        assert section in card, f"{folder}/MODEL_CARD.md lacks '{section}'"
