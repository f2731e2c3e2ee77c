"""Radar-Meets-Vision fusion model: original-DAv2 checkpoints, RGB equivalence, fusion and output contract.

The checkpoints are tiny random transformers DAv2 models written back in the ORIGINAL Depth Anything
V2 naming by `_to_original`, an inverse mapping written here independently of the library's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError, ModelLoadError
from depth_ros.models import OutputKind, get_spec, load_model
from depth_ros.models.preprocess import preprocess

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from depth_ros.models import radar_fusion as rf  # noqa: E402 - needs torch

NAME = "radar_fusion_dav2_small"
SOURCE_MAX_DEPTH = 5
REPO = Path(__file__).resolve().parents[2]


def _config(hidden: int = 32, heads: int = 2):
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(image_size=56, patch_size=14, hidden_size=hidden, num_hidden_layers=4,
                            num_attention_heads=heads, mlp_ratio=2, out_indices=[1, 2, 3, 4],
                            apply_layernorm=True, reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=hidden,
                               reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[8, 16, 16, 32],
                               fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="metric",
                               max_depth=SOURCE_MAX_DEPTH)


def _source_model(config, seed: int):
    from transformers import DepthAnythingForDepthEstimation

    model = DepthAnythingForDepthEstimation(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim > 1:
                param.copy_(torch.randn(param.shape, generator=gen) / param[0].numel() ** 0.5)
            else:
                base = 1.0 if ("norm" in name or "lambda1" in name) and name.endswith(("weight", "lambda1")) else 0.0
                param.copy_(base + 0.1 * torch.randn(param.shape, generator=gen))
    return model


def _get(sd: dict, *names: str):
    for name in names:
        if name in sd:
            return sd.pop(name)
    raise KeyError(names)


def _to_original(model) -> dict:
    """transformers DAv2 state dict -> official depth_anything_v2/dpt.py names (fails if a tensor is left)."""
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = model.config
    out = {
        "pretrained.cls_token": sd.pop("backbone.embeddings.cls_token"),
        "pretrained.mask_token": sd.pop("backbone.embeddings.mask_token"),
        "pretrained.pos_embed": sd.pop("backbone.embeddings.position_embeddings"),
    }
    for p in ("weight", "bias"):
        out[f"pretrained.patch_embed.proj.{p}"] = sd.pop(f"backbone.embeddings.patch_embeddings.projection.{p}")
        out[f"pretrained.norm.{p}"] = sd.pop(f"backbone.layernorm.{p}")
    for i in range(cfg.backbone_config.num_hidden_layers):
        hf, og = f"backbone.encoder.layer.{i}.", f"pretrained.blocks.{i}."
        for p in ("weight", "bias"):
            q = _get(sd, hf + f"attention.q_proj.{p}", hf + f"attention.attention.query.{p}")
            k = _get(sd, hf + f"attention.k_proj.{p}", hf + f"attention.attention.key.{p}")
            v = _get(sd, hf + f"attention.v_proj.{p}", hf + f"attention.attention.value.{p}")
            out[og + f"attn.qkv.{p}"] = torch.cat([q, k, v], dim=0)
            out[og + f"attn.proj.{p}"] = _get(sd, hf + f"attention.o_proj.{p}", hf + f"attention.output.dense.{p}")
            for norm in ("norm1", "norm2"):
                out[og + f"{norm}.{p}"] = sd.pop(hf + f"{norm}.{p}")
            for fc in ("fc1", "fc2"):
                out[og + f"mlp.{fc}.{p}"] = sd.pop(hf + f"mlp.{fc}.{p}")
        out[og + "ls1.gamma"] = sd.pop(hf + "layer_scale1.lambda1")
        out[og + "ls2.gamma"] = sd.pop(hf + "layer_scale2.lambda1")
    stages = len(cfg.neck_hidden_sizes)
    for s in range(stages):
        out[f"depth_head.scratch.layer{s + 1}_rn.weight"] = sd.pop(f"neck.convs.{s}.weight")
        refine = f"depth_head.scratch.refinenet{stages - s}."  # fusion layer 0 works on the deepest stage
        for p in ("weight", "bias"):
            out[f"depth_head.projects.{s}.{p}"] = sd.pop(f"neck.reassemble_stage.layers.{s}.projection.{p}")
            if f"neck.reassemble_stage.layers.{s}.resize.{p}" in sd:
                out[f"depth_head.resize_layers.{s}.{p}"] = sd.pop(f"neck.reassemble_stage.layers.{s}.resize.{p}")
            fusion = f"neck.fusion_stage.layers.{s}."
            out[refine + f"out_conv.{p}"] = sd.pop(fusion + f"projection.{p}")
            for unit in (1, 2):
                for conv in (1, 2):
                    out[refine + f"resConfUnit{unit}.conv{conv}.{p}"] = sd.pop(
                        fusion + f"residual_layer{unit}.convolution{conv}.{p}")
    for p in ("weight", "bias"):
        out[f"depth_head.scratch.output_conv1.{p}"] = sd.pop(f"head.conv1.{p}")
        out[f"depth_head.scratch.output_conv2.0.{p}"] = sd.pop(f"head.conv2.{p}")
        out[f"depth_head.scratch.output_conv2.2.{p}"] = sd.pop(f"head.conv3.{p}")
    assert not sd, f"inverse mapping left {sorted(sd)}"
    return out


@pytest.fixture(scope="module")
def source():
    return _source_model(_config(), seed=0)


@pytest.fixture(scope="module")
def original(source) -> dict:
    return _to_original(source)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, source, original) -> Path:
    path = tmp_path_factory.mktemp("radar_fusion") / "dav2_tiny.pth"
    torch.save(original, path)
    path.with_suffix(".json").write_text(json.dumps(source.config.to_dict()))
    return path


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return load_model(NAME, path=str(checkpoint))


def _sparse_prior(shape: tuple[int, int], values: dict[tuple[int, int], float]) -> np.ndarray:
    prior = np.zeros(shape, np.float32)
    for (y, x), value in values.items():
        prior[y, x] = value
    return prior


def test_spec_and_light_import() -> None:
    spec = get_spec(NAME)
    assert (spec.backend, spec.input_channels, spec.output_kind) == ("torch", 4, OutputKind.METRIC)
    assert spec.max_depth == 20.0
    assert (spec.short_side, spec.multiple_of, spec.input_size) == (518, 14, None)
    assert (spec.mean, spec.std, spec.scale) == ((0.0,) * 3, (1.0,) * 3, 1 / 255)
    code = "import sys, depth_ros.models.radar_fusion_spec as s; print(s.SPEC.name, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == [NAME, "False"]


def test_original_checkpoint_loads_exact_weights(loaded, source, original) -> None:
    got = loaded.module.state_dict()
    want = source.state_dict()
    assert set(got) == set(want)
    for key, tensor in want.items():
        if key == rf.PATCH_KEY:
            assert torch.equal(got[key][:, :3], tensor) and got[key].shape[1] == 4
            assert torch.all(got[key][:, 3] == rf.RADAR_CHANNEL_INIT)
        elif key == "head.conv3.weight":
            assert torch.equal(got[key][:1], tensor) and torch.all(got[key][1] == 0)
        elif key == "head.conv3.bias":
            assert torch.equal(got[key][:1], tensor) and got[key][1] == rf.CONFIDENCE_INIT_LOGIT
        else:
            assert torch.equal(got[key], tensor), key
    hidden = 32
    qkv = original["pretrained.blocks.2.attn.qkv.weight"]
    key_proj = next(k for k in got if k.startswith("backbone.encoder.layer.2.") and
                    (k.endswith("k_proj.weight") or k.endswith("attention.key.weight")))
    assert torch.equal(got[key_proj], qkv[hidden:2 * hidden])
    assert torch.equal(got["neck.fusion_stage.layers.0.projection.weight"],
                       original["depth_head.scratch.refinenet4.out_conv.weight"])
    assert loaded.spec.max_depth == SOURCE_MAX_DEPTH and loaded.module.max_depth == SOURCE_MAX_DEPTH


def test_rgb_branch_reproduces_plain_dav2(loaded, source) -> None:
    gen = torch.Generator().manual_seed(1)
    rgb = torch.rand(1, 3, 56, 84, generator=gen)
    prior = torch.zeros(1, 1, 56, 84)
    prior[0, 0, 10:13, 20:23] = 3.0
    with torch.no_grad():
        plain = source.backbone(rgb).feature_maps
        radar = loaded.module.backbone(torch.cat([rgb, prior], dim=1)).feature_maps
        for a, b in zip(plain, radar):
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
        reference = source(pixel_values=rgb).predicted_depth
        no_radar = loaded.module(torch.cat([rgb, torch.zeros_like(prior)], dim=1))
        with_radar = loaded.module(torch.cat([rgb, prior], dim=1))
    torch.testing.assert_close(no_radar.depth, reference, atol=1e-5, rtol=1e-5)
    assert torch.all(no_radar.confidence == 1)
    torch.testing.assert_close(with_radar.network_depth, reference, atol=1e-5, rtol=1e-5)
    assert torch.allclose(with_radar.confidence, torch.sigmoid(torch.tensor(rf.CONFIDENCE_INIT_LOGIT)))
    assert not torch.allclose(with_radar.depth, reference)


def test_fusion_formula_by_hand(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    module = loaded.module
    h, w = 28, 42
    logits = 2 * torch.randn(2, 2, h, w, generator=torch.Generator().manual_seed(2))
    monkeypatch.setattr(module.head, "forward", lambda hidden, ph, pw: logits)
    x = torch.zeros(2, 4, h, w)
    x[:, :3] = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(3))
    x[0, 3, 1, 1], x[0, 3, 5, 7], x[0, 3, 20, 30] = 2.0, 4.0, 9.0
    x[0, 3, 2, 2], x[0, 3, 3, 3], x[1, 3, 4, 4] = float("nan"), -1.0, float("inf")  # not radar
    with torch.no_grad():
        out = module(x)
    l0, l1 = logits[:, 0].numpy().astype(np.float64), logits[:, 1].numpy().astype(np.float64)
    depth = SOURCE_MAX_DEPTH / (1 + np.exp(-l0))
    conf = 1 / (1 + np.exp(-l1))
    conf[1] = 1.0  # image 1 has no radar: depth alone
    fused = depth * conf + np.array([5.0, 0.0])[:, None, None] * (1 - conf)
    np.testing.assert_allclose(out.network_depth.numpy(), depth, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.confidence.numpy(), conf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.depth.numpy(), fused, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.depth[1].numpy(), depth[1], rtol=1e-5, atol=1e-5)


def test_predict_output_contract(loaded, source) -> None:
    rgb = np.random.default_rng(4).integers(0, 256, (45, 80, 3), np.uint8)
    depth = loaded.predict(rgb)
    assert depth.shape == (45, 80) and depth.dtype == np.float32
    assert np.all(loaded.last_confidence == 1.0) and loaded.last_confidence.shape == (45, 80)
    # Independent path: our preprocessing (RGB / 255, no mean/std) through the plain transformers model.
    prepared = preprocess(rgb, get_spec(NAME))
    assert np.all(prepared.image[:, :, 3] == 0)
    np.testing.assert_allclose(prepared.image[:, :, :3], preprocess(rgb, loaded.spec).image[:, :, :3])
    with torch.no_grad():
        ref = source(pixel_values=torch.from_numpy(prepared.nchw()[:, :3])).predicted_depth[0].numpy()
    ref = np.clip(cv2.resize(ref, (80, 45), interpolation=cv2.INTER_LINEAR), 0, SOURCE_MAX_DEPTH)
    np.testing.assert_allclose(depth, ref, atol=1e-4)

    prior = _sparse_prior((45, 80), {(5, 5): 3.0, (30, 60): 60.0, (40, 10): 1.5})
    depth = loaded.predict(rgb, prior)
    conf = loaded.last_confidence
    assert depth.shape == conf.shape == (45, 80) and conf.dtype == np.float32
    assert depth.min() >= 0 and depth.max() <= SOURCE_MAX_DEPTH
    assert conf.min() >= 0 and conf.max() <= 1 and conf.max() < 1
    with pytest.raises(InvalidInputError):
        loaded.predict(rgb, np.zeros((44, 80), np.float32))


class _Payload:
    triggered: list[int] = []

    def __reduce__(self):
        return (_Payload.triggered.append, (1,))


def test_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"pretrained.cls_token": torch.zeros(1, 1, 32), "payload": _Payload()}, path)
    _Payload.triggered.clear()
    with pytest.raises(ModelLoadError, match="weights_only"):
        load_model(NAME, path=str(path))
    assert _Payload.triggered == []


def test_key_mismatch_lists_names(tmp_path: Path, source, original) -> None:
    from safetensors.torch import save_file

    bad = {k: v.contiguous() for k, v in original.items() if k != "pretrained.norm.weight"}
    bad["depth_head.bogus.weight"] = torch.zeros(3)
    path = tmp_path / "bad.safetensors"
    save_file(bad, str(path))
    path.with_suffix(".json").write_text(json.dumps(source.config.to_dict()))
    with pytest.raises(ModelLoadError) as info:
        load_model(NAME, path=str(path))
    assert "backbone.layernorm.weight" in str(info.value) and "depth_head.bogus.weight" in str(info.value)


def test_radar_trained_original_checkpoint_loads_unchanged(tmp_path: Path, source, original) -> None:
    sd = dict(original)
    gen = torch.Generator().manual_seed(5)
    patch = sd["pretrained.patch_embed.proj.weight"]
    sd["pretrained.patch_embed.proj.weight"] = torch.cat([patch, torch.randn(patch[:, :1].shape, generator=gen)], 1)
    head = sd["depth_head.scratch.output_conv2.2.weight"]
    sd["depth_head.scratch.output_conv2.2.weight"] = torch.randn((2, *head.shape[1:]), generator=gen)
    sd["depth_head.scratch.output_conv2.2.bias"] = torch.tensor([0.3, -0.7])
    path = tmp_path / "radar_trained.pt"
    torch.save({"model": sd, "epoch": 3}, path)
    path.with_suffix(".json").write_text(json.dumps(source.config.to_dict()))
    got = load_model(NAME, path=str(path)).module.state_dict()
    assert torch.equal(got[rf.PATCH_KEY], sd["pretrained.patch_embed.proj.weight"])
    assert torch.equal(got["head.conv3.weight"], sd["depth_head.scratch.output_conv2.2.weight"])
    assert torch.equal(got["head.conv3.bias"], sd["depth_head.scratch.output_conv2.2.bias"])


def test_save_checkpoint_round_trip_and_transformers_directory(tmp_path: Path, loaded, source) -> None:
    out = rf.save_checkpoint(loaded, tmp_path / "saved")
    config = json.loads((out / "config.json").read_text())
    assert config["radar_fusion"]["max_depth"] == SOURCE_MAX_DEPTH
    again = load_model(NAME, path=str(out))
    want = loaded.module.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in again.module.state_dict().items())
    rgb = np.random.default_rng(6).integers(0, 256, (30, 50, 3), np.uint8)
    prior = _sparse_prior((30, 50), {(10, 10): 2.0})
    np.testing.assert_array_equal(again.predict(rgb, prior), loaded.predict(rgb, prior))

    # A plain transformers DAv2 metric directory (save_pretrained writes the older attention.attention.query naming).
    source.save_pretrained(tmp_path / "hf")
    plain = load_model(NAME, path=str(tmp_path / "hf"))
    assert torch.equal(plain.module.state_dict()["head.conv3.weight"], want["head.conv3.weight"])
    assert plain.spec.max_depth == SOURCE_MAX_DEPTH


def test_config_inferred_without_sidecar(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    src = _source_model(_config(hidden=64, heads=1), seed=7)  # DINOv2 head size 64, as the inference assumes
    path = tmp_path / "no_config.safetensors"
    save_file({k: v.contiguous() for k, v in _to_original(src).items()}, str(path))
    model = load_model(NAME, path=str(path), input_size=(56, 84))
    cfg = model.module.config
    assert model.spec.max_depth == 20.0 and model.spec.input_size == (56, 84)
    assert cfg.backbone_config.num_attention_heads == 1 and list(cfg.backbone_config.out_indices) == [1, 2, 3, 4]
    assert list(cfg.reassemble_factors) == [4, 2, 1, 0.5] and list(cfg.neck_hidden_sizes) == [8, 16, 16, 32]
    x = torch.rand(1, 3, 56, 84, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        out = model.module(torch.cat([x, torch.zeros(1, 1, 56, 84)], dim=1))
        ref = src(pixel_values=x).predicted_depth
    torch.testing.assert_close(out.depth / 20.0, ref / SOURCE_MAX_DEPTH, atol=1e-5, rtol=1e-5)


def test_relative_checkpoint_is_refused(tmp_path: Path, source, original) -> None:
    path = tmp_path / "relative.pth"
    torch.save(original, path)
    config = source.config.to_dict()
    config["depth_estimation_type"] = "relative"
    path.with_suffix(".json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="relative"):
        load_model(NAME, path=str(path))


def test_device_rules(checkpoint) -> None:
    with pytest.raises(InvalidInputError, match="fp16"):
        load_model(NAME, path=str(checkpoint), fp16=True)
    with pytest.raises(InvalidInputError, match="multiples of 14"):
        load_model(NAME, path=str(checkpoint), input_size=(50, 84))
