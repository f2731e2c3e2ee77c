"""Start depth_node: camera image (+ CameraInfo) in, metric depth, camera info and cloud out.

Example (the shipped FastDepth weights; pass model:=... model_path:=... for another):
  ros2 launch depth_ros depth.launch.py image:=/camera/color/image_raw \
      camera_info:=/camera/color/camera_info
"""

from depth_ros.ros.launch_description import depth_launch_description


def generate_launch_description():
    return depth_launch_description("depth_node", {
        "image": "Input image topic (remaps 'image'; 'image/compressed' follows it)",
        "camera_info": "Input CameraInfo topic (remaps 'camera_info')",
    })
