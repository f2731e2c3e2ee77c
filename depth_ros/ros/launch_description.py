"""The launch descriptions of launch/depth.launch.py, launch/radar_depth.launch.py and launch/mapping.launch.py.

Imported only by `ros2 launch` (needs the `launch` and `launch_ros` packages of a ROS 2 install).
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "depth_ros"


def depth_launch_description(executable: str, topics: dict[str, str], params_default: str | None = None,
                             base_params: list[str] | None = None) -> LaunchDescription:
    """Arguments + one node; `topics` maps each remappable input topic to its argument's description.

    `params_default`: the params file argument's default (else config/<executable>.yaml);
    `base_params`: files loaded before it (the params file overrides them).
    """
    default_params = params_default or os.path.join(get_package_share_directory(PACKAGE), "config",
                                                    f"{executable}.yaml")
    args = [
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description=f"YAML file with the {executable} parameters"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
        DeclareLaunchArgument("model", default_value="",
                              description="Registered model name (overrides the params file when set; empty: the "
                                          "params file's model, else the node's default)"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="Local weights file or directory (overrides the params file when set)"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (bag replay)"),
        DeclareLaunchArgument("log_level", default_value="info", description="Logging level (debug, info, warn, error)"),
    ]
    remappings = []
    for topic, description in topics.items():
        arg = topic.replace("/", "_")
        args.append(DeclareLaunchArgument(arg, default_value=topic, description=description))
        remappings.append((topic, LaunchConfiguration(arg)))
        if topic == "image":
            remappings.append(("image/compressed", [LaunchConfiguration(arg), "/compressed"]))
    common = dict(
        package=PACKAGE,
        executable=executable,
        name=executable,
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        remappings=remappings,
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    # model and model_path override the params file only when given: one node variant per combination,
    # exactly one of which runs (launch has no conditional parameter entries).
    nodes = []
    for with_model in (True, False):
        for with_path in (True, False):
            overrides = {"use_sim_time": LaunchConfiguration("use_sim_time")}
            if with_model:
                overrides["model"] = LaunchConfiguration("model")
            if with_path:
                overrides["model_path"] = LaunchConfiguration("model_path")
            condition = PythonExpression(["'", LaunchConfiguration("model"), f"' {'!=' if with_model else '=='} '' and '",
                                          LaunchConfiguration("model_path"), f"' {'!=' if with_path else '=='} ''"])
            nodes.append(Node(parameters=[*(base_params or []), LaunchConfiguration("params_file"), overrides],
                              condition=IfCondition(condition), **common))
    return LaunchDescription(args + nodes)



def mapping_launch_description() -> LaunchDescription:
    """radar_depth_node (its launch arguments, with depth_map_node.yaml as the params file given to both
    nodes on top of radar_depth_node.yaml) + depth_map_node in the same namespace."""
    share = get_package_share_directory(PACKAGE)
    desc = depth_launch_description("radar_depth_node", {
        "image": "Input image topic (remaps 'image'; 'image/compressed' follows it)",
        "camera_info": "Input CameraInfo topic (remaps 'camera_info')",
        "radar/points": "Radar PointCloud2 topic (remaps 'radar/points')",
        "imu/data": "IMU topic (remaps 'imu/data')",
        "odom": "Odometry topic: the radar node's compensation and the map's camera pose (remaps 'odom')",
    }, params_default=os.path.join(share, "config", "depth_map_node.yaml"),
        base_params=[os.path.join(share, "config", "radar_depth_node.yaml")])
    desc.add_action(Node(package=PACKAGE, executable="depth_map_node", name="depth_map_node",
                         namespace=LaunchConfiguration("namespace"), output="screen",
                         remappings=[("odom", LaunchConfiguration("odom"))],
                         parameters=[LaunchConfiguration("params_file"),
                                     {"use_sim_time": LaunchConfiguration("use_sim_time")}],
                         arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")]))
    return desc
