"""Runtime of ``compact_depth``: the registry factory (imports no torch unless the weights need it).

`load_compact` picks the runtime from what the weights location holds:

* a ``.onnx`` file, or a directory with one (the shipped ``weights/compact_depth``): ONNX Runtime,
  spec from the JSON sidecar (`depth_ros.models.onnx_backend` format); the graph has a fixed
  240 x 320 input, so ``input_size`` must be None or (240, 320);
* a directory with ``config.json`` + ``model.safetensors`` (a `depth-ros-train` output, written by
  `depth_ros.models.compact.save_compact`) or such a ``.safetensors`` file: torch.

Both runtimes take the radar prior through the shared `depth_ros.models.preprocess.preprocess`
(`resize_sparse_prior`: every sample kept, the nearest one per network pixel).
"""

from __future__ import annotations

from pathlib import Path

from depth_ros.core.errors import ModelLoadError
from depth_ros.models.base import DepthModel, check_device
from depth_ros.models.compact_spec import CONFIG_FILE, WEIGHTS_FILE
from depth_ros.models.hub import resolve_weights
from depth_ros.models.onnx_backend import OnnxDepthModel
from depth_ros.models.spec import ModelSpec

EXPECTS = (f"the compact_depth weights: a .onnx file with its .json sidecar or a directory holding them, or a "
           f"training output directory with {CONFIG_FILE} and {WEIGHTS_FILE}")


def _onnx_file(location: Path) -> Path | None:
    if location.is_file():
        return location if location.suffix.lower() == ".onnx" else None
    found = sorted(location.glob("*.onnx"))
    if len(found) > 1:
        raise ModelLoadError(f"{str(location)!r} holds {len(found)} .onnx files; point model_path at one of them")
    return found[0] if found else None


def load_compact(spec: ModelSpec, *, path: str | None = None, device: str = "cpu", fp16: bool = False,
                 input_size: tuple[int, int] | None = None, num_threads: int | None = None) -> DepthModel:
    """Registry factory of ``compact_depth``: ONNX Runtime for .onnx weights, torch for training outputs."""
    check_device(device, fp16, supported=("cpu", "cuda"))
    location = Path(resolve_weights(spec, path, EXPECTS).location)
    onnx_file = _onnx_file(location)
    if onnx_file is not None:
        return OnnxDepthModel(onnx_file, device=device, num_threads=num_threads, input_size=input_size,
                              name=spec.name)
    folder = location if location.is_dir() else location.parent
    if (location.is_dir() or location.suffix.lower() == ".safetensors") and (folder / CONFIG_FILE).is_file():
        from depth_ros.models.compact import load_compact_torch  # noqa: PLC0415

        return load_compact_torch(spec, path=str(location), device=device, fp16=fp16, input_size=input_size,
                                  num_threads=num_threads)
    raise ModelLoadError(f"model {spec.name!r}: {str(location)!r} is not {EXPECTS}")
