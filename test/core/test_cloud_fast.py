"""The OpenCV cloud kernel against the NumPy reference, byte for byte, on random inputs."""

import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.cloud import CloudBuilder, _fill_numpy, _new_buffer, pack_rgb_float, valid_depth

PINHOLE = CameraModel(37, 23, 30.0, 31.0, 18.2, 10.7)
PLUMB_BOB = CameraModel(37, 23, 30.0, 31.0, 18.2, 10.7, "plumb_bob", (-0.2, 0.05, 0.001, -0.002, 0.01))
FISHEYE = CameraModel(37, 23, 30.0, 31.0, 18.2, 10.7, "equidistant", (0.05, -0.01, 0.002, 0.0))


def _depth(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    depth = rng.uniform(-1.0, 12.0, shape).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -3.0, 0.5, 10.0], np.float32)
    mask = rng.random(shape) < 0.3
    depth[mask] = rng.choice(special, int(mask.sum()))
    return depth


def _reference(builder: CloudBuilder, depth, camera, rgb, extra) -> bytes:
    h, w = depth[:: builder.decimation, :: builder.decimation].shape
    buf = _new_buffer(h * w * builder.layout.point_step)
    _fill_numpy(buf, builder.layout, depth, camera, rgb if builder.rgb else None,
                extra if builder.extra_field else None, builder.extra_field, builder.min_depth, builder.max_depth,
                builder.decimation)
    return bytes(buf)


def _assert_same(ours: bytes, ref: bytes) -> None:
    a, b = np.frombuffer(ours, np.float32), np.frombuffer(ref, np.float32)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    # Bit-identical everywhere except the payload of NaNs (only "is NaN" matters for x, y, z).
    ok = np.isnan(a) | (a.view(np.uint32) == b.view(np.uint32))
    assert ok.all(), f"{int((~ok).sum())} words differ"


CASES = [
    # camera, rgb, extra field, min depth, max depth, decimation
    (PINHOLE, False, None, 0.0, float("inf"), 1),
    (PINHOLE, True, None, 0.0, float("inf"), 1),
    (PINHOLE, True, "confidence", 0.3, 9.0, 1),
    (PINHOLE, False, "confidence", 0.0, 5.0, 2),
    (PINHOLE, True, "confidence", 1.0, float("inf"), 3),
    (PLUMB_BOB, True, None, 0.0, float("inf"), 1),
    (PLUMB_BOB, True, "confidence", 0.5, 8.0, 2),
    (FISHEYE, False, None, 0.2, 11.0, 4),
]


@pytest.mark.parametrize(("camera", "rgb", "extra_field", "lo", "hi", "dec"), CASES)
def test_kernel_matches_numpy_reference(camera, rgb, extra_field, lo, hi, dec) -> None:
    rng = np.random.default_rng(dec * 7 + int(rgb))
    shape = (camera.height, camera.width)
    depth = _depth(rng, shape)
    colour = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    extra = rng.normal(size=shape).astype(np.float32)
    builder = CloudBuilder(rgb=rgb, extra_field=extra_field, min_depth=lo, max_depth=hi, decimation=dec)
    cloud = builder.build(depth, camera, colour, extra)
    assert (cloud.height, cloud.width) == depth[::dec, ::dec].shape
    _assert_same(bytes(cloud.buffer), _reference(builder, depth, camera, colour, extra))
    # A reused buffer holding an earlier frame gets every point rewritten.
    depth2 = _depth(rng, shape)
    again = builder.build(depth2, camera, colour[::-1].copy(), extra * 2)
    assert again.buffer is cloud.buffer
    _assert_same(bytes(again.buffer), _reference(builder, depth2, camera, colour[::-1].copy(), extra * 2))


def test_invalid_values_become_nan_and_padding_stays_zero() -> None:
    cam = CameraModel(8, 1, 4.0, 4.0, 3.5, 0.0)
    depth = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.0, 0.05, 2.0, 20.0]], np.float32)
    cloud = CloudBuilder(rgb=True, min_depth=0.1, max_depth=10.0).build(depth, cam, np.full((1, 8, 3), 7, np.uint8))
    z = cloud.field("z")[0]
    assert np.isnan(z[[0, 1, 2, 3, 4, 5, 7]]).all() and z[6] == 2.0
    raw = np.frombuffer(cloud.buffer, np.uint8).reshape(8, 32)
    assert (raw[:, 12:16] == 0).all() and (raw[:, 19:] == 0).all()
    assert (raw[:, 16:19] == 7).all()  # colour is written for invalid points too, as depth_image_proc does


def test_inf_is_invalid_without_max_depth() -> None:
    depth = np.array([[np.inf, 1.0]], np.float32)
    assert np.isnan(valid_depth(depth)[0, 0])
    cloud = CloudBuilder().build(depth, CameraModel(2, 1, 1.0, 1.0, 0.5, 0.0))
    assert np.isnan(cloud.xyz()[0, 0]).all() and cloud.field("z")[0, 1] == 1.0


def test_strided_readonly_and_other_dtype_inputs() -> None:
    rng = np.random.default_rng(3)
    cam = PLUMB_BOB
    big = _depth(rng, (cam.height * 2, cam.width))
    depth = big[::2]  # non-contiguous rows
    depth64 = depth.astype(np.float64)
    rgba = rng.integers(0, 256, (cam.height, cam.width, 4), dtype=np.uint8)
    rgb_view = rgba[:, :, :3]  # strided colour view, as a padded/rgba message gives
    extra = rng.random((cam.height, cam.width))  # float64 extra
    readonly = depth.copy()
    readonly.setflags(write=False)
    builder = CloudBuilder(rgb=True, extra_field="confidence", min_depth=0.2, max_depth=9.0)
    ref = _reference(builder, np.ascontiguousarray(depth), cam, np.ascontiguousarray(rgb_view),
                     extra.astype(np.float32))
    for d in (depth, depth64, readonly):
        _assert_same(bytes(builder.build(d, cam, rgb_view, extra, reuse=False).buffer), ref)
    # bgr -> rgb as a negative-stride view
    bgr = np.ascontiguousarray(rgb_view[:, :, ::-1])
    _assert_same(bytes(builder.build(depth, cam, bgr[:, :, ::-1], extra).buffer), ref)


def test_pack_rgb_float() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    c = rgb.astype(np.uint32)
    expect = ((c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]).view(np.float32)
    packed = pack_rgb_float(rgb)
    assert packed.shape == (5, 6) and packed.dtype == np.float32
    np.testing.assert_array_equal(packed.view(np.uint32), expect.view(np.uint32))
    cloud = CloudBuilder(rgb=True).build(np.ones((5, 6), np.float32), CameraModel(6, 5, 3.0, 3.0, 2.5, 2.0), rgb)
    np.testing.assert_array_equal(cloud.field("rgb").view(np.uint32), expect.view(np.uint32))
