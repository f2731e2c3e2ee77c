"""Radar-Meets-Vision learned fusion: Depth Anything V2 with the radar prior as a 4th input channel.

Network (`RadarDepthAnything`, built from transformers' ``DepthAnythingForDepthEstimation``):

* Input (B, 4, H, W), H and W multiples of the patch size (14): RGB / 255 (no ImageNet mean/std)
  and the radar prior in metres (0 = no radar). Non-finite or negative prior values count as "no
  radar" and are zeroed before the backbone sees them.
* DINOv2 backbone whose patch-embedding conv has 4 input channels. When a 3-channel RGB
  checkpoint is loaded, the radar channel's weights are set to ZERO (`RADAR_CHANNEL_INIT`): the
  radar input then contributes nothing and the backbone features are exactly those of the RGB
  checkpoint; training moves the weights away from zero (the gradient w.r.t. a zero weight is not
  zero, so learning is not blocked).
* DPT neck unchanged; the head's last 1x1 conv has 2 output channels (c0, c1):
  ``depth = sigmoid(c0) * max_depth``, ``conf = sigmoid(c1)``. A 1-output checkpoint is widened
  with c0 = the pretrained metric channel (so ``depth`` is the pretrained metric depth) and c1 =
  zero weights plus bias `CONFIDENCE_INIT_LOGIT` (sigmoid = 0.98): a freshly widened model
  predicts almost pure RGB depth, while a finite logit keeps the confidence trainable.
* Output ``fused = depth * conf + mean_prior * (1 - conf)``, ``mean_prior`` = mean of the prior
  over its pixels with prior > 0, per image. An image without any radar pixel has no mean, so its
  confidence is forced to 1 and the output is ``depth`` alone; the returned confidence is the
  weight actually used (1 there).

The prior reaches the network size through the shared preprocessing
(`depth_ros.models.preprocess.resize_sparse_prior`): radar returns are sparse (single pixels or
small discs), so bilinear/area resizing would blend them with the surrounding zeros (= "no radar")
into depths that were never measured. On a shrinking axis every prior sample is kept in the
network pixel that contains it; several samples in one pixel keep the nearest (smallest positive)
like a z-buffer. On a growing axis plain nearest sampling is used (it never invents values).

Checkpoints (`load_checkpoint`):

* ``.pth`` / ``.pt``: ``torch.load(..., weights_only=True)`` (pickled objects other than tensors and
  plain containers are refused), ``.safetensors``: safetensors. Keys in the ORIGINAL Depth
  Anything V2 naming (``pretrained.*``, ``depth_head.*``) are mapped (`ORIGINAL_KEY_MAPPING`);
  transformers naming is accepted as is. A plain state dict or one under "model"/"state_dict" is
  read; a "module." prefix (DistributedDataParallel) is dropped. The architecture comes from
  a sidecar ``<stem>.json`` (same format as ``config.json`` below) when present, else it is
  inferred from the tensor shapes (`infer_config`: DINOv2 head size 64, the official DAv2 tap
  layers).
* A directory with ``config.json`` (a ``DepthAnythingConfig`` dict plus a "radar_fusion" section)
  and ``model.safetensors`` in transformers naming, as written by `save_checkpoint`; a plain
  transformers DAv2 metric directory (``save_pretrained``) also loads, widened as above.

Metric range: the "radar_fusion" section's ``max_depth``, else the config's ``max_depth`` of a
metric config, else the spec's (20 m). Missing/unexpected/mis-shaped tensors after mapping raise
`ModelLoadError` naming a few of them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from depth_ros.core.errors import InvalidInputError, ModelError, ModelLoadError
from depth_ros.models.base import DepthModel, check_device
from depth_ros.models.hub import PATH_PARAMETER, resolve_weights
from depth_ros.models.preprocess import Prepared, postprocess
from depth_ros.models.radar_fusion_spec import DEFAULT_MAX_DEPTH, SPEC
from depth_ros.models.spec import ModelSpec
from depth_ros.optional import missing_dependency

try:
    import torch
    from torch import nn
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
except ModuleNotFoundError as exc:  # an optional dependency: say which extra installs it
    raise missing_dependency(exc, "the radar-fusion network", extra="transformers") from exc

__all__ = [
    "CONFIDENCE_INIT_LOGIT", "ORIGINAL_KEY_MAPPING", "RADAR_CHANNEL_INIT", "SPEC", "RadarDepthAnything",
    "RadarDepthHead", "RadarDepthOutput", "RadarFusionModel", "infer_config", "load_checkpoint",
    "load_radar_fusion", "original_to_transformers", "read_state_dict", "save_checkpoint",
]

EXPECTS = ("an original Depth Anything V2 checkpoint (.pth/.pt/.safetensors, optional <stem>.json config) "
           "or a directory with config.json and model.safetensors written by save_checkpoint")
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RADAR_SECTION = "radar_fusion"
FORMAT_VERSION = 1
RADAR_CHANNEL_INIT = 0.0
CONFIDENCE_INIT_LOGIT = 4.0  # sigmoid(4) = 0.982
PATCH_KEY = "backbone.embeddings.patch_embeddings.projection.weight"
HEAD_WEIGHT_KEY = "head.conv3.weight"
HEAD_BIAS_KEY = "head.conv3.bias"
_DINOV2_HEAD_DIM = 64
# Official DAv2 ``intermediate_layer_idx`` (0-based blocks) + 1 = transformers out_indices, by depth.
_OFFICIAL_OUT_INDICES = {12: [3, 6, 9, 12], 24: [5, 12, 18, 24], 40: [10, 20, 30, 40]}
_MAX_LISTED = 5

# Original DAv2 name -> transformers DepthAnythingForDepthEstimation name (attention in the q/k/v/o_proj
# naming; the older attention.attention.query/... naming is converted to whichever the installed
# transformers uses). ``n`` = number of DPT stages (4 in DAv2), ``i``/``k`` = indices.
ORIGINAL_KEY_MAPPING: tuple[tuple[str, str], ...] = (
    ("pretrained.cls_token", "backbone.embeddings.cls_token"),
    ("pretrained.mask_token", "backbone.embeddings.mask_token"),
    ("pretrained.pos_embed", "backbone.embeddings.position_embeddings"),
    ("pretrained.patch_embed.proj.{weight,bias}", "backbone.embeddings.patch_embeddings.projection.{weight,bias}"),
    ("pretrained.blocks.i.norm1|norm2.*", "backbone.encoder.layer.i.norm1|norm2.*"),
    ("pretrained.blocks.i.attn.qkv.*", "rows [0:D] -> backbone.encoder.layer.i.attention.q_proj.*, "
                                       "[D:2D] -> k_proj.*, [2D:3D] -> v_proj.*"),
    ("pretrained.blocks.i.attn.proj.*", "backbone.encoder.layer.i.attention.o_proj.*"),
    ("pretrained.blocks.i.ls1|ls2.gamma", "backbone.encoder.layer.i.layer_scale1|layer_scale2.lambda1"),
    ("pretrained.blocks.i.mlp.fc1|fc2.*", "backbone.encoder.layer.i.mlp.fc1|fc2.*"),
    ("pretrained.norm.*", "backbone.layernorm.*"),
    ("depth_head.projects.k.*", "neck.reassemble_stage.layers.k.projection.*"),
    ("depth_head.resize_layers.k.*", "neck.reassemble_stage.layers.k.resize.* (none for factor 1: Identity)"),
    ("depth_head.scratch.layer{k+1}_rn.weight", "neck.convs.k.weight"),
    ("depth_head.scratch.refinenet{k}.out_conv.*", "neck.fusion_stage.layers.{n-k}.projection.*"),
    ("depth_head.scratch.refinenet{k}.resConfUnit{1,2}.conv{1,2}.*",
     "neck.fusion_stage.layers.{n-k}.residual_layer{1,2}.convolution{1,2}.*"),
    ("depth_head.scratch.output_conv1.*", "head.conv1.*"),
    ("depth_head.scratch.output_conv2.0.*", "head.conv2.*"),
    ("depth_head.scratch.output_conv2.2.*", "head.conv3.* (1 output widened to 2: depth, confidence)"),
)

_Rule = tuple[re.Pattern, Callable[[re.Match, int], str]]
_RULES: tuple[_Rule, ...] = tuple((re.compile(pattern + r"\Z"), fn) for pattern, fn in (
    (r"pretrained\.cls_token", lambda m, n: "backbone.embeddings.cls_token"),
    (r"pretrained\.mask_token", lambda m, n: "backbone.embeddings.mask_token"),
    (r"pretrained\.pos_embed", lambda m, n: "backbone.embeddings.position_embeddings"),
    (r"pretrained\.patch_embed\.proj\.(weight|bias)",
     lambda m, n: f"backbone.embeddings.patch_embeddings.projection.{m[1]}"),
    (r"pretrained\.blocks\.(\d+)\.(norm[12])\.(weight|bias)",
     lambda m, n: f"backbone.encoder.layer.{m[1]}.{m[2]}.{m[3]}"),
    (r"pretrained\.blocks\.(\d+)\.attn\.proj\.(weight|bias)",
     lambda m, n: f"backbone.encoder.layer.{m[1]}.attention.o_proj.{m[2]}"),
    (r"pretrained\.blocks\.(\d+)\.ls([12])\.gamma",
     lambda m, n: f"backbone.encoder.layer.{m[1]}.layer_scale{m[2]}.lambda1"),
    (r"pretrained\.blocks\.(\d+)\.mlp\.(fc[12])\.(weight|bias)",
     lambda m, n: f"backbone.encoder.layer.{m[1]}.mlp.{m[2]}.{m[3]}"),
    (r"pretrained\.norm\.(weight|bias)", lambda m, n: f"backbone.layernorm.{m[1]}"),
    (r"depth_head\.projects\.(\d+)\.(weight|bias)",
     lambda m, n: f"neck.reassemble_stage.layers.{m[1]}.projection.{m[2]}"),
    (r"depth_head\.resize_layers\.(\d+)\.(weight|bias)",
     lambda m, n: f"neck.reassemble_stage.layers.{m[1]}.resize.{m[2]}"),
    (r"depth_head\.scratch\.layer(\d+)_rn\.weight", lambda m, n: f"neck.convs.{int(m[1]) - 1}.weight"),
    (r"depth_head\.scratch\.refinenet(\d+)\.out_conv\.(weight|bias)",
     lambda m, n: f"neck.fusion_stage.layers.{n - int(m[1])}.projection.{m[2]}"),
    (r"depth_head\.scratch\.refinenet(\d+)\.resConfUnit([12])\.conv([12])\.(weight|bias)",
     lambda m, n: f"neck.fusion_stage.layers.{n - int(m[1])}.residual_layer{m[2]}.convolution{m[3]}.{m[4]}"),
    (r"depth_head\.scratch\.output_conv1\.(weight|bias)", lambda m, n: f"head.conv1.{m[1]}"),
    (r"depth_head\.scratch\.output_conv2\.0\.(weight|bias)", lambda m, n: f"head.conv2.{m[1]}"),
    (r"depth_head\.scratch\.output_conv2\.2\.(weight|bias)", lambda m, n: f"head.conv3.{m[1]}"),
))
_QKV = re.compile(r"pretrained\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)\Z")
# transformers renamed the DINOv2 attention weights; (older name, newer name).
_ATTENTION_NAMES = (
    ("attention.attention.query.", "attention.q_proj."),
    ("attention.attention.key.", "attention.k_proj."),
    ("attention.attention.value.", "attention.v_proj."),
    ("attention.output.dense.", "attention.o_proj."),
)


class RadarDepthOutput(NamedTuple):
    """Network outputs, each (B, H, W) float32: fused metric depth, confidence used, RGB-branch depth."""

    depth: torch.Tensor
    confidence: torch.Tensor
    network_depth: torch.Tensor


class RadarDepthHead(nn.Module):
    """The DAv2 DPT head (same layer names as transformers') with 2 output channels: logits (B, 2, H, W)."""

    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__()
        features = config.fusion_hidden_size
        self.head_in_index = config.head_in_index
        self.patch_size = _patch_size(config)
        self.conv1 = nn.Conv2d(features, features // 2, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(features // 2, config.head_hidden_size, kernel_size=3, stride=1, padding=1)
        self.activation1 = nn.ReLU()
        self.conv3 = nn.Conv2d(config.head_hidden_size, 2, kernel_size=1, stride=1, padding=0)

    def forward(self, hidden_states: list[torch.Tensor], patch_height: int, patch_width: int) -> torch.Tensor:
        x = self.conv1(hidden_states[self.head_in_index])
        x = nn.functional.interpolate(x, (patch_height * self.patch_size, patch_width * self.patch_size),
                                      mode="bilinear", align_corners=True)
        return self.conv3(self.activation1(self.conv2(x)))


class RadarDepthAnything(nn.Module):
    """Depth Anything V2 (DINOv2 + DPT) with a 4-channel input and a depth + confidence head.

    Submodule names (``backbone``, ``neck``, ``head``) equal those of ``DepthAnythingForDepthEstimation``,
    so its state dict uses transformers' names. ``config`` is the ``DepthAnythingConfig`` (backbone
    ``num_channels`` = 4, metric); ``max_depth`` the metric range in metres.
    """

    def __init__(self, config: DepthAnythingConfig, max_depth: float | None = None) -> None:
        super().__init__()
        config = copy.deepcopy(config)
        if max_depth is None:
            max_depth = _config_max_depth(config) or DEFAULT_MAX_DEPTH
        if not (math.isfinite(max_depth) and max_depth > 0):
            raise InvalidInputError(f"max_depth must be a finite value > 0, got {max_depth}")
        config.backbone_config.num_channels = 4
        config.depth_estimation_type = "metric"
        # The transformers config types max_depth as int; the exact value lives in self.max_depth.
        config.max_depth = int(max_depth) if float(max_depth).is_integer() else None
        base = DepthAnythingForDepthEstimation(config)
        self.config = config
        self.max_depth = float(max_depth)
        self.patch_size = _patch_size(config)
        self.backbone = base.backbone
        self.neck = base.neck
        self.head = RadarDepthHead(config)
        self.init_radar_weights()

    def init_radar_weights(self) -> None:
        """Radar channel of the patch embedding to `RADAR_CHANNEL_INIT`, confidence logit to its init."""
        with torch.no_grad():
            self.backbone.embeddings.patch_embeddings.projection.weight[:, 3].fill_(RADAR_CHANNEL_INIT)
            self.head.conv3.weight[1].zero_()
            self.head.conv3.bias[1].fill_(CONFIDENCE_INIT_LOGIT)

    def forward(self, pixel_values: torch.Tensor) -> RadarDepthOutput:
        """Fused depth, confidence and RGB-branch depth for (B, 4, H, W) inputs (see module doc)."""
        if pixel_values.ndim != 4 or pixel_values.shape[1] != 4:
            raise InvalidInputError(f"expected (B, 4, H, W) input (RGB / 255 + prior), got {tuple(pixel_values.shape)}")
        height, width = pixel_values.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise InvalidInputError(f"input size {height}x{width} must be multiples of {self.patch_size}")
        prior = pixel_values[:, 3].float()
        valid = torch.isfinite(prior) & (prior > 0)
        prior = torch.where(valid, prior, torch.zeros_like(prior))
        pixels = torch.cat([pixel_values[:, :3], prior[:, None].to(pixel_values.dtype)], dim=1)

        patch_h, patch_w = height // self.patch_size, width // self.patch_size
        features = self.backbone(pixels).feature_maps
        logits = self.head(self.neck(list(features), patch_h, patch_w), patch_h, patch_w).float()
        depth = torch.sigmoid(logits[:, 0]) * self.max_depth
        conf = torch.sigmoid(logits[:, 1])

        count = valid.sum(dim=(1, 2))
        mean_prior = prior.sum(dim=(1, 2)) / count.clamp(min=1)
        conf = torch.where((count > 0)[:, None, None], conf, torch.ones_like(conf))
        fused = depth * conf + mean_prior[:, None, None] * (1 - conf)
        return RadarDepthOutput(fused, conf, depth)


class RadarFusionModel(DepthModel):
    """`DepthModel` of a `RadarDepthAnything`; ``last_confidence`` holds the last prediction's confidence."""

    def __init__(self, spec: ModelSpec, module: RadarDepthAnything, device: str = "cpu", fp16: bool = False,
                 path: str | None = None) -> None:
        super().__init__(spec, device=device)
        self.path = path
        self._fp16 = fp16
        self._module: RadarDepthAnything | None = (module.half() if fp16 else module).to(device).eval()
        self._pending_confidence: np.ndarray | None = None
        self._last_confidence: np.ndarray | None = None

    @property
    def module(self) -> RadarDepthAnything:
        """The underlying ``torch.nn.Module``."""
        if self._module is None:
            raise ModelError(f"model {self.spec.name!r} is closed")
        return self._module

    @property
    def last_confidence(self) -> np.ndarray | None:
        """(H, W) float32 in [0, 1] of the last `predict` (1 = network depth only), None before any."""
        return self._last_confidence

    def _infer(self, prepared: Prepared) -> np.ndarray:
        pixels = torch.from_numpy(prepared.nchw()).to(self.device)
        with torch.inference_mode():
            out = self.module(pixels)
        self._pending_confidence = out.confidence[0].float().cpu().numpy()
        return out.depth.float().cpu().numpy()

    def _finish(self, raw: np.ndarray, prepared: Prepared) -> np.ndarray:
        depth = postprocess(raw, prepared, self.spec)
        conf = self._pending_confidence
        if conf is None:
            raise ModelError("no confidence computed for this prediction")
        h, w = prepared.source_size
        if conf.shape != (h, w):
            conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
        self._last_confidence = np.ascontiguousarray(np.clip(conf, 0.0, 1.0), dtype=np.float32)
        self._pending_confidence = None
        return depth

    def _release(self) -> None:
        on_cuda = self.device.startswith("cuda")
        self._module = None
        if on_cuda:
            torch.cuda.empty_cache()


def original_to_transformers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an original DAv2 state dict to transformers names (qkv split); unknown keys are kept as is."""
    stages = {m[1] for k in state_dict if (m := re.match(r"depth_head\.projects\.(\d+)\.weight\Z", k))}
    n = len(stages) or 4
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        qkv = _QKV.match(key)
        if qkv is not None:
            if tensor.shape[0] % 3:
                raise ModelLoadError(f"{key} has {tensor.shape[0]} rows, not 3 x hidden size")
            for name, part in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                out[f"backbone.encoder.layer.{qkv[1]}.attention.{name}.{qkv[2]}"] = part.contiguous()
            continue
        for pattern, rename in _RULES:
            match = pattern.match(key)
            if match is not None:
                out[rename(match, n)] = tensor
                break
        else:
            out[key] = tensor
    return out


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth/.pt (``weights_only=True``) or .safetensors file, on the CPU."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file  # noqa: PLC0415

        try:
            data: Any = load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - any failure is an unreadable file
            raise ModelLoadError(f"cannot read safetensors file {str(path)!r}: {exc}") from exc
    elif suffix in (".pth", ".pt"):
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - includes the UnpicklingError of a refused object
            raise ModelLoadError(f"cannot load {str(path)!r} with torch.load(weights_only=True) (only tensors and "
                                 f"plain containers are accepted, never other pickled objects): "
                                 f"{type(exc).__name__}: {exc}") from exc
    else:
        raise ModelLoadError(f"{str(path)!r}: unsupported weights file; expected {EXPECTS}")
    if isinstance(data, Mapping):
        for wrapper in ("model", "state_dict"):
            if isinstance(data.get(wrapper), Mapping):
                data = data[wrapper]
                break
    if not isinstance(data, Mapping) or not data:
        raise ModelLoadError(f"{str(path)!r} holds no state dict (got {type(data).__name__})")
    bad = [str(k) for k, v in data.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelLoadError(f"{str(path)!r}: entries that are not named tensors: {_few(bad)}")
    if all(k.startswith("module.") for k in data):
        data = {k[len("module."):]: v for k, v in data.items()}
    return dict(data)


def infer_config(state_dict: Mapping[str, torch.Tensor], max_depth: float = DEFAULT_MAX_DEPTH) -> DepthAnythingConfig:
    """Architecture of a transformers-named DAv2 state dict from its tensor shapes.

    Not stored in the weights, so assumed: DINOv2 attention head size 64 (ViT-S/B/L/G), the official
    DAv2 tap layers for 12/24/40 blocks (else evenly spaced, last block included), LayerNorm eps 1e-6,
    a 3x3 resize kernel meaning the 0.5 down-sampling conv. Write a ``<stem>.json`` config otherwise.
    """
    try:
        hidden = int(state_dict["backbone.embeddings.cls_token"].shape[-1])
        patch = int(state_dict[PATCH_KEY].shape[-1])
        positions = int(state_dict["backbone.embeddings.position_embeddings"].shape[1]) - 1
        mlp = int(state_dict["backbone.encoder.layer.0.mlp.fc1.weight"].shape[0])
        fusion = int(state_dict["neck.convs.0.weight"].shape[0])
        head_hidden = int(state_dict["head.conv2.weight"].shape[0])
    except KeyError as exc:
        raise ModelLoadError(f"cannot infer the architecture: tensor {exc.args[0]!r} is missing") from None
    layers = 1 + max((int(m[1]) for k in state_dict if (m := re.match(r"backbone\.encoder\.layer\.(\d+)\.", k))),
                     default=-1)
    necks = sorted(int(m[1]) for k in state_dict
                   if (m := re.match(r"neck\.reassemble_stage\.layers\.(\d+)\.projection\.weight\Z", k)))
    grid = math.isqrt(positions)
    if hidden % _DINOV2_HEAD_DIM or mlp % hidden or grid * grid != positions or not necks or not layers:
        raise ModelLoadError(f"cannot infer the architecture (hidden size {hidden}, MLP {mlp}, {positions} positions, "
                             f"{len(necks)} DPT stages); put a config next to the weights (<stem>.json)")
    neck_sizes = [int(state_dict[f"neck.reassemble_stage.layers.{i}.projection.weight"].shape[0]) for i in necks]
    factors: list[int | float] = []
    for i in necks:
        resize = state_dict.get(f"neck.reassemble_stage.layers.{i}.resize.weight")
        kernel = 1 if resize is None else int(resize.shape[-1])
        factors.append(0.5 if kernel == 3 else kernel)
    n = len(necks)
    out_indices = _OFFICIAL_OUT_INDICES.get(layers) if n == 4 else None
    if out_indices is None:
        out_indices = [round(layers * (k + 1) / n) for k in range(n)]
    backbone = Dinov2Config(hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=hidden // _DINOV2_HEAD_DIM, mlp_ratio=mlp // hidden,
                            image_size=grid * patch, patch_size=patch, layer_norm_eps=1e-6,
                            out_indices=list(out_indices), apply_layernorm=True, reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, patch_size=patch, reassemble_hidden_size=hidden,
                               reassemble_factors=factors, neck_hidden_sizes=neck_sizes, fusion_hidden_size=fusion,
                               head_hidden_size=head_hidden, depth_estimation_type="metric",
                               max_depth=int(max_depth) if float(max_depth).is_integer() else None)


def load_checkpoint(path: str | Path, default_max_depth: float = DEFAULT_MAX_DEPTH,
                    allow_relative: bool = True) -> RadarDepthAnything:
    """Build a `RadarDepthAnything` (CPU, eval mode) from a checkpoint file or directory (module doc).

    ``allow_relative=False`` refuses configs of relative (not metric) Depth Anything checkpoints.
    """
    path = Path(path)
    radar: dict[str, Any] = {}
    if path.is_dir():
        config_file, weights_file = path / CONFIG_FILE, path / WEIGHTS_FILE
        if not config_file.is_file() or not weights_file.is_file():
            raise ModelLoadError(f"{str(path)!r} needs {CONFIG_FILE} and {WEIGHTS_FILE}; set the {PATH_PARAMETER} "
                                 f"parameter to {EXPECTS}")
        config, radar = _read_config(config_file)
        state_dict = read_state_dict(weights_file)
    elif path.is_file():
        state_dict = read_state_dict(path)
        sidecar = path.with_suffix(".json")
        config, radar = _read_config(sidecar) if sidecar.is_file() else (None, {})
    else:
        raise ModelLoadError(f"{str(path)!r} does not exist; set the {PATH_PARAMETER} parameter to {EXPECTS}")

    if any(k.startswith(("pretrained.", "depth_head.")) for k in state_dict):
        state_dict = original_to_transformers(state_dict)
    if config is not None and config.depth_estimation_type != "metric" and not allow_relative:
        raise ModelLoadError(f"{str(path)!r} is a relative-depth Depth Anything checkpoint "
                             f"(depth_estimation_type={config.depth_estimation_type!r}); a metric one is needed")
    max_depth = radar.get("max_depth") or (_config_max_depth(config) if config is not None else None)
    try:
        max_depth = float(max_depth or default_max_depth)
    except (TypeError, ValueError):
        raise ModelLoadError(f"{str(path)!r}: max_depth must be a number, got {max_depth!r}") from None
    if config is None:
        config = infer_config(state_dict, max_depth)
    try:
        module = RadarDepthAnything(config, max_depth=max_depth)
    except Exception as exc:  # noqa: BLE001 - an inconsistent config
        raise ModelLoadError(f"{str(path)!r}: cannot build the network from its config: {exc}") from exc
    _load_weights(module, state_dict, str(path))
    return module.eval()


def save_checkpoint(model: RadarDepthAnything | RadarFusionModel, path: str | Path) -> Path:
    """Write ``path``/config.json + model.safetensors (transformers names); `load_checkpoint` reads it back."""
    from safetensors.torch import save_file  # noqa: PLC0415

    module = model.module if isinstance(model, RadarFusionModel) else model
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    config = module.config.to_dict()
    config[RADAR_SECTION] = {"format_version": FORMAT_VERSION, "max_depth": module.max_depth, "input_channels": 4,
                             "output_channels": 2}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    return out


def load_radar_fusion(spec: ModelSpec, *, path: str | None = None, device: str = "cpu", fp16: bool = False,
                      input_size: tuple[int, int] | None = None, num_threads: int | None = None) -> RadarFusionModel:
    """Registry factory: resolve the weights, load them (`load_checkpoint`) and wrap them in a `DepthModel`."""
    check_device(device, fp16, supported=("cpu", "cuda"))
    spec = spec.with_input_size(input_size)
    source = resolve_weights(spec, path, EXPECTS)
    if num_threads:
        torch.set_num_threads(int(num_threads))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"model {spec.name!r}: device {device!r} requested but CUDA is not available")
    try:
        module = load_checkpoint(source.location, default_max_depth=spec.max_depth, allow_relative=False)
    except ModelLoadError as exc:
        raise ModelLoadError(f"model {spec.name!r}: {exc}") from exc
    spec = dataclasses.replace(spec, max_depth=module.max_depth)
    return RadarFusionModel(spec, module, device=device, fp16=fp16, path=source.location)


def _patch_size(config: DepthAnythingConfig) -> int:
    patch = config.backbone_config.patch_size
    return int(patch[0] if isinstance(patch, (list, tuple)) else patch)


def _config_max_depth(config: DepthAnythingConfig) -> float | None:
    value = getattr(config, "max_depth", None)
    if config.depth_estimation_type == "metric" and isinstance(value, (int, float)) and value > 0:
        return float(value)
    return None


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" (+{len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def _read_config(file: Path) -> tuple[DepthAnythingConfig, dict[str, Any]]:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read config {str(file)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"config {str(file)!r} is not a JSON object")
    radar = data.pop(RADAR_SECTION, None) or {}
    if data.get("model_type", "depth_anything") != "depth_anything":
        raise ModelLoadError(f"config {str(file)!r} has model_type {data['model_type']!r}, expected 'depth_anything'")
    try:
        config = DepthAnythingConfig.from_dict(data)
    except Exception as exc:  # noqa: BLE001 - strict config validation errors of any type
        raise ModelLoadError(f"invalid Depth Anything config {str(file)!r}: {exc}") from exc
    if getattr(config.backbone_config, "model_type", None) != "dinov2":
        raise ModelLoadError(f"config {str(file)!r}: backbone must be DINOv2, got "
                             f"{getattr(config.backbone_config, 'model_type', None)!r}")
    if not isinstance(radar, dict):
        raise ModelLoadError(f"config {str(file)!r}: {RADAR_SECTION!r} must be an object")
    return config, radar


def _load_weights(module: RadarDepthAnything, state_dict: dict[str, torch.Tensor], location: str) -> None:
    expected = module.state_dict()
    state_dict = _match_attention_naming(state_dict, expected)
    state_dict = _widen(state_dict, location)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {len(missing)} tensors: {_few(missing)}"] if missing else []) + (
            [f"unexpected {len(unexpected)} tensors: {_few(unexpected)}"] if unexpected else [])
        raise ModelLoadError(f"{location!r} does not match the network ({'; '.join(parts)})")
    wrong = [f"{k} {tuple(v.shape)} != {tuple(expected[k].shape)}" for k, v in state_dict.items()
             if v.shape != expected[k].shape]
    if wrong:
        raise ModelLoadError(f"{location!r}: tensor shapes differ from the config: {_few(wrong)}")
    module.load_state_dict(state_dict, strict=True)


def _match_attention_naming(state_dict: dict[str, torch.Tensor],
                            expected: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    new_style = any(".attention.q_proj." in k for k in expected)
    pairs = [(old, new) if new_style else (new, old) for old, new in _ATTENTION_NAMES]
    out = {}
    for key, tensor in state_dict.items():
        for src, dst in pairs:
            if src in key:
                key = key.replace(src, dst)
                break
        out[key] = tensor
    return out


def _widen(state_dict: dict[str, torch.Tensor], location: str) -> dict[str, torch.Tensor]:
    """3-channel patch embedding -> 4 (radar weights `RADAR_CHANNEL_INIT`); 1-output head -> 2 (confidence)."""
    out = dict(state_dict)
    patch = out.get(PATCH_KEY)
    if patch is not None and patch.ndim == 4 and patch.shape[1] == 3:
        out[PATCH_KEY] = torch.cat([patch, torch.full_like(patch[:, :1], RADAR_CHANNEL_INIT)], dim=1)
    elif patch is not None and (patch.ndim != 4 or patch.shape[1] != 4):
        raise ModelLoadError(f"{location!r}: patch embedding {tuple(patch.shape)} has neither 3 nor 4 input channels")
    weight, bias = out.get(HEAD_WEIGHT_KEY), out.get(HEAD_BIAS_KEY)
    if weight is not None and bias is not None and weight.shape[0] == 1 and bias.shape[0] == 1:
        out[HEAD_WEIGHT_KEY] = torch.cat([weight, torch.zeros_like(weight)], dim=0)
        out[HEAD_BIAS_KEY] = torch.cat([bias, torch.full_like(bias, CONFIDENCE_INIT_LOGIT)], dim=0)
    return out
