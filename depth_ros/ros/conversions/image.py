"""sensor_msgs/Image <-> numpy.

Decoders are duck-typed: they read `height`, `width`, `encoding`, `is_bigendian`, `step` and
`data` only, so they accept rclpy messages (`data` an array.array('B')) as well as messages
deserialised by `rosbags` (`data` a numpy uint8 array). Every size is checked against
`len(data)` before anything is allocated.

Views: `image_to_array` returns a view of the message buffer whenever the byte order is native
(row padding gives a strided view). Such a view shares memory with the message and is read-only
when the buffer is (e.g. `bytes`); `image_to_rgb` returns the same kind of view for rgb8.
Everything else returns a fresh array.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import cv2
import numpy as np

from depth_ros.core.errors import ConversionError
from depth_ros.ros.conversions.stamps import as_uint8, new_u8_buffer, resolve_header, sensor_msgs, set_uint8_data


class _Encoding(NamedTuple):
    dtype: np.dtype
    channels: int


ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(np.dtype(np.uint8), 3),
    "bgr8": _Encoding(np.dtype(np.uint8), 3),
    "rgba8": _Encoding(np.dtype(np.uint8), 4),
    "bgra8": _Encoding(np.dtype(np.uint8), 4),
    "mono8": _Encoding(np.dtype(np.uint8), 1),
    "mono16": _Encoding(np.dtype(np.uint16), 1),
    "8UC1": _Encoding(np.dtype(np.uint8), 1),
    "8UC3": _Encoding(np.dtype(np.uint8), 3),
    "8UC4": _Encoding(np.dtype(np.uint8), 4),
    "16UC1": _Encoding(np.dtype(np.uint16), 1),
    "16SC1": _Encoding(np.dtype(np.int16), 1),
    "32SC1": _Encoding(np.dtype(np.int32), 1),
    "32FC1": _Encoding(np.dtype(np.float32), 1),
    "64FC1": _Encoding(np.dtype(np.float64), 1),
}
"""Supported encodings -> (native element dtype, channels)."""

# cv2.cvtColor code to RGB for each 8-bit encoding; None = already RGB. 8UC3/8UC4 are taken as
# bgr8/bgra8, as cv_bridge does.
_TO_RGB = {
    "rgb8": None,
    "bgr8": cv2.COLOR_BGR2RGB,
    "8UC3": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "8UC4": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
    "8UC1": cv2.COLOR_GRAY2RGB,
}
_MILLIMETRE_ENCODINGS = ("16UC1", "mono16")
_METRE_ENCODINGS = ("32FC1", "64FC1")
_NATIVE_BIG = sys.byteorder == "big"


def _encoding_of(name: Any) -> _Encoding:
    enc = ENCODINGS.get(str(name))
    if enc is None:
        raise ConversionError(f"unsupported Image encoding '{name}'; supported: {', '.join(ENCODINGS)}")
    return enc


def _validate(msg: Any) -> tuple[str, _Encoding, int, int, int]:
    """Check the message's geometry against its data length; returns (encoding, enc, h, w, step)."""
    encoding = str(msg.encoding)
    enc = _encoding_of(encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ConversionError(f"Image size {width}x{height} (width x height) must be positive")
    bpp = enc.dtype.itemsize * enc.channels
    if step < width * bpp:
        raise ConversionError(f"Image step {step} < width {width} * {bpp} bytes for encoding {encoding}")
    if step % enc.dtype.itemsize:
        raise ConversionError(
            f"Image step {step} is not a multiple of the {enc.dtype.itemsize}-byte element of encoding {encoding}"
        )
    nbytes = as_uint8(msg.data).size  # bytes, also when a reader hands over a wider-typed array
    if nbytes != step * height:
        raise ConversionError(
            f"Image data has {nbytes} bytes but step {step} * height {height} = {step * height} "
            f"(sensor_msgs/Image requires equality)"
        )
    return encoding, enc, height, width, step


def image_to_array(msg: Any) -> np.ndarray:
    """The raw pixels, (H, W) or (H, W, C), in the message's own dtype and channel order.

    A view of the message buffer when the byte order is native (strided if the step is padded,
    read-only if the buffer is); a native-order copy when `is_bigendian` differs from this machine.
    """
    encoding, enc, height, width, step = _validate(msg)
    raw = as_uint8(msg.data)
    dtype = enc.dtype
    swap = dtype.itemsize > 1 and bool(msg.is_bigendian) != _NATIVE_BIG
    if swap:
        dtype = dtype.newbyteorder()
    itemsize = enc.dtype.itemsize
    shape: tuple[int, ...] = (height, width, enc.channels)
    strides: tuple[int, ...] = (step, enc.channels * itemsize, itemsize)
    if enc.channels == 1:
        shape, strides = shape[:2], strides[:2]
    arr = np.ndarray(shape=shape, dtype=dtype, buffer=raw, offset=0, strides=strides)
    if swap:
        return arr.astype(enc.dtype)
    return arr


def image_to_rgb(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB for a network input.

    Accepts rgb8 (returned as a view, see the module notes), bgr8, rgba8, bgra8, mono8, 8UC1,
    8UC3/8UC4 (taken as bgr8/bgra8, as cv_bridge does) and mono16 (the high byte).
    """
    encoding = str(msg.encoding)
    if encoding != "mono16" and encoding not in _TO_RGB:
        _encoding_of(encoding)  # unknown encodings get the "supported: ..." message
        raise ConversionError(
            f"cannot convert Image encoding '{encoding}' to RGB; colour/mono encodings: "
            f"{', '.join([*_TO_RGB, 'mono16'])}"
        )
    arr = image_to_array(msg)
    if encoding == "mono16":
        return cv2.cvtColor((arr >> 8).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    code = _TO_RGB[encoding]
    if code is None:
        return arr
    return cv2.cvtColor(arr, code)


def image_to_depth_m(msg: Any) -> np.ndarray:
    """(H, W) float32 depth in metres, NaN where invalid (a fresh array).

    16UC1/mono16 are millimetres (0 -> NaN); 32FC1/64FC1 are metres (0, negative, inf, NaN -> NaN).
    """
    encoding = str(msg.encoding)
    if encoding not in _MILLIMETRE_ENCODINGS and encoding not in _METRE_ENCODINGS:
        _encoding_of(encoding)
        raise ConversionError(
            f"Image encoding '{encoding}' is not a depth encoding "
            f"(expected one of {', '.join(_MILLIMETRE_ENCODINGS + _METRE_ENCODINGS)})"
        )
    arr = image_to_array(msg)
    with np.errstate(over="ignore"):  # 64FC1 beyond float32's range becomes inf, then NaN below
        depth = arr.astype(np.float32)
    if encoding in _MILLIMETRE_ENCODINGS:
        depth /= np.float32(1000.0)  # division, not * 0.001: correctly rounded metres
        depth[arr == 0] = np.nan
    else:
        with np.errstate(invalid="ignore"):
            depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


def _check_shape(arr: np.ndarray, encoding: str, enc: _Encoding) -> tuple[int, int]:
    ok = arr.ndim == 2 and enc.channels == 1
    ok |= arr.ndim == 3 and arr.shape[2] == enc.channels
    if not ok:
        want = "(H, W)" if enc.channels == 1 else f"(H, W, {enc.channels})"
        raise ConversionError(f"array of shape {arr.shape} does not fit encoding {encoding}: expected {want}")
    height, width = arr.shape[:2]
    if height <= 0 or width <= 0:
        raise ConversionError(f"cannot make an Image of size {width}x{height}")
    return height, width


def _build(arr: np.ndarray, encoding: str, enc: _Encoding, header: Any) -> Any:
    height, width = _check_shape(arr, encoding, enc)
    step = width * enc.channels * enc.dtype.itemsize
    buf = new_u8_buffer(step * height)
    # The one copy: straight into the message buffer (casting/byte swapping on the way).
    np.frombuffer(buf, dtype=enc.dtype).reshape(arr.shape)[...] = arr
    msg = sensor_msgs().Image()
    msg.header = header
    msg.height, msg.width = height, width
    msg.encoding = encoding
    msg.is_bigendian = int(_NATIVE_BIG)
    msg.step = step
    set_uint8_data(msg, buf)
    return msg


def array_to_image(
    arr: np.ndarray,
    encoding: str,
    header: Any = None,
    frame_id: str | None = None,
    stamp: Any = None,
) -> Any:
    """numpy -> `sensor_msgs.msg.Image` with step = width * bytes per pixel, native byte order.

    The array's dtype must be the encoding's (any byte order); `stamp` is nanoseconds or a Time.
    """
    enc = _encoding_of(encoding)
    arr = np.asarray(arr)
    if arr.dtype.newbyteorder("=") != enc.dtype:
        raise ConversionError(f"array dtype {arr.dtype} does not match encoding {encoding} ({enc.dtype})")
    return _build(arr, str(encoding), enc, resolve_header(header, frame_id, stamp))


def depth_to_image(
    depth_m: np.ndarray,
    header: Any = None,
    frame_id: str | None = None,
    stamp: Any = None,
) -> Any:
    """(H, W) depth in metres (any float dtype, NaN = invalid) -> 32FC1 `sensor_msgs.msg.Image`."""
    depth = np.asarray(depth_m)
    if depth.dtype.kind != "f":
        raise ConversionError(f"depth must be a float array in metres, got dtype {depth.dtype}")
    return _build(depth, "32FC1", ENCODINGS["32FC1"], resolve_header(header, frame_id, stamp))
