"""CameraInfo <-> CameraModel: image_geometry's binning/ROI rules with hand-computed numbers."""

from types import SimpleNamespace

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, RegionOfInterest

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import CameraModelError
from depth_ros.ros.conversions import camera_info_from_model, camera_model_from_info

K = [525.0, 0.0, 319.5, 0.0, 520.0, 239.5, 0.0, 0.0, 1.0]
D = [-0.25, 0.08, 0.001, -0.002, 0.0]


def _info(width=640, height=480, k=K, d=D, model="plumb_bob", bx=0, by=0, roi=(0, 0, 0, 0)):
    info = CameraInfo()
    info.width, info.height = width, height
    info.k = list(k)
    info.d = list(d)
    info.distortion_model = model
    info.binning_x, info.binning_y = bx, by
    info.roi = RegionOfInterest(x_offset=roi[0], y_offset=roi[1], width=roi[2], height=roi[3])
    return info


def _fields_of(info):
    return {name: getattr(info, name) for name in info.get_fields_and_field_types()}


def test_plain_info():
    cam = camera_model_from_info(_info())
    assert (cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy) == (640, 480, 525.0, 520.0, 319.5, 239.5)
    assert cam.distortion_model == "plumb_bob" and tuple(D) == cam.D


def test_binning_and_roi_as_image_geometry():
    # image_geometry: cx' = (cx - x_offset) / binning_x, size = roi size / binning
    cam = camera_model_from_info(_info(bx=2, by=4, roi=(100, 40, 320, 240)))
    assert (cam.width, cam.height) == (160, 60)
    assert (cam.fx, cam.fy) == (262.5, 130.0)
    assert (cam.cx, cam.cy) == ((319.5 - 100) / 2, (239.5 - 40) / 4) == (109.75, 49.875)

    cam = camera_model_from_info(_info(bx=2, by=2))
    assert (cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy) == (320, 240, 262.5, 260.0, 159.75, 119.75)

    # binning 1 is the same as 0; a zero-size ROI means the full image
    assert camera_model_from_info(_info(bx=1, by=1, roi=(10, 10, 0, 0))) == camera_model_from_info(_info())


def test_ros1_field_names_from_rosbags():
    ros1 = SimpleNamespace(
        width=640, height=480, K=np.array(K), D=np.array(D), distortion_model="plumb_bob", binning_x=0,
        binning_y=0, roi=SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0),
    )
    assert camera_model_from_info(ros1) == camera_model_from_info(_info())


@pytest.mark.parametrize(
    "model",
    [
        CameraModel(640, 480, 525.0, 520.0, 319.5, 239.5),
        CameraModel(640, 480, 525.0, 520.0, 319.5, 239.5, "plumb_bob", D),
        CameraModel(320, 200, 300.0, 300.0, 160.2, 99.1, "equidistant", [0.1, -0.01, 0.002, 0.0]),
    ],
)
def test_round_trip(model):
    info = camera_info_from_model(model, frame_id="depth_optical", stamp=42)
    assert isinstance(info, CameraInfo)
    assert (info.header.frame_id, info.header.stamp.nanosec) == ("depth_optical", 42)
    assert (info.width, info.height) == (model.width, model.height)
    fx, fy, cx, cy = model.fx, model.fy, model.cx, model.cy
    np.testing.assert_array_equal(info.k, [fx, 0, cx, 0, fy, cy, 0, 0, 1])
    np.testing.assert_array_equal(info.r, [1, 0, 0, 0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(info.p, [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0])
    assert (info.binning_x, info.binning_y) == (0, 0)
    assert (info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height) == (0, 0, 0, 0)
    if model.is_distorted:
        assert info.distortion_model == model.distortion_model and tuple(info.d) == model.D
    else:
        assert info.distortion_model == "plumb_bob" and list(info.d) == [0.0] * 5
    assert camera_model_from_info(info) == model


def test_bad_infos_are_rejected():
    with pytest.raises(CameraModelError, match="k is all zeros: the camera is not calibrated"):
        camera_model_from_info(_info(k=[0.0] * 9))
    default = CameraInfo()
    default.width, default.height = 640, 480
    with pytest.raises(CameraModelError, match="all zeros"):
        camera_model_from_info(default)
    with pytest.raises(CameraModelError, match="size 0x0"):
        camera_model_from_info(CameraInfo())
    with pytest.raises(CameraModelError, match="NaN or inf"):
        camera_model_from_info(_info(k=[np.nan] + K[1:]))
    with pytest.raises(CameraModelError, match="9 elements, got 8"):
        camera_model_from_info(SimpleNamespace(**{**_fields_of(_info()), "k": K[:8]}))
    with pytest.raises(CameraModelError, match="outside the 640x480 sensor"):
        camera_model_from_info(_info(roi=(400, 0, 320, 240)))
    with pytest.raises(CameraModelError, match="focal lengths must be positive"):
        camera_model_from_info(_info(k=[-525.0] + K[1:]))
