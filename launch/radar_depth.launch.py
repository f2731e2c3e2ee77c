"""Start radar_depth_node: camera + mmWave radar + IMU in, metric depth, confidence and cloud out.

Example:
  ros2 launch depth_ros radar_depth.launch.py image:=/camera/image_raw camera_info:=/camera/camera_info \
      radar_points:=/radar/points imu_data:=/imu/data params_file:=/path/to/my_robot.yaml
"""

from depth_ros.ros.launch_description import depth_launch_description


def generate_launch_description():
    return depth_launch_description("radar_depth_node", {
        "image": "Input image topic (remaps 'image'; 'image/compressed' follows it)",
        "camera_info": "Input CameraInfo topic (remaps 'camera_info')",
        "radar/points": "Radar PointCloud2 topic (remaps 'radar/points')",
        "imu/data": "IMU topic (remaps 'imu/data')",
        "odom": "Odometry topic, used when odom.enabled (remaps 'odom')",
    })
