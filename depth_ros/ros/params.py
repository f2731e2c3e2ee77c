"""Parameters of the depth nodes: one table, declared with descriptions and ranges, read once.

The table is also what the launch/config consistency test and the README's parameter list
are checked against, so a parameter exists in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
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
    ParamDef("model", "fastdepth_tflite", "Registered model name (`depth-ros-models` lists them)."),
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
    ParamDef("diagnostics_period", 1.0, "Seconds (steady clock, also under use_sim_time) between /diagnostics messages.", 0.1, 60.0),
    ParamDef("autostart", True, "Configure and activate the lifecycle node at start-up."),
    ParamDef("publish_confidence", True, "Publish depth/confidence (32FC1, 0..1) when a scale source is enabled."),
    ParamDef("cloud_confidence", False, "Add a float32 'confidence' field to the cloud (in depth_image_proc's padding)."),
)

_XYZ = [0.0, 0.0, 0.0]
_QUAT = [0.0, 0.0, 0.0, 1.0]

FUSION_PARAMS: tuple[ParamDef, ...] = (
    ParamDef("radar.enabled", False, "Subscribe to `radar/points` (PointCloud2 with x, y, z) and scale depth with it."),
    ParamDef("radar.translation", _XYZ, "Radar position in camera_link (x forward, y left, z up), metres."),
    ParamDef("radar.rotation_rpy", _XYZ, "Radar orientation in camera_link: roll, pitch, yaw (rad, REP-103)."),
    ParamDef("radar.rotation_quaternion", _QUAT,
             "Radar orientation in camera_link as x, y, z, w; used instead of rotation_rpy when not identity."),
    ParamDef("radar.use_tf", True, "Look the radar->camera transform up with tf2 when tf2_ros is importable."),
    ParamDef("radar.max_scans", 3, "Radar scans accumulated per image.", 1, 50),
    ParamDef("radar.max_age", 0.5, "Oldest radar scan used, seconds before the image.", 0.01, 5.0),
    ParamDef("radar.min_range", 0.2, "Radar points nearer than this (metres, camera z) are dropped.", 0.0, 50.0),
    ParamDef("radar.max_range", 100.0, "Radar points farther than this (metres, camera z) are dropped.", 0.5, 1000.0),
    ParamDef("radar.max_points", 100000, "Clouds with more points are subsampled to this many.", 10, 10000000),
    ParamDef("radar.reject_clutter", False, "Drop radar points that contradict the network's depth ordering before "
             "the fit (off: the fit's robust weights and the neighbour consistency test handle clutter)."),
    ParamDef("radar.prior_radius", 3, "Disc radius (pixels) of the radar prior fed to 4-channel networks.", 0, 50),
    ParamDef("imu.enabled", False, "Subscribe to `imu/data` (sensor_msgs/Imu): gravity and motion compensation."),
    ParamDef("imu.translation", _XYZ, "IMU position in camera_link, metres (informational: compensation is rotation-only)."),
    ParamDef("imu.rotation_rpy", _XYZ, "IMU orientation in camera_link: roll, pitch, yaw (rad, REP-103)."),
    ParamDef("imu.rotation_quaternion", _QUAT,
             "IMU orientation in camera_link as x, y, z, w; used instead of rotation_rpy when not identity."),
    ParamDef("imu.gain", 0.02, "Complementary-filter gain per sample (accelerometer weight).", 0.0001, 1.0),
    ParamDef("imu.motion_compensation", True, "Rotate radar scans to the image time with the integrated gyro."),
    ParamDef("odom.enabled", False, "Subscribe to `odom` (nav_msgs/Odometry) for translation between scan and image."),
    ParamDef("ground.enabled", False, "Use the ground plane (needs IMU and camera_height) when radar is absent/sparse."),
    ParamDef("ground.camera_height", 0.0, "Camera height above the ground, metres; 0 = unknown.", 0.0, 20.0),
    ParamDef("ground.max_distance", 20.0, "Ground pixels farther than this are not used.", 1.0, 200.0),
    ParamDef("scale.mode", "spatial", "global: one scale per frame; spatial: plus a smooth local correction.",
             choices=("global", "spatial")),
    ParamDef("scale.method", "huber", "Robust fit of the global scale.", choices=("huber", "ransac")),
    ParamDef("scale.min_points", 5, "Fewest radar points for a full fit; fewer give a median scale with low confidence.", 2, 1000),
    ParamDef("scale.max_residual", 0.4, "Robust log-depth spread of a full-quality fit; beyond it the fit degrades "
             "(consistent subset, then scale only) instead of being rejected.", 0.01, 5.0),
    ParamDef("scale.range_tolerance", 0.5, "The spread tolerated grows to this times the log-depth spread of the "
             "radar points (wide depth ranges tolerate more shape error).", 0.0, 5.0),
    ParamDef("scale.temporal", True, "Kalman-filter the scale over time (reset when time jumps back)."),
    ParamDef("scale.process_noise", 0.02, "Scale random-walk noise per sqrt(second) (log units).", 0.0, 10.0),
    ParamDef("scale.spatial_sigma_px", 50.0, "Reach (pixels, on a 640-wide image; scaled with the width) of one radar point's local correction; a coarse pass reaches 3x as far.", 1.0, 2000.0),
)

NAV_PARAMS: tuple[ParamDef, ...] = (
    ParamDef("obstacles.enabled", False, "Publish `points/obstacles`: filtered, voxelised obstacle cloud for costmaps."),
    ParamDef("obstacles.leaf_size", 0.05, "Voxel size (metres); one centroid per occupied voxel.", 0.01, 1.0),
    ParamDef("obstacles.min_confidence", 0.5, "Pixels with lower depth confidence are ignored.", 0.0, 1.0),
    ParamDef("obstacles.min_depth", 0.1, "Nearest depth used for obstacles (metres).", 0.0, 100.0),
    ParamDef("obstacles.max_depth", 5.0, "Farthest depth used for obstacles (metres).", 0.1, 100.0),
    ParamDef("obstacles.min_neighbors", 2, "Voxels with fewer occupied neighbours (of 26) are noise.", 0, 26),
    ParamDef("obstacles.min_height", 0.05, "Lowest obstacle height above the ground (metres; needs gravity).",
             -10.0, 10.0),
    ParamDef("obstacles.max_height", 2.0, "Highest obstacle height above the ground (metres; needs gravity).",
             -10.0, 20.0),
    ParamDef("obstacles.output_frame", "optical", "optical: the image's frame; gravity: gravity-aligned frame "
             "obstacles.gravity_frame_id (z up; its TF must be provided).", choices=("optical", "gravity")),
    ParamDef("obstacles.gravity_frame_id", "camera_gravity", "frame_id of gravity-aligned obstacle clouds."),
    ParamDef("scan.enabled", False, "Publish `scan` (sensor_msgs/LaserScan) like depthimage_to_laserscan."),
    ParamDef("scan.range_min", 0.1, "LaserScan range_min (metres).", 0.0, 100.0),
    ParamDef("scan.range_max", 8.0, "LaserScan range_max (metres).", 0.1, 200.0),
    ParamDef("scan.height_rows", 10, "Rows around the optical centre used per beam (row-band mode).", 1, 4096),
    ParamDef("scan.use_gravity_band", False, "With gravity and ground.camera_height: use every pixel whose "
             "height is inside [obstacles.min_height, obstacles.max_height]."),
    ParamDef("scan.frame_id", "camera_link", "frame_id of the scan: a frame with x forward, z up at the camera."),
    ParamDef("mount.fixed_gravity", False, "Without an IMU: take gravity from mount.roll / mount.pitch."),
    ParamDef("mount.roll", 0.0, "Camera roll w.r.t. gravity (rad, REP-103) when mount.fixed_gravity.", -3.15, 3.15),
    ParamDef("mount.pitch", 0.0, "Camera pitch w.r.t. gravity (rad, + = looking down) when mount.fixed_gravity.",
             -1.58, 1.58),
)

# Defaults that differ for radar_depth_node (same code, fusion on by default).
# Models: chosen by `depth-ros-bench real` (depth_node: best real-image AbsRel alone; radar_depth_node: best
# radar-fused AbsRel), both shipped in the package.
RADAR_NODE_DEFAULTS = {"model": "tcmonodepth_small", "radar.enabled": True, "imu.enabled": True,
                       "cloud_confidence": True, "ground.enabled": True}


def params_for(node_name: str) -> tuple[ParamDef, ...]:
    """The parameter table of an executable (its own defaults applied)."""
    table = DEPTH_NODE_PARAMS + FUSION_PARAMS + NAV_PARAMS
    if node_name == "radar_depth_node":
        table = tuple(replace(p, default=RADAR_NODE_DEFAULTS.get(p.name, p.default)) for p in table)
    return table


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
    publish_confidence: bool
    cloud_confidence: bool

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> "DepthNodeConfig":
        return cls(**{f.name: values[f.name] for f in fields(cls)})


def _rotation(values: dict[str, Any], prefix: str):
    from depth_ros.core.errors import InvalidInputError
    from depth_ros.core.transforms import quat_to_matrix, rpy_to_matrix

    rpy, quat = list(values[f"{prefix}.rotation_rpy"]), list(values[f"{prefix}.rotation_quaternion"])
    if len(rpy) != 3 or len(quat) != 4:
        raise InvalidInputError(f"{prefix}.rotation_rpy needs 3 values and {prefix}.rotation_quaternion 4, "
                                f"got {rpy} and {quat}")
    if quat != _QUAT:
        if any(rpy):
            raise InvalidInputError(f"set either {prefix}.rotation_rpy or {prefix}.rotation_quaternion, not both")
        return quat_to_matrix(quat)
    return rpy_to_matrix(*rpy)


def fusion_config_from_values(values: dict[str, Any]):
    """FusionConfig from the node's parameter values (extrinsics converted to optical-frame transforms)."""
    import numpy as np

    from depth_ros.core.errors import InvalidInputError
    from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical
    from depth_ros.pipeline.fusion import FusionConfig

    t = list(values["radar.translation"])
    if len(t) != 3:
        raise InvalidInputError(f"radar.translation needs 3 values, got {t}")
    T_radar = body_extrinsic_to_optical(RigidTransform(_rotation(values, "radar"), np.asarray(t, float)))
    R_imu = body_extrinsic_to_optical(RigidTransform(_rotation(values, "imu"), np.zeros(3))).R
    return FusionConfig(
        radar_enabled=values["radar.enabled"], T_cam_radar=T_radar, radar_max_scans=values["radar.max_scans"],
        radar_max_age_s=values["radar.max_age"], radar_min_range=values["radar.min_range"],
        radar_max_range=values["radar.max_range"], radar_reject_clutter=values["radar.reject_clutter"],
        prior_radius_px=values["radar.prior_radius"], imu_enabled=values["imu.enabled"], R_cam_imu=R_imu,
        imu_gain=values["imu.gain"], motion_compensation=values["imu.motion_compensation"],
        ground_enabled=values["ground.enabled"], camera_height=values["ground.camera_height"],
        ground_max_distance=values["ground.max_distance"], scale_mode=values["scale.mode"],
        scale_method=values["scale.method"], min_points=values["scale.min_points"],
        max_residual=values["scale.max_residual"], range_tolerance=values["scale.range_tolerance"],
        temporal=values["scale.temporal"],
        process_noise=values["scale.process_noise"], spatial_sigma_px=values["scale.spatial_sigma_px"],
    )


def declare_params(node: Any, table: Sequence[ParamDef]) -> dict[str, Any]:
    """Declare every parameter of `table` on an rclpy node and return their values."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

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
            raise ValueError(f"parameter {p.name}={values[p.name]!r} must be one of {p.choices}")
    return values


def nav_config_from_values(values: dict[str, Any]):
    """NavConfig from the node's parameter values."""
    from depth_ros.pipeline.nav import NavConfig

    return NavConfig(
        obstacles_enabled=values["obstacles.enabled"], leaf_size=values["obstacles.leaf_size"],
        min_confidence=values["obstacles.min_confidence"], obstacle_min_depth=values["obstacles.min_depth"],
        obstacle_max_depth=values["obstacles.max_depth"], min_neighbors=values["obstacles.min_neighbors"],
        height_band=(values["obstacles.min_height"], values["obstacles.max_height"]),
        output_frame=values["obstacles.output_frame"], scan_enabled=values["scan.enabled"],
        scan_range_min=values["scan.range_min"], scan_range_max=values["scan.range_max"],
        scan_height_rows=values["scan.height_rows"], scan_use_gravity=values["scan.use_gravity_band"],
        camera_height=values["ground.camera_height"],
        mount_roll_pitch=(values["mount.roll"], values["mount.pitch"]) if values["mount.fixed_gravity"] else None,
    )


def load_params_file(path: str, node_name: str) -> dict[str, Any]:
    """The flat parameter values a ROS 2 params YAML gives a node (`node`, `/node`, `/**/node`, `/**`)."""
    import yaml

    from depth_ros.core.errors import InvalidInputError

    from depth_ros.ros.startup import params_file_error

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
    from depth_ros.core.errors import InvalidInputError

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
    import yaml

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
