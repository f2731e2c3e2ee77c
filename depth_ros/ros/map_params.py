"""Parameters of depth_map_node (no rclpy here: the README tables and the tests read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.transforms import OPTICAL_FROM_BODY, RigidTransform
from depth_ros.pipeline.param_schema import ParamDef, config_from_values, converted, param, ros_params


def camera_mount(translation: list, rotation_rpy: list) -> RigidTransform:
    """T_base_optical: optical-frame points -> base_link, from the camera_link mount parameters."""
    t, rpy = list(translation), list(rotation_rpy)
    if len(t) != 3 or len(rpy) != 3:
        raise InvalidInputError(f"camera.translation and camera.rotation_rpy need 3 values, got {t}, {rpy}")
    return RigidTransform.from_translation_rpy(t, rpy) @ OPTICAL_FROM_BODY.inverse()


@dataclass(frozen=True)
class MapNodeConfig:
    """The map node's parameters (declared with these names, descriptions and ranges)."""

    map_frame: str = param("odom", "map_frame", "Frame of the map (the odometry frame with pose_source odom).")
    pose_source: str = param("odom", "pose_source", "Camera pose from `odom` (Odometry + camera mount) or `tf`.",
                             choices=("odom", "tf"))
    pose_slop: float = param(0.1, "pose_slop", "Max seconds between a depth image and the odometry used for it.",
                             min=0.0, max=2.0)
    # T_base_optical, built from camera.translation and camera.rotation_rpy (`camera_mount`).
    camera_mount: RigidTransform = converted(
        ParamDef("camera.translation", [0.0, 0.0, 0.0],
                 "camera_link position in base_link (x forward, y left, z up), metres."),
        ParamDef("camera.rotation_rpy", [0.0, 0.0, 0.0], "camera_link orientation in base_link: roll, pitch, yaw (rad)."),
        default_factory=lambda: OPTICAL_FROM_BODY.inverse())
    voxel_size: float = param(0.05, "tsdf.voxel_size", "TSDF voxel edge (m).", min=0.005, max=1.0)
    block_budget: int = param(20000, "tsdf.block_budget",
                              "Most voxel blocks (8^3 voxels) kept; the farthest are dropped beyond it.", min=100,
                              max=2_000_000)
    max_depth: float = param(8.0, "tsdf.max_depth", "Depth beyond this (m) is not integrated.", min=0.1, max=100.0)
    min_confidence: float = param(0.3, "tsdf.min_confidence",
                                  "Pixels whose depth/confidence is below this are not integrated.", min=0.0, max=1.0)
    resolution: float = param(0.05, "grid.resolution", "Occupancy grid cell size (m).", min=0.01, max=1.0)
    grid_size: float = param(40.0, "grid.size", "Side of the square grid centred on the map origin (m).",
                             min=1.0, max=1000.0)
    ground_z: float = param(0.0, "grid.ground_z", "Height of the ground in the map frame (m).", min=-100.0,
                            max=100.0)
    min_height: float = param(0.1, "grid.min_height", "Obstacles start this high above the ground (m).",
                              min=-10.0, max=10.0)
    max_height: float = param(1.5, "grid.max_height", "Obstacles end this high above the ground (m).",
                              min=-10.0, max=50.0)
    publish_period: float = param(1.0, "publish_period", "Seconds between map and map/points messages.",
                                  min=0.05, max=60.0)
    mesh_enabled: bool = param(False, "mesh.enabled", "Publish `map/mesh`: the TSDF's mesh as a "
                               "visualization_msgs/Marker TRIANGLE_LIST (for RViz), every mesh.period.")
    mesh_period: float = param(5.0, "mesh.period", "Seconds between map/mesh messages.", min=0.5, max=600.0)
    mesh_max_triangles: int = param(20000, "mesh.max_triangles", "Larger meshes are simplified to this many "
                                    "triangles before publishing (quadric decimation).", min=100, max=5_000_000)
    save_directory: str = param("maps", "save_directory", "Folder ~/save_map writes map.ply, map.pgm, map.yaml to.")
    diagnostics_period: float = param(1.0, "diagnostics_period", "Seconds (steady clock) between /diagnostics.",
                                      min=0.1, max=60.0)
    autostart: bool = param(True, "autostart", "Configure and activate the lifecycle node at start-up.")

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> MapNodeConfig:
        return config_from_values(cls, values, camera_mount=camera_mount(values["camera.translation"],
                                                                         values["camera.rotation_rpy"]))

MAP_NODE_PARAMS: tuple[ParamDef, ...] = ros_params(MapNodeConfig)
