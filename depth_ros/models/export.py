"""ONNX export of torch depth models, checked against the torch output (depth-ros-export)."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.models.preprocess import network_size
from depth_ros.models.registry import get_spec, load_model
from depth_ros.models.spec import ModelSpec

ONNX_NAME = "model.onnx"

DEFAULT_OPSET = 17

CHECK_SIZE = (480, 640)  # (height, width) of the random check image and of the default input size

TOLERANCE = 1e-3  # of the torch output's depth range
TOLERANCE_FP16 = 1e-2


@dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote and how the exported graph compares with torch."""

    onnx_file: Path
    sidecar: Path
    spec: ModelSpec
    input_size: tuple[int, int]
    max_abs_diff: float
    depth_range: float
    tolerance: float
    seconds: float

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / self.depth_range if self.depth_range > 0 else float("inf")

    @property
    def ok(self) -> bool:
        return self.relative_diff < self.tolerance


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence tracer/deprecation warnings and transformers' logging while exporting."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from transformers.utils import logging as hf_logging  # noqa: PLC0415

            level = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - transformers is optional for non-HF torch models
            hf_logging = None
        try:
            yield
        finally:
            if hf_logging is not None:
                hf_logging.set_verbosity(level)
                hf_logging.enable_progress_bar()


def _depth_module(model: Any, spec: ModelSpec) -> Any:
    """A torch module mapping (1, C, H, W) normalised pixels to the raw depth output of `model`."""
    import torch  # noqa: PLC0415

    net = getattr(model, "module", None)
    if not isinstance(net, torch.nn.Module):
        raise InvalidInputError(f"model {spec.name!r} (backend {spec.backend}) is not a torch model and cannot be "
                                f"exported; export works for transformers and other torch-backed models")
    keyword = spec.backend == "transformers"

    class DepthOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            out = self.net(pixel_values=pixel_values) if keyword else self.net(pixel_values)
            for name in ("predicted_depth", "depth"):  # transformers outputs, RadarDepthOutput
                if hasattr(out, name):
                    return getattr(out, name)
            return out[0] if isinstance(out, (tuple, list)) else out

    return DepthOnly().eval()


def export_size(spec: ModelSpec, input_size: tuple[int, int] | None) -> tuple[int, int]:
    """The fixed (height, width) of the exported graph (see the module doc)."""

    if input_size is not None:
        return spec.with_input_size(tuple(input_size)).input_size  # type: ignore[return-value]
    if spec.input_size is not None and not spec.keep_aspect:
        return spec.input_size
    return network_size(spec, *CHECK_SIZE)


def _to_fp16(onnx_file: Path) -> None:
    """Convert the graph's weights and compute to float16, keeping float32 inputs and outputs."""
    import onnx  # noqa: PLC0415
    from onnxruntime.transformers.float16 import convert_float_to_float16  # noqa: PLC0415

    model = convert_float_to_float16(onnx.load(str(onnx_file)), keep_io_types=True)
    onnx.save(model, str(onnx_file))


def export_model(
    name: str,
    out_dir: str | Path,
    model_path: str | None = None,
    input_size: tuple[int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    device: str = "cpu",
    seed: int = 0,
    check: bool = True,
) -> ExportResult:
    """Export model `name` to `out_dir`/model.onnx + sidecar and check it against torch (see module doc).

    With ``check=False`` the comparison is skipped (the result's differences are NaN): for callers
    that compare on inputs of their own, such as the models benchmark.
    """
    import torch  # noqa: PLC0415

    t0 = time.perf_counter()
    spec = get_spec(name)  # UnknownModelError lists the known names
    if spec.backend == "tflite" or spec.name == "onnx":
        raise InvalidInputError(f"model {name!r} (backend {spec.backend}) is not a torch model and cannot be "
                                f"exported; export works for transformers and other torch-backed models")
    if opset < 14:
        raise InvalidInputError(f"opset must be >= 14 (scaled dot-product attention, layer norm), got {opset}")
    size = export_size(spec, input_size)
    with _quiet():
        # Loaded at the export size, so that its own predictions are the reference of the check.
        model = load_model(name, path=model_path, device=device, input_size=size)
    try:
        spec = model.spec
        module = _depth_module(model, spec)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        onnx_file = out / ONNX_NAME
        dummy = torch.zeros(1, spec.input_channels, *size, device=device)
        with _quiet(), torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(module, (dummy,), str(onnx_file), dynamo=False, opset_version=opset,
                              input_names=["pixel_values"], output_names=["depth"], do_constant_folding=True)
        if fp16:
            _to_fp16(onnx_file)
        exported = replace(spec.with_input_size(size), backend="onnx",
                           description=f"{spec.name} exported to ONNX at {size[0]}x{size[1]}"
                                       f"{' (fp16)' if fp16 else ''}: {spec.description}")
        from depth_ros.models.onnx_backend import write_sidecar  # noqa: PLC0415

        sidecar = write_sidecar(exported, onnx_file)
        if not check:
            nan = float("nan")
            return ExportResult(onnx_file, sidecar, exported, size, nan, nan, TOLERANCE, time.perf_counter() - t0)
        rgb = np.random.default_rng(seed).integers(0, 256, (*CHECK_SIZE, 3), dtype=np.uint8)
        reference = model.predict(rgb)
    finally:
        model.close()
    with load_model("onnx", path=str(onnx_file), device=device) as onnx_model:
        theirs = onnx_model.predict(rgb)
    depth_range = float(reference.max() - reference.min())
    diff = float(np.abs(theirs.astype(np.float64) - reference).max())
    return ExportResult(onnx_file, sidecar, exported, size, diff, depth_range, TOLERANCE_FP16 if fp16 else TOLERANCE,
                        time.perf_counter() - t0)
