"""Conversions between ROS messages and numpy / depth_ros core types.

Decoders (message -> numpy) are duck-typed and work on rclpy messages and on messages
deserialised by `rosbags`; encoders build rclpy messages, importing them on first use.
"""

from depth_ros.ros.conversions.camera_info import camera_info_from_model, camera_model_from_info
from depth_ros.ros.conversions.compressed import compressed_to_rgb, rgb_to_compressed
from depth_ros.ros.conversions.image import (
    ENCODINGS,
    array_to_image,
    depth_to_image,
    image_to_array,
    image_to_depth_m,
    image_to_rgb,
)
from depth_ros.ros.conversions.imu import ImuSample, imu_from_msg
from depth_ros.ros.conversions.pointcloud2 import POINTFIELD_DTYPES, cloud_to_msg, points_to_msg, read_fields
from depth_ros.ros.conversions.stamps import make_header, ns_to_stamp, stamp_to_ns, stamp_to_sec

__all__ = [
    "ENCODINGS",
    "POINTFIELD_DTYPES",
    "ImuSample",
    "array_to_image",
    "camera_info_from_model",
    "camera_model_from_info",
    "cloud_to_msg",
    "compressed_to_rgb",
    "depth_to_image",
    "image_to_array",
    "image_to_depth_m",
    "image_to_rgb",
    "imu_from_msg",
    "make_header",
    "ns_to_stamp",
    "points_to_msg",
    "read_fields",
    "rgb_to_compressed",
    "stamp_to_ns",
    "stamp_to_sec",
]
