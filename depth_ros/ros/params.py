"""Parameters of the depth nodes: one table, declared with descriptions and ranges, read once.

The table is built from the config dataclasses (DepthNodeConfig here; PipelineConfig, FusionConfig
and NavConfig in depth_ros.pipeline), whose fields carry each parameter's name, description and
range (depth_ros.pipeline.param_schema). The shipped YAML files, the launch tests and the README's
tables (depth_ros.ros.params_doc) are checked against it, so a parameter exists in exactly one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import yaml

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical, quat_to_matrix, rpy_to_matrix
from depth_ros.pipeline.fusion import FusionConfig
from depth_ros.pipeline.nav import NavConfig
from depth_ros.pipeline.param_schema import ParamDef, config_from_values, param, ros_params, same_param
from depth_ros.pipeline.pipeline import PipelineConfig
from depth_ros.pipeline.temporal import TemporalConfig
from depth_ros.ros.startup import params_file_error

__all__ = ["DEPTH_NODE_DEFAULTS", "DEPTH_NODE_PARAMS", "FUSION_PARAMS", "NAV_PARAMS", "RADAR_NODE_DEFAULTS",
           "DepthNodeConfig", "ParamDef", "declare_params", "fusion_config_from_values", "load_params_file",
           "nav_config_from_values", "params_for", "params_yaml", "pipeline_config_from_values", "resolve_values"]


@dataclass(frozen=True)
class DepthNodeConfig:
    """Typed snapshot of the node's own parameters, in declaration order (the pipeline's among them)."""

    model: str = param("fastdepth_tflite", "model", "Registered model name (`depth-ros-models` lists them).")
    model_path: str = param("", "model_path",
                            "Local weights file or directory of the model; empty = the model's default.")
    device: str = param("cpu", "device", "Inference device.", choices=("cpu", "cuda"))
    fp16: bool = param(False, "fp16", "Half precision (CUDA only).")
    num_threads: int = param(0, "num_threads", "CPU threads for inference; 0 = backend default.", min=0, max=64)
    input_width: int = param(0, "input_width", "Network input width override; 0 = the model's own size.",
                             min=0, max=4096)
    input_height: int = param(0, "input_height", "Network input height override; 0 = the model's own size.",
                              min=0, max=4096)
    min_depth: float = same_param(PipelineConfig, "min_depth")
    max_depth: float = same_param(PipelineConfig, "max_depth")
    focal_normalise: bool = same_param(PipelineConfig, "focal_normalise")
    flip_average: bool = same_param(PipelineConfig, "flip_average")
    image_transport: str = param("raw", "image_transport", "Subscribe to `image` (raw) or `image/compressed`.",
                                 choices=("raw", "compressed"))
    camera_info_slop: float = param(0.02, "camera_info_slop",
                                    "Max stamp difference (s) to pair an image with a CameraInfo.", min=0.0, max=1.0)
    publish_cloud: bool = param(True, "publish_cloud", "Publish the organised cloud on `points`.")
    cloud_rgb: bool = same_param(PipelineConfig, "cloud_rgb")
    cloud_decimation: int = same_param(PipelineConfig, "cloud_decimation")
    queue_policy: str = param("newest", "queue_policy",
                              "newest: drop frames that arrive while busy; fifo: queue up to queue_size.",
                              choices=("newest", "fifo"))
    queue_size: int = param(1, "queue_size", "Frames kept waiting with queue_policy fifo.", min=1, max=100)
    diagnostics_period: float = param(
        1.0, "diagnostics_period", "Seconds (steady clock, also under use_sim_time) between /diagnostics messages.",
        min=0.1, max=60.0)
    autostart: bool = param(True, "autostart", "Configure and activate the lifecycle node at start-up.")
    publish_confidence: bool = param(True, "publish_confidence",
                                     "Publish depth/confidence (32FC1, 0..1) when a scale source is enabled.")
    cloud_confidence: bool = same_param(PipelineConfig, "cloud_confidence")

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> DepthNodeConfig:
        """The node's settings from its parameter values."""
        return config_from_values(cls, values)


DEPTH_NODE_PARAMS: tuple[ParamDef, ...] = ros_params(DepthNodeConfig)
FUSION_PARAMS: tuple[ParamDef, ...] = ros_params(FusionConfig)
NAV_PARAMS: tuple[ParamDef, ...] = ros_params(NavConfig)
TEMPORAL_PARAMS: tuple[ParamDef, ...] = ros_params(TemporalConfig)

# depth_node's defaults that differ from the configs': the mirrored-image average lowers FastDepth's real-image
# AbsRel alone (README "Models"); with radar the scale fit gains nothing from it, so the radar node keeps the
# network's time.
DEPTH_NODE_DEFAULTS = {"flip_average": True}
# Defaults that differ for radar_depth_node (same code, fusion on by default).
# Models: chosen by `depth-ros-bench real` (depth_node: best real-image AbsRel alone; radar_depth_node: best
# radar-fused AbsRel), both shipped in the package.
RADAR_NODE_DEFAULTS = {"model": "tcmonodepth_small", "radar.enabled": True, "imu.enabled": True,
                       "cloud_confidence": True, "ground.enabled": True}
_IDENTITY_QUAT = [0.0, 0.0, 0.0, 1.0]


def params_for(node_name: str) -> tuple[ParamDef, ...]:
    """The parameter table of an executable (its own defaults applied)."""
    table = DEPTH_NODE_PARAMS + FUSION_PARAMS + TEMPORAL_PARAMS + NAV_PARAMS
    own = RADAR_NODE_DEFAULTS if node_name == "radar_depth_node" else DEPTH_NODE_DEFAULTS
    return tuple(replace(p, default=own.get(p.name, p.default)) for p in table)


def _rotation(values: dict[str, Any], prefix: str) -> np.ndarray:
    rpy, quat = list(values[f"{prefix}.rotation_rpy"]), list(values[f"{prefix}.rotation_quaternion"])
    if len(rpy) != 3 or len(quat) != 4:
        raise InvalidInputError(f"{prefix}.rotation_rpy needs 3 values and {prefix}.rotation_quaternion 4, "
                                f"got {rpy} and {quat}")
    if quat != _IDENTITY_QUAT:
        if any(rpy):
            raise InvalidInputError(f"set either {prefix}.rotation_rpy or {prefix}.rotation_quaternion, not both")
        return quat_to_matrix(quat)
    return rpy_to_matrix(*rpy)


def pipeline_config_from_values(values: dict[str, Any]) -> PipelineConfig:
    """PipelineConfig from the node's parameter values."""
    return config_from_values(PipelineConfig, values)


def fusion_config_from_values(values: dict[str, Any]) -> FusionConfig:
    """FusionConfig from the node's parameter values (extrinsics converted to optical-frame transforms)."""
    t = list(values["radar.translation"])
    if len(t) != 3:
        raise InvalidInputError(f"radar.translation needs 3 values, got {t}")
    T_radar = body_extrinsic_to_optical(RigidTransform(_rotation(values, "radar"), np.asarray(t, float)))
    R_imu = body_extrinsic_to_optical(RigidTransform(_rotation(values, "imu"), np.zeros(3))).R
    return config_from_values(FusionConfig, values, T_cam_radar=T_radar, R_cam_imu=R_imu)


def temporal_config_from_values(values: dict[str, Any]) -> TemporalConfig:
    """TemporalConfig from the node's parameter values."""
    return config_from_values(TemporalConfig, values)


def nav_config_from_values(values: dict[str, Any]) -> NavConfig:
    """NavConfig from the node's parameter values (height band and fixed mounting converted)."""
    mount = (values["mount.roll"], values["mount.pitch"]) if values["mount.fixed_gravity"] else None
    return config_from_values(NavConfig, values, height_band=(values["obstacles.min_height"],
                                                              values["obstacles.max_height"]),
                              mount_roll_pitch=mount)


def declare_params(node: Any, table: Sequence[ParamDef]) -> dict[str, Any]:
    """Declare every parameter of `table` on an rclpy node and return their values."""
    # rclpy only here: the tables, params files and configs are used without ROS (tools, README test).
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor  # noqa: PLC0415

    values = {}
    for p in table:
        desc = p.description
        if p.choices:
            desc += f" One of: {', '.join(p.choices)}."
        descriptor = ParameterDescriptor(description=desc, read_only=True)
        if p.min is not None and not isinstance(p.default, bool):
            if isinstance(p.default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=1)]
            elif isinstance(p.default, float):
                descriptor.floating_point_range = [FloatingPointRange(from_value=float(p.min), to_value=float(p.max))]
        values[p.name] = node.declare_parameter(p.name, p.default, descriptor).value
        if p.choices and values[p.name] not in p.choices:
            raise InvalidInputError(f"parameter {p.name}={values[p.name]!r} must be one of {p.choices}")
    return values


def load_params_file(path: str, node_name: str) -> dict[str, Any]:
    """The flat parameter values a ROS 2 params YAML gives a node (`node`, `/node`, `/**/node`, `/**`)."""
    problem = params_file_error(path)
    if problem:
        raise InvalidInputError(problem)
    with open(path, encoding="utf-8") as f:
        content = yaml.safe_load(f) or {}
    if not isinstance(content, dict):
        raise InvalidInputError(f"params file {path} is not a mapping of node names")
    values: dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}", f"/**/{node_name}"):
        block = content.get(key)
        if isinstance(block, dict) and isinstance(block.get("ros__parameters"), dict):
            values.update(_flatten(block["ros__parameters"]))
    return values


def _flatten(params: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def resolve_values(node_name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults of `node_name` with `overrides` applied, checked as rclpy would (type, range, choices)."""
    table = {p.name: p for p in params_for(node_name)}
    values = {name: p.default for name, p in table.items()}
    for name, value in overrides.items():
        if name == "use_sim_time":
            continue
        p = table.get(name)
        if p is None:
            raise InvalidInputError(f"unknown parameter {name!r} for {node_name}")
        if isinstance(p.default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(p.default):
            raise InvalidInputError(f"parameter {name} must be {type(p.default).__name__}, got {value!r}")
        if p.min is not None and not isinstance(value, (bool, list)) and not (p.min <= value <= p.max):
            raise InvalidInputError(f"parameter {name}={value} is outside [{p.min}, {p.max}]")
        if p.choices and value not in p.choices:
            raise InvalidInputError(f"parameter {name}={value!r} must be one of {p.choices}")
        values[name] = value
    return values


def params_yaml(node_name: str, values: dict[str, Any]) -> str:
    """A ROS 2 params file (`/**/<node>: ros__parameters:`, nested by dots) for `values`."""
    nested: dict[str, Any] = {}
    for name, value in sorted(values.items()):
        *groups, leaf = name.split(".")
        target = nested
        for g in groups:
            target = target.setdefault(g, {})
        target[leaf] = list(value) if isinstance(value, (list, tuple)) else value

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump({f"/**/{node_name}": {"ros__parameters": nested}}, Dumper=NoAliases, sort_keys=False)
