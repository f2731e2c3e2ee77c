"""Parameters of the depth nodes: one table, declared with descriptions and ranges, read once.

The table is also what the launch/config consistency test and the README's parameter list
are checked against, so a parameter exists in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence


@dataclass(frozen=True)
class ParamDef:
    name: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def type(self) -> type:
        return type(self.default)


DEPTH_NODE_PARAMS: tuple[ParamDef, ...] = (
    ParamDef("model", "fastdepth_tflite", "Registered model name (see `depth-ros-models` / README)."),
    ParamDef("model_path", "", "Local weights file or directory of the model; empty = the model's default."),
    ParamDef("device", "cpu", "Inference device.", choices=("cpu", "cuda")),
    ParamDef("fp16", False, "Half precision (CUDA only)."),
    ParamDef("num_threads", 0, "CPU threads for inference; 0 = backend default.", 0, 64),
    ParamDef("input_width", 0, "Network input width override; 0 = the model's own size.", 0, 4096),
    ParamDef("input_height", 0, "Network input height override; 0 = the model's own size.", 0, 4096),
    ParamDef("min_depth", 0.1, "Depth below this (metres) is published as NaN.", 0.0, 1000.0),
    ParamDef("max_depth", 20.0, "Depth above this (metres) is published as NaN.", 0.01, 1000.0),
    ParamDef("image_transport", "raw", "Subscribe to `image` (raw) or `image/compressed`.", choices=("raw", "compressed")),
    ParamDef("camera_info_slop", 0.02, "Max stamp difference (s) to pair an image with a CameraInfo.", 0.0, 1.0),
    ParamDef("publish_cloud", True, "Publish the organised cloud on `points`."),
    ParamDef("cloud_rgb", True, "Colour the cloud (xyzrgb, point_step 32) instead of xyz (16)."),
    ParamDef("cloud_decimation", 1, "Use every n-th pixel in both directions for the cloud.", 1, 16),
    ParamDef("queue_policy", "newest", "newest: drop frames that arrive while busy; fifo: queue up to queue_size.",
             choices=("newest", "fifo")),
    ParamDef("queue_size", 1, "Frames kept waiting with queue_policy fifo.", 1, 100),
    ParamDef("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", 0.1, 60.0),
    ParamDef("autostart", True, "Configure and activate the lifecycle node at start-up."),
)


@dataclass(frozen=True)
class DepthNodeConfig:
    """Typed snapshot of the node's parameters."""

    model: str
    model_path: str
    device: str
    fp16: bool
    num_threads: int
    input_width: int
    input_height: int
    min_depth: float
    max_depth: float
    image_transport: str
    camera_info_slop: float
    publish_cloud: bool
    cloud_rgb: bool
    cloud_decimation: int
    queue_policy: str
    queue_size: int
    diagnostics_period: float
    autostart: bool

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> "DepthNodeConfig":
        return cls(**{f.name: values[f.name] for f in fields(cls)})


def declare_params(node: Any, table: Sequence[ParamDef]) -> dict[str, Any]:
    """Declare every parameter of `table` on an rclpy node and return their values."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    values = {}
    for p in table:
        desc = p.description
        if p.choices:
            desc += f" One of: {', '.join(p.choices)}."
        descriptor = ParameterDescriptor(description=desc, read_only=True)
        if p.min is not None and isinstance(p.default, bool) is False:
            if isinstance(p.default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=1)]
            elif isinstance(p.default, float):
                descriptor.floating_point_range = [FloatingPointRange(from_value=float(p.min), to_value=float(p.max))]
        values[p.name] = node.declare_parameter(p.name, p.default, descriptor).value
        if p.choices and values[p.name] not in p.choices:
            raise ValueError(f"parameter {p.name}={values[p.name]!r} must be one of {p.choices}")
    return values
