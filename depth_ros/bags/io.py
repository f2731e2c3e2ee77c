"""Reading rosbag2 (MCAP, sqlite3, split) and ROS 1 bags, and writing rosbag2 bags, via rosbags.

Every failure (missing path, corrupt or truncated file, unknown message type) is a `BagError`
naming the file and, where known, the topic and type.

Timestamps are the bag's receive times in nanoseconds; time windows are inclusive at both ends,
so `messages(start_ns=r.start_ns, end_ns=r.end_ns)` yields every message. Messages of ROS 1
bags come out in their ROS 2 form (see bag_codec), as objects and as CDR bytes alike.

rosbag2 directories are read file by file rather than through rosbags' directory reader: that
reader matches each file's topics to metadata.yaml's by QoS too, and yields nothing when they
differ (as in the rosbag2 test fixtures, where metadata.yaml spells an infinite deadline as 0).
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import yaml
from rosbags.highlevel import AnyReader
from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from depth_ros.bags.codec import (
    MessageCodec,
    default_typestore,
    deserialize_to_rclpy,
    rclpy_message_class,
    rclpy_msgtype,
)
from depth_ros.core.errors import BagError, InvalidInputError

if TYPE_CHECKING:
    from rclpy.qos import QoSProfile

__all__ = [
    "BagMessage",
    "BagReader",
    "BagWriter",
    "DEFAULT_QOS",
    "RawBagMessage",
    "TopicInfo",
    "deserialize_to_rclpy",
    "open_bag",
    "rclpy_message_class",
]

_STORAGE_SUFFIXES = (".mcap", ".db3", ".bag")
# RMW_DURATION_INFINITE as rosbag2 records it.
_INFINITE = QosTime(2147483647, 4294967295)
# Reliable + volatile: a replayed topic then reaches both reliable and best-effort subscribers.
DEFAULT_QOS = Qos(
    QosHistory.KEEP_LAST,
    10,
    QosReliability.RELIABLE,
    QosDurability.VOLATILE,
    _INFINITE,
    _INFINITE,
    QosLiveliness.AUTOMATIC,
    _INFINITE,
    False,
)


@dataclass(frozen=True)
class TopicInfo:
    """A topic in a bag. A topic recorded with several types has them joined by '|'."""

    msgtype: str
    count: int


@dataclass(frozen=True)
class BagMessage:
    """One deserialised message: a rosbags object with rclpy's field names (uint8[] as numpy)."""

    topic: str
    msgtype: str
    timestamp_ns: int
    msg: Any


@dataclass(frozen=True)
class RawBagMessage:
    """One message as ROS 2 CDR bytes, ready to publish or to `deserialize_to_rclpy`."""

    topic: str
    msgtype: str
    timestamp_ns: int
    data: bytes


def open_bag(path: str | Path, typestore: Typestore | None = None) -> BagReader:
    """Open a rosbag2 directory, a single .mcap/.db3 file or a ROS 1 .bag.

    `typestore` holds the ROS 2 definitions used where the bag stores none (or wrong ones);
    it defaults to the project's ROS 2 distribution.
    """
    return BagReader(path, typestore)


class BagReader:
    """An open bag; a context manager. Create it with `open_bag`."""

    def __init__(self, path: str | Path, typestore: Typestore | None = None) -> None:
        self.path = Path(path)
        self.files = _storage_files(self.path)
        ros2_store = typestore or default_typestore()
        try:
            reader = AnyReader(self.files, default_typestore=ros2_store)
            reader.open()
        except Exception as err:  # rosbags raises AnyReaderError, ReaderError, TypesysError, OSError, ...
            culprit = _failing_file(self.path, self.files, ros2_store)
            where = str(self.path) if culprit == self.path else f"{self.path} (file {culprit})"
            raise BagError(f"cannot open bag {where}: {err}") from err
        self._reader: AnyReader | None = reader
        self.is_ros1 = not reader.is2
        self._codec = MessageCodec(reader.typestore, ros2_store, self.is_ros1)

    def __enter__(self) -> BagReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._reader is None else f"{self.message_count} messages"
        return f"BagReader({str(self.path)!r}, {state})"

    def close(self) -> None:
        """Close the files; closing twice is harmless."""
        reader, self._reader = self._reader, None
        if reader is not None:
            with suppress(Exception):  # a reader that failed mid-read may refuse to close cleanly
                reader.close()

    @property
    def topics(self) -> dict[str, TopicInfo]:
        """Topic name -> TopicInfo(msgtype, count), including topics without messages."""
        out = {}
        for name, info in self._open_reader().topics.items():
            msgtype = info.msgtype or "|".join(sorted({c.msgtype for c in info.connections}))
            out[name] = TopicInfo(msgtype, info.msgcount)
        return out

    @property
    def message_count(self) -> int:
        """Number of messages in the bag."""
        return self._open_reader().message_count

    @property
    def start_ns(self) -> int:
        """Timestamp of the first message (0 for an empty bag)."""
        reader = self._open_reader()
        return reader.start_time if reader.message_count else 0

    @property
    def end_ns(self) -> int:
        """Timestamp of the last message (0 for an empty bag)."""
        reader = self._open_reader()
        # rosbags' end_time is one past the last message.
        return reader.end_time - 1 if reader.message_count else 0

    @property
    def duration_ns(self) -> int:
        """end_ns - start_ns."""
        return self.end_ns - self.start_ns

    @property
    def duration(self) -> float:
        """end_ns - start_ns in seconds."""
        return self.duration_ns * 1e-9

    def messages(
        self,
        topics: str | Iterable[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> Iterator[BagMessage]:
        """Deserialised messages in timestamp order (all topics when `topics` is None)."""
        for conn, timestamp, raw in self._raw(topics, start_ns, end_ns):
            msg = self._codec.decode(conn, raw, _file_of(conn, self.path))
            yield BagMessage(conn.topic, conn.msgtype, timestamp, msg)

    def raw_messages(
        self,
        topics: str | Iterable[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> Iterator[RawBagMessage]:
        """Messages as ROS 2 CDR bytes in timestamp order; ROS 1 messages are converted."""
        for conn, timestamp, raw in self._raw(topics, start_ns, end_ns):
            data = self._codec.to_cdr(conn, raw, _file_of(conn, self.path))
            yield RawBagMessage(conn.topic, conn.msgtype, timestamp, data)

    def _open_reader(self) -> AnyReader:
        if self._reader is None:
            raise BagError(f"bag {self.path} is closed")
        return self._reader

    def _raw(
        self, topics: str | Iterable[str] | None, start_ns: int | None, end_ns: int | None
    ) -> Iterator[tuple[Connection, int, bytes]]:
        reader = self._open_reader()
        connections = reader.connections
        if topics is not None:
            wanted = {topics} if isinstance(topics, str) else set(topics)
            if unknown := wanted - {c.topic for c in connections}:
                raise BagError(
                    f"bag {self.path} has no topic {sorted(unknown)}; its topics are {sorted(reader.topics)}"
                )
            connections = [c for c in connections if c.topic in wanted]
        stop = None if end_ns is None else end_ns + 1
        by_owner: dict[int, list[Connection]] = {}
        for conn in connections:
            by_owner.setdefault(id(conn.owner), []).append(conn)
        streams = [_guarded(conns, start_ns, stop, _file_of(conns[0], self.path)) for conns in by_owner.values()]
        yield from heapq.merge(*streams, key=lambda item: item[1])


def _guarded(
    conns: list[Connection], start: int | None, stop: int | None, path: object
) -> Iterator[tuple[Connection, int, bytes]]:
    """One storage file's messages, with rosbags' read errors turned into BagError."""
    owner: Any = conns[0].owner
    try:
        yield from owner.messages(connections=conns, start=start, stop=stop)
    except Exception as err:  # corrupt data surfaces as ReaderError, struct.error, sqlite3 errors, ...
        raise BagError(f"{path}: cannot read messages (corrupt or truncated file?): {err}") from err


def _failing_file(bag: Path, files: list[Path], store: Typestore) -> Path:
    """The first of `files` that rosbags cannot open on its own (`bag` if none)."""
    if len(files) == 1:
        return files[0]
    for path in files:
        reader = AnyReader([path], default_typestore=store)
        try:
            reader.open()
        except Exception:  # any failure marks the culprit
            return path
        reader.close()
    return bag


def _file_of(conn: Connection, default: Path) -> object:
    return getattr(conn.owner, "path", default)


def _storage_files(path: Path) -> list[Path]:
    """The files rosbags should open for `path` (see the module docstring for directories)."""
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    if path.is_file():
        if path.suffix not in _STORAGE_SUFFIXES:
            raise BagError(f"bag {path}: unknown file type {path.suffix!r}, expected one of {_STORAGE_SUFFIXES}")
        return [path]
    meta_path = path / "metadata.yaml"
    try:
        info = yaml.safe_load(meta_path.read_text())["rosbag2_bagfile_information"]
        names = [PurePath(name).name for name in info["relative_file_paths"]]
        compressed = str(info.get("compression_mode") or "none").lower() != "none"
    except FileNotFoundError as err:
        raise BagError(f"bag directory {path} has no metadata.yaml") from err
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        raise BagError(f"bag {path}: unreadable metadata.yaml: {err!r}") from err
    if compressed:
        # rosbags' directory reader decompresses; its QoS matching caveat then applies.
        return [path]
    files = [path / name for name in names]
    if missing := [str(f) for f in files if not f.is_file()]:
        raise BagError(f"bag {path}: files listed in metadata.yaml are missing: {missing}")
    if not files:
        raise BagError(f"bag {path}: metadata.yaml lists no files")
    return files


class BagWriter:
    """Writes a rosbag2 directory (one .mcap or .db3 file plus metadata.yaml); a context manager.

    Leaving the `with` block, even by an exception, finalises the bag so that the messages
    written so far stay readable.
    """

    def __init__(
        self,
        path: str | Path,
        storage: Literal["mcap", "sqlite3"] = "mcap",
        typestore: Typestore | None = None,
    ) -> None:
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise InvalidInputError(f"bag storage must be 'mcap' or 'sqlite3', got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"cannot write bag {self.path}: the path exists already")
        self._store = typestore or default_typestore()
        self._connections: dict[str, Connection] = {}
        try:
            writer = Writer(self.path, version=Writer.VERSION_LATEST, storage_plugin=plugins[storage])
            writer.open()
        except Exception as err:  # WriterError, OSError
            raise BagError(f"cannot create bag {self.path}: {err}") from err
        self._writer: Writer | None = writer

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
            return
        with suppress(Exception):  # the exception in flight is the one to report
            self.close()

    @property
    def topics(self) -> dict[str, str]:
        """Topic name -> message type of the topics added so far."""
        return {topic: conn.msgtype for topic, conn in self._connections.items()}

    def add_topic(self, topic: str, msgtype: str, qos: Qos | QoSProfile | None = None) -> None:
        """Declare a topic. `qos`: a rosbags Qos, an rclpy QoSProfile, or None for DEFAULT_QOS."""
        writer = self._open_writer()
        if topic in self._connections:
            raise BagError(f"bag {self.path}: topic {topic!r} was added already")
        if msgtype not in self._store.fielddefs:
            raise BagError(f"bag {self.path}: topic {topic!r}: message type {msgtype!r} is not in the type store")
        try:
            self._connections[topic] = writer.add_connection(
                topic, msgtype, typestore=self._store, offered_qos_profiles=[_to_qos(qos)]
            )
        except Exception as err:  # WriterError, TypesysError
            raise BagError(f"bag {self.path}: cannot add topic {topic!r} of type {msgtype!r}: {err}") from err

    def write(self, topic: str, timestamp_ns: int, msg: Any) -> None:
        """Append a message: an rclpy message, a rosbags message object, or CDR bytes."""
        writer = self._open_writer()
        conn = self._connections.get(topic)
        if conn is None:
            raise BagError(f"bag {self.path}: topic {topic!r} was not added; added: {sorted(self._connections)}")
        stamp = _nonnegative_int(timestamp_ns)
        data = self._serialize(topic, conn.msgtype, msg)
        try:
            writer.write(conn, stamp, data)
        except Exception as err:  # WriterError, sqlite3 errors, OSError
            raise BagError(f"bag {self.path}: cannot write to topic {topic!r}: {err}") from err

    def close(self) -> None:
        """Finalise the bag (index, metadata.yaml); closing twice is harmless."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
        except Exception as err:
            raise BagError(f"cannot finalise bag {self.path}: {err}") from err

    def _open_writer(self) -> Writer:
        if self._writer is None:
            raise BagError(f"bag {self.path} is closed")
        return self._writer

    def _serialize(self, topic: str, msgtype: str, msg: Any) -> bytes | memoryview:
        if isinstance(msg, (bytes, bytearray, memoryview)):
            head = bytes(msg[:2])
            if len(msg) < 4 or head not in (b"\x00\x00", b"\x00\x01"):
                raise InvalidInputError(
                    f"topic {topic!r}: {len(msg)} bytes starting {head!r} are not CDR (no encapsulation header)"
                )
            return msg
        if hasattr(msg, "__msgtype__"):
            _check_type(topic, msgtype, msg.__msgtype__)
            try:
                return self._store.serialize_cdr(msg, msgtype, little_endian=True)
            except Exception as err:  # field values that do not fit the definition
                raise InvalidInputError(f"topic {topic!r}: cannot serialise {msgtype} message: {err}") from err
        rclpy_type = rclpy_msgtype(type(msg))
        if rclpy_type is None:
            raise InvalidInputError(
                f"topic {topic!r}: cannot write a {type(msg).__name__}; "
                "expected an rclpy message, a rosbags message or CDR bytes"
            )
        _check_type(topic, msgtype, rclpy_type)
        from rclpy.serialization import serialize_message  # noqa: PLC0415

        return serialize_message(msg)


def _nonnegative_int(value: Any) -> int:
    """`value` as an int (numpy integers included); floats and bools are refused."""
    try:
        stamp = operator.index(value)
    except TypeError:
        stamp = -1
    if isinstance(value, bool) or stamp < 0:
        raise InvalidInputError(f"timestamp_ns must be a non-negative integer, got {value!r}")
    return stamp


def _check_type(topic: str, expected: str, got: str) -> None:
    if got != expected:
        raise InvalidInputError(f"topic {topic!r} carries {expected}, got a {got} message")


def _to_qos(qos: Qos | QoSProfile | None) -> Qos:
    """A rosbags Qos from None, a rosbags Qos or an rclpy QoSProfile (same enum values)."""
    if qos is None:
        return DEFAULT_QOS
    if isinstance(qos, Qos):
        return qos

    def duration(d: Any) -> QosTime:
        sec, nsec = divmod(int(d.nanoseconds), 1_000_000_000)
        return QosTime(sec, nsec)

    try:
        return Qos(
            QosHistory(int(qos.history)),
            int(qos.depth),
            QosReliability(int(qos.reliability)),
            QosDurability(int(qos.durability)),
            duration(qos.deadline),
            duration(qos.lifespan),
            QosLiveliness(int(qos.liveliness)),
            duration(qos.liveliness_lease_duration),
            bool(qos.avoid_ros_namespace_conventions),
        )
    except (AttributeError, TypeError, ValueError) as err:
        raise InvalidInputError(f"qos must be a rosbags Qos or an rclpy QoSProfile, got {qos!r}") from err
