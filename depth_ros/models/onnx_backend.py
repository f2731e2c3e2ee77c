"""ONNX Runtime backend for exported depth networks described by a JSON sidecar.

Sidecar format: ``<stem>.json`` next to ``<stem>.onnx``, one JSON object whose keys are
`ModelSpec` fields (see `ModelSpec.to_dict`). Required: ``output_kind`` ("metric" or
"relative_inverse") and ``max_depth``. Optional, with `ModelSpec` defaults: ``name`` (default: the
file stem), ``input_size`` ([h, w] or null; null takes static H, W from the graph if it has them),
``multiple_of``, ``short_side``, ``keep_aspect``, ``mean``, ``std``, ``scale``, ``channel_order``,
``input_channels``, ``resample``, ``align_corners``, ``pad_reflect``, ``output_scale``,
``description``. ``backend`` is always "onnx". Example::

    {"name": "dav2_small", "output_kind": "relative_inverse", "max_depth": 20.0,
     "input_size": null, "multiple_of": 14, "short_side": 518,
     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "resample": "bicubic"}

The graph takes one float32 (or float16) NCHW input (spec preprocessing applied, the prior as the
4th channel when ``input_channels`` is 4) and its first output is the depth map: (1, h, w),
(1, 1, h, w) or (h, w). Precision is that of the exported graph; ``fp16`` is only validated
(it needs ``device="cuda"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.errors import InvalidInputError, ModelLoadError
from depth_ros.models.base import DepthModel, check_device
from depth_ros.models.hub import PATH_PARAMETER, resolve_weights
from depth_ros.models.preprocess import Prepared
from depth_ros.models.spec import ModelSpec

EXPECTS = "a local .onnx file (or a directory holding one) with its .json sidecar"


def sidecar_path(onnx_file: str | Path) -> Path:
    """The sidecar that belongs to ``onnx_file``: same name, ``.json`` suffix."""
    return Path(onnx_file).with_suffix(".json")


def write_sidecar(spec: ModelSpec, onnx_file: str | Path) -> Path:
    """Write ``spec`` as the sidecar of ``onnx_file``; returns the sidecar path."""
    data = spec.to_dict()
    for key in ("backend", "default_path", "hub_id", "env_subpath", "transformers_class"):
        data.pop(key, None)
    out = sidecar_path(onnx_file)
    out.write_text(json.dumps(data, indent=2) + "\n")
    return out


def read_sidecar(onnx_file: str | Path) -> ModelSpec:
    """Read the spec of ``onnx_file`` from its sidecar; `ModelLoadError` naming the file when invalid."""
    side = sidecar_path(onnx_file)
    hint = f"set the {PATH_PARAMETER} parameter to {EXPECTS}"
    if not side.is_file():
        raise ModelLoadError(f"ONNX model {str(onnx_file)!r} has no sidecar {str(side)!r}; {hint}")
    try:
        data = json.loads(side.read_text())
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
        data.setdefault("name", Path(onnx_file).stem)
        data.setdefault("input_size", None)
        data["backend"] = "onnx"
        return ModelSpec.from_dict(data)
    except (ValueError, InvalidInputError) as exc:
        raise ModelLoadError(f"invalid sidecar {str(side)!r}: {exc}") from exc


def _find_onnx(location: Path, name: str) -> Path:
    if location.is_dir():
        found = sorted(location.glob("*.onnx"))
        if len(found) != 1:
            raise ModelLoadError(f"model {name!r}: {str(location)!r} must hold exactly one .onnx file, "
                                 f"found {len(found)}; set the {PATH_PARAMETER} parameter to {EXPECTS}")
        return found[0]
    return location


class OnnxDepthModel(DepthModel):
    """An ONNX Runtime session running a depth network described by a sidecar spec."""

    def __init__(self, onnx_file: str | Path, device: str = "cpu", num_threads: int | None = None,
                 input_size: tuple[int, int] | None = None, name: str = "onnx") -> None:
        import onnxruntime as ort  # noqa: PLC0415

        onnx_file = _find_onnx(Path(onnx_file), name)
        spec = read_sidecar(onnx_file)
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelLoadError(f"ONNX model {str(onnx_file)!r}: device {device!r} requested but onnxruntime "
                                     f"has no CUDAExecutionProvider (install onnxruntime-gpu)")
            device_id = int(device.split(":", 1)[1]) if ":" in device else 0
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_id}))
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        try:
            self._session = ort.InferenceSession(str(onnx_file), sess_options=options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own unrelated exception types
            raise ModelLoadError(f"cannot load ONNX model {str(onnx_file)!r} ({type(exc).__name__}: {exc}); "
                                 f"set the {PATH_PARAMETER} parameter to {EXPECTS}") from exc
        graph_input = self._session.get_inputs()[0]
        shape = list(graph_input.shape)
        channels = shape[1] if len(shape) == 4 else None
        if len(shape) != 4 or (isinstance(channels, int) and channels != spec.input_channels):
            raise ModelLoadError(f"ONNX model {str(onnx_file)!r}: input {graph_input.name!r} has shape {shape}, "
                                 f"expected [1, {spec.input_channels}, H, W]")
        static_hw = tuple(shape[2:]) if all(isinstance(v, int) and v > 0 for v in shape[2:]) else None
        if input_size is not None:
            if static_hw is not None and tuple(input_size) != static_hw:
                raise InvalidInputError(f"ONNX model {str(onnx_file)!r} has a fixed input size {static_hw}, "
                                        f"cannot run at {tuple(input_size)}")
            spec = spec.with_input_size(input_size)
        elif spec.input_size is None and static_hw is not None:
            spec = spec.with_input_size(static_hw)
        super().__init__(spec, device=device)
        self.path = str(onnx_file)
        self._input_name = graph_input.name
        self._input_dtype = np.float16 if graph_input.type == "tensor(float16)" else np.float32
        self._output_name = self._session.get_outputs()[0].name

    def _infer(self, prepared: Prepared) -> np.ndarray:
        x = prepared.nchw().astype(self._input_dtype, copy=False)
        return self._session.run([self._output_name], {self._input_name: x})[0]

    def _release(self) -> None:
        self._session = None


def load_onnx(spec: ModelSpec, *, path: str | None = None, device: str = "cpu", fp16: bool = False,
              input_size: tuple[int, int] | None = None, num_threads: int | None = None) -> OnnxDepthModel:
    """Registry factory for the generic "onnx" entry: the spec comes from the sidecar, not the registry."""
    check_device(device, fp16, supported=("cpu", "cuda"))
    source = resolve_weights(spec, path, EXPECTS)
    return OnnxDepthModel(source.location, device=device, num_threads=num_threads, input_size=input_size,
                          name=spec.name)
