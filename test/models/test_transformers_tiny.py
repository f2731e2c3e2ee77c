"""Tiny random transformers checkpoints saved to disk and loaded through `load_model`.

Each model's output is compared with an independent path: a second instance loaded with
``AutoModelForDepthEstimation.from_pretrained``, fed our preprocessed tensor, resized back with
``torch.nn.functional.interpolate`` (bilinear, half-pixel centres = cv2.INTER_LINEAR).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError, ModelLoadError
from depth_ros.models import OutputKind, load_model
from depth_ros.models.preprocess import preprocess

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _randomise(model) -> None:
    """Random weights with unit-ish gain, so that outputs vary across the image (the default init is ~0)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim > 1:
                param.copy_(torch.randn(param.shape, generator=gen) / param[0].numel() ** 0.5)
            else:
                base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
                param.copy_(base + 0.1 * torch.randn(param.shape, generator=gen))
        head = getattr(model, "head", None)
        convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)] if head is not None else []
        if convs and convs[-1].bias is not None:
            convs[-1].bias.fill_(0.5)  # keep ReLU heads (relative models) mostly above zero


def _configs() -> dict:
    from transformers import BeitConfig, DepthAnythingConfig, Dinov2Config, DPTConfig, GLPNConfig, ZoeDepthConfig

    def dinov2() -> Dinov2Config:
        return Dinov2Config(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            mlp_ratio=2, out_features=["stage1", "stage2"], reshape_hidden_states=False)

    dav2 = dict(reassemble_hidden_size=32, reassemble_factors=[2, 1], neck_hidden_sizes=[16, 32],
                fusion_hidden_size=16, head_hidden_size=8)
    beit = BeitConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                      intermediate_size=64, out_indices=[1, 2, 3, 4], use_relative_position_bias=True,
                      reshape_hidden_states=False, add_fpn=False)
    return {
        "dav2": DepthAnythingConfig(backbone_config=dinov2(), **dav2),
        "dav2_metric": DepthAnythingConfig(backbone_config=dinov2(), depth_estimation_type="metric", max_depth=5,
                                           **dav2),
        "dpt": DPTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         image_size=64, patch_size=16, backbone_out_indices=[0, 1], neck_hidden_sizes=[16, 32],
                         reassemble_factors=[2, 1], fusion_hidden_size=16, head_in_index=-1),
        "glpn": GLPNConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                           patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 1], mlp_ratios=[2, 2],
                           decoder_hidden_size=8, max_depth=7, head_in_index=-1),
        # ZoeDepth hard-codes a 128-wide patch transformer and four of its layers.
        "zoe": ZoeDepthConfig(backbone_config=beit, neck_hidden_sizes=[8, 16, 16, 32], fusion_hidden_size=16,
                              reassemble_hidden_size=32, reassemble_factors=[4, 2, 1, 0.5], bottleneck_features=16,
                              num_relative_features=8, bin_embedding_dim=8, num_attractors=[4, 4, 2, 1],
                              num_patch_transformer_layers=4, patch_transformer_hidden_size=128,
                              patch_transformer_intermediate_size=64, patch_transformer_num_attention_heads=2,
                              bin_configurations=[{"n_bins": 8, "min_depth": 1e-3, "max_depth": 10.0, "name": "nyu"},
                                                  {"n_bins": 8, "min_depth": 1e-3, "max_depth": 30.0,
                                                   "name": "kitti"}]),
    }


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from transformers import AutoModelForDepthEstimation

    root = tmp_path_factory.mktemp("tiny_hf")
    dirs = {}
    for key, config in _configs().items():
        model = AutoModelForDepthEstimation.from_config(config)
        _randomise(model)
        model.save_pretrained(root / key)
        dirs[key] = root / key
    return dirs


def _image(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(height * width)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) % 256], axis=2).astype(np.float64)
    return np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)


def _reference(model_dir: Path, rgb: np.ndarray, spec) -> np.ndarray:
    from transformers import AutoModelForDepthEstimation

    model = AutoModelForDepthEstimation.from_pretrained(model_dir, local_files_only=True).eval()
    prepared = preprocess(rgb, spec)
    with torch.no_grad():
        depth = model(pixel_values=torch.from_numpy(prepared.nchw())).predicted_depth[:, None].double()
    h, w = rgb.shape[:2]
    ph, pw = prepared.pad
    if ph or pw:
        depth = torch.nn.functional.interpolate(depth, size=(h + 2 * ph, w + 2 * pw), mode="bilinear")
        depth = depth[:, :, ph : ph + h, pw : pw + w]
    depth = torch.nn.functional.interpolate(depth, size=(h, w), mode="bilinear")[0, 0].numpy()
    upper = spec.max_depth if spec.output_kind is OutputKind.METRIC else np.inf
    return np.clip(depth, 0, upper)


CASES = [
    # registry name, tiny checkpoint, image size, network input size, max depth from the config
    ("depth_anything_v2_small", "dav2", (60, 80), (518, 686), None),
    ("depth_anything_v2_metric_indoor_small", "dav2_metric", (45, 61), (518, 700), 5.0),
    ("dpt_large", "dpt", (50, 70), (384, 384), None),
    ("glpn_nyu", "glpn", (96, 130), (96, 128), 7.0),
    ("zoedepth_nyu_kitti", "zoe", (48, 64), (384, 480), 30.0),
]


@pytest.mark.parametrize(("name", "key", "image_size", "net_size", "max_depth"), CASES,
                         ids=[c[0] for c in CASES])
def test_tiny_model_matches_direct_transformers_call(tiny_dirs, name, key, image_size, net_size, max_depth) -> None:
    model = load_model(name, path=str(tiny_dirs[key]))
    spec = model.spec
    rgb = _image(*image_size)
    assert preprocess(rgb, spec).image.shape[:2] == net_size
    depth = model.predict(rgb)
    assert depth.shape == image_size and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() >= 0 and depth.std() > 0
    if max_depth is not None:
        assert spec.output_kind is OutputKind.METRIC and spec.max_depth == max_depth
        assert depth.max() <= max_depth
    else:
        assert spec.output_kind is OutputKind.RELATIVE_INVERSE
    reference = _reference(tiny_dirs[key], rgb, spec)
    np.testing.assert_allclose(depth, reference, rtol=1e-4, atol=1e-5 * float(np.abs(reference).max()))
    assert set(model.last_timings) == {"preprocess", "inference", "postprocess"}
    model.close()


def test_input_size_override_and_num_threads(tiny_dirs) -> None:
    before = torch.get_num_threads()
    try:
        model = load_model("depth_anything_v2_small", path=str(tiny_dirs["dav2"]), input_size=(70, 98),
                           num_threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert model.spec.input_size == (70, 98)
    assert preprocess(_image(30, 50), model.spec).image.shape[:2] == (70, 98)
    assert model.predict(_image(30, 50)).shape == (30, 50)
    model.warmup()


def test_kind_mismatch_and_bad_checkpoints(tiny_dirs, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="relative"):
        load_model("depth_anything_v2_metric_indoor_small", path=str(tiny_dirs["dav2"]))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    shutil.copy(tiny_dirs["dav2"] / "config.json", corrupt / "config.json")
    (corrupt / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage" * 10)
    with pytest.raises(ModelLoadError, match=str(corrupt)) as info:
        load_model("depth_anything_v2_small", path=str(corrupt))
    assert "model_path" in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model("depth_anything_v2_small", path=str(empty))


def test_device_rules(tiny_dirs) -> None:
    with pytest.raises(InvalidInputError, match="fp16"):
        load_model("dpt_large", path=str(tiny_dirs["dpt"]), fp16=True)
    with pytest.raises(InvalidInputError, match="device"):
        load_model("dpt_large", path=str(tiny_dirs["dpt"]), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA"):
            load_model("dpt_large", path=str(tiny_dirs["dpt"]), device="cuda")


def test_closed_model_refuses_to_predict(tiny_dirs) -> None:
    from depth_ros.core.errors import ModelError

    with load_model("glpn_nyu", path=str(tiny_dirs["glpn"])) as model:
        model.predict(_image(32, 32))
    with pytest.raises(ModelError, match="closed"):
        model.predict(_image(32, 32))
