"""``compact_depth`` network (torch): a FastDepth-like CNN with an optional radar-prior channel.

Architecture (`CompactDepthNet`, channel counts times ``width_mult``):

* Input (B, C, H, W), C = 3 (RGB normalised as in the spec) or 4 (plus the radar prior in metres,
  0 = none; NaN, inf and negative values count as none). The prior enters the stem as two
  channels: a validity mask and the centred log depth (0 where invalid).
* Encoder: MobileNet v1 (Howard et al. 2017) - a 3x3 stride-2 stem, then depthwise-separable
  blocks at strides 2, 4, 8, 16 and 32 (32-64-128-128-256-256-512x6-1024-1024 channels).
* Global context at stride 32: the pooled bottleneck features and the prior's statistics (fraction
  of pixels with radar, mean log depth of those) go through a linear layer whose output is added
  to every bottleneck pixel: the whole image (and all radar returns) informs the metric scale.
* Decoder (FastDepth's NNConv5, Wofk et al. 2019): five 5x5 depthwise-separable blocks, each
  followed by nearest upsampling to the next skip's size (so any H, W works, e.g. 240 = 7.5 x 32)
  plus a 1x1-projected additive skip connection from the encoder; a 1x1 head at stride 2, bilinear
  upsampling to the input size.
* Output: metric depth ``max_depth * sigmoid(logit)`` (B, H, W); `CompactDepthNet.log_depth`
  gives ``log(depth)`` computed stably for log-space losses.

Weights: a directory with ``config.json`` (`CompactConfig` fields plus ``format_version``) and
``model.safetensors`` (`save_compact` / `load_compact_checkpoint`); `export_onnx` writes the
ONNX graph (static input size, ``dynamo=False`` exporter) with its JSON sidecar.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.errors import InvalidInputError, ModelError, ModelLoadError
from depth_ros.models.base import DepthModel, check_device
from depth_ros.models.compact_spec import (
    CONFIG_FILE,
    DEFAULT_MAX_DEPTH,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INPUT_SIZE,
    ONNX_FILE,
    SPEC,
    WEIGHTS_FILE,
)
from depth_ros.models.hub import resolve_weights
from depth_ros.models.onnx_backend import write_sidecar
from depth_ros.models.preprocess import Prepared
from depth_ros.models.spec import ModelSpec
from depth_ros.optional import missing_dependency

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ModuleNotFoundError as exc:  # an optional dependency: say which extra installs it
    raise missing_dependency(exc, "the compact model's torch code") from exc

__all__ = [
    "CompactConfig", "CompactDepthNet", "CompactTorchModel", "FORMAT_VERSION", "export_onnx", "load_compact_checkpoint",
    "load_compact_torch", "num_parameters", "save_compact", "spec_for",
]

FORMAT_VERSION = 1
ENCODER_CHANNELS = (32, 64, 128, 128, 256, 256, 512, 1024)  # MobileNet v1 at width 1
LOG_PRIOR_CENTER = math.log(5.0)  # metres; centres the log prior channel
PRIOR_CLAMP = (1e-2, 1e4)
INITIAL_DEPTH = 5.0  # the untrained head outputs this everywhere
TORCH_EXPECTS = (f"compact_depth torch weights: a training output directory with {CONFIG_FILE} and {WEIGHTS_FILE}, "
                 f"or a .safetensors file next to its {CONFIG_FILE}")


@dataclass(frozen=True)
class CompactConfig:
    """Architecture and input contract of a `CompactDepthNet` (stored as ``config.json``)."""

    width_mult: float = 0.5
    decoder_channels: tuple[int, int, int, int, int] = (256, 128, 64, 32, 16)
    max_depth: float = DEFAULT_MAX_DEPTH
    input_channels: int = 4
    input_size: tuple[int, int] = INPUT_SIZE  # (height, width) of the exported graph and the spec
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if not (math.isfinite(self.width_mult) and 0 < self.width_mult <= 4):
            raise InvalidInputError(f"width_mult must be in (0, 4], got {self.width_mult}")
        if len(self.decoder_channels) != 5 or min(self.decoder_channels) < 1:
            raise InvalidInputError(f"decoder_channels needs 5 positive values, got {self.decoder_channels}")
        if not (math.isfinite(self.max_depth) and self.max_depth > 0):
            raise InvalidInputError(f"max_depth must be a finite value > 0, got {self.max_depth}")
        if self.input_channels not in (3, 4):
            raise InvalidInputError(f"input_channels must be 3 or 4, got {self.input_channels}")
        if len(self.input_size) != 2 or min(self.input_size) < 2:
            raise InvalidInputError(f"input_size must be (height, width) >= 2, got {self.input_size}")
        for name in ("decoder_channels", "input_size", "mean", "std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict with ``format_version``."""
        out = {"format_version": FORMAT_VERSION, "model": SPEC.name}
        out.update({k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompactConfig:
        """Inverse of `to_dict`; unknown keys or a newer format are `ModelLoadError`."""
        values = dict(data)
        version = values.pop("format_version", FORMAT_VERSION)
        values.pop("model", None)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ModelLoadError(f"compact_depth config format_version {version!r} is not supported "
                                 f"(this code reads <= {FORMAT_VERSION})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelLoadError(f"unknown compact_depth config keys {unknown}; known: {sorted(known)}")
        try:
            return cls(**values)
        except (InvalidInputError, TypeError) as exc:
            raise ModelLoadError(f"invalid compact_depth config: {exc}") from None


def spec_for(config: CompactConfig, backend: str = "onnx") -> ModelSpec:
    """The `ModelSpec` of a network with ``config`` (the registered spec with its size, range, channels)."""
    return dataclasses.replace(SPEC, backend=backend, max_depth=float(config.max_depth),
                               input_size=tuple(config.input_size), input_channels=config.input_channels,
                               mean=tuple(config.mean), std=tuple(config.std))


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _separable(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    """Depthwise kxk (+BN+ReLU) then pointwise 1x1 (+BN+ReLU)."""
    return nn.Sequential(_conv_bn(cin, cin, kernel, stride, groups=cin), _conv_bn(cin, cout, 1))


class CompactDepthNet(nn.Module):
    """FastDepth-like metric depth network (see module doc); ``forward`` returns (B, H, W) metres."""

    def __init__(self, config: CompactConfig | None = None) -> None:
        super().__init__()
        self.config = config or CompactConfig()
        cfg = self.config
        c = [max(8, int(round(n * cfg.width_mult))) for n in ENCODER_CHANNELS]
        d = cfg.decoder_channels
        self.max_depth = float(cfg.max_depth)
        self.stem = _conv_bn(3 + (2 if cfg.input_channels == 4 else 0), c[0], 3, 2)
        self.enc1 = _separable(c[0], c[1])  # stride 2
        self.enc2 = nn.Sequential(_separable(c[1], c[2], 2), _separable(c[2], c[3]))  # 4
        self.enc3 = nn.Sequential(_separable(c[3], c[4], 2), _separable(c[4], c[5]))  # 8
        self.enc4 = nn.Sequential(_separable(c[5], c[6], 2), *[_separable(c[6], c[6]) for _ in range(5)])  # 16
        self.enc5 = nn.Sequential(_separable(c[6], c[7], 2), _separable(c[7], c[7]))  # 32
        n_stats = 2 if cfg.input_channels == 4 else 0
        self.context = nn.Linear(c[7] + n_stats, c[7])
        self.dec5 = _separable(c[7], d[0], kernel=5)
        self.skip4 = _conv_bn(c[6], d[0], 1)
        self.dec4 = _separable(d[0], d[1], kernel=5)
        self.skip3 = _conv_bn(c[5], d[1], 1)
        self.dec3 = _separable(d[1], d[2], kernel=5)
        self.skip2 = _conv_bn(c[3], d[2], 1)
        self.dec2 = _separable(d[2], d[3], kernel=5)
        self.skip1 = _conv_bn(c[1], d[3], 1)
        self.dec1 = _separable(d[3], d[4], kernel=5)
        self.head = nn.Conv2d(d[4], 1, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.zeros_(self.context.weight)
        nn.init.zeros_(self.context.bias)
        nn.init.normal_(self.head.weight, std=1e-3)
        p = INITIAL_DEPTH / self.max_depth
        nn.init.constant_(self.head.bias, math.log(p / (1 - p)))

    def _stem_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        expected = self.config.input_channels
        if x.ndim != 4 or x.shape[1] != expected:
            raise InvalidInputError(f"expected (B, {expected}, H, W) input, got {tuple(x.shape)}")
        if expected == 3:
            return x, None
        prior = x[:, 3:4]
        valid = prior > 0  # False for NaN
        log_p = torch.log(prior.clamp(*PRIOR_CLAMP)) - LOG_PRIOR_CENTER
        log_p = torch.where(valid, log_p, torch.zeros_like(log_p))
        mask = valid.to(x.dtype)
        count = mask.sum(dim=(2, 3))
        fraction = count / float(prior.shape[2] * prior.shape[3])
        mean_log = log_p.sum(dim=(2, 3)) / count.clamp(min=1.0)
        stats = torch.cat([fraction * 10.0, mean_log], dim=1)  # (B, 2); typical fraction a few %
        return torch.cat([x[:, :3], mask, log_p], dim=1), stats

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid output (B, H, W)."""
        stem_in, stats = self._stem_input(x)
        x1 = self.enc1(self.stem(stem_in))
        x2 = self.enc2(x1)
        x3 = self.enc3(x2)
        x4 = self.enc4(x3)
        x5 = self.enc5(x4)
        pooled = x5.mean(dim=(2, 3))
        if stats is not None:
            pooled = torch.cat([pooled, stats], dim=1)
        x5 = x5 + self.context(pooled)[:, :, None, None]
        y = self.dec5(x5)
        y = F.interpolate(y, size=x4.shape[-2:], mode="nearest") + self.skip4(x4)
        y = self.dec4(y)
        y = F.interpolate(y, size=x3.shape[-2:], mode="nearest") + self.skip3(x3)
        y = self.dec3(y)
        y = F.interpolate(y, size=x2.shape[-2:], mode="nearest") + self.skip2(x2)
        y = self.dec2(y)
        y = F.interpolate(y, size=x1.shape[-2:], mode="nearest") + self.skip1(x1)
        y = self.head(self.dec1(y))
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y[:, 0]

    def log_depth(self, x: torch.Tensor) -> torch.Tensor:
        """Natural log of the metric depth (B, H, W), without the round trip through sigmoid."""
        return F.logsigmoid(self.logits(x)) + math.log(self.max_depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Metric depth (B, H, W) in metres, in (0, max_depth)."""
        return torch.sigmoid(self.logits(x)) * self.max_depth


def num_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class CompactTorchModel(DepthModel):
    """`DepthModel` running a `CompactDepthNet` with torch (training outputs, fine-tuned weights)."""

    def __init__(self, spec: ModelSpec, module: CompactDepthNet, device: str = "cpu", fp16: bool = False,
                 path: str | None = None) -> None:
        super().__init__(spec, device=device)
        self.path = path
        self._dtype = torch.float16 if fp16 else torch.float32
        self._module: CompactDepthNet | None = module.to(device=device, dtype=self._dtype).eval()

    @property
    def module(self) -> CompactDepthNet:
        """The underlying ``torch.nn.Module``."""
        if self._module is None:
            raise ModelError(f"model {self.spec.name!r} is closed")
        return self._module

    def _infer(self, prepared: Prepared) -> np.ndarray:
        x = torch.from_numpy(prepared.nchw()).to(device=self.device, dtype=self._dtype)
        with torch.inference_mode():
            return self.module(x).float().cpu().numpy()

    def _release(self) -> None:
        self._module = None


def save_compact(module: CompactDepthNet, path: str | Path) -> Path:
    """Write ``path``/config.json + model.safetensors; `load_compact_checkpoint` reads them back."""
    from safetensors.torch import save_file  # noqa: PLC0415

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_FILE).write_text(json.dumps(module.config.to_dict(), indent=2) + "\n")
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    return out


def load_compact_checkpoint(path: str | Path) -> CompactDepthNet:
    """A `CompactDepthNet` (CPU, eval mode) from a `save_compact` directory or its .safetensors file."""
    from safetensors.torch import load_file  # noqa: PLC0415

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    config_file = folder / CONFIG_FILE
    if not weights.is_file() or not config_file.is_file():
        raise ModelLoadError(f"{str(path)!r} needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        data = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {str(config_file)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{str(config_file)!r} is not a JSON object")
    module = CompactDepthNet(CompactConfig.from_dict(data))
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure is an unreadable file
        raise ModelLoadError(f"cannot read safetensors file {str(weights)!r}: {exc}") from exc
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in set(expected) & set(state) if expected[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        raise ModelLoadError(f"{str(weights)!r} does not match its config: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}, mis-shaped {sorted(wrong)[:3]}")
    module.load_state_dict(state, strict=True)
    return module.eval()


def export_onnx(module: CompactDepthNet, path: str | Path, opset: int = 17) -> Path:
    """Export to ONNX with a static (1, C, H, W) input of ``config.input_size`` and write the sidecar.

    ``path`` is the .onnx file, or a directory that receives `ONNX_FILE`. Returns the .onnx path.
    """
    path = Path(path)
    onnx_file = path / ONNX_FILE if path.suffix.lower() != ".onnx" else path
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    cfg = module.config
    was_training = module.training
    module = module.eval()
    dummy = torch.zeros(1, cfg.input_channels, *cfg.input_size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shapes used as sizes: static here
            torch.onnx.export(module, (dummy,), str(onnx_file), dynamo=False, opset_version=opset,
                              input_names=["pixel_values"], output_names=["depth"])
    finally:
        module.train(was_training)
    write_sidecar(spec_for(cfg), onnx_file)
    return onnx_file


def load_compact_torch(spec: ModelSpec, *, path: str | None = None, device: str = "cpu", fp16: bool = False,
                       input_size: tuple[int, int] | None = None,
                       num_threads: int | None = None) -> CompactTorchModel:
    """Factory for torch weights (a `save_compact` directory): the spec follows the weights' config."""
    check_device(device, fp16, supported=("cpu", "cuda"))
    source = resolve_weights(spec, path, TORCH_EXPECTS)
    if num_threads:
        torch.set_num_threads(int(num_threads))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"model {spec.name!r}: device {device!r} requested but CUDA is not available")
    try:
        module = load_compact_checkpoint(source.location)
    except ModelLoadError as exc:
        raise ModelLoadError(f"model {spec.name!r}: {exc}") from exc
    run_spec = dataclasses.replace(spec_for(module.config, backend="torch"), name=spec.name)
    return CompactTorchModel(run_spec.with_input_size(input_size), module, device=device, fp16=fp16,
                             path=source.location)
