"""Bag reading/writing against rosbag2's own fixtures, the independent mcap/mcap_ros2 reader,
metadata.yaml parsed here, and the installed Kilted message packages."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from mcap.writer import Writer as McapWriter
from mcap_ros2.decoder import DecoderFactory

from depth_ros.bags.io import BagWriter, deserialize_to_rclpy, open_bag, rclpy_message_class
from depth_ros.core.errors import BagError, InvalidInputError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
FIXTURES = SHARED / "data" / "rosbag2_fixtures"
REAL_BAGS = SHARED / "data" / "real_bags"
JACKAL = REAL_BAGS / "robot_localization_imu" / "jackal_imu_odom.bag"
LUMINAR = REAL_BAGS / "luminar_lidar" / "luminar_lidar.bag"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not present (../shared beside the checkout)")
    return path


def metadata(bag_dir: Path) -> dict:
    return yaml.safe_load((bag_dir / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


def mcap_decode(path: Path, topics=None) -> list[tuple[str, int, object]]:
    """(topic, log_time, decoded message) with the independent mcap_ros2 decoder, in log-time order."""
    with path.open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        return [(ch.topic, m.log_time, d) for _, ch, m, d in reader.iter_decoded_messages(topics)]


def same(ours, ref, where: str = "msg") -> None:
    """Field-by-field equality of a rosbags message and an mcap_ros2 / rclpy message."""
    if dataclasses.is_dataclass(ours):
        for field in dataclasses.fields(ours):
            # Skipped: constants (upper case; rosbags makes them fields) and the placeholder member
            # rosbags gives empty structs.
            name = field.name
            if not name.isupper() and name not in ("__msgtype__", "structure_needs_at_least_one_member"):
                same(getattr(ours, name), getattr(ref, name), f"{where}.{name}")
    elif isinstance(ours, np.ndarray):
        if isinstance(ref, (bytes, bytearray)):
            ref = np.frombuffer(ref, np.uint8)
        ref = np.array(ref, dtype=ours.dtype)
        assert np.array_equal(ours, ref, equal_nan=ours.dtype.kind == "f"), where
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(ref), where
        for i, (a, b) in enumerate(zip(ours, ref)):
            same(a, b, f"{where}[{i}]")
    elif isinstance(ours, float) and math.isnan(ours):
        assert math.isnan(ref), where
    else:
        assert ours == ref, where


# --- the rosbag2 fixtures ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["talker_mcap", "talker_sqlite3", "split_mcap", "cdr_test_mcap"])
def test_fixture_topics_and_counts_match_metadata(name):
    bag_dir = need(FIXTURES / name)
    meta = metadata(bag_dir)
    declared = {
        t["topic_metadata"]["name"]: (t["topic_metadata"]["type"], t["message_count"])
        for t in meta["topics_with_message_count"]
    }
    with open_bag(bag_dir) as bag:
        assert {k: (v.msgtype, v.count) for k, v in bag.topics.items()} == declared
        assert bag.message_count == meta["message_count"]
        read = {}
        for m in bag.messages():
            read[m.topic] = read.get(m.topic, 0) + 1
            assert m.msgtype == declared[m.topic][0]
    assert read == {k: n for k, (_, n) in declared.items() if n}


@pytest.mark.parametrize("name", ["talker_mcap", "talker_sqlite3"])
def test_talker_contents_match_independent_mcap_reader(name):
    reference = mcap_decode(need(FIXTURES / "talker_mcap" / "talker.mcap"))
    with open_bag(need(FIXTURES / name)) as bag:
        ours = list(bag.messages())
        assert (bag.start_ns, bag.end_ns) == (reference[0][1], reference[-1][1])
    assert [(m.topic, m.timestamp_ns) for m in ours] == [(t, ts) for t, ts, _ in reference]
    strings = [m.msg.data for m in ours if m.topic == "/topic"]
    assert strings == [d.data for t, _, d in reference if t == "/topic"]
    assert strings[0].startswith("Hello, world!")
    # /rosout (rcl_interfaces/msg/Log): in the sqlite3 variant the stored definition is a
    # placeholder ("uint8 level"), so this also covers the ROS 2 type store fallback.
    for ours_msg, (topic, _, ref) in zip(ours, reference):
        same(ours_msg.msg, ref, topic)


def test_split_bag_reads_all_files_in_timestamp_order():
    bag_dir = need(FIXTURES / "split_mcap")
    files = [bag_dir / name for name in metadata(bag_dir)["relative_file_paths"]]
    assert len(files) == 5
    reference = sorted(
        ((t, ts, d.data) for f in files for t, ts, d in mcap_decode(f)), key=lambda x: (x[1], x[0], x[2])
    )
    with open_bag(bag_dir) as bag:
        ours = [(m.topic, m.timestamp_ns, m.msg.data) for m in bag.messages()]
        stamps = [ts for _, ts, _ in ours]
        assert stamps == sorted(stamps)
        assert sorted(ours, key=lambda x: (x[1], x[0], x[2])) == reference
        # Inclusive time window and topic filter.
        lo, hi = stamps[100], stamps[2000]
        window = [(t, ts, d) for t, ts, d in ours if lo <= ts <= hi and t in ("AAA", "HHH")]
        got = [(m.topic, m.timestamp_ns, m.msg.data) for m in bag.messages(["AAA", "HHH"], lo, hi)]
        assert got == window and len(window) > 100
        assert [m.topic for m in bag.messages("CCC", end_ns=stamps[0] + 50)] == ["CCC"] * len(
            [1 for t, ts, _ in ours if t == "CCC" and ts <= stamps[0] + 50]
        )


def test_stored_definitions_decode_test_msgs():
    # test_msgs is not in any type store: the MCAP's own schemas are what makes this readable.
    path = need(FIXTURES / "cdr_test_mcap")
    reference = mcap_decode(path / "cdr_test_0.mcap")
    with open_bag(path) as bag:
        ours = list(bag.messages())
        raw = list(bag.raw_messages())
    assert [(m.topic, m.timestamp_ns) for m in ours] == [(t, ts) for t, ts, _ in reference]
    for m, (_, _, ref) in zip(ours, reference):
        same(m.msg, ref, m.msgtype)
    with (path / "cdr_test_0.mcap").open("rb") as f:
        ref_raw = [m.data for _, _, m in make_reader(f).iter_messages(log_time_order=True)]
    assert [r.data for r in raw] == ref_raw


# --- errors ------------------------------------------------------------------------------------


def write_mcap_with_unknown_type(path: Path) -> None:
    """An MCAP (written with the mcap library) with a String topic and a type nobody defines."""
    from rclpy.serialization import serialize_message
    from std_msgs.msg import String

    with path.open("wb") as f:
        w = McapWriter(f)
        w.start(profile="ros2", library="test")
        ok_schema = w.register_schema(name="std_msgs/msg/String", encoding="ros2msg", data=b"string data")
        ok = w.register_channel(topic="/ok", message_encoding="cdr", schema_id=ok_schema)
        bad_schema = w.register_schema(name="made_up/msg/Thing", encoding="", data=b"")
        bad = w.register_channel(topic="/mystery", message_encoding="cdr", schema_id=bad_schema)
        wrong_schema = w.register_schema(name="made_up/msg/Wrong", encoding="ros2msg", data=b"uint8 x")
        wrong = w.register_channel(topic="/wrong", message_encoding="cdr", schema_id=wrong_schema)
        w.add_message(ok, log_time=10, data=serialize_message(String(data="hi")), publish_time=10)
        w.add_message(bad, log_time=20, data=b"\x00\x01\x00\x00\x07\x00\x00\x00", publish_time=20)
        w.add_message(wrong, log_time=30, data=b"\x00\x01\x00\x00" + bytes(range(40)), publish_time=30)
        w.finish()


def test_unknown_type_lists_but_fails_clearly(tmp_path):
    from rclpy.serialization import serialize_message
    from std_msgs.msg import String

    path = tmp_path / "unknown.mcap"
    write_mcap_with_unknown_type(path)
    with open_bag(path) as bag:
        assert {k: v.msgtype for k, v in bag.topics.items()} == {
            "/ok": "std_msgs/msg/String",
            "/mystery": "made_up/msg/Thing",
            "/wrong": "made_up/msg/Wrong",
        }
        assert [m.msg.data for m in bag.messages("/ok")] == ["hi"]
        with pytest.raises(BagError, match=r"unknown\.mcap.*'/mystery'.*'made_up/msg/Thing'"):
            list(bag.messages("/mystery"))
        with pytest.raises(BagError, match=r"unknown\.mcap.*'/wrong'.*'made_up/msg/Wrong'"):
            list(bag.messages("/wrong"))
        with pytest.raises(BagError, match="/mystery"):
            list(bag.messages())
        # Raw bytes need no definition.
        assert [len(m.data) for m in bag.raw_messages()] == [len(serialize_message(String(data="hi"))), 8, 44]


@pytest.mark.parametrize(
    "source, keep",
    [
        (FIXTURES / "talker_mcap" / "talker.mcap", 0.5),
        (FIXTURES / "talker_mcap" / "talker.mcap", 0.98),
        (FIXTURES / "talker_sqlite3" / "talker.db3", 0.1),
        (LUMINAR, 0.5),
    ],
    ids=["mcap-half", "mcap-tail", "sqlite3", "ros1"],
)
def test_truncated_file_names_the_file(tmp_path, source, keep):
    data = need(source).read_bytes()
    cut = tmp_path / f"cut_{source.name}"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(BagError, match=re.escape(str(cut))), open_bag(cut) as bag:
        list(bag.messages())


def test_corrupt_chunk_fails_while_reading_and_names_the_file(tmp_path):
    data = bytearray(need(FIXTURES / "talker_mcap" / "talker.mcap").read_bytes())
    with (FIXTURES / "talker_mcap" / "talker.mcap").open("rb") as f:
        chunk = make_reader(f).get_summary().chunk_indexes[0]
    start = chunk.chunk_start_offset + chunk.chunk_length // 2
    data[start : start + 16] = b"\xff" * 16
    bad = tmp_path / "corrupt.mcap"
    bad.write_bytes(bytes(data))
    with open_bag(bad) as bag:  # the summary is intact: opening and listing work
        assert bag.topics["/topic"].count == 10
        with pytest.raises(BagError, match=re.escape(str(bad)) + ".*corrupt"):
            list(bag.messages())


def test_truncated_file_in_split_bag_is_named(tmp_path):
    src = need(FIXTURES / "split_mcap")
    dst = tmp_path / "split"
    shutil.copytree(src, dst)
    (dst / "wbag_2.mcap").write_bytes((src / "wbag_2.mcap").read_bytes()[:20000])
    with pytest.raises(BagError, match=r"wbag_2\.mcap"):
        open_bag(dst)


def test_path_errors(tmp_path):
    with pytest.raises(BagError, match="no_such_bag.*does not exist"):
        open_bag(tmp_path / "no_such_bag")
    with pytest.raises(BagError, match="no metadata.yaml"):
        open_bag(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagError, match="notes.txt.*'.txt'"):
        open_bag(tmp_path / "notes.txt")
    bag_dir = tmp_path / "missing_file"
    bag_dir.mkdir()
    shutil.copy(need(FIXTURES / "talker_mcap" / "metadata.yaml"), bag_dir)
    with pytest.raises(BagError, match="talker.mcap"):
        open_bag(bag_dir)


def test_reader_misuse():
    bag = open_bag(need(FIXTURES / "talker_mcap"))
    with pytest.raises(BagError, match=r"'/nope'.*'/rosout'"):
        list(bag.messages(["/topic", "/nope"]))
    bag.close()
    bag.close()
    with pytest.raises(BagError, match="closed"):
        list(bag.messages())


# --- writing -----------------------------------------------------------------------------------


def sensor_messages() -> dict[str, object]:
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image, Imu, PointCloud2, PointField
    from std_msgs.msg import Header

    rng = np.random.default_rng(7)
    header = Header(stamp=Time(sec=1700000000, nanosec=123456789), frame_id="camera_optical_frame")
    depth = rng.uniform(0.3, 8.0, size=(4, 5)).astype(np.float32)
    image = Image(header=header, height=4, width=5, encoding="32FC1", is_bigendian=0, step=20)
    image.data = depth.tobytes()
    info = CameraInfo(header=header, height=4, width=5, distortion_model="plumb_bob")
    info.d = [0.1, -0.2, 0.001, 0.002, 0.0]
    info.k = [500.0, 0.0, 2.0, 0.0, 501.0, 1.5, 0.0, 0.0, 1.0]
    info.p = [500.0, 0.0, 2.0, 0.0, 0.0, 501.0, 1.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    points = rng.normal(size=(6, 4)).astype(np.float32)
    cloud = PointCloud2(header=header, height=1, width=6, is_bigendian=False, point_step=16, row_step=96)
    cloud.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
    cloud.data = points.tobytes()
    cloud.is_dense = True
    imu = Imu(header=Header(stamp=Time(sec=1700000000, nanosec=5), frame_id="imu_link"))
    imu.linear_acceleration.x, imu.linear_acceleration.z = 0.25, 9.81
    imu.angular_velocity.y = -0.5
    imu.orientation.w = 1.0
    imu.orientation_covariance[0] = -1.0
    return {"/camera/depth": image, "/camera/info": info, "/points": cloud, "/imu": imu}


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_write_read_round_trip(tmp_path, storage):
    from rclpy.qos import qos_profile_sensor_data
    from rclpy.serialization import serialize_message

    msgs = sensor_messages()
    types = {
        "/camera/depth": "sensor_msgs/msg/Image",
        "/camera/info": "sensor_msgs/msg/CameraInfo",
        "/points": "sensor_msgs/msg/PointCloud2",
        "/imu": "sensor_msgs/msg/Imu",
    }
    payloads = {topic: serialize_message(msg) for topic, msg in msgs.items()}
    path = tmp_path / "bag"
    with BagWriter(path, storage=storage) as writer:
        for topic, msgtype in types.items():
            writer.add_topic(topic, msgtype, qos=qos_profile_sensor_data if topic == "/imu" else None)
        for i in range(3):
            for k, topic in enumerate(types):
                # The last round goes in as CDR bytes: those must come back byte for byte.
                msg = payloads[topic] if i == 2 else msgs[topic]
                writer.write(topic, 1_000_000_000 + 10 * i + k, msg)

    meta = metadata(path)
    assert meta["storage_identifier"] == storage
    assert meta["message_count"] == 12
    by_topic = {t["topic_metadata"]["name"]: t for t in meta["topics_with_message_count"]}
    assert {k: (v["topic_metadata"]["type"], v["message_count"]) for k, v in by_topic.items()} == {
        k: (v, 3) for k, v in types.items()
    }
    assert by_topic["/camera/depth"]["topic_metadata"]["offered_qos_profiles"][0]["reliability"] == "reliable"
    assert by_topic["/imu"]["topic_metadata"]["offered_qos_profiles"][0]["reliability"] == "best_effort"
    # Type hashes equal the ones the installed Kilted packages were generated with.
    for topic, msgtype in types.items():
        pkg, _, name = msgtype.split("/")
        desc = Path(sys.prefix) / "share" / pkg / "msg" / f"{name}.json"
        if desc.is_file():
            hashes = {h["type_name"]: h["hash_string"] for h in json.loads(desc.read_text())["type_hashes"]}
            assert by_topic[topic]["topic_metadata"]["type_description_hash"] == hashes[msgtype]

    with open_bag(path) as bag:
        assert {k: (v.msgtype, v.count) for k, v in bag.topics.items()} == {k: (v, 3) for k, v in types.items()}
        ours = list(bag.messages())
        raw = list(bag.raw_messages())
    assert [m.timestamp_ns for m in ours] == sorted(1_000_000_000 + 10 * i + k for i in range(3) for k in range(4))
    for m, r in zip(ours, raw):
        same(m.msg, msgs[m.topic], m.topic)
        # rclpy leaves alignment padding uninitialised, so only the bytes written as bytes compare.
        assert len(r.data) == len(payloads[m.topic])
        if m.timestamp_ns >= 1_000_000_020:
            assert r.data == payloads[m.topic]
        assert deserialize_to_rclpy(r.data, r.msgtype) == msgs[m.topic]
    depth = next(m.msg for m in ours if m.topic == "/camera/depth")
    written = np.frombuffer(msgs["/camera/depth"].data, np.float32).reshape(4, 5)
    assert np.array_equal(depth.data.view(np.float32).reshape(4, 5), written)

    if storage == "mcap":
        (mcap_file,) = path.glob("*.mcap")
        reference = mcap_decode(mcap_file)
        assert [(t, ts) for t, ts, _ in reference] == [(m.topic, m.timestamp_ns) for m in ours]
        for topic, _, ref in reference:
            same(msgs[topic].header.frame_id, ref.header.frame_id)
        for m, (_, _, ref) in zip(ours, reference):
            same(m.msg, ref, m.topic)


def test_writer_accepts_rosbags_objects_and_raw_bytes(tmp_path):
    from rclpy.serialization import serialize_message
    from std_msgs.msg import String

    path = tmp_path / "bag"
    with open_bag(need(FIXTURES / "talker_mcap")) as src, BagWriter(path) as writer:
        writer.add_topic("/copy", "std_msgs/msg/String")
        writer.add_topic("/raw", "std_msgs/msg/String")
        for m in src.messages("/topic"):
            writer.write("/copy", m.timestamp_ns, m.msg)
        writer.write("/raw", np.int64(5), serialize_message(String(data="raw")))
    with open_bag(path) as bag:
        copied = [m.msg.data for m in bag.messages("/copy")]
        assert [m.msg.data for m in bag.messages("/raw")] == ["raw"]
    assert copied == [f"Hello, world! {i}" for i in range(10)]


def test_writer_errors(tmp_path):
    from sensor_msgs.msg import Image, Imu

    with pytest.raises(BagError, match="exists already"):
        BagWriter(tmp_path)
    with pytest.raises(InvalidInputError, match="'rosbag'"):
        BagWriter(tmp_path / "x", storage="rosbag")
    path = tmp_path / "bag"
    with pytest.raises(RuntimeError, match="boom"), BagWriter(path) as writer:
        writer.add_topic("/img", "sensor_msgs/msg/Image")
        with pytest.raises(BagError, match="'/img' was added already"):
            writer.add_topic("/img", "sensor_msgs/msg/Image")
        with pytest.raises(BagError, match="'made_up/msg/Thing'"):
            writer.add_topic("/thing", "made_up/msg/Thing")
        with pytest.raises(BagError, match=r"'/nope'.*\['/img'\]"):
            writer.write("/nope", 1, Image())
        with pytest.raises(InvalidInputError, match="sensor_msgs/msg/Image, got a sensor_msgs/msg/Imu"):
            writer.write("/img", 1, Imu())
        with pytest.raises(InvalidInputError, match="not CDR"):
            writer.write("/img", 1, b"\x07\x07garbage")
        with pytest.raises(InvalidInputError, match="1.5"):
            writer.write("/img", 1.5, Image())
        with pytest.raises(InvalidInputError, match="-1"):
            writer.write("/img", -1, Image())
        with pytest.raises(InvalidInputError, match="dict"):
            writer.write("/img", 1, {"height": 1})
        writer.write("/img", 7, Image(height=1, width=1, encoding="mono8", step=1, data=b"\x05"))
        raise RuntimeError("boom")
    # The exception still left a finalised, readable bag.
    with open_bag(path) as bag:
        assert [(m.timestamp_ns, bytes(m.msg.data)) for m in bag.messages()] == [(7, b"\x05")]
    with pytest.raises(BagError, match="closed"):
        writer.write("/img", 8, Image())


def test_deserialize_to_rclpy_errors():
    from sensor_msgs.msg import Imu

    assert rclpy_message_class("sensor_msgs/msg/Imu") is Imu
    with pytest.raises(BagError, match="'made_up/msg/Thing'"):
        deserialize_to_rclpy(b"\x00\x01\x00\x00", "made_up/msg/Thing")
    with pytest.raises(BagError, match="'sensor_msgs/Imu'"):
        rclpy_message_class("sensor_msgs/Imu")
    with pytest.raises(BagError, match="sensor_msgs/msg/Imu"):
        deserialize_to_rclpy(b"\x00\x01\x00\x00garbage", "sensor_msgs/msg/Imu")


# --- real ROS 1 bags ---------------------------------------------------------------------------


def test_jackal_imu_ros1_bag():
    with open_bag(need(JACKAL)) as bag:
        assert bag.is_ros1
        assert bag.topics["/imu/data"].msgtype == "sensor_msgs/msg/Imu"
        assert bag.topics["/imu/data"].count == 3061
        imu = list(bag.messages("/imu/data"))
        raw = list(bag.raw_messages("/imu/data", end_ns=imu[9].timestamp_ns))
    assert len(imu) == 3061
    assert {m.msg.header.frame_id for m in imu} == {"base_link"}
    stamps = np.array([m.timestamp_ns for m in imu])
    assert np.all(np.diff(stamps) >= 0)
    assert 55 < (stamps[-1] - stamps[0]) * 1e-9 < 65  # README: 61 s
    assert 45 < 1e9 * (len(stamps) - 1) / (stamps[-1] - stamps[0]) < 55  # README: 50 Hz
    # Converted to the ROS 2 layout (no Header.seq), publishable as rclpy messages.
    assert not hasattr(imu[0].msg.header, "seq")
    assert len(raw) == 10
    for r, m in zip(raw, imu):
        ros2 = deserialize_to_rclpy(r.data, r.msgtype)
        same(m.msg, ros2, "imu")
        assert ros2.header.frame_id == "base_link"
    g = np.array([[m.msg.linear_acceleration.x, m.msg.linear_acceleration.y, m.msg.linear_acceleration.z] for m in imu])
    assert 9.0 < np.linalg.norm(g.mean(axis=0)) < 10.6  # gravity


def test_luminar_pointcloud_ros1_bag():
    with open_bag(need(LUMINAR)) as bag:
        assert bag.topics["/luminar_pointcloud"].msgtype == "sensor_msgs/msg/PointCloud2"
        clouds = list(bag.messages("/luminar_pointcloud"))
        raw = list(bag.raw_messages("/luminar_pointcloud"))
    assert len(clouds) == 5
    assert clouds[0].msg.width == 35707  # SOURCE.txt
    ranges = []
    for m, r in zip(clouds, raw):
        c = m.msg
        assert c.height == 1 and 35000 < c.width < 37000
        xyz = c.data.view(np.float32).reshape(c.width, c.point_step // 4)[:, :3]
        ranges.append(np.linalg.norm(xyz, axis=1))
        assert c.header.frame_id == "luminar_lidar"
        assert [f.name for f in c.fields] == ["x", "y", "z", "intensity", "time_sec", "time_nsec", "laser_id"]
        assert len(c.data) == c.row_step * c.height
        ros2 = deserialize_to_rclpy(r.data, r.msgtype)
        assert bytes(ros2.data) == c.data.tobytes()
        assert [(f.name, f.offset, f.datatype) for f in ros2.fields] == [(f.name, f.offset, f.datatype) for f in c.fields]
    ranges = np.concatenate(ranges)
    # SOURCE.txt: ranges 6.8-252 m, median 56 m.
    assert 6.0 < ranges.min() < 7.5 and 240 < ranges.max() < 260 and 50 < np.median(ranges) < 62


@pytest.mark.parametrize("mode", ["FILE", "MESSAGE"])
def test_compressed_rosbag2_directory(tmp_path, mode):
    # Written with rosbags' own writer, zstd-compressed per file or per message.
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    String = store.types["std_msgs/msg/String"]
    path = tmp_path / "bag"
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode[mode], CompressionFormat.ZSTD)
    with writer:
        conn = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=store)
        for i in range(5):
            writer.write(conn, 100 + i, store.serialize_cdr(String(data=f"msg {i}"), "std_msgs/msg/String"))
    assert metadata(path)["compression_mode"] == mode.lower()
    with open_bag(path) as bag:
        assert [(m.timestamp_ns, m.msg.data) for m in bag.messages()] == [(100 + i, f"msg {i}") for i in range(5)]
