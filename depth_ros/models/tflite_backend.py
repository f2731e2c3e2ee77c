"""TFLite backend (ai-edge-litert). Quantised (uint8/int8) or float tensors, read from the interpreter.

Input quantisation and output dequantisation use the scale and zero point in the tensor details,
so a re-quantised model works unchanged. CPU only (XNNPACK); fp16 is not available here.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from depth_ros.core.errors import InvalidInputError, ModelLoadError
from depth_ros.models.base import DepthModel, check_device
from depth_ros.models.hub import PATH_PARAMETER, resolve_weights
from depth_ros.models.preprocess import Prepared
from depth_ros.models.spec import ModelSpec

EXPECTS = "a local .tflite file"


def _quantisation(detail: dict) -> tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


class TfliteDepthModel(DepthModel):
    """A TFLite depth network with one NHWC image input and one depth output."""

    def __init__(self, spec: ModelSpec, model_file: str, num_threads: int | None = None,
                 input_size: tuple[int, int] | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = Path(model_file)
        if not path.is_file():
            raise ModelLoadError(f"model {spec.name!r}: {str(path)!r} is not a file; set the {PATH_PARAMETER} "
                                 f"parameter to {EXPECTS}")
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"model {spec.name!r}: cannot load TFLite file {str(path)!r} ({exc}); "
                                 f"set the {PATH_PARAMETER} parameter to a valid .tflite file") from exc
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelLoadError(f"model {spec.name!r}: {str(path)!r} must have one input and at least one output, "
                                 f"has {len(inputs)} and {len(outputs)}")
        self._in, self._out = inputs[0], outputs[0]
        shape = [int(v) for v in self._in["shape"]]
        if len(shape) != 4 or shape[0] != 1 or shape[3] != spec.input_channels:
            raise ModelLoadError(f"model {spec.name!r}: {str(path)!r} input shape {shape} is not "
                                 f"[1, H, W, {spec.input_channels}]")
        model_size = (shape[1], shape[2])
        if input_size is not None and tuple(input_size) != model_size:
            raise InvalidInputError(f"model {spec.name!r}: the TFLite file has a fixed input size {model_size}, "
                                    f"cannot run at {tuple(input_size)}")
        super().__init__(spec.with_input_size(model_size), device="cpu")
        self.path = str(path)
        self._in_q = _quantisation(self._in)
        self._out_q = _quantisation(self._out)
        self._lock = threading.Lock()  # a TFLite interpreter must not be invoked from two threads at once

    def _infer(self, prepared: Prepared) -> np.ndarray:
        x = prepared.nhwc()
        dtype = np.dtype(self._in["dtype"])
        if dtype.kind in "iu":
            scale, zero_point = self._in_q
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)
        else:
            x = x.astype(dtype)
        with self._lock:
            self._interpreter.set_tensor(self._in["index"], x)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._out["index"])
        scale, zero_point = self._out_q
        if np.dtype(raw.dtype).kind in "iu" and scale > 0:
            return (raw.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
        return raw.astype(np.float32)

    def _release(self) -> None:
        self._interpreter = None


def load_tflite(spec: ModelSpec, *, path: str | None = None, device: str = "cpu", fp16: bool = False,
                input_size: tuple[int, int] | None = None, num_threads: int | None = None) -> TfliteDepthModel:
    """Registry factory for TFLite models."""
    check_device(device, fp16, supported=("cpu",))
    source = resolve_weights(spec, path, EXPECTS)
    return TfliteDepthModel(spec, source.location, num_threads=num_threads, input_size=input_size)
