"""CompressedImage conversions against payloads made with cv2.imencode the way image_transport does."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from depth_ros.core.errors import ConversionError
from depth_ros.ros.conversions import compressed_to_rgb, rgb_to_compressed


def _smooth_rgb(h=48, w=64):
    """A smooth colour image (jpeg-friendly) with distinct channels."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 255 // (w + h - 2)], axis=-1).astype(
        np.uint8
    )


def _noise_rgb(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _msg(fmt, payload, rclpy=True):
    """A CompressedImage like image_transport's compressed publisher makes (or a rosbags-like one)."""
    if rclpy:
        m = CompressedImage()
        m.format = fmt
        m.data = payload.tobytes()
        return m
    return SimpleNamespace(format=fmt, data=np.frombuffer(payload.tobytes(), np.uint8))


@pytest.mark.parametrize("rclpy", [True, False])
@pytest.mark.parametrize("fmt", ["bgr8; png compressed bgr8", "rgb8; png compressed bgr8", "png"])
def test_png_with_bgr_payload_is_exact(fmt, rclpy):
    rgb = _noise_rgb()
    ok, payload = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = compressed_to_rgb(_msg(fmt, payload, rclpy))
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    np.testing.assert_array_equal(out, rgb)


def test_png_with_rgb_payload_is_not_swapped():
    rgb = _noise_rgb(seed=1)
    ok, payload = cv2.imencode(".png", rgb)  # channels stored as given, i.e. RGB
    np.testing.assert_array_equal(compressed_to_rgb(_msg("rgb8; png compressed rgb8", payload)), rgb)


def test_mono_payload_becomes_three_equal_channels():
    gray = _noise_rgb(seed=2)[..., 0].copy()
    ok, payload = cv2.imencode(".png", gray)
    out = compressed_to_rgb(_msg("mono8; png compressed mono8", payload))
    np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=2))


@pytest.mark.parametrize("fmt", ["rgb8; jpeg compressed bgr8", "bgr8; jpeg compressed bgr8", "jpeg"])
def test_jpeg_within_tolerance(fmt):
    rgb = _smooth_rgb()
    ok, payload = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = compressed_to_rgb(_msg(fmt, payload, rclpy=False))
    err = np.abs(out.astype(int) - rgb.astype(int))
    assert err.mean() < 2.0 and err.max() < 24
    # a channel swap would be far off: R and B differ a lot in this image
    assert np.abs(out[..., ::-1].astype(int) - rgb.astype(int)).mean() > 20


def test_rgb_to_compressed_png_round_trip_is_exact():
    rgb = _noise_rgb(seed=3)
    msg = rgb_to_compressed(rgb, fmt="png", frame_id="cam", stamp=3_000_000_004)
    assert isinstance(msg, CompressedImage) and type(msg.data).__name__ == "array"
    assert msg.format == "rgb8; png compressed bgr8"
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("cam", 3, 4)
    # the payload is BGR, as image_transport writes it: decode it independently
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(bgr, rgb[..., ::-1])
    np.testing.assert_array_equal(compressed_to_rgb(msg), rgb)


def test_rgb_to_compressed_jpeg():
    rgb = _smooth_rgb()
    msg = rgb_to_compressed(rgb, quality=95)
    assert msg.format == "rgb8; jpeg compressed bgr8"
    assert bytes(msg.data[:3]) == b"\xff\xd8\xff"  # JPEG SOI marker
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(bgr[..., ::-1].astype(int) - rgb.astype(int)).mean() < 2.0
    assert np.abs(compressed_to_rgb(msg).astype(int) - rgb.astype(int)).mean() < 2.0
    assert len(rgb_to_compressed(_noise_rgb(), quality=10).data) < len(rgb_to_compressed(_noise_rgb(), quality=95).data)


def test_undecodable_data_is_rejected():
    with pytest.raises(ConversionError, match=r"format 'rgb8; jpeg compressed bgr8', 9 bytes"):
        compressed_to_rgb(SimpleNamespace(format="rgb8; jpeg compressed bgr8", data=b"garbage!!"))
    with pytest.raises(ConversionError, match="has no data"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=b""))
    ok, payload = cv2.imencode(".png", np.zeros((4, 4), np.uint16))
    with pytest.raises(ConversionError, match="compressedDepth"):
        compressed_to_rgb(_msg("16UC1; compressedDepth png", payload))
    # a truncated jpeg
    ok, payload = cv2.imencode(".jpg", _smooth_rgb())
    with pytest.raises(ConversionError, match="16 bytes"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=payload.tobytes()[:16]))


def test_rgb_to_compressed_rejects_bad_input():
    with pytest.raises(ConversionError, match="'webp'"):
        rgb_to_compressed(_noise_rgb(), fmt="webp")
    with pytest.raises(ConversionError, match="quality must be in"):
        rgb_to_compressed(_noise_rgb(), quality=0)
    with pytest.raises(ConversionError, match=r"shape \(20, 30\)"):
        rgb_to_compressed(_noise_rgb()[..., 0])
    with pytest.raises(ConversionError, match="dtype float32"):
        rgb_to_compressed(_noise_rgb().astype(np.float32))
