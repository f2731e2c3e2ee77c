"""Play bags onto the ROS graph and record topics into bags: `ros2 bag play/record` without ros2cli.

`BagPlayer` publishes a bag's messages as raw CDR bytes (no deserialisation; ROS 1 bags are
converted by the reader), keeping the recorded inter-message timing scaled by `rate`, and
publishes `/clock` with the bag time so that nodes with `use_sim_time` follow the bag.

`BagRecorder` subscribes to topics with raw subscriptions and writes the CDR bytes into a
`BagWriter`, stamped with the receive time or the message's header stamp.

QoS, as rosbag2 does it: the player offers the recorded QoS (reliability and durability of the
recorded publishers; reliable/volatile where the bag stores none), the recorder requests what
the publishers it finds offer (reliable only when every publisher is reliable, otherwise best
effort, which a reliable publisher serves as well). See `playback_qos` and `recording_qos`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from rosbags.interfaces import Qos, QosDurability, QosReliability
from rosgraph_msgs.msg import Clock

from depth_ros.bags.io import BagReader, BagWriter, rclpy_message_class
from depth_ros.core.errors import BagError, InvalidInputError

__all__ = [
    "BagPlayer",
    "BagRecorder",
    "PlayReport",
    "parse_remap",
    "parse_topic_spec",
    "playback_qos",
    "recording_qos",
]

PLAY_DEPTH = 100
RECORD_DEPTH = 1000
CLOCK_TOPIC = "/clock"
# Reliable reaches both reliable and best-effort subscribers (rclpy's time source is best effort).
CLOCK_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
_POLL_S = 0.02


def playback_qos(offered: Sequence[Qos], latching: bool = False, depth: int = PLAY_DEPTH) -> QoSProfile:
    """Publisher QoS for a topic recorded with `offered` profiles (ROS 1 bags: `latching`).

    Reliability and durability are taken from the recorded offers when they all agree; mixed
    or unknown reliability becomes reliable (reaches every subscriber), mixed durability
    volatile. Keep-last `depth`; deadlines and lifespans are not replayed.
    """
    reliabilities = {q.reliability for q in offered}
    durabilities = {q.durability for q in offered}
    best_effort = reliabilities == {QosReliability.BEST_EFFORT}
    transient = durabilities == {QosDurability.TRANSIENT_LOCAL} or (not offered and latching)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if transient else DurabilityPolicy.VOLATILE,
    )


def recording_qos(offered: Sequence[QoSProfile], depth: int = RECORD_DEPTH) -> QoSProfile:
    """Subscription QoS that matches every publisher offering one of `offered`.

    A best-effort subscription matches reliable and best-effort publishers alike, but gives up
    retransmission (large fragmented messages then get lost), so it is used only when some
    publisher is best effort or none is known yet. Transient-local only when every publisher
    offers it (to receive latched messages); volatile matches both.
    """
    reliable = bool(offered) and all(q.reliability == ReliabilityPolicy.RELIABLE for q in offered)
    transient = bool(offered) and all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if transient else DurabilityPolicy.VOLATILE,
    )


def parse_remap(specs: Iterable[str]) -> dict[str, str]:
    """{"/old": "/new"} from "OLD:=NEW" strings."""
    out = {}
    for spec in specs:
        old, sep, new = spec.partition(":=")
        if not sep or not old or not new:
            raise InvalidInputError(f"remap {spec!r} is not of the form OLD:=NEW")
        out[old] = new
    return out


def parse_topic_spec(spec: str) -> tuple[str, str | None]:
    """("/topic", "pkg/msg/Type" or None) from "/topic" or "/topic:=pkg/msg/Type"."""
    topic, sep, msgtype = spec.partition(":=")
    if not topic or (sep and not msgtype):
        raise InvalidInputError(f"topic {spec!r} is not of the form TOPIC or TOPIC:=pkg/msg/Type")
    return topic, msgtype or None


@dataclass
class PlayReport:
    """What a `BagPlayer.play` did."""

    published: dict[str, int] = field(default_factory=dict)  # output topic -> messages published
    skipped: dict[str, str] = field(default_factory=dict)  # bag topic -> reason it was not played
    clock_published: int = 0
    max_lateness_s: float = 0.0  # worst delay of a publish behind its scheduled time
    loops: int = 0  # passes over the bag completed
    stopped: bool = False  # stop() ended the playback early

    @property
    def total(self) -> int:
        """Messages published on all topics."""
        return sum(self.published.values())


class BagPlayer:
    """Publishes a bag's messages on `node` with their recorded timing; see the module docstring.

    `topics`: bag topics to play (None: all); `remap`: {"/bag_topic": "/published_topic"};
    `qos_overrides`: publisher QoS by bag or published topic name; `clock_hz`: /clock rate in
    wall-clock Hz; `delay_s`: pause before playing (before each pass with `loop`), with /clock
    held at the start time. Topics whose message type rclpy lacks are skipped with one warning
    each. Publishers are created here, so that subscribers can match before `play` (see
    `wait_for_subscribers`). A stopped player stays stopped.
    """

    def __init__(
        self,
        node: Node,
        reader: BagReader,
        rate: float = 1.0,
        loop: bool = False,
        start_offset_s: float = 0.0,
        topics: Iterable[str] | None = None,
        remap: Mapping[str, str] | None = None,
        clock: bool = True,
        clock_hz: float = 100.0,
        qos_overrides: Mapping[str, QoSProfile] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        if not rate > 0:
            raise InvalidInputError(f"rate must be > 0, got {rate!r}")
        if clock and not clock_hz > 0:
            raise InvalidInputError(f"clock_hz must be > 0, got {clock_hz!r}")
        if not start_offset_s >= 0:
            raise InvalidInputError(f"start_offset_s must be >= 0, got {start_offset_s!r}")
        if not delay_s >= 0:
            raise InvalidInputError(f"delay_s must be >= 0, got {delay_s!r}")
        self.node = node
        self.reader = reader
        self.rate = float(rate)
        self.loop = loop
        self.delay_s = float(delay_s)
        self.clock_period_s = 1.0 / clock_hz if clock else 0.0
        self.start_ns = reader.start_ns + round(start_offset_s * 1e9)
        self.end_ns = reader.end_ns
        self.remap = dict(remap or {})
        self._log = node.get_logger()
        self._stop = threading.Event()
        bag_topics = reader.topics
        wanted = list(bag_topics) if topics is None else list(dict.fromkeys(topics))
        if unknown := [t for t in wanted if t not in bag_topics]:
            raise BagError(f"bag {reader.path} has no topic {unknown}; its topics are {sorted(bag_topics)}")
        if unused := sorted(set(self.remap) - set(wanted)):
            self._log.warning(f"remap of {unused}: no such topic played from the bag")
        offers = _recorded_offers(reader)
        overrides = dict(qos_overrides or {})
        self.skipped: dict[str, str] = {}
        self.publishers: dict[str, Publisher] = {}  # bag topic -> publisher
        for topic in wanted:
            msgtype = bag_topics[topic].msgtype
            if bag_topics[topic].count == 0:
                continue
            try:
                cls = rclpy_message_class(msgtype)
            except BagError as err:
                self.skipped[topic] = str(err)
                self._log.warning(f"skipping topic {topic}: {err}")
                continue
            out = self.remap.get(topic, topic)
            recorded, latching = offers.get(topic, ([], False))
            qos = overrides.get(topic) or overrides.get(out) or playback_qos(recorded, latching)
            self.publishers[topic] = node.create_publisher(cls, out, qos)
        self.clock_publisher = node.create_publisher(Clock, CLOCK_TOPIC, CLOCK_QOS) if clock else None

    @property
    def output_topics(self) -> dict[str, str]:
        """Bag topic -> published topic, for the topics that will be played."""
        return {topic: pub.topic_name for topic, pub in self.publishers.items()}

    def expected_count(self) -> int | None:
        """Messages one pass publishes, when known without reading the bag (no start offset)."""
        if self.start_ns > self.reader.start_ns:
            return None
        topics = self.reader.topics
        return sum(topics[t].count for t in self.publishers)

    def stop(self) -> None:
        """Make `play` and `wait_for_subscribers` return soon; safe from any thread."""
        self._stop.set()

    def wait_for_subscribers(self, topics: Iterable[str], timeout_s: float | None = None) -> bool:
        """Wait until each topic (bag or published name) has a matched subscriber; False on timeout/stop."""
        by_name = {**self.publishers, **{p.topic_name: p for p in self.publishers.values()}}
        if self.clock_publisher is not None:
            by_name[CLOCK_TOPIC] = self.clock_publisher
        pubs = []
        for name in topics:
            pub = by_name.get(name) or by_name.get(self.node.resolve_topic_name(name))
            if pub is None:
                raise InvalidInputError(
                    f"cannot wait for subscribers of {name!r}: not a played topic ({sorted(by_name)})"
                )
            pubs.append(pub)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not all(p.get_subscription_count() > 0 for p in pubs):
            if self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                return False
            self._stop.wait(_POLL_S)
        return True

    def play(self, on_publish: Callable[[str, int], None] | None = None) -> PlayReport:
        """Publish the messages (forever with `loop`, until `stop`); `on_publish(topic, stamp_ns)` after each."""
        report = PlayReport(
            skipped=dict(self.skipped), published={p.topic_name: 0 for p in self.publishers.values()}
        )
        if not self.publishers:
            self._log.warning(f"bag {self.reader.path}: no topic to play")
            return report
        if self.start_ns > self.end_ns:
            self._log.warning(f"start offset is past the end of bag {self.reader.path}: nothing to play")
            return report
        while not self._stop.is_set():
            before = report.total
            last_ns = self._play_once(report, on_publish)
            if self._stop.is_set():
                break
            report.loops += 1
            if not self.loop:
                break
            if report.total == before:
                self._log.warning(f"bag {self.reader.path}: no message of the played topics after the start offset")
                break
            self._log.info(
                f"loop {report.loops + 1}: restarting bag {self.reader.path}; "
                f"/clock jumps back from {last_ns * 1e-9:.3f} s to {self.start_ns * 1e-9:.3f} s"
            )
        report.stopped = self._stop.is_set()
        return report

    def _play_once(self, report: PlayReport, on_publish: Callable[[str, int], None] | None) -> int:
        """One pass over the bag; returns the bag time reached."""
        t0 = time.monotonic() + self.delay_s
        next_clock = time.monotonic()
        position_ns = self.start_ns
        for msg in self.reader.raw_messages(self.publishers, start_ns=self.start_ns):
            deadline = t0 + (msg.timestamp_ns - self.start_ns) / self.rate * 1e-9
            # Sleep until the absolute deadline (no drift), waking for /clock ticks on the way.
            while True:
                now = time.monotonic()
                if self.clock_publisher is not None and now >= next_clock:
                    position_ns = self.start_ns + max(0, round((now - t0) * self.rate * 1e9))
                    self._publish_clock(min(position_ns, msg.timestamp_ns), report)
                    next_clock += self.clock_period_s
                    if next_clock <= now:  # fell behind: skip the missed ticks
                        next_clock = now + self.clock_period_s
                if now >= deadline:
                    break
                wait = deadline - now
                if self.clock_publisher is not None:
                    wait = min(wait, next_clock - now)
                if self._stop.wait(wait):
                    return position_ns
            report.max_lateness_s = max(report.max_lateness_s, time.monotonic() - deadline)
            pub = self.publishers[msg.topic]
            pub.publish(msg.data)
            report.published[pub.topic_name] += 1
            position_ns = msg.timestamp_ns
            if on_publish is not None:
                on_publish(pub.topic_name, msg.timestamp_ns)
            if self._stop.is_set():
                break
        return position_ns

    def _publish_clock(self, stamp_ns: int, report: PlayReport) -> None:
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(stamp_ns, 1_000_000_000)
        self.clock_publisher.publish(msg)
        report.clock_published += 1


def _recorded_offers(reader: BagReader) -> dict[str, tuple[list[Qos], bool]]:
    """Bag topic -> (recorded offered QoS profiles, ROS 1 latching)."""
    # BagReader keeps its rosbags reader private; its connections carry the recorded QoS.
    rosbags_reader = getattr(reader, "_reader", None)
    out: dict[str, tuple[list[Qos], bool]] = {}
    for conn in getattr(rosbags_reader, "connections", []):
        offered, latching = out.get(conn.topic, ([], True))
        offered = offered + list(getattr(conn.ext, "offered_qos_profiles", None) or [])
        latching = latching and bool(getattr(conn.ext, "latching", None))
        out[conn.topic] = (offered, latching)
    return out


class BagRecorder:
    """Records topics from the graph into a new rosbag2 bag; see the module docstring.

    `topics`: "/topic" (type looked up on the graph) or "/topic:=pkg/msg/Type" strings. The
    bag is created here; `start` subscribes, and `close` (or leaving the `with` block)
    finalises it. Timestamps: `node`'s clock at receipt (sim time if the node uses it), or the
    message's header stamp with `use_header_stamp` (receive time for messages without header).
    The node must be spun for messages to arrive.
    """

    def __init__(
        self,
        node: Node,
        path: str | Path,
        topics: Iterable[str],
        storage: Literal["mcap", "sqlite3"] = "mcap",
        use_header_stamp: bool = False,
        depth: int = RECORD_DEPTH,
    ) -> None:
        self.node = node
        self.use_header_stamp = use_header_stamp
        self.depth = depth
        self._log = node.get_logger()
        self._wanted: dict[str, str | None] = {}
        for spec in topics:
            name, msgtype = parse_topic_spec(spec)
            self._wanted[node.resolve_topic_name(name)] = msgtype
        if not self._wanted:
            raise InvalidInputError("no topic to record")
        self._lock = threading.Lock()
        self._writer: BagWriter | None = BagWriter(path, storage)
        self.path = self._writer.path
        self.counts: dict[str, int] = {}
        self.failed: dict[str, str] = {}  # topic -> why it is not recorded
        self._subscriptions: dict[str, Subscription] = {}
        self._timer: Timer | None = None

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def missing(self) -> list[str]:
        """Topics not subscribed yet (not on the graph so far)."""
        return [t for t in self._wanted if t not in self._subscriptions]

    def poll(self) -> list[str]:
        """Subscribe to the topics that have appeared on the graph; returns those still missing."""
        self._subscribe_available()
        return self.missing

    def start(self, timeout_s: float = 5.0) -> list[str]:
        """Subscribe to the topics, waiting up to `timeout_s` for them to appear; returns the missing ones.

        Missing topics are looked for again every 0.2 s while the node spins; topics that
        cannot be recorded are logged and listed in `failed`.
        """
        deadline = time.monotonic() + timeout_s
        while self.poll() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.missing and self._timer is None:
            self._log.warning(f"topics not on the graph yet, recording them once they appear: {self.missing}")
            self._timer = self.node.create_timer(0.2, self._retry)
        return self.missing

    def close(self) -> dict[str, int]:
        """Stop recording and finalise the bag; returns the messages written per topic."""
        with self._lock:
            writer, self._writer = self._writer, None
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        for sub in self._subscriptions.values():
            self.node.destroy_subscription(sub)
        self._subscriptions.clear()
        if writer is not None:
            writer.close()
        return dict(self.counts)

    def _retry(self) -> None:
        self._subscribe_available()
        if not self.missing and self._timer is not None:
            self._timer.cancel()

    def _subscribe_available(self) -> None:
        """Subscribe to the missing topics that have publishers (or an explicit type).

        A topic that cannot be recorded (unknown type, several types) is logged and moved to
        `failed`, as rosbag2 does; this also runs in a timer callback, which must not raise.
        """
        if self._writer is None:
            return
        graph = dict(self.node.get_topic_names_and_types())
        for topic in self.missing:
            msgtype = self._wanted[topic]
            offered = [info.qos_profile for info in self.node.get_publishers_info_by_topic(topic)]
            try:
                if msgtype is None:
                    types = graph.get(topic, [])
                    if not types or not offered:
                        continue
                    if len(types) > 1:
                        raise BagError(f"topic {topic} has several types on the graph: {types}; "
                                       f"give one as {topic}:=TYPE")
                    msgtype = types[0]
                self._subscribe(topic, msgtype, offered)
            except BagError as err:
                self._log.error(f"not recording {topic}: {err}")
                self.failed[topic] = str(err)
                del self._wanted[topic]

    def _subscribe(self, topic: str, msgtype: str, offered: list[QoSProfile]) -> None:
        cls = rclpy_message_class(msgtype)
        with self._lock:
            if self._writer is None:
                return
            self._writer.add_topic(topic, msgtype, offered[0] if offered else None)
        stamp_of = None
        if self.use_header_stamp:
            if "header" in cls.get_fields_and_field_types():
                stamp_of = _header_stamp_reader(cls)
            else:
                self._log.warning(f"{topic} ({msgtype}) has no header: stamping with the receive time")
        qos = recording_qos(offered, self.depth)
        self.counts[topic] = 0
        self._subscriptions[topic] = self.node.create_subscription(
            cls, topic, lambda data, t=topic, s=stamp_of: self._on_message(t, data, s), qos, raw=True
        )
        reliability = "reliable" if qos.reliability == ReliabilityPolicy.RELIABLE else "best effort"
        self._log.info(f"recording {topic} ({msgtype}, {reliability})")

    def _on_message(self, topic: str, data: bytes, stamp_of: Callable[[bytes], int] | None) -> None:
        stamp = stamp_of(data) if stamp_of is not None else self.node.get_clock().now().nanoseconds
        with self._lock:
            if self._writer is None:
                return
            self._writer.write(topic, stamp, data)
            self.counts[topic] += 1


def _header_stamp_reader(cls: type) -> Callable[[bytes], int]:
    def stamp(data: bytes) -> int:
        header_stamp = deserialize_message(data, cls).header.stamp
        return header_stamp.sec * 1_000_000_000 + header_stamp.nanosec

    return stamp
