"""Message (de)serialisation for bags: which type definitions to trust, ROS 1 -> ROS 2 CDR.

A bag's own stored definitions come first (they describe what was recorded), the ROS 2 type
store second: rosbag2 files in the wild carry placeholder or stale definitions (the rosbag2
sqlite3 test fixture stores `uint8 level` for rcl_interfaces/msg/Log), and older bags store
none at all. ROS 1 messages are converted to their ROS 2 form the way `rosbags-convert` does it
(Header.seq dropped, CameraInfo K -> k, ...), so that readers see one shape whatever the bag.

rclpy is imported lazily: reading a bag needs only rosbags.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from rosbags.convert.converter import is_same_wireformat, migrate_bytes
from rosbags.interfaces import Connection
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from depth_ros.core.errors import BagError

# Kilted is the project's ROS 2; older rosbags releases stop at Jazzy.
DEFAULT_STORE = getattr(Stores, "ROS2_KILTED", Stores.ROS2_JAZZY)
_MSGTYPE = re.compile(r"^([A-Za-z]\w*)/msg/([A-Za-z]\w*)$")


def default_typestore() -> Typestore:
    """The ROS 2 type store matching the project's distribution."""
    return get_typestore(DEFAULT_STORE)


class MessageCodec:
    """Deserialises one open bag's messages and turns them into ROS 2 CDR bytes."""

    def __init__(self, bag_store: Typestore, ros2_store: Typestore, is_ros1: bool) -> None:
        self._bag_store = bag_store
        self._ros2_store = ros2_store
        self._is_ros1 = is_ros1
        # ROS 2 bags: types whose stored definition did not fit the data, so the ROS 2 store goes first.
        self._prefer_ros2: set[str] = set()
        self._ros1_converters: dict[str, Callable[[bytes], memoryview] | None] = {}

    def decode(self, conn: Connection, raw: bytes, path: object) -> object:
        """The rosbags message object of one raw message."""
        msgtype = conn.msgtype
        if self._is_ros1:
            if self._ros1_converter(msgtype) is None:
                return self._run(lambda: self._bag_store.deserialize_ros1(raw, msgtype), conn, path)
            cdr = self.to_cdr(conn, raw, path)
            return self._run(lambda: self._ros2_store.deserialize_cdr(cdr, msgtype), conn, path)

        stores = [s for s in (self._bag_store, self._ros2_store) if msgtype in s.fielddefs]
        if not stores:
            raise BagError(
                f"{path}: topic {conn.topic!r} has type {msgtype!r}, which has no message definition "
                f"in the bag or in the ROS 2 type store ({DEFAULT_STORE.value})"
            )
        if msgtype in self._prefer_ros2:
            stores.reverse()
        errors = []
        for store in stores:
            try:
                msg = store.deserialize_cdr(raw, msgtype)
            except Exception as err:  # rosbags reports bad data as SerdeError, KeyError, struct.error, ...
                errors.append(err)
                continue
            if store is self._ros2_store:
                self._prefer_ros2.add(msgtype)
            else:
                self._prefer_ros2.discard(msgtype)
            return msg
        raise BagError(
            f"{path}: cannot deserialise a message on topic {conn.topic!r} of type {msgtype!r}: "
            + "; ".join(str(e) or type(e).__name__ for e in errors)
        ) from errors[-1]

    def to_cdr(self, conn: Connection, raw: bytes, path: object) -> bytes:
        """ROS 2 CDR bytes of one raw message (unchanged for rosbag2 bags)."""
        if not self._is_ros1:
            return bytes(raw)
        convert = self._ros1_converter(conn.msgtype)
        if convert is None:
            raise BagError(
                f"{path}: cannot convert topic {conn.topic!r} to ROS 2: type {conn.msgtype!r} is not in "
                f"the ROS 2 type store ({DEFAULT_STORE.value}); register it or convert the bag with rosbags-convert"
            )
        return bytes(self._run(lambda: convert(raw), conn, path))

    def _ros1_converter(self, msgtype: str) -> Callable[[bytes], memoryview] | None:
        if msgtype not in self._ros1_converters:
            self._ros1_converters[msgtype] = self._make_ros1_converter(msgtype)
        return self._ros1_converters[msgtype]

    def _make_ros1_converter(self, msgtype: str) -> Callable[[bytes], memoryview] | None:
        if msgtype not in self._ros2_store.fielddefs:
            return None
        try:
            same = is_same_wireformat(self._bag_store, self._ros2_store, msgtype, msgtype)
        except KeyError:  # a nested type the ROS 2 store lacks
            return None
        if same:
            return partial(self._ros2_store.ros1_to_cdr, typename=msgtype)
        return partial(
            migrate_bytes, self._bag_store, self._ros2_store, msgtype, msgtype, {}, src_is2=False, dst_is2=True
        )

    @staticmethod
    def _run(func: Callable[[], Any], conn: Connection, path: object) -> Any:
        try:
            return func()
        except Exception as err:  # rosbags reports bad data as SerdeError, KeyError, struct.error, ...
            raise BagError(
                f"{path}: cannot deserialise a message on topic {conn.topic!r} of type {conn.msgtype!r}: {err}"
            ) from err


def rclpy_message_class(msgtype: str) -> type:
    """The rclpy class of "pkg/msg/Type" (e.g. sensor_msgs.msg.Image)."""
    match = _MSGTYPE.match(msgtype)
    if match is None:
        raise BagError(f"message type {msgtype!r} is not of the form 'pkg/msg/Type'")
    package, name = match.groups()
    try:
        cls = getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as err:
        raise BagError(f"unknown message type {msgtype!r}: no Python module {package}.msg with class {name}") from err
    if not isinstance(cls, type):
        raise BagError(f"unknown message type {msgtype!r}: {package}.msg.{name} is not a message class")
    return cls


def rclpy_msgtype(cls: type) -> str | None:
    """"pkg/msg/Type" of an rclpy message class, or None if `cls` is not a generated message."""
    parts = cls.__module__.split(".")
    if len(parts) == 3 and parts[1] == "msg" and hasattr(cls, "get_fields_and_field_types"):
        return f"{parts[0]}/msg/{cls.__name__}"
    return None


def deserialize_to_rclpy(raw: bytes | bytearray | memoryview, msgtype: str) -> Any:
    """An rclpy message from CDR bytes (e.g. from `BagReader.raw_messages`)."""
    cls = rclpy_message_class(msgtype)
    from rclpy.serialization import deserialize_message  # noqa: PLC0415

    try:
        return deserialize_message(bytes(raw), cls)
    except Exception as err:  # rclpy raises RMWError / RuntimeError variants
        raise BagError(f"cannot deserialise {len(raw)} bytes as {msgtype}: {err}") from err
