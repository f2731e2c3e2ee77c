"""PointCloud2 conversions against struct.unpack_from, numpy structured dtypes and a real lidar bag."""

import struct
import sys
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
from sensor_msgs.msg import PointCloud2

from depth_ros.core.camera import CameraModel
from depth_ros.core.cloud import CloudBuilder, depth_to_points
from depth_ros.core.errors import ConversionError
from depth_ros.ros.conversions import cloud_to_msg, points_to_msg, read_fields

# name, offset, datatype, struct code: every PointField datatype, several unaligned offsets.
MIXED = [
    ("x", 0, 7, "f"),
    ("y", 4, 8, "d"),
    ("z", 12, 3, "h"),
    ("intensity", 14, 2, "B"),
    ("ring", 15, 4, "H"),
    ("t", 17, 5, "i"),
    ("u", 21, 6, "I"),
    ("s", 25, 1, "b"),
]
POINT_STEP = 32  # bytes 26..31 are padding
NP_TYPES = {1: np.int8, 2: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32, 7: np.float32, 8: np.float64}


def _field(name, offset, datatype, count=1):
    return SimpleNamespace(name=name, offset=offset, datatype=datatype, count=count)


def _mixed_cloud(big_endian, height=3, width=4, row_pad=8, seed=0):
    """A hand-packed organised cloud with garbage in point and row padding, and struct's own read-back."""
    rng = np.random.default_rng(seed)
    order = ">" if big_endian else "<"
    row_step = width * POINT_STEP + row_pad
    data = bytearray(rng.integers(0, 256, row_step * height, dtype=np.uint8).tobytes())
    for i in range(height):
        for j in range(width):
            base = i * row_step + j * POINT_STEP
            values = [
                float(rng.normal()), float(rng.normal()), int(rng.integers(-30000, 30000)), int(rng.integers(0, 256)),
                int(rng.integers(0, 65536)), int(rng.integers(-2**31, 2**31)), int(rng.integers(0, 2**32)),
                int(rng.integers(-128, 128)),
            ]
            for (_, offset, _, code), v in zip(MIXED, values):
                struct.pack_into(order + code, data, base + offset, v)
    expected = {name: [] for name, *_ in MIXED}
    for i in range(height):
        for j in range(width):
            for name, offset, _, code in MIXED:
                expected[name].append(struct.unpack_from(order + code, data, i * row_step + j * POINT_STEP + offset)[0])
    msg = SimpleNamespace(
        height=height, width=width, fields=[_field(n, o, d) for n, o, d, _ in MIXED], is_bigendian=big_endian,
        point_step=POINT_STEP, row_step=row_step, data=np.frombuffer(bytes(data), np.uint8), is_dense=False,
    )
    return msg, expected


@pytest.mark.parametrize("big_endian", [False, True])
def test_mixed_datatypes_offsets_and_padding_match_struct(big_endian):
    msg, expected = _mixed_cloud(big_endian)
    native = read_fields(msg, names=None, dtype=None)
    assert list(native) == [name for name, *_ in MIXED]
    for name, _, datatype, _ in MIXED:
        assert native[name].dtype == NP_TYPES[datatype] and native[name].dtype.isnative
        assert native[name].shape == (12,)
        np.testing.assert_array_equal(native[name], np.array(expected[name], dtype=NP_TYPES[datatype]))
    as_f64 = read_fields(msg, names=["u", "s"])
    assert list(as_f64) == ["x", "y", "z", "u", "s"] and all(a.dtype == np.float64 for a in as_f64.values())
    np.testing.assert_array_equal(as_f64["u"], np.array(expected["u"], np.float64))


def test_optional_missing_fields_are_left_out_and_count_checked():
    msg, _ = _mixed_cloud(False, height=1, width=2, row_pad=0)
    out = read_fields(msg, names=["intensity", "rgb"], required=())
    assert list(out) == ["intensity"]
    msg.fields.append(_field("normal", 26, 2, count=3))  # 3 uint8 in the padding: skipped unless asked for
    assert "normal" not in read_fields(msg)
    with pytest.raises(ConversionError, match="'normal' has count 3"):
        read_fields(msg, names=["normal"])


def _bad(**change):
    msg, _ = _mixed_cloud(False, height=2, width=3, row_pad=0)
    return SimpleNamespace(**{**vars(msg), **change})


def test_malformed_clouds_are_rejected():
    fields = _bad().fields
    cases = [
        (
            dict(fields=[f for f in fields if f.name != "z"]),
            r"lacks required field\(s\) \['z'\]; it has \['x', 'y', 'intensity'",
        ),
        (dict(data=np.zeros(100, np.uint8)), r"data has 100 bytes but row_step 96 \* height 2 = 192"),
        (dict(fields=fields + [_field("far", 30, 7)]), "'far' at offset 30 with 4 bytes does not fit in point_step 32"),
        (dict(fields=fields + [_field("y", 26, 7)]), "duplicate field 'y'"),
        (dict(point_step=0), "point_step 0 must be positive"),
        (dict(row_step=50), r"row_step 50 < width 3 \* point_step 32"),
    ]
    for change, text in cases:
        with pytest.raises(ConversionError, match=text):
            read_fields(_bad(**change))
    unknown = _bad(fields=fields + [_field("w", 26, 9)])
    with pytest.raises(ConversionError, match="'w' has unknown datatype 9"):
        read_fields(unknown, names=["w"])
    assert "w" not in read_fields(unknown)  # skipped when not asked for
    # PCL padding fields named "_" may repeat
    padded = _bad(fields=fields + [_field("_", 26, 7), _field("_", 28, 7)])
    assert set(read_fields(padded)) == {f.name for f in fields}


def test_million_point_claim_with_little_data_does_not_allocate():
    msg = _bad(height=1000, width=1000, row_step=32000, data=np.zeros(64, np.uint8))
    tracemalloc.start()
    try:
        with pytest.raises(ConversionError, match="data has 64 bytes"):
            read_fields(msg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_points_to_msg_layout():
    pts = np.array([[1.0, 2.0, 3.0], [np.nan, -1.5, 0.25]], np.float32)
    msg = points_to_msg(pts, frame_id="lidar", stamp=10)
    assert isinstance(msg, PointCloud2) and type(msg.data).__name__ == "array"
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 2, 16, 32)
    layout = [(f.name, f.offset, f.datatype, f.count) for f in msg.fields]
    assert layout == [("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1)]
    assert msg.is_bigendian == (sys.byteorder == "big") and msg.is_dense is False
    assert bytes(msg.data) == struct.pack("=3f4x3f4x", 1.0, 2.0, 3.0, float("nan"), -1.5, 0.25)
    assert msg.header.frame_id == "lidar" and msg.header.stamp.nanosec == 10

    extra = {"intensity": np.array([7.5, 8.5], np.float32), "ring": np.array([3, 4], np.uint16),
             "time": np.array([0.1, 0.2]), "valid": np.array([True, False])}
    msg = points_to_msg(pts[:1].repeat(2, axis=0), extra=extra)
    layout = [(f.name, f.offset, f.datatype) for f in msg.fields]
    assert layout == [("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("intensity", 12, 7), ("ring", 16, 4),
                      ("time", 24, 8), ("valid", 32, 2)]
    assert msg.point_step == 48 and msg.is_dense is True
    first = struct.pack("=3ffH6xdB15x", 1.0, 2.0, 3.0, 7.5, 3, 0.1, 1)
    assert bytes(msg.data)[:48] == first
    back = read_fields(msg, dtype=None)
    np.testing.assert_array_equal(back["ring"], [3, 4])
    np.testing.assert_array_equal(back["valid"], [1, 0])
    np.testing.assert_array_equal(back["time"], [0.1, 0.2])

    empty = points_to_msg(np.zeros((0, 3), np.float32))
    assert (empty.width, len(empty.data)) == (0, 0) and read_fields(empty)["x"].shape == (0,)

    with pytest.raises(ConversionError, match=r"\(N, 3\)"):
        points_to_msg(np.zeros((4, 2)))
    with pytest.raises(ConversionError, match="'ring' has dtype int64"):
        points_to_msg(pts, extra={"ring": np.array([1, 2], np.int64)})
    with pytest.raises(ConversionError, match=r"'i' has shape \(3,\), expected \(2,\)"):
        points_to_msg(pts, extra={"i": np.zeros(3, np.float32)})
    with pytest.raises(ConversionError, match="'z'"):
        points_to_msg(pts, extra={"z": np.zeros(2, np.float32)})


def test_cloud_to_msg_shares_the_builder_buffer_and_reads_back():
    cam = CameraModel(8, 6, 5.0, 5.5, 3.7, 2.4)
    depth = np.linspace(0.5, 4.0, 48, dtype=np.float32).reshape(6, 8)
    depth[1, 2] = 0.0
    depth[4, 7] = np.nan
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    builders = {
        ("x", "y", "z"): CloudBuilder(),
        ("x", "y", "z", "rgb", "confidence"): CloudBuilder(rgb=True, extra_field="confidence"),
    }
    for names, builder in builders.items():
        cloud = builder.build(depth, cam, rgb=rgb, extra=np.full((6, 8), 0.5, np.float32))
        msg = cloud_to_msg(cloud, frame_id="cam_optical", stamp=1)
        assert msg.data is cloud.buffer  # no copy
        assert (msg.height, msg.width, msg.point_step, msg.row_step) == (6, 8, cloud.layout.point_step, cloud.row_step)
        assert tuple(f.name for f in msg.fields) == names and msg.is_dense is False
        xyz = read_fields(msg, dtype=np.float32)
        expected = depth_to_points(depth, cam).reshape(-1, 3)
        np.testing.assert_array_equal(np.stack([xyz["x"], xyz["y"], xyz["z"]], axis=1), expected)
    bad = cloud
    bad.height = 5
    with pytest.raises(ConversionError, match="cloud buffer has"):
        cloud_to_msg(bad)


def _lidar_messages(shared_dir):
    path = shared_dir / "data" / "real_bags" / "luminar_lidar" / "luminar_lidar.bag"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        conns = [c for c in reader.connections if c.topic == "/luminar_pointcloud"]
        return [reader.deserialize(raw, conn.msgtype) for conn, _, raw in reader.messages(connections=conns)]


def _structured_decode(msg):
    """Independent decode: one numpy structured dtype built from the message's own field list."""
    order = ">" if msg.is_bigendian else "<"
    dtype = np.dtype({
        "names": [f.name for f in msg.fields],
        "formats": [np.dtype(NP_TYPES[f.datatype]).newbyteorder(order) for f in msg.fields],
        "offsets": [f.offset for f in msg.fields],
        "itemsize": msg.point_step,
    })
    rows = np.frombuffer(bytes(msg.data), np.uint8)[: msg.row_step * msg.height].reshape(msg.height, msg.row_step)
    return rows[:, : msg.width * msg.point_step].copy().view(dtype).reshape(-1)


def test_real_luminar_lidar_bag(shared_dir):
    msgs = _lidar_messages(shared_dir)
    assert len(msgs) == 5
    assert msgs[0].width == 35707  # the README's count; the other four sweeps hold 36,055-36,457 points
    for msg in msgs:
        assert isinstance(msg.data, np.ndarray)
        assert {"x", "y", "z", "intensity", "laser_id"} <= {f.name for f in msg.fields}
        ours = read_fields(msg, dtype=None)
        ref = _structured_decode(msg)
        n = len(msg.data) // msg.point_step
        assert msg.height * msg.width == n == len(ref)
        assert list(ours) == [f.name for f in msg.fields]
        for name in ours:
            assert ours[name].shape == (n,)
            np.testing.assert_array_equal(ours[name], ref[name].astype(ref[name].dtype.newbyteorder("=")))
        xyz = read_fields(msg)
        r = np.sqrt(xyz["x"] ** 2 + xyz["y"] ** 2 + xyz["z"] ** 2)
        assert np.isfinite(r).all() and r.min() > 1.0 and r.max() < 300.0  # README: 6.8-252 m
