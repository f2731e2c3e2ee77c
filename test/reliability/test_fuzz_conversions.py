"""Property-based fuzzing of the message conversions with malformed messages.

Contract under test: a conversion either returns a result consistent with the message (checked
against an independent decoding where the message is well formed) or raises a `DepthRosError`
subclass; it never raises anything else, never reads past the buffer and never allocates more
than the message's own size implies.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given

pytest.importorskip("rclpy")
from fuzz_strategies import (  # noqa: E402
    GENERATED,
    REJECTED,
    camera_infos,
    compressed_images,
    fuzz,
    images,
    imus,
    png_with_size,
    pointclouds,
    reference_field,
    reference_pixels,
)
from sensor_msgs.msg import CompressedImage, Image, PointCloud2, PointField  # noqa: E402

from depth_ros.core.camera import CameraModel  # noqa: E402
from depth_ros.core.errors import DepthRosError  # noqa: E402
from depth_ros.ros.conversions import (  # noqa: E402
    ENCODINGS,
    camera_model_from_info,
    compressed_to_rgb,
    image_to_array,
    image_to_depth_m,
    image_to_rgb,
    imu_from_msg,
    make_header,
    read_fields,
    rgb_to_compressed,
)

# Examples per test; with test_fuzz_node.py's the per-run total (>= 5,000, asserted there).
N_IMAGE, N_COMPRESSED, N_INFO, N_CLOUD, N_IMU = 1200, 700, 700, 900, 500
MIN_GENERATED = N_IMAGE + N_COMPRESSED + N_INFO + N_CLOUD + N_IMU - 200  # hypothesis may stop early on duplicates
FILE_COUNT: dict[str, int] = {}


def _count(kind: str) -> None:
    FILE_COUNT[kind] = FILE_COUNT.get(kind, 0) + 1


def _verdict(kind: str, decoded: object) -> None:
    """Count the message as malformed when its decoder rejected it (the README quotes these counts)."""
    if decoded is None:
        REJECTED[kind] += 1


def _call(fn, msg):
    """fn(msg), with any non-DepthRosError surfacing as a test failure naming the message."""
    try:
        return fn(msg)
    except DepthRosError:
        return None


@fuzz(N_IMAGE)
@given(images())
def test_image_decoders(case):
    msg, well_formed = case
    _count("image")
    arr = _call(image_to_array, msg)
    rgb = _call(image_to_rgb, msg)
    depth = _call(image_to_depth_m, msg)
    _verdict("Image", arr)
    enc = str(msg.encoding)
    if well_formed:
        assert arr is not None, "a well-formed Image was rejected"
        ref = reference_pixels(msg)
        np.testing.assert_array_equal(arr.reshape(ref.shape).view(np.uint8), ref.view(np.uint8))
    if arr is not None:
        info = ENCODINGS[enc]
        assert arr.shape[:2] == (msg.height, msg.width) and arr.dtype == info.dtype
        assert msg.step * msg.height == np.asarray(msg.data).nbytes  # only consistent messages are accepted
    if rgb is not None:
        assert rgb.shape == (msg.height, msg.width, 3) and rgb.dtype == np.uint8
        ref = reference_pixels(msg)
        expected = {"rgb8": lambda r: r, "bgr8": lambda r: r[..., ::-1], "8UC3": lambda r: r[..., ::-1],
                    "rgba8": lambda r: r[..., :3], "bgra8": lambda r: r[..., 2::-1], "8UC4": lambda r: r[..., 2::-1],
                    "mono8": lambda r: np.repeat(r, 3, 2), "8UC1": lambda r: np.repeat(r, 3, 2),
                    "mono16": lambda r: np.repeat((r >> 8).astype(np.uint8), 3, 2)}[enc](ref)
        np.testing.assert_array_equal(rgb, expected)
    if depth is not None:
        assert depth.shape == (msg.height, msg.width) and depth.dtype == np.float32
        finite = np.isfinite(depth)
        assert not np.isinf(depth).any() and (depth[finite] > 0).all()
    if enc in ("32FC1", "64FC1", "16UC1", "mono16") and arr is not None:
        assert depth is not None


@fuzz(N_COMPRESSED)
@given(compressed_images())
def test_compressed_decoder(case):
    msg, expected = case
    _count("compressed")
    rgb = _call(compressed_to_rgb, msg)
    _verdict("CompressedImage", rgb)
    if expected is not None:
        assert rgb is not None, f"a well-formed {msg.format!r} image was rejected"
        assert rgb.shape == (*expected, 3)
    if rgb is not None:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        # Never more pixels than a deflate/JPEG stream of this size can hold.
        assert rgb.shape[0] * rgb.shape[1] <= 1100 * np.frombuffer(msg.data, np.uint8).size


@fuzz(N_INFO)
@given(camera_infos())
def test_camera_info(msg):
    _count("camera_info")
    camera = _call(camera_model_from_info, msg)
    _verdict("CameraInfo", camera)
    if camera is None:
        return
    assert isinstance(camera, CameraModel) and camera.width > 0 and camera.height > 0
    assert camera.fx > 0 and camera.fy > 0 and np.isfinite([camera.cx, camera.cy]).all()
    if camera.width * camera.height <= 4096:
        rays = camera.rays  # the node builds these for every new CameraInfo
        assert rays.x.shape[-1] == camera.width


@fuzz(N_CLOUD)
@given(pointclouds())
def test_read_fields(case):
    msg, well_formed = case
    _count("pointcloud2")
    out = _call(lambda m: read_fields(m, names=("x", "y", "z", "intensity", "snr", "rcs", "doppler")), msg)
    every = _call(lambda m: read_fields(m, names=None, required=()), msg)
    _verdict("PointCloud2", out)
    if well_formed:
        names = [f.name for f in msg.fields]
        if len(set(names) - {"", "_"}) == len([n for n in names if n not in ("", "_")]):
            assert out is not None, "a well-formed PointCloud2 was rejected"
    n = msg.height * msg.width
    for result in (out, every):
        if result is not None:
            assert all(v.shape == (n,) for v in result.values())
    if out is not None and n:
        for name in ("x", "y", "z"):
            np.testing.assert_array_equal(out[name], reference_field(msg, name))


@fuzz(N_IMU)
@given(imus())
def test_imu(msg):
    _count("imu")
    sample = _call(imu_from_msg, msg)
    _verdict("Imu", sample)
    if sample is None:
        return
    assert np.isfinite(sample.angular_velocity).all() and np.isfinite(sample.linear_acceleration).all()
    if sample.orientation is not None:
        assert abs(float(np.linalg.norm(sample.orientation)) - 1.0) < 1e-9


# -- absurd sizes: rejected before any allocation ---------------------------------------------------


def _peak(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        try:
            result = fn()
        except DepthRosError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("decoder, encoding", [
    (image_to_array, "rgb8"), (image_to_array, "32FC1"), (image_to_rgb, "rgb8"), (image_to_rgb, "mono16"),
    (image_to_depth_m, "mono16"), (image_to_depth_m, "32FC1"),
])
def test_huge_image_is_rejected_before_allocation(decoder, encoding):
    info = ENCODINGS[encoding]
    msg = Image(header=make_header(1, "cam"), height=100_000, width=100_000, encoding=encoding,
                step=100_000 * info.dtype.itemsize * info.channels)
    msg.data = bytes(64)
    result, peak = _peak(lambda: decoder(msg))
    assert isinstance(result, DepthRosError) and "bytes" in str(result)
    assert peak < 256 * 1024, f"peak {peak} bytes while rejecting a 100000x100000 image"


def test_huge_cloud_is_rejected_before_allocation():
    msg = PointCloud2(header=make_header(1, "r"), height=100_000, width=100_000, point_step=12,
                      row_step=1_200_000)
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
    msg.data = bytes(120)
    result, peak = _peak(lambda: read_fields(msg))
    assert isinstance(result, DepthRosError) and peak < 256 * 1024


@pytest.mark.parametrize("size", [(100_000, 100_000), (30_000, 30_000), (1, 2**31 - 1)])
def test_compression_bomb_is_rejected_before_decoding(size):
    small = rgb_to_compressed(np.zeros((8, 8, 3), np.uint8), fmt="png")
    msg = CompressedImage(header=make_header(1, "cam"), format=small.format)
    msg.data = png_with_size(bytes(small.data), *size)
    result, peak = _peak(lambda: compressed_to_rgb(msg))
    assert isinstance(result, DepthRosError) and f"{size[0]}x{size[1]}" in str(result)
    assert peak < 1024 * 1024, f"peak {peak} bytes while rejecting a PNG that claims {size}"


def test_ordinary_images_pass_the_bomb_check():
    for shape in [(480, 640), (1080, 1920), (1, 1), (2, 4000)]:
        for fmt in ("png", "jpeg"):
            for value in (0, 255):
                msg = rgb_to_compressed(np.full((*shape, 3), value, np.uint8), fmt=fmt)
                assert compressed_to_rgb(msg).shape == (*shape, 3)


def test_fuzz_count():
    """The examples above really ran (this file's share of the >= 5,000 generated per run)."""
    total = sum(FILE_COUNT.values())
    print(f"\nfuzz_conversions: {total} generated messages {dict(FILE_COUNT)}; session so far {dict(GENERATED)}")
    assert total >= MIN_GENERATED, FILE_COUNT
