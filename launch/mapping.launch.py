"""Start radar_depth_node + depth_map_node: metric depth, then a TSDF map and a Nav2 occupancy grid from it.

Example:
  ros2 launch depth_ros mapping.launch.py image:=/camera/image_raw camera_info:=/camera/camera_info \
      radar_points:=/radar/points imu_data:=/imu/data odom:=/odom params_file:=/path/to/my_robot.yaml
"""

from depth_ros.ros.launch_description import mapping_launch_description


def generate_launch_description():
    return mapping_launch_description()
