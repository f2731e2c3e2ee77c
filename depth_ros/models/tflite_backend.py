"""TFLite backend (ai-edge-litert). Quantised (uint8/int8) or float tensors, read from the interpreter.

Input quantisation and output dequantisation use the scale and zero point in the tensor details,
so a re-quantised model works unchanged. CPU only (XNNPACK); fp16 is not available here.

Integer-input models skip the float image: the image is resized as uint8 (as `preprocess` does)
and each uint8 level maps to its quantised input value through a 256-entry table computed once
with the same arithmetic as the float path (spec normalisation, then ``round(x / scale + zero)``);
FastDepth's table is the identity, so its resized image goes in as is. Integer outputs are
dequantised through a 256-entry table as well.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from depth_ros.core.errors import InvalidInputError, ModelLoadError
from depth_ros.models.base import DepthModel, check_device
from depth_ros.models.hub import PATH_PARAMETER, resolve_weights
from depth_ros.models.preprocess import Prepared, network_size, resize_image
from depth_ros.models.spec import ModelSpec

EXPECTS = "a local .tflite file"


def _quantisation(detail: dict) -> tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def _quantise(x: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def _input_tables(spec: ModelSpec, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray | None:
    """(256, 3): uint8 level -> quantised input, column k for network channel k (BGR: the table of
    source channel 2 - k, applied to the flipped image), or None if the input is not 8-bit."""
    if dtype.itemsize != 1 or scale <= 0:
        return None
    levels = np.arange(256, dtype=np.float32)[:, None] * np.float32(spec.scale)
    x = (levels - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    tables = _quantise(x, dtype, scale, zero_point)
    return tables[:, ::-1] if spec.channel_order == "BGR" else tables


def _output_table(dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray | None:
    """(256,) float32 dequantised value per output byte (read as uint8), or None if not 8-bit."""
    if dtype.kind not in "iu" or dtype.itemsize != 1 or scale <= 0:
        return None
    values = np.arange(256, dtype=np.uint8).view(dtype)
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def quantised_input(rgb: np.ndarray, spec: ModelSpec, dtype: np.dtype, lut: np.ndarray | None) -> np.ndarray:
    """(h, w, 3) network input in the 8-bit input ``dtype``, straight from uint8 ``rgb``.

    ``lut``: (1, 256, 3) uint8 from `_input_tables` (as bytes), None when the quantisation is the
    identity. Equals quantising ``preprocess(rgb, spec).nhwc()`` (3-channel specs without
    align_corners or pad_reflect).
    """
    size = network_size(spec, rgb.shape[0], rgb.shape[1])
    small = resize_image(np.ascontiguousarray(rgb), size, spec.resample)
    if spec.channel_order == "BGR":
        small = small[:, :, ::-1]
    small = np.ascontiguousarray(small)
    if lut is not None:
        small = cv2.LUT(small, lut)
    return small.view(dtype)


class TfliteDepthModel(DepthModel):
    """A TFLite depth network with one NHWC image input and one depth output."""

    def __init__(self, spec: ModelSpec, model_file: str, num_threads: int | None = None,
                 input_size: tuple[int, int] | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

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
        in_dtype = np.dtype(self._in["dtype"])
        tables = None
        if in_dtype.kind in "iu" and spec.input_channels == 3 and not (spec.align_corners or spec.pad_reflect):
            tables = _input_tables(self.spec, in_dtype, *self._in_q)
        self._in_dtype = in_dtype
        self._in_identity = tables is not None and in_dtype == np.uint8 and all(
            np.array_equal(tables[:, c], np.arange(256)) for c in range(3))
        self._in_lut = None if tables is None or self._in_identity else np.ascontiguousarray(
            tables.view(np.uint8)[None])  # (1, 256, 3) for cv2.LUT; int8 values travel as their bytes
        self._in_fast = tables is not None
        self._out_lut = _output_table(np.dtype(self._out["dtype"]), *self._out_q)
        self._lock = threading.Lock()  # a TFLite interpreter must not be invoked from two threads at once

    def _prepare(self, rgb: np.ndarray, prior: np.ndarray | None) -> Prepared:
        if not self._in_fast:
            return super()._prepare(rgb, prior)
        image = quantised_input(rgb, self.spec, self._in_dtype, self._in_lut)
        return Prepared(image, (int(rgb.shape[0]), int(rgb.shape[1])))

    def _infer(self, prepared: Prepared) -> np.ndarray:
        dtype = self._in_dtype
        if prepared.image.dtype == dtype:
            x = prepared.image[None]  # already quantised by _prepare
        elif dtype.kind in "iu":
            x = _quantise(prepared.nhwc(), dtype, *self._in_q)
        else:
            x = prepared.nhwc().astype(dtype, copy=False)
        with self._lock:
            self._interpreter.set_tensor(self._in["index"], x)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._out["index"])
        if self._out_lut is not None:
            return self._out_lut[raw.view(np.uint8)]
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
