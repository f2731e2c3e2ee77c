"""Depth network registry and backends.

Importing this package loads no ML framework: torch/transformers, onnxruntime and ai-edge-litert
are imported by a backend only when a model of that backend is loaded.
"""

from depth_ros.models.base import DepthModel
from depth_ros.models.registry import available_models, get_spec, load_model, register_model
from depth_ros.models.spec import ModelSpec, OutputKind

__all__ = [
    "DepthModel",
    "ModelSpec",
    "OutputKind",
    "available_models",
    "get_spec",
    "load_model",
    "register_model",
]
