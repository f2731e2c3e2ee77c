"""Spec and registry factory of ``tcmonodepth_small`` (no torch import).

TCMonoDepth small (Li et al., "Enforcing Temporal Consistency in Video Depth Estimation",
ICCV-W 2021; MIT) is a 185 k-parameter ShuffleNetV2 network for affine-invariant inverse depth,
trained on a mix of datasets, indoors and outdoors. Its shape generalises across real scenes better
than the NYU-only FastDepth or the synthetic-only compact model; radar or the ground plane give it
metres (README "Radar and IMU").

Input: RGB 0..255 (the graph divides by 255), short side resized to 256 with the aspect kept, each
side a multiple of 32 (640x480 -> 352x256). Output: inverse relative depth >= 0.

Runtime: the shipped ONNX graph (``weights/tcmonodepth_small``, dynamic height and width) through
ONNX Runtime, no torch. A ``model_path`` pointing at the original PyTorch state dict
(``*.pt.tar`` / ``*.pt`` / ``*.pth``) runs the torch module of `depth_ros.models.tcmonodepth` instead.
"""

from __future__ import annotations

from pathlib import Path

from depth_ros.core.errors import ModelLoadError
from depth_ros.models.base import DepthModel, check_device
from depth_ros.models.hub import resolve_weights
from depth_ros.models.onnx_backend import OnnxDepthModel
from depth_ros.models.spec import ModelSpec, OutputKind
from depth_ros.package_data import package_path

NAME = "tcmonodepth_small"
WEIGHTS_DIR = package_path("models", "weights", NAME)
ONNX_FILE = "tcmonodepth_small.onnx"  # sidecar: tcmonodepth_small.json
TORCH_SUFFIXES = (".tar", ".pt", ".pth")
EXPECTS = ("the tcmonodepth_small weights: a .onnx file with its .json sidecar (or a directory holding them), "
           "or the original PyTorch state dict (.pt.tar)")

SPEC = ModelSpec(
    NAME, "onnx", OutputKind.RELATIVE_INVERSE, 80.0, None, multiple_of=32, short_side=256,
    scale=1.0, default_path=str(WEIGHTS_DIR), env_subpath=NAME,
    description="TCMonoDepth small (ShuffleNetV2 0.5x encoder, 185 k parameters, MIT): general-purpose relative "
                "inverse depth, indoors and outdoors; needs radar or the ground plane for metres; ONNX Runtime",
)


def load_tcmonodepth(spec: ModelSpec, *, path: str | None = None, device: str = "cpu", fp16: bool = False,
                     input_size: tuple[int, int] | None = None, num_threads: int | None = None) -> DepthModel:
    """Registry factory: ONNX Runtime for the shipped graph, torch for an original state dict."""

    check_device(device, fp16, supported=("cpu", "cuda"))
    location = Path(resolve_weights(spec, path, EXPECTS).location)
    if location.is_file() and location.suffix.lower() in TORCH_SUFFIXES:
        from depth_ros.models.tcmonodepth import TcMonoDepthTorchModel  # noqa: PLC0415

        return TcMonoDepthTorchModel(spec.with_input_size(input_size), location, device=device, fp16=fp16,
                                     num_threads=num_threads)
    if location.is_file() and location.suffix.lower() != ".onnx":
        raise ModelLoadError(f"model {spec.name!r}: {str(location)!r} is not {EXPECTS}")
    return OnnxDepthModel(location, device=device, num_threads=num_threads, input_size=input_size, name=spec.name)
