"""CameraModel against OpenCV (projection, undistortion) and image_geometry's ROI/binning rules."""

import cv2
import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import CameraModelError

DISTORTIONS = {
    "plumb_bob": [-0.28, 0.07, 0.001, -0.0005, 0.01],
    "rational_polynomial": [0.5, -0.1, 0.001, 0.001, 0.01, 0.8, -0.05, 0.02],
    "equidistant": [0.1, -0.02, 0.003, -0.001],
}


def _random_points(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-1.5, 1.5, n), rng.uniform(-1, 1, n), rng.uniform(1.0, 8.0, n)])


@pytest.mark.parametrize("model", sorted(DISTORTIONS))
def test_projection_matches_opencv(model):
    cam = CameraModel(640, 480, 500.0, 505.0, 321.3, 238.7, model, DISTORTIONS[model])
    pts = _random_points()
    uv, in_front = cam.project(pts)
    assert in_front.all()
    if model == "equidistant":
        ref, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), cam.K,
                                           np.array(DISTORTIONS[model]))
    else:
        ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.K, np.array(DISTORTIONS[model]))
    np.testing.assert_allclose(uv, ref.reshape(-1, 2), atol=1e-6)


@pytest.mark.parametrize("model", sorted(DISTORTIONS))
def test_ray_grid_reprojects_to_its_pixels(model):
    cam = CameraModel(160, 120, 130.0, 131.0, 80.2, 59.6, model, DISTORTIONS[model])
    rays = cam.rays
    assert rays.x.shape == (120, 160) and not rays.separable
    pts = np.stack([rays.x.ravel(), rays.y.ravel(), np.ones(rays.x.size)], axis=1)
    uv, _ = cam.project(pts)
    vv, uu = np.mgrid[0:120, 0:160]
    np.testing.assert_allclose(uv, np.stack([uu.ravel(), vv.ravel()], axis=1), atol=1e-3)


def test_ray_grid_matches_opencv_undistort():
    d = DISTORTIONS["plumb_bob"]
    cam = CameraModel(64, 48, 50.0, 50.0, 31.5, 23.5, "plumb_bob", d)
    vv, uu = np.mgrid[0:48, 0:64]
    ref = cv2.undistortPoints(np.stack([uu.ravel(), vv.ravel()], 1).astype(np.float64).reshape(-1, 1, 2), cam.K,
                              np.array(d), criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-9))
    np.testing.assert_allclose(cam.rays.x.ravel(), ref[:, 0, 0], atol=1e-5)
    np.testing.assert_allclose(cam.rays.y.ravel(), ref[:, 0, 1], atol=1e-5)


def test_pinhole_rays_are_separable_and_hand_computed():
    cam = CameraModel(4, 3, 2.0, 4.0, 1.5, 1.0)
    assert cam.rays.separable
    np.testing.assert_allclose(cam.rays.x[0], [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(cam.rays.y[:, 0], [-0.25, 0.0, 0.25])
    assert cam.rays is cam.rays  # cached


def test_zero_distortion_is_pinhole():
    cam = CameraModel(10, 10, 5, 5, 5, 5, "plumb_bob", [0, 0, 0, 0, 0])
    assert not cam.is_distorted and cam.rays.separable


def test_binning_and_roi_follow_image_geometry():
    # image_geometry: fx' = fx / bx; cx' = (cx - x_offset) / bx; size = roi size / binning.
    cam = CameraModel.from_camera_info_fields(
        1280, 960, [1000.0, 0, 640.0, 0, 1002.0, 480.0, 0, 0, 1], binning_x=2, binning_y=2, roi=(100, 40, 800, 600)
    )
    assert (cam.width, cam.height) == (400, 300)
    assert cam.fx == pytest.approx(500.0) and cam.fy == pytest.approx(501.0)
    assert cam.cx == pytest.approx((640.0 - 100) / 2) and cam.cy == pytest.approx((480.0 - 40) / 2)


def test_zero_roi_means_full_image_and_binning_zero_means_none():
    cam = CameraModel.from_camera_info_fields(640, 480, [500, 0, 320, 0, 500, 240, 0, 0, 1], roi=(0, 0, 0, 0))
    assert (cam.width, cam.height, cam.cx) == (640, 480, 320.0)


def test_scaled_matches_resized_projection():
    cam = CameraModel(640, 480, 520.0, 521.0, 325.1, 249.7)
    small = cam.scaled(224, 168)
    # A point projects to the pixel whose OpenCV-resized position is (u + 0.5) * s - 0.5.
    uv, _ = cam.project(np.array([[0.3, -0.2, 2.0]]))
    uv_small, _ = small.project(np.array([[0.3, -0.2, 2.0]]))
    np.testing.assert_allclose(uv_small[0], (uv[0] + 0.5) * np.array([224 / 640, 168 / 480]) - 0.5, atol=1e-9)
    assert cam.scaled(640, 480) is cam


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(width=640, height=480, k=[0] * 9), "focal lengths"),
        (dict(width=640, height=480, k=[500, 0, 320, 0, np.nan, 240, 0, 0, 1]), "not finite"),
        (dict(width=0, height=480, k=[500, 0, 320, 0, 500, 240, 0, 0, 1]), "size"),
        (dict(width=640, height=480, k=[500, 0, 320, 0, 500, 240, 0, 0]), "9 elements"),
        (dict(width=640, height=480, k=[500, 0, 320, 0, 500, 240, 0, 0, 1], d=[0.1, 0.2], distortion_model="plumb_bob"),
         "needs 5"),
        (dict(width=640, height=480, k=[500, 0, 320, 0, 500, 240, 0, 0, 1], d=[0.1], distortion_model="fov"),
         "unsupported distortion_model 'fov'"),
        (dict(width=640, height=480, k=[500, 0, 320, 0, 500, 240, 0, 0, 1], roi=(600, 0, 100, 100)), "outside"),
    ],
)
def test_bad_camera_info_fields_raise_named_errors(kwargs, match):
    with pytest.raises(CameraModelError, match=match):
        CameraModel.from_camera_info_fields(**kwargs)


def test_points_behind_camera_are_flagged():
    cam = CameraModel(640, 480, 500, 500, 320, 240)
    uv, in_front = cam.project(np.array([[0, 0, -1.0], [0, 0, 1.0]]))
    assert in_front.tolist() == [False, True] and np.isnan(uv[0]).all()
    assert cam.in_image(uv).tolist() == [False, True]


@pytest.mark.parametrize("model", sorted(DISTORTIONS))
def test_undistort_no_pixels(model):
    cam = CameraModel(64, 48, 50.0, 50.0, 31.5, 23.5, model, DISTORTIONS[model])
    assert cam.undistort_pixels(np.empty((0, 2))).shape == (0, 2)
