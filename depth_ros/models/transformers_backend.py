"""Hugging Face transformers backend (DPT, Depth Anything V1/V2, GLPN, ZoeDepth, ...).

Weights come from a local directory saved with ``save_pretrained`` (config.json + model.safetensors);
a hub id is used only when the hub is reachable (see `depth_ros.models.hub`). Preprocessing is ours
(OpenCV, see `depth_ros.models.preprocess`); no image processor runs at inference time.

Rules: ``fp16`` needs ``device="cuda"`` (an error otherwise); ``num_threads`` calls
``torch.set_num_threads``, which is process-wide. For checkpoints whose config carries the metric
range (Depth Anything metric, GLPN, ZoeDepth) the loaded model's ``spec.max_depth`` is taken from
the config.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.errors import ModelLoadError
from depth_ros.models.base import DepthModel, check_device
from depth_ros.models.hub import PATH_PARAMETER, WeightsSource, resolve_weights
from depth_ros.models.preprocess import Prepared
from depth_ros.models.spec import ModelSpec, OutputKind
from depth_ros.optional import missing_dependency

EXPECTS = "a local directory with config.json and model.safetensors"


def _config_max_depth(config: Any) -> float | None:
    bins = getattr(config, "bin_configurations", None)  # ZoeDepth: one metric range per domain
    if bins:
        return float(max(b["max_depth"] for b in bins))
    value = getattr(config, "max_depth", None)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def reconcile_spec(spec: ModelSpec, config: Any, location: str) -> ModelSpec:
    """Check that a checkpoint's config agrees with the spec's output kind; take its metric range."""
    kind = getattr(config, "depth_estimation_type", None)  # Depth Anything: "relative" or "metric"
    if kind is not None:
        config_kind = OutputKind.METRIC if kind == "metric" else OutputKind.RELATIVE_INVERSE
        if config_kind is not spec.output_kind:
            raise ModelLoadError(
                f"model {spec.name!r} expects a {spec.output_kind.value} checkpoint but {location!r} is "
                f"{config_kind.value} (depth_estimation_type={kind!r}); choose the matching model name"
            )
    if spec.output_kind is OutputKind.METRIC:
        max_depth = _config_max_depth(config)
        if max_depth is not None:
            return dataclasses.replace(spec, max_depth=max_depth)
    return spec


def _import_transformers(spec: ModelSpec) -> tuple[Any, Any]:
    """torch and transformers, imported on first use: optional, and only the Hugging Face models need them."""
    try:
        import torch  # noqa: PLC0415
        import transformers  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc, f"model {spec.name!r}", extra="transformers") from exc
    return torch, transformers


class TransformersDepthModel(DepthModel):
    """A transformers depth-estimation model; ``predicted_depth`` (B, h, w) is its raw output."""

    def __init__(self, spec: ModelSpec, source: WeightsSource, device: str = "cpu", fp16: bool = False,
                 num_threads: int | None = None) -> None:
        torch, transformers = _import_transformers(spec)
        if num_threads:
            torch.set_num_threads(int(num_threads))
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"model {spec.name!r}: device {device!r} requested but CUDA is not available")
        location = source.location
        if not source.is_hub and not (Path(location) / "config.json").is_file():
            raise ModelLoadError(f"model {spec.name!r}: {location!r} has no config.json; set the "
                                 f"{PATH_PARAMETER} parameter to {EXPECTS}")
        model_class = getattr(transformers, spec.transformers_class, None)
        if model_class is None:
            raise ModelLoadError(f"model {spec.name!r}: transformers has no class {spec.transformers_class!r}")
        self._dtype = torch.float16 if fp16 else torch.float32
        try:
            # weights_only: a pytorch_model.bin is unpickled as tensors only (safetensors need no such care).
            model = model_class.from_pretrained(location, local_files_only=not source.is_hub, dtype=self._dtype,
                                                weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure here is a bad or incomplete checkpoint
            raise ModelLoadError(f"model {spec.name!r}: cannot load weights from {location!r} "
                                 f"({type(exc).__name__}: {exc}); set the {PATH_PARAMETER} parameter to "
                                 f"{EXPECTS}") from exc
        super().__init__(reconcile_spec(spec, model.config, location), device=device)
        self.path = location
        self._torch = torch
        self._model = model.to(device).eval()

    @property
    def module(self) -> Any:
        """The underlying ``torch.nn.Module`` (for export tools and tests)."""
        return self._model

    def _infer(self, prepared: Prepared) -> np.ndarray:
        torch = self._torch
        pixels = torch.from_numpy(prepared.nchw()).to(self.device, self._dtype)
        with torch.inference_mode():
            depth = self._model(pixel_values=pixels).predicted_depth
        return depth.float().cpu().numpy()

    def _release(self) -> None:
        on_cuda = self.device.startswith("cuda")
        self._model = None
        if on_cuda:
            self._torch.cuda.empty_cache()


def load_transformers(spec: ModelSpec, *, path: str | None = None, device: str = "cpu", fp16: bool = False,
                      input_size: tuple[int, int] | None = None,
                      num_threads: int | None = None) -> TransformersDepthModel:
    """Registry factory for transformers models."""
    check_device(device, fp16, supported=("cpu", "cuda"))
    _import_transformers(spec)  # a missing extra first: no point in finding weights that cannot run
    spec = spec.with_input_size(input_size)
    source = resolve_weights(spec, path, EXPECTS, allow_hub=True)
    return TransformersDepthModel(spec, source, device=device, fp16=fp16, num_threads=num_threads)
