"""BagPlayer/BagRecorder and the depth-ros-play/-record CLIs on the real ROS 2 graph (Fast DDS).

Reference data: the rosbag2 talker fixture and a real ROS 1 Jackal IMU bag, read back with
`open_bag(...).messages()` (the rosbags objects, not the raw bytes the player publishes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Imu  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from depth_ros.bags.io import BagWriter, open_bag  # noqa: E402
from depth_ros.core.errors import BagError, InvalidInputError  # noqa: E402
from depth_ros.ros.bag_player import (  # noqa: E402
    BagPlayer,
    BagRecorder,
    parse_remap,
    parse_topic_spec,
    playback_qos,
    recording_qos,
)

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
TALKER = SHARED / "data" / "rosbag2_fixtures" / "talker_mcap"
JACKAL = SHARED / "data" / "real_bags" / "robot_localization_imu" / "jackal_imu_odom.bag"
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not present (../shared beside the checkout)")
    return path


def cli(tool: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"depth_ros.tools.{tool}", *args]


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def bag_strings(path: Path, topic: str, start_ns: int | None = None) -> list[tuple[int, str]]:
    with open_bag(path) as bag:
        return [(m.timestamp_ns, m.msg.data) for m in bag.messages(topic, start_ns=start_ns)]


@pytest.fixture(scope="module")
def ctx():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


class Collector:
    """A node spinning in its own thread that keeps (arrival monotonic time, message) per topic."""

    def __init__(self, ctx, subs: dict[str, tuple[type, QoSProfile]]) -> None:
        self.node = rclpy.create_node(f"collector_{uuid.uuid4().hex[:8]}", context=ctx)
        self.received: dict[str, list[tuple[float, object]]] = {topic: [] for topic in subs}
        for topic, (cls, qos) in subs.items():
            self.node.create_subscription(
                cls, topic, lambda msg, t=topic: self.received[t].append((time.monotonic(), msg)), qos
            )
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def msgs(self, topic: str) -> list:
        return [m for _, m in self.received[topic]]

    def wait_for(self, topic: str, count: int, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while len(self.received[topic]) < count and time.monotonic() < end:
            time.sleep(0.01)
        return len(self.received[topic]) >= count

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(2.0)
        self.node.destroy_node()


@pytest.fixture
def player_node(ctx):
    node = rclpy.create_node(f"player_{uuid.uuid4().hex[:8]}", context=ctx)
    yield node
    node.destroy_node()


def play_in_thread(player: BagPlayer) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(report=player.play()), daemon=True)
    thread.start()
    return thread, out


# ---------------------------------------------------------------- player on the graph


def test_play_cli_contents_rate_and_clock(ctx):
    expected = bag_strings(need(TALKER), "/topic")
    with open_bag(TALKER) as bag:
        start_ns, end_ns = bag.start_ns, bag.end_ns
    # /clock as rclpy's time source subscribes to it: best effort.
    col = Collector(ctx, {"/topic": (String, RELIABLE), "/clock": (Clock, BEST_EFFORT)})
    try:
        proc = subprocess.run(
            cli("play", str(TALKER), "--rate", "2", "--topics", "/topic", "--no-progress",
                "--wait-for-subscribers", "/topic", "/clock", "--wait-timeout", "15"),
            env=cli_env(), capture_output=True, text=True, timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        assert col.wait_for("/topic", 10, 2.0)
        time.sleep(0.1)
    finally:
        col.close()
    assert "/topic: 10 messages" in proc.stdout
    got = col.received["/topic"]
    assert [m.data for _, m in got] == [data for _, data in expected]
    # Inter-arrival times follow the recorded ones at twice the speed (0.25 s instead of 0.5 s).
    arrival_gaps = np.diff([t for t, _ in got])
    bag_gaps = np.diff([ts for ts, _ in expected]) * 1e-9 / 2
    assert np.all(np.abs(arrival_gaps - bag_gaps) < 0.08), (arrival_gaps, bag_gaps)
    assert abs((got[-1][0] - got[0][0]) - bag_gaps.sum()) < 0.1
    clock_ns = [m.clock.sec * 10**9 + m.clock.nanosec for m in col.msgs("/clock")]
    assert len(clock_ns) > 50  # 100 Hz over ~2.3 s, minus what a best-effort history may drop
    assert all(start_ns <= c <= end_ns for c in clock_ns)
    assert clock_ns == sorted(clock_ns)
    assert clock_ns[-1] - clock_ns[0] > 0.8 * (expected[-1][0] - expected[0][0])


def test_topic_selection_remap_and_start_offset(ctx, player_node):
    with open_bag(need(TALKER)) as bag:
        offset_ns = bag.start_ns + 2_200_000_000
        expected = bag_strings(TALKER, "/topic", start_ns=offset_ns)
        assert 0 < len(expected) < 10
        player = BagPlayer(player_node, bag, rate=5, start_offset_s=2.2, topics=["/topic"],
                           remap={"/topic": "/chatter2"}, clock=False)
        col = Collector(ctx, {t: (String, RELIABLE) for t in ("/chatter2", "/topic")})
        try:
            assert player.output_topics == {"/topic": "/chatter2"}
            assert player.wait_for_subscribers(["/chatter2"], timeout_s=10)
            report = player.play()
            assert col.wait_for("/chatter2", len(expected), 2.0)
            time.sleep(0.1)
        finally:
            col.close()
    assert [m.data for m in col.msgs("/chatter2")] == [data for _, data in expected]
    assert col.msgs("/topic") == []
    assert report.published == {"/chatter2": len(expected)}
    assert report.loops == 1 and not report.stopped and report.clock_published == 0
    assert 0 <= report.max_lateness_s < 0.1


def test_loop_republishes_and_clock_jumps_back(ctx, player_node):
    with open_bag(need(TALKER)) as bag:
        offset_ns = bag.start_ns + 3_400_000_000
        end_ns = bag.end_ns
        expected = [data for _, data in bag_strings(TALKER, "/topic", start_ns=offset_ns)]
        player = BagPlayer(player_node, bag, rate=4, loop=True, start_offset_s=3.4, topics=["/topic"], clock_hz=200)
        col = Collector(ctx, {"/topic": (String, RELIABLE), "/clock": (Clock, RELIABLE)})
        try:
            assert player.wait_for_subscribers(["/topic", "/clock"], timeout_s=10)
            thread, out = play_in_thread(player)
            watchdog = threading.Timer(10.0, player.stop)
            watchdog.start()
            col.wait_for("/topic", 2 * len(expected) + 1, 10.0)
            player.stop()
            thread.join(5.0)
            watchdog.cancel()
        finally:
            col.close()
    assert not thread.is_alive()
    report = out["report"]
    assert report.stopped and report.loops >= 2
    data = [m.data for m in col.msgs("/topic")]
    assert data[: 2 * len(expected)] == expected * 2
    clock_ns = [m.clock.sec * 10**9 + m.clock.nanosec for m in col.msgs("/clock")]
    assert all(offset_ns <= c <= end_ns for c in clock_ns)
    assert any(b < a for a, b in zip(clock_ns, clock_ns[1:])), "the clock never went back at the loop point"


def test_play_ros1_imu_segment(ctx, player_node):
    with open_bag(need(JACKAL)) as bag:
        start = bag.start_ns + 20 * 10**9
        reference = [m.msg for m, _ in zip(bag.messages("/imu/data", start_ns=start), range(100))]
        player = BagPlayer(player_node, bag, start_offset_s=20.0, topics=["/imu/data"], clock=False)
        col = Collector(ctx, {"/imu/data": (Imu, RELIABLE)})
        try:
            assert player.wait_for_subscribers(["/imu/data"], timeout_s=10)
            thread, out = play_in_thread(player)
            watchdog = threading.Timer(8.0, player.stop)
            watchdog.start()
            col.wait_for("/imu/data", 25, 8.0)
            player.stop()
            thread.join(5.0)
            watchdog.cancel()
            time.sleep(0.1)
        finally:
            col.close()
    got = col.msgs("/imu/data")
    assert len(got) >= 25
    assert out["report"].published["/imu/data"] == len(got)
    for msg, ref in zip(got, reference):
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (ref.header.stamp.sec, ref.header.stamp.nanosec)
        assert msg.header.frame_id == ref.header.frame_id == "base_link"
        for name in ("orientation", "angular_velocity", "linear_acceleration"):
            ours, theirs = getattr(msg, name), getattr(ref, name)
            fields = ("x", "y", "z", "w") if name == "orientation" else ("x", "y", "z")
            assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields], name
        for name in ("orientation_covariance", "angular_velocity_covariance", "linear_acceleration_covariance"):
            np.testing.assert_array_equal(np.asarray(getattr(msg, name)), np.asarray(getattr(ref, name)))


# ---------------------------------------------------------------- recorder


def test_play_cli_recorded_by_bag_recorder(ctx, tmp_path):
    expected = bag_strings(need(TALKER), "/topic")
    node = rclpy.create_node(f"recorder_{uuid.uuid4().hex[:8]}", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    recorder = BagRecorder(node, tmp_path / "rec", ["/topic"])
    proc = subprocess.Popen(
        cli("play", str(TALKER), "--rate", "4", "--topics", "/topic", "--no-progress", "--no-clock",
            "--wait-for-subscribers", "/topic", "--wait-timeout", "15"),
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert recorder.start(timeout_s=15) == []  # type discovered from the player's publisher
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
        end = time.monotonic() + 2
        while recorder.counts["/topic"] < len(expected) and time.monotonic() < end:
            time.sleep(0.01)
    finally:
        proc.kill()
        counts = recorder.close()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
    assert counts == {"/topic": len(expected)}
    with open_bag(tmp_path / "rec") as bag:
        assert bag.topics["/topic"].msgtype == "std_msgs/msg/String"
        recorded = [(m.timestamp_ns, m.msg.data) for m in bag.messages()]
    assert [data for _, data in recorded] == [data for _, data in expected]
    stamps = [ts for ts, _ in recorded]
    assert stamps == sorted(stamps) and abs(stamps[0] - time.time_ns()) < 60 * 10**9  # receive times
    # The recorded QoS is the player's offer, which replays the talker's (reliable, volatile).
    meta = yaml.safe_load((tmp_path / "rec" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    qos = meta["topics_with_message_count"][0]["topic_metadata"]["offered_qos_profiles"]
    qos = yaml.safe_load(qos) if isinstance(qos, str) else qos  # a YAML string before metadata version 9
    assert qos[0]["reliability"] in (1, "reliable") and qos[0]["durability"] in (2, "volatile")


def test_record_cli_header_stamps_from_bag_player(ctx, player_node, tmp_path):
    out_bag = tmp_path / "imu_bag"
    proc = subprocess.Popen(
        cli("record", "--out", str(out_bag), "/imu/data", "--storage", "sqlite3", "--use-header-stamp",
            "--duration", "30", "--discovery-timeout", "15"),
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with open_bag(need(JACKAL)) as bag:
            start = bag.start_ns + 30 * 10**9
            reference = [m.msg for m, _ in zip(bag.messages("/imu/data", start_ns=start), range(200))]
            player = BagPlayer(player_node, bag, rate=2, start_offset_s=30.0, topics=["/imu/data"], clock=False)
            assert player.wait_for_subscribers(["/imu/data"], timeout_s=15)
            thread, out = play_in_thread(player)
            time.sleep(1.0)  # ~100 messages at twice the speed
            player.stop()
            thread.join(5.0)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
    published = out["report"].published["/imu/data"]
    assert proc.returncode == 0, stderr
    assert f"/imu/data: {published} messages" in stdout
    assert 50 < published < len(reference)
    with open_bag(out_bag) as bag:
        assert out_bag.joinpath("imu_bag.db3").is_file()
        recorded = list(bag.messages())
    assert len(recorded) == published  # reliable end to end: nothing lost
    for rec, ref in zip(recorded, reference):
        assert rec.timestamp_ns == ref.header.stamp.sec * 10**9 + ref.header.stamp.nanosec
        assert rec.msg.header.frame_id == ref.header.frame_id
        np.testing.assert_array_equal(rec.msg.orientation_covariance, ref.orientation_covariance)
        assert (rec.msg.linear_acceleration.x, rec.msg.angular_velocity.z, rec.msg.orientation.w) == (
            ref.linear_acceleration.x, ref.angular_velocity.z, ref.orientation.w)


# ---------------------------------------------------------------- errors, QoS, CLI


@pytest.mark.parametrize("make_bad", ["missing", "corrupt"])
def test_play_cli_bad_bag_is_one_line_exit_1(tmp_path, make_bad):
    path = tmp_path / "nonexistent"
    if make_bad == "corrupt":
        path = tmp_path / "broken.mcap"
        path.write_bytes(b"\x89MCAP0\r\n" + b"\x00garbage" * 50)
    proc = subprocess.run(cli("play", str(path)), env=cli_env(), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("depth-ros-play: ") and str(path) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_skips_types_rclpy_lacks_and_replays_recorded_qos(player_node, tmp_path):
    try:
        import tf2_msgs  # noqa: F401

        pytest.skip("tf2_msgs is installed here; the skip path needs a type rclpy lacks")
    except ImportError:
        pass
    infinite = QosTime(2147483647, 4294967295)
    best_effort = Qos(QosHistory.KEEP_LAST, 5, QosReliability.BEST_EFFORT, QosDurability.VOLATILE, infinite,
                      infinite, QosLiveliness.AUTOMATIC, infinite, False)
    with BagWriter(tmp_path / "b") as writer:
        writer.add_topic("/tf", "tf2_msgs/msg/TFMessage")
        writer.add_topic("/s", "std_msgs/msg/String", best_effort)
        writer.write("/tf", 1000, b"\x00\x01\x00\x00\x00\x00\x00\x00")
        writer.write("/s", 2000, String(data="x"))
    with open_bag(tmp_path / "b") as bag:
        player = BagPlayer(player_node, bag, clock=False)
        assert set(player.skipped) == {"/tf"} and "tf2_msgs" in player.skipped["/tf"]
        assert player.publishers["/s"].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
        report = player.play()
    assert report.published == {"/s": 1} and set(report.skipped) == {"/tf"}
    with open_bag(need(TALKER)) as bag:
        player = BagPlayer(player_node, bag, rate=1000, clock=False)
        rosout = player.publishers["/rosout"].qos_profile
        topic = player.publishers["/topic"].qos_profile
    assert rosout.durability == DurabilityPolicy.TRANSIENT_LOCAL and rosout.reliability == ReliabilityPolicy.RELIABLE
    assert topic.durability == DurabilityPolicy.VOLATILE and topic.depth == 100
    assert "/parameter_events" not in player.publishers  # no messages recorded


def test_qos_choices_and_argument_errors(player_node, tmp_path):
    assert playback_qos([]).reliability == ReliabilityPolicy.RELIABLE
    assert playback_qos([], latching=True).durability == DurabilityPolicy.TRANSIENT_LOCAL
    reliable_offer = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    best_effort_offer = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    assert recording_qos([reliable_offer]).reliability == ReliabilityPolicy.RELIABLE
    assert recording_qos([reliable_offer, best_effort_offer]).reliability == ReliabilityPolicy.BEST_EFFORT
    assert recording_qos([]).reliability == ReliabilityPolicy.BEST_EFFORT
    assert recording_qos([reliable_offer]).durability == DurabilityPolicy.VOLATILE
    assert parse_remap(["/a:=/b", "c:=d"]) == {"/a": "/b", "c": "d"}
    assert parse_topic_spec("/imu:=sensor_msgs/msg/Imu") == ("/imu", "sensor_msgs/msg/Imu")
    assert parse_topic_spec("/imu") == ("/imu", None)
    with pytest.raises(InvalidInputError, match="OLD:=NEW"):
        parse_remap(["/a"])
    with open_bag(need(TALKER)) as bag:
        with pytest.raises(InvalidInputError, match="rate"):
            BagPlayer(player_node, bag, rate=0)
        with pytest.raises(BagError, match="no topic"):
            BagPlayer(player_node, bag, topics=["/nope"])
        player = BagPlayer(player_node, bag, start_offset_s=100.0, clock=False)
        assert player.play().total == 0
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="exists"):
        BagRecorder(player_node, tmp_path / "exists", ["/x"])


@pytest.mark.parametrize("tool,options", [
    ("play", ["--rate", "--loop", "--start-offset", "--topics", "--remap", "--no-clock", "--clock-hz", "--delay",
              "--wait-for-subscribers", "--wait-timeout", "--no-progress"]),
    ("record", ["--out", "--duration", "--storage", "--use-header-stamp", "--discovery-timeout"]),
])
def test_help_explains_every_option(tool, options, capsys):
    module = __import__(f"depth_ros.tools.{tool}", fromlist=["parse_args"])
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in options:
        assert option in text
    assert text.count("(default") >= 2
