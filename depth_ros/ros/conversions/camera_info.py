"""sensor_msgs/CameraInfo <-> `CameraModel`.

`camera_model_from_info` is duck-typed: it reads ROS 2 field names (k, d) and falls back to the
ROS 1 names (K, D) that `rosbags` keeps for ROS 1 bags. Binning and ROI are folded into the
intrinsics of the delivered image the way image_geometry does (see `CameraModel`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depth_ros.core.camera import PLUMB_BOB, CameraModel
from depth_ros.core.errors import CameraModelError
from depth_ros.ros.conversions.stamps import resolve_header, sensor_msgs

# Outside these limits (pixels) a pixel's ray (u - cx) / fx can overflow float32.
MIN_FOCAL_PX = 1e-3
MAX_PRINCIPAL_PX = 1e9


def _field(msg: Any, name: str) -> Any:
    value = getattr(msg, name, None)
    if value is None:
        value = getattr(msg, name.upper(), None)
    if value is None:
        raise CameraModelError(f"CameraInfo has no field '{name}'")
    return value


def camera_model_from_info(msg: Any) -> CameraModel:
    """The camera of the image that a CameraInfo describes (after its ROI and binning)."""
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise CameraModelError(f"CameraInfo size {width}x{height} (width x height) must be positive")
    k = np.asarray(_field(msg, "k"), dtype=np.float64).reshape(-1)
    if k.size != 9:
        raise CameraModelError(f"CameraInfo.k must have 9 elements, got {k.size}")
    if not np.isfinite(k).all():
        raise CameraModelError(f"CameraInfo.k contains NaN or inf: {k.tolist()}")
    if not k.any():
        raise CameraModelError("CameraInfo.k is all zeros: the camera is not calibrated")
    d = [float(v) for v in _field(msg, "d")]
    roi = msg.roi
    camera = CameraModel.from_camera_info_fields(
        width=width,
        height=height,
        k=k,
        d=d,
        distortion_model=str(msg.distortion_model),
        binning_x=int(msg.binning_x),
        binning_y=int(msg.binning_y),
        roi=(int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)),
    )
    if min(camera.fx, camera.fy) < MIN_FOCAL_PX or max(abs(camera.cx), abs(camera.cy)) > MAX_PRINCIPAL_PX:
        raise CameraModelError(f"CameraInfo intrinsics fx={camera.fx:.3g} fy={camera.fy:.3g} cx={camera.cx:.3g} "
                               f"cy={camera.cy:.3g} (after binning/ROI) are implausible: pixel rays would overflow")
    return camera


def camera_info_from_model(
    model: CameraModel,
    header: Any = None,
    frame_id: str | None = None,
    stamp: Any = None,
) -> Any:
    """`sensor_msgs.msg.CameraInfo` for an image taken with `model` (e.g. a depth/camera_info).

    k from the model, d and distortion_model kept, r identity, p = [K | 0], no binning, no ROI.
    A model without distortion is written as plumb_bob with five zeros, since image_geometry
    treats an empty distortion_model as unknown distortion.
    """
    info = sensor_msgs().CameraInfo()
    info.header = resolve_header(header, frame_id, stamp)
    info.width, info.height = model.width, model.height
    if model.is_distorted:
        info.distortion_model = model.distortion_model
        info.d = list(model.D)
    else:
        info.distortion_model = PLUMB_BOB
        info.d = [0.0] * 5
    K = model.K
    info.k = K.reshape(-1)
    info.r = np.eye(3).reshape(-1)
    info.p = np.hstack([K, np.zeros((3, 1))]).reshape(-1)
    info.binning_x = info.binning_y = 0
    return info
