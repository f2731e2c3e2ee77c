"""The real FastDepth int8 TFLite model on the real RGB-D frames, checked against a direct Interpreter run."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError, ModelLoadError
from depth_ros.models import OutputKind, load_model

REPO = Path(__file__).resolve().parents[2]


def _abs_rel(pred: np.ndarray, gt: np.ndarray) -> float:
    valid = (gt > 0) & (pred > 0)  # NaN (no measurement) compares False
    return float(np.mean(np.abs(pred[valid] - gt[valid]) / gt[valid]))


def _direct_fastdepth(model_file: Path, rgb: np.ndarray) -> np.ndarray:
    """Independent reference: the Interpreter called by hand, quantisation read from its details."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model_file), num_threads=2)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    h, w = (int(v) for v in inp["shape"][1:3])
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    interp.set_tensor(inp["index"], small[None].astype(inp["dtype"]))
    interp.invoke()
    scale, zero = out["quantization"]
    metres = (interp.get_tensor(out["index"])[0, :, :, 0].astype(np.float64) - zero) * scale
    return cv2.resize(metres.astype(np.float32), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)


@pytest.fixture(scope="module")
def fastdepth(fastdepth_path: Path):
    model = load_model("fastdepth_tflite", path=str(fastdepth_path), num_threads=2)
    yield model
    model.close()


def test_absrel_matches_direct_interpreter_on_real_frames(fastdepth, fastdepth_path, rgbd_frames) -> None:
    assert fastdepth.spec.output_kind is OutputKind.METRIC
    per_set: dict[str, list[float]] = collections.defaultdict(list)
    rows = []
    for frame in rgbd_frames:  # test/conftest.py: RGB uint8, depth in metres with NaN = invalid
        rgb, gt = frame.rgb, frame.depth.astype(np.float64)
        pred = fastdepth.predict(rgb)
        assert pred.shape == gt.shape and pred.dtype == np.float32
        assert np.isfinite(pred).all() and pred.min() >= 0 and pred.max() <= fastdepth.spec.max_depth
        reference = _direct_fastdepth(fastdepth_path, rgb)
        ours, theirs = _abs_rel(pred, gt), _abs_rel(reference, gt)
        assert abs(ours - theirs) < 1e-3, frame.id
        # Same quantised input and same dequantisation: the maps agree to float rounding.
        np.testing.assert_allclose(pred, reference, atol=1e-4)
        per_set[frame.set].append(ours)
        rows.append((frame.id, ours))
    assert len(rows) == 12
    mean = float(np.mean([r[1] for r in rows]))
    print("\nFastDepth int8 TFLite AbsRel (gt > 0 & pred > 0):")
    for frame_id, value in rows:
        print(f"  {frame_id:<16} {value:.4f}")
    for name, values in sorted(per_set.items()):
        print(f"  set {name:<22} mean {np.mean(values):.4f} over {len(values)} frames")
    print(f"  all frames             mean {mean:.4f}")
    assert 0.24 <= mean <= 0.30


def test_timings_and_input_checks(fastdepth) -> None:
    rgb = np.full((37, 53, 3), 128, np.uint8)  # odd size, upscaled to 224
    depth = fastdepth.predict(rgb)
    assert depth.shape == (37, 53)
    assert set(fastdepth.last_timings) == {"preprocess", "inference", "postprocess"}
    assert all(v >= 0 for v in fastdepth.last_timings.values())
    with pytest.raises(InvalidInputError):
        fastdepth.predict(rgb.astype(np.float32))
    with pytest.raises(InvalidInputError):
        fastdepth.predict(rgb[:, :, :2])
    with pytest.raises(InvalidInputError):
        fastdepth.predict(rgb[:, :, 0])


def test_load_options(fastdepth_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPTH_ROS_MODEL_DIR", raising=False)
    with pytest.raises(InvalidInputError, match="fixed input size"):
        load_model("fastdepth_tflite", path=str(fastdepth_path), input_size=(256, 256))
    with pytest.raises(InvalidInputError, match="cuda"):
        load_model("fastdepth_tflite", path=str(fastdepth_path), device="cuda")
    with load_model("fastdepth_tflite") as shipped:  # no path, no environment: the weights in the package
        assert Path(shipped.path).parent.name == "fastdepth_224_int8" and "models/weights" in shipped.path
    # $DEPTH_ROS_MODEL_DIR/fastdepth_224_int8/fast_depth_224.tflite comes first when it is set.
    monkeypatch.setenv("DEPTH_ROS_MODEL_DIR", str(fastdepth_path.parents[1]))
    model = load_model("fastdepth_tflite")
    assert Path(model.path) == fastdepth_path and model.spec.input_size == (224, 224)
    model.close()


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.tflite"
    corrupt.write_bytes(b"\x00not a flatbuffer" * 64)
    with pytest.raises(ModelLoadError, match="broken.tflite") as info:
        load_model("fastdepth_tflite", path=str(corrupt))
    assert "model_path" in str(info.value)
    missing = tmp_path / "nowhere" / "fast_depth_224.tflite"
    with pytest.raises(ModelLoadError, match="nowhere"):
        load_model("fastdepth_tflite", path=str(missing))


def test_loading_tflite_does_not_import_torch(fastdepth_path: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from depth_ros.models import load_model\n"
        f"m = load_model('fastdepth_tflite', path={str(fastdepth_path)!r})\n"
        "m.predict(np.zeros((48, 64, 3), np.uint8))\n"
        "bad = [k for k in ('torch', 'transformers', 'onnxruntime') if k in sys.modules]\n"
        "sys.exit('imported ' + ','.join(bad) if bad else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
