"""Start depth_node: camera image (+ CameraInfo) in, metric depth, camera info and cloud out.

Example:
  ros2 launch depth_ros depth.launch.py image:=/camera/color/image_raw \
      camera_info:=/camera/color/camera_info model:=fastdepth_tflite \
      model_path:=/path/to/fast_depth_224.tflite
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

PACKAGE = "depth_ros"


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory(PACKAGE), "config", "depth_node.yaml")
    args = [
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="YAML file with the depth_node parameters"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
        DeclareLaunchArgument("image", default_value="image", description="Input image topic (remaps 'image')"),
        DeclareLaunchArgument("camera_info", default_value="camera_info",
                              description="Input CameraInfo topic (remaps 'camera_info')"),
        DeclareLaunchArgument("model", default_value="fastdepth_tflite",
                              description="Registered model name (overrides the params file)"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="Local weights file or directory (overrides the params file when set)"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (bag replay)"),
        DeclareLaunchArgument("log_level", default_value="info", description="Logging level (debug, info, warn, error)"),
    ]
    common = dict(
        package=PACKAGE,
        executable="depth_node",
        name="depth_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("image/compressed", [LaunchConfiguration("image"), "/compressed"]),
            ("camera_info", LaunchConfiguration("camera_info")),
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    with_path = Node(
        parameters=[
            LaunchConfiguration("params_file"),
            {"model": LaunchConfiguration("model"), "model_path": LaunchConfiguration("model_path"),
             "use_sim_time": LaunchConfiguration("use_sim_time")},
        ],
        condition=IfCondition(PythonExpression(["'", LaunchConfiguration("model_path"), "' != ''"])),
        **common,
    )
    without_path = Node(
        parameters=[
            LaunchConfiguration("params_file"),
            {"model": LaunchConfiguration("model"), "use_sim_time": LaunchConfiguration("use_sim_time")},
        ],
        condition=UnlessCondition(PythonExpression(["'", LaunchConfiguration("model_path"), "' != ''"])),
        **common,
    )
    return LaunchDescription(args + [with_path, without_path])
