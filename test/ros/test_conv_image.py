"""sensor_msgs/Image conversions against hand-built bytes, numpy indexing and cv2; stamps and headers."""

import struct
import subprocess
import sys
import tracemalloc
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from depth_ros.core.errors import ConversionError
from depth_ros.ros.conversions import (
    ENCODINGS,
    array_to_image,
    depth_to_image,
    image_to_array,
    image_to_depth_m,
    image_to_rgb,
    make_header,
    ns_to_stamp,
    stamp_to_ns,
    stamp_to_sec,
)
from depth_ros.ros.conversions.stamps import resolve_header

NATIVE_BIG = sys.byteorder == "big"


def _random(rng, dtype, shape):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.normal(0, 100, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)


def _raw_msg(encoding, height, width, step, data, is_bigendian=0):
    """A rosbags-like message: plain attributes, data a numpy uint8 array."""
    return SimpleNamespace(
        height=height, width=width, encoding=encoding, step=step, is_bigendian=is_bigendian,
        data=np.frombuffer(bytes(data), np.uint8),
    )


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_round_trip_every_encoding(encoding):
    dtype, channels = ENCODINGS[encoding]
    shape = (5, 7) if channels == 1 else (5, 7, channels)
    arr = _random(np.random.default_rng(len(encoding)), dtype, shape)
    msg = array_to_image(arr, encoding, frame_id="cam", stamp=12_000_000_345)
    assert type(msg).__name__ == "Image" and type(msg.data).__name__ == "array"
    assert (msg.height, msg.width, msg.encoding) == (5, 7, encoding)
    assert msg.step == 7 * channels * np.dtype(dtype).itemsize
    assert msg.is_bigendian == int(NATIVE_BIG)
    assert bytes(msg.data) == arr.tobytes()  # numpy's own native-order serialisation
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("cam", 12, 345)
    back = image_to_array(msg)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, arr)
    # decoding is a view of the message buffer, not a copy
    assert np.shares_memory(back, np.frombuffer(msg.data, np.uint8))


def test_array_to_image_accepts_non_native_and_strided_input():
    arr = np.arange(24, dtype=">u2").reshape(4, 6)[:, ::2]
    msg = array_to_image(arr, "16UC1")
    assert msg.step == 6
    assert bytes(msg.data) == np.ascontiguousarray(arr, dtype=np.uint16).tobytes()


def test_padded_step_is_skipped():
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    pad = b"\xab" * 7
    data = b"".join(row.tobytes() + pad for row in bgr)
    msg = _raw_msg("bgr8", 4, 5, 5 * 3 + 7, data)
    np.testing.assert_array_equal(image_to_array(msg), bgr)
    np.testing.assert_array_equal(image_to_rgb(msg), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    mm = rng.integers(1, 60000, (3, 4), dtype=np.uint16)
    data = b"".join(struct.pack("<4H", *row) + b"\xff" * 6 for row in mm.tolist())
    msg = _raw_msg("16UC1", 3, 4, 4 * 2 + 6, data, is_bigendian=0)
    np.testing.assert_array_equal(image_to_array(msg), mm)
    np.testing.assert_allclose(image_to_depth_m(msg), mm / 1000.0, rtol=1e-7)


def test_big_endian_16uc1_and_32fc1():
    mm = [[0, 1, 1000], [65535, 258, 4097]]
    data = b"".join(struct.pack(">3H", *row) for row in mm)
    msg = _raw_msg("16UC1", 2, 3, 6, data, is_bigendian=1)
    arr = image_to_array(msg)
    assert arr.dtype == np.uint16 and arr.dtype.isnative
    np.testing.assert_array_equal(arr, mm)
    depth = image_to_depth_m(msg)
    expected = np.array(mm, np.float64) / 1000.0
    expected[0, 0] = np.nan
    np.testing.assert_allclose(depth, expected, rtol=1e-7)

    metres = [1.5, 0.0, -2.0, float("inf"), float("nan"), 3.25]
    msg = _raw_msg("32FC1", 2, 3, 12, struct.pack(">6f", *metres), is_bigendian=1)
    np.testing.assert_array_equal(image_to_array(msg).ravel(), np.array(metres, np.float32))
    np.testing.assert_array_equal(
        image_to_depth_m(msg).ravel(), np.array([1.5, np.nan, np.nan, np.nan, np.nan, 3.25], np.float32)
    )
    # the same values little-endian
    msg = _raw_msg("32FC1", 2, 3, 12, struct.pack("<6f", *metres), is_bigendian=0)
    np.testing.assert_array_equal(image_to_array(msg).ravel(), np.array(metres, np.float32))


def _expected_rgb(encoding, arr):
    """Independent colour conversions by numpy indexing."""
    if encoding in ("rgb8",):
        return arr
    if encoding in ("bgr8", "8UC3"):
        return arr[..., ::-1]
    if encoding == "rgba8":
        return arr[..., :3]
    if encoding in ("bgra8", "8UC4"):
        return arr[..., 2::-1]
    if encoding in ("mono8", "8UC1"):
        return np.repeat(arr[..., None], 3, axis=2)
    if encoding == "mono16":
        return np.repeat((arr // 256).astype(np.uint8)[..., None], 3, axis=2)
    raise AssertionError(encoding)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "8UC3", "8UC4", "mono16"])
def test_image_to_rgb(encoding):
    dtype, channels = ENCODINGS[encoding]
    arr = _random(np.random.default_rng(3), dtype, (6, 9) if channels == 1 else (6, 9, channels))
    rgb = image_to_rgb(array_to_image(arr, encoding))
    assert rgb.shape == (6, 9, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, _expected_rgb(encoding, arr))


def test_image_to_rgb_matches_cv2_cvtcolor():
    bgr = np.random.default_rng(4).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_to_rgb(array_to_image(bgr, "bgr8")), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    bgra = np.random.default_rng(5).integers(0, 256, (8, 10, 4), dtype=np.uint8)
    np.testing.assert_array_equal(
        image_to_rgb(array_to_image(bgra, "bgra8")), cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGB)
    )
    gray = bgr[..., 0].copy()
    np.testing.assert_array_equal(image_to_rgb(array_to_image(gray, "mono8")), cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))


def test_decoders_take_bytes_and_return_read_only_views():
    rgb = np.random.default_rng(6).integers(0, 256, (2, 3, 3), dtype=np.uint8)
    msg = SimpleNamespace(height=2, width=3, encoding="rgb8", step=9, is_bigendian=0, data=rgb.tobytes())
    out = image_to_rgb(msg)
    np.testing.assert_array_equal(out, rgb)
    assert not out.flags.writeable


def test_depth_to_image_round_trip():
    depth = np.array([[0.5, np.nan], [2.25, 80.0]])  # float64 in, 32FC1 out
    msg = depth_to_image(depth, header=make_header(7, "depth_optical"))
    assert msg.encoding == "32FC1" and msg.step == 8
    assert bytes(msg.data) == depth.astype(np.float32).tobytes()
    assert msg.header.frame_id == "depth_optical" and stamp_to_ns(msg.header.stamp) == 7
    np.testing.assert_array_equal(image_to_depth_m(msg), depth.astype(np.float32))


def test_rejections_name_the_bad_value():
    good = dict(height=480, width=640, encoding="rgb8", step=1920, is_bigendian=0, data=bytes(1920 * 480))
    cases = {
        "'yuv_foo'": dict(encoding="yuv_foo"),
        "step 1200 < width 640 * 3 bytes for encoding rgb8": dict(step=1200),
        "data has 1000 bytes but step 1920 * height 480 = 921600": dict(data=bytes(1000)),
        "data has 921601 bytes": dict(data=bytes(921601)),
        "size 0x480": dict(width=0),
    }
    for text, change in cases.items():
        with pytest.raises(ConversionError, match=text.replace("*", r"\*")):
            image_to_array(SimpleNamespace(**{**good, **change}))
    odd = dict(height=2, width=2, encoding="16UC1", step=5, is_bigendian=0, data=bytes(10))
    with pytest.raises(ConversionError, match="step 5 is not a multiple of the 2-byte element"):
        image_to_array(SimpleNamespace(**odd))
    depth_msg = SimpleNamespace(**{**good, "encoding": "32FC1", "step": 2560, "data": bytes(2560 * 480)})
    with pytest.raises(ConversionError, match="'32FC1' to RGB"):
        image_to_rgb(depth_msg)
    with pytest.raises(ConversionError, match="'rgb8' is not a depth encoding"):
        image_to_depth_m(SimpleNamespace(**good))
    with pytest.raises(ConversionError, match="float64 does not match encoding 32FC1"):
        array_to_image(np.zeros((2, 2)), "32FC1")
    with pytest.raises(ConversionError, match=r"shape \(2, 2\) does not fit encoding rgb8"):
        array_to_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ConversionError, match="depth must be a float array"):
        depth_to_image(np.zeros((2, 2), np.uint16))


def test_absurd_size_is_rejected_without_allocating():
    depth = SimpleNamespace(height=100000, width=100000, encoding="32FC1", step=400000, is_bigendian=0, data=bytes(10))
    colour = SimpleNamespace(**{**vars(depth), "encoding": "bgr8", "step": 300000})
    tracemalloc.start()
    try:
        for decode, msg in ((image_to_array, depth), (image_to_depth_m, depth), (image_to_rgb, colour)):
            with pytest.raises(ConversionError, match="data has 10 bytes"):
                decode(msg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_stamps_and_headers():
    stamp = SimpleNamespace(sec=1_700_000_000, nanosec=999_999_999)
    assert stamp_to_ns(stamp) == 1_700_000_000_999_999_999
    assert stamp_to_sec(SimpleNamespace(sec=3, nanosec=250_000_000)) == 3.25
    t = ns_to_stamp(-1)  # one nanosecond before the epoch: sec -1, nanosec 999999999
    assert (t.sec, t.nanosec) == (-1, 999_999_999)
    assert stamp_to_ns(ns_to_stamp(1_234_567_890_123)) == 1_234_567_890_123
    with pytest.raises(ConversionError, match="nanosec 1000000000"):
        stamp_to_ns(SimpleNamespace(sec=0, nanosec=1_000_000_000))
    with pytest.raises(ConversionError, match="int32 seconds"):
        ns_to_stamp(2**31 * 1_000_000_000)
    h = make_header(5_000_000_001, "map")
    assert (h.stamp.sec, h.stamp.nanosec, h.frame_id) == (5, 1, "map")
    assert resolve_header(h) is h
    # a rosbags-style header is converted; overrides apply
    foreign = SimpleNamespace(stamp=SimpleNamespace(sec=2, nanosec=3), frame_id="a")
    r = resolve_header(foreign, frame_id="b")
    assert (r.stamp.sec, r.stamp.nanosec, r.frame_id) == (2, 3, "b")
    r = resolve_header(h, stamp=ns_to_stamp(9))
    assert (stamp_to_ns(r.stamp), r.frame_id) == (9, "map") and h.stamp.sec == 5


def test_importing_conversions_does_not_import_ros_messages():
    code = (
        "import sys, depth_ros.ros.conversions\n"
        "print(','.join(m for m in ('rclpy', 'sensor_msgs', 'std_msgs', 'builtin_interfaces') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
