"""Registry: names, specs, lookup errors, weight resolution and the light-import guarantee."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError, ModelLoadError, UnknownModelError
from depth_ros.models import (
    DepthModel,
    ModelSpec,
    OutputKind,
    available_models,
    get_spec,
    load_model,
    register_model,
    registry,
)
from depth_ros.models.hub import looks_like_hub_id, resolve_weights

REPO = Path(__file__).resolve().parents[2]
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_builtin_names_and_specs() -> None:
    names = available_models()
    assert names == sorted(names)
    for required in ("fastdepth_tflite", "depth_anything_v2_small", "depth_anything_v2_base", "depth_anything_v2_large",
                     "depth_anything_v2_metric_indoor_small", "depth_anything_v2_metric_outdoor_small",
                     "dpt_large", "dpt_hybrid_midas", "zoedepth_nyu_kitti", "glpn_nyu", "onnx"):
        assert required in names
    fd = get_spec("fastdepth_tflite")
    assert (fd.backend, fd.output_kind, fd.input_size) == ("tflite", OutputKind.METRIC, (224, 224))
    assert fd.env_subpath == "fastdepth_224_int8/fast_depth_224.tflite"
    assert Path(fd.default_path).is_file() and Path(fd.default_path).parent.name == "fastdepth_224_int8"  # shipped
    tc = get_spec("tcmonodepth_small")
    assert (tc.backend, tc.output_kind, tc.short_side, tc.multiple_of) == ("onnx", OutputKind.RELATIVE_INVERSE, 256, 32)
    assert (tc.mean, tc.std, tc.scale) == ((0.0,) * 3, (1.0,) * 3, 1.0)  # raw 0..255: the graph divides by 255
    for size in ("small", "base", "large"):
        da = get_spec(f"depth_anything_v2_{size}")
        assert da.output_kind is OutputKind.RELATIVE_INVERSE and (da.mean, da.std) == IMAGENET
        assert (da.input_size, da.multiple_of, da.short_side) == (None, 14, 518)
        assert da.hub_id == f"depth-anything/Depth-Anything-V2-{size.capitalize()}-hf"
    indoor = get_spec("depth_anything_v2_metric_indoor_small")
    outdoor = get_spec("depth_anything_v2_metric_outdoor_small")
    assert (indoor.output_kind, indoor.max_depth, outdoor.max_depth) == (OutputKind.METRIC, 20.0, 80.0)
    assert indoor.hub_id == "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"
    for name in ("dpt_large", "dpt_hybrid_midas"):
        dpt = get_spec(name)
        assert (dpt.output_kind, dpt.input_size, dpt.mean, dpt.std) == (
            OutputKind.RELATIVE_INVERSE, (384, 384), (0.5,) * 3, (0.5,) * 3)
    assert get_spec("glpn_nyu").output_kind is OutputKind.METRIC and get_spec("glpn_nyu").max_depth == 10.0
    assert get_spec("zoedepth_nyu_kitti").output_kind is OutputKind.METRIC


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(UnknownModelError) as info:
        get_spec("midas_v4")
    message = str(info.value)
    assert "midas_v4" in message and ", ".join(sorted(available_models())) in message
    with pytest.raises(LookupError):
        load_model("midas_v4")


def test_offline_hub_id_asks_for_model_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPTH_ROS_MODEL_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        load_model("depth_anything_v2_small")
    message = str(info.value)
    assert "depth-anything/Depth-Anything-V2-Small-hf" in message and "does not exist locally" in message
    assert "model_path" in message and "config.json and model.safetensors" in message
    with pytest.raises(ModelLoadError, match="Intel/dpt-large.*model_path"):
        load_model("dpt_large", path="Intel/dpt-large")


def test_missing_local_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    with pytest.raises(ModelLoadError, match="no_such_model.*model_path"):
        load_model("glpn_nyu", path=str(missing))


def test_model_dir_env_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_spec("glpn_nyu")
    (tmp_path / "glpn_nyu").mkdir()
    monkeypatch.setenv("DEPTH_ROS_MODEL_DIR", str(tmp_path))
    assert resolve_weights(spec, None, "x", allow_hub=True).location == str(tmp_path / "glpn_nyu")
    explicit = tmp_path / "mine"
    explicit.mkdir()
    assert resolve_weights(spec, str(explicit), "x").location == str(explicit)


def test_hub_id_shape() -> None:
    assert looks_like_hub_id("depth-anything/Depth-Anything-V2-Small-hf")
    for not_hub in ("/opt/models/dpt", "./dpt/x", "~/m/x", "dpt_large", "a/b/c"):
        assert not looks_like_hub_id(not_hub)


class _ConstantModel(DepthModel):
    """Depth = mean intensity of the network input, to exercise the shared predict pipeline."""

    def _infer(self, prepared):
        return prepared.image[..., :3].mean(axis=2)


def test_register_custom_model_and_load_arguments() -> None:
    calls = {}

    def factory(spec: ModelSpec, **kwargs) -> DepthModel:
        calls.update(kwargs)
        return _ConstantModel(spec.with_input_size(kwargs["input_size"]), device=kwargs["device"])

    spec = ModelSpec("test_constant", "custom", OutputKind.METRIC, 0.5, (8, 8), input_channels=4)
    register_model(spec, factory)
    try:
        with pytest.raises(InvalidInputError, match="already registered"):
            register_model(spec, factory)
        assert "test_constant" in available_models()
        model = load_model("test_constant", path="", input_size=[16, 12], num_threads=3)
        assert calls == {"path": None, "device": "cpu", "fp16": False, "input_size": (16, 12), "num_threads": 3}
        rgb = np.full((20, 30, 3), 255, np.uint8)
        depth = model.predict(rgb)
        assert depth.shape == (20, 30) and depth.dtype == np.float32
        np.testing.assert_allclose(depth, 0.5)  # 1.0 clipped to max_depth
        with pytest.raises(InvalidInputError, match="prior"):
            model.predict(rgb, prior=np.zeros((30, 20), np.float32))
        model.predict(rgb, prior=np.zeros((20, 30), np.float32))
        register_model(dataclasses.replace(spec, max_depth=2.0), factory, replace=True)
        assert get_spec("test_constant").max_depth == 2.0
    finally:
        registry._REGISTRY.pop("test_constant", None)


def test_spec_validation_and_dict_round_trip() -> None:
    spec = get_spec("zoedepth_nyu_kitti")
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InvalidInputError, match="unknown model spec keys"):
        ModelSpec.from_dict({**spec.to_dict(), "colour": "red"})
    with pytest.raises(InvalidInputError, match="output_kind"):
        ModelSpec.from_dict({**spec.to_dict(), "output_kind": "disparity"})
    for bad in ({"channel_order": "RGBA"}, {"input_channels": 2}, {"max_depth": 0}, {"resample": "lanczos"},
                {"std": (1, 0, 1)}):
        with pytest.raises(InvalidInputError):
            dataclasses.replace(spec, **bad)


def test_import_loads_no_ml_framework() -> None:
    code = (
        "import sys\n"
        "import depth_ros.models\n"
        "depth_ros.models.get_spec('depth_anything_v2_small')\n"
        "bad = [k for k in ('torch', 'transformers', 'onnxruntime', 'ai_edge_litert') if k in sys.modules]\n"
        "sys.exit('imported ' + ','.join(bad) if bad else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
