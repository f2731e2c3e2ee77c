"""Spec and runtime factory name of ``compact_depth``, the project's own compact depth network (no torch import).

The network (`depth_ros.models.compact`, torch) is FastDepth-like: a MobileNet encoder of
depthwise-separable convolutions, a light decoder with nearest upsampling and additive skip
connections, and a metric output ``max_depth * sigmoid(logit)``. It was trained here on the
synthetic hall/yard worlds of `depth_ros.sim` (see ``weights/compact_depth/MODEL_CARD.md``).

Input (4 channels, 240 x 320): RGB / 255 normalised with the ImageNet mean/std, plus the sparse
radar prior in metres (0 = no radar) as produced by `FusionStage.prior` (discs of the projected
radar points). Training dropped the prior for part of the samples, so the model also works with
an all-zero prior (no radar): `DepthModel.predict(rgb)` without a prior feeds zeros.

Runtime: the shipped ONNX graph through ONNX Runtime (`depth_ros.models.compact_runtime`, no
torch); a training output directory with ``config.json`` + ``model.safetensors`` (written by
`depth_ros.models.compact.save_compact`) runs with torch instead.
"""

from __future__ import annotations

from depth_ros.models.spec import ModelSpec, OutputKind
from depth_ros.package_data import package_path

NAME = "compact_depth"
FACTORY_MODULE = "depth_ros.models.compact_runtime"
FACTORY_FUNCTION = "load_compact"
WEIGHTS_DIR = package_path("models", "weights", NAME)
ONNX_FILE = "compact_depth.onnx"  # sidecar: compact_depth.json (depth_ros.models.onnx_backend format)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DEFAULT_MAX_DEPTH = 40.0
INPUT_SIZE = (240, 320)  # (height, width)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

SPEC = ModelSpec(
    NAME, "onnx", OutputKind.METRIC, DEFAULT_MAX_DEPTH, INPUT_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD,
    input_channels=4, default_path=str(WEIGHTS_DIR), env_subpath=NAME,
    description="compact FastDepth-like CNN (MobileNet encoder, depthwise-separable decoder, 1.4 M parameters) "
                "trained on the synthetic hall/yard worlds; metric up to 40 m; optional radar prior (metres) as a "
                "4th channel, zeros = no radar; ONNX Runtime (torch for training checkpoints)",
)
