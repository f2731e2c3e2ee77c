"""Organised clouds against Open3D on the real RGB-D frames, and depth_image_proc's byte layout."""

import struct

import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.cloud import CloudBuilder, cloud_layout, depth_to_points, pack_rgb_float
from depth_ros.core.errors import InvalidInputError

o3d = pytest.importorskip("open3d")


def _open3d_points(depth, rgb, cam):
    intr = o3d.camera.PinholeCameraIntrinsic(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy)
    d = np.nan_to_num(depth, nan=0.0).astype(np.float32)
    rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
        o3d.geometry.Image(np.ascontiguousarray(rgb)), o3d.geometry.Image(d), depth_scale=1.0, depth_trunc=1e6,
        convert_rgb_to_intensity=False,
    )
    pc = o3d.geometry.PointCloud.create_from_rgbd_image(rgbd, intr, project_valid_depth_only=False)
    return np.asarray(pc.points).reshape(cam.height, cam.width, 3), np.asarray(pc.colors).reshape(cam.height, cam.width, 3)


def test_cloud_equals_open3d_on_real_frames(rgbd_frames):
    builder = CloudBuilder(rgb=True)
    for frame in rgbd_frames:
        cloud = builder.build(frame.depth, frame.camera, frame.rgb)
        ours = cloud.xyz()
        ref, ref_colours = _open3d_points(frame.depth, frame.rgb, frame.camera)
        valid = np.isfinite(frame.depth) & (frame.depth > 0)
        assert np.isfinite(ours[valid]).all() and np.isnan(ours[~valid]).all(), frame.id
        assert np.isnan(ref[~valid]).all()  # Open3D also writes NaN for missing depth
        np.testing.assert_allclose(ours[valid], ref[valid], atol=1e-4, err_msg=frame.id)
        # colours: Open3D gives floats in [0, 1]; ours are packed bytes b, g, r at offsets 16, 17, 18
        raw = np.frombuffer(cloud.buffer, np.uint8).reshape(frame.camera.height, frame.camera.width, 32)
        np.testing.assert_allclose(raw[..., [18, 17, 16]][valid] / 255.0, ref_colours[valid], atol=1e-6)


def test_distorted_cloud_uses_undistorted_rays():
    d = [-0.2, 0.05, 0.001, 0.001, 0.0]
    cam = CameraModel(64, 48, 60.0, 60.0, 31.5, 23.5, "plumb_bob", d)
    depth = np.full((48, 64), 2.0, np.float32)
    pts = depth_to_points(depth, cam)
    uv, _ = cam.project(pts.reshape(-1, 3))
    vv, uu = np.mgrid[0:48, 0:64]
    np.testing.assert_allclose(uv, np.stack([uu.ravel(), vv.ravel()], 1), atol=1e-3)


def test_layouts_match_depth_image_proc():
    xyz = cloud_layout(False)
    assert [(f.name, f.offset) for f in xyz.fields] == [("x", 0), ("y", 4), ("z", 8)] and xyz.point_step == 16
    xyzrgb = cloud_layout(True)
    assert [(f.name, f.offset) for f in xyzrgb.fields] == [("x", 0), ("y", 4), ("z", 8), ("rgb", 16)]
    assert xyzrgb.point_step == 32
    assert cloud_layout(True, ["confidence"]).offset("confidence") == 20
    assert cloud_layout(False, ["confidence"]).offset("confidence") == 12


def test_bytes_of_one_point_hand_computed():
    cam = CameraModel(2, 1, 1.0, 1.0, 0.0, 0.0)
    depth = np.array([[2.0, np.nan]], np.float32)
    rgb = np.array([[[10, 20, 30], [1, 2, 3]]], np.uint8)
    cloud = CloudBuilder(rgb=True, extra_field="confidence").build(depth, cam, rgb, extra=np.array([[0.5, 0.25]], np.float32))
    raw = bytes(cloud.buffer)
    assert len(raw) == 64 and cloud.row_step == 64
    x, y, z = struct.unpack_from("<3f", raw, 0)
    assert (x, y, z) == (0.0, 0.0, 2.0)
    assert raw[16:20] == bytes([30, 20, 10, 0])  # b, g, r, 0 -> packed 0x00RRGGBB
    assert struct.unpack_from("<f", raw, 20)[0] == 0.5
    x1, y1, z1 = struct.unpack_from("<3f", raw, 32)
    assert np.isnan([x1, y1, z1]).all()
    assert struct.unpack_from("<f", raw, 16)[0] == pack_rgb_float(rgb[0, :1])[0]


def test_range_limits_and_decimation():
    cam = CameraModel(8, 6, 5.0, 5.0, 3.5, 2.5)
    depth = np.linspace(0.05, 12.0, 48, dtype=np.float32).reshape(6, 8)
    depth[0, 0] = -1.0
    depth[1, 1] = np.inf
    cloud = CloudBuilder(min_depth=0.5, max_depth=10.0, decimation=2).build(depth, cam)
    assert (cloud.height, cloud.width) == (3, 4)
    z = cloud.field("z")
    sub = depth[::2, ::2]
    expect = np.where((sub >= 0.5) & (sub <= 10.0), sub, np.nan)
    np.testing.assert_array_equal(z, expect)
    x = cloud.field("x")
    np.testing.assert_allclose(x[1, 2], sub[1, 2] * (4 - 3.5) / 5.0)


def test_builder_reuses_buffer_and_rejects_mismatches():
    cam = CameraModel(4, 3, 2, 2, 1.5, 1)
    b = CloudBuilder()
    c1 = b.build(np.ones((3, 4), np.float32), cam)
    c2 = b.build(np.ones((3, 4), np.float32), cam)
    assert c1.buffer is c2.buffer
    assert b.build(np.ones((3, 4), np.float32), cam, reuse=False).buffer is not c1.buffer
    with pytest.raises(InvalidInputError, match="does not match camera"):
        b.build(np.ones((4, 4), np.float32), cam)
    with pytest.raises(InvalidInputError, match="colour image"):
        CloudBuilder(rgb=True).build(np.ones((3, 4), np.float32), cam, None)


def test_depth_to_points_step_equals_the_subsampled_full_computation():
    """`step` computes only every step-th pixel: the same values as the full grid sliced, pinhole and distorted."""
    from depth_ros.core.cloud import depth_to_points

    depth = (np.random.default_rng(3).random((60, 80)) * 6).astype(np.float32)
    depth[::7, ::5] = np.nan
    for cam in (CameraModel(80, 60, 60.0, 60.0, 39.5, 29.5),
                CameraModel(80, 60, 60.0, 60.0, 39.5, 29.5, "plumb_bob", (-0.05, 0.01, 0.0, 0.0, 0.0))):
        full = depth_to_points(depth, cam, 0.1, 5.0)
        np.testing.assert_array_equal(depth_to_points(depth, cam, 0.1, 5.0, step=3), full[::3, ::3])
