"""Time stamps, headers and the message plumbing shared by the encoders.

Stamp readers are duck-typed (anything with `sec` and `nanosec`: rclpy messages and messages
deserialised by `rosbags`, ROS 1 bags included). Message classes are imported lazily, the first
time an encoder needs them, so that importing the decoders stays cheap and works without ROS.
"""

from __future__ import annotations

import array
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from depth_ros.core.errors import ConversionError

NS_PER_SEC = 1_000_000_000
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


# -- lazy message imports -------------------------------------------------------------------


@cache
def sensor_msgs() -> ModuleType:
    """The `sensor_msgs.msg` module, imported on first use."""
    from sensor_msgs import msg  # noqa: PLC0415

    return msg


@cache
def _std_msgs() -> ModuleType:
    from std_msgs import msg  # noqa: PLC0415

    return msg


@cache
def _builtin_interfaces() -> ModuleType:
    from builtin_interfaces import msg  # noqa: PLC0415

    return msg


# -- stamps ---------------------------------------------------------------------------------


def stamp_to_ns(stamp: Any) -> int:
    """A `builtin_interfaces/Time`-like stamp (sec, nanosec) -> integer nanoseconds."""
    sec, nanosec = int(stamp.sec), int(stamp.nanosec)
    if not 0 <= nanosec < NS_PER_SEC:
        raise ConversionError(f"stamp nanosec {nanosec} is outside [0, 1e9) (sec={sec})")
    return sec * NS_PER_SEC + nanosec


def stamp_to_sec(stamp: Any) -> float:
    """A `builtin_interfaces/Time`-like stamp -> float seconds."""
    return stamp_to_ns(stamp) / NS_PER_SEC


def ns_to_stamp(ns: int) -> Any:
    """Integer nanoseconds -> `builtin_interfaces.msg.Time` (nanosec always in [0, 1e9))."""
    sec, nanosec = divmod(int(ns), NS_PER_SEC)
    if not _INT32_MIN <= sec <= _INT32_MAX:
        raise ConversionError(f"time {ns} ns does not fit a builtin_interfaces/Time (int32 seconds)")
    return _builtin_interfaces().Time(sec=sec, nanosec=nanosec)


def make_header(stamp_ns: int | None = None, frame_id: str = "") -> Any:
    """A `std_msgs.msg.Header` with the given stamp (nanoseconds; None -> zero) and frame."""
    header = _std_msgs().Header()
    if stamp_ns is not None:
        header.stamp = ns_to_stamp(stamp_ns)
    header.frame_id = str(frame_id)
    return header


def resolve_header(header: Any = None, frame_id: str | None = None, stamp: Any = None) -> Any:
    """The header an encoder writes: `header` (rclpy or duck-typed), with overrides.

    `stamp` may be integer nanoseconds or a Time-like object; `frame_id` replaces the header's
    frame. An rclpy Header passed without overrides is used as is (no copy).
    """
    Header = _std_msgs().Header
    if header is not None and frame_id is None and stamp is None and isinstance(header, Header):
        return header
    out = Header()
    if header is not None:
        out.stamp = ns_to_stamp(stamp_to_ns(header.stamp))
        out.frame_id = str(header.frame_id)
    if stamp is not None:
        ns = int(stamp) if isinstance(stamp, (int, np.integer)) else stamp_to_ns(stamp)
        out.stamp = ns_to_stamp(ns)
    if frame_id is not None:
        out.frame_id = str(frame_id)
    return out


# -- uint8[] buffers --------------------------------------------------------------------------


def new_u8_buffer(nbytes: int) -> array.array:
    """A zero-filled `array.array('B')` of nbytes (a memset, no intermediate bytes object)."""
    return array.array("B", [0]) * int(nbytes)


def set_uint8_data(msg: Any, buf: array.array) -> None:
    """Give `buf` to `msg.data` without copying it.

    rclpy's generated setter keeps an `array.array('B')` as is only while field checking is on
    (ROS_PYTHON_CHECK_FIELDS=1 in Kilted); otherwise it copies it with array.array('B', value).
    Turning checking on for this one assignment takes the no-copy branch; a distro whose
    messages lack `_check_fields` simply uses its own setter.
    """
    checked = getattr(msg, "_check_fields", None)
    if checked is None:
        msg.data = buf
        return
    msg._check_fields = True
    try:
        msg.data = buf
    finally:
        msg._check_fields = checked


def as_uint8(data: Any) -> np.ndarray:
    """A flat uint8 view of a message's `data` (array.array, bytes, memoryview or ndarray).

    No copy for buffer-protocol objects; the view is read-only when the buffer is (bytes).
    A plain list of ints (rare) is converted.
    """
    if isinstance(data, np.ndarray):
        if data.dtype == np.uint8 and data.ndim == 1:
            return data
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (OverflowError, ValueError, TypeError) as exc:
            raise ConversionError(f"message data of type {type(data).__name__} is not a byte buffer: {exc}") from exc
