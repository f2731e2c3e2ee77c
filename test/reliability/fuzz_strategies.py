"""Hypothesis strategies for malformed sensor messages, shared by the conversion and node fuzz tests.

Each strategy starts from a well-formed message of random size and content and applies zero or
more mutations (wrong encoding, step/size mismatch, truncated or extended data, absurd sizes,
NaN/inf, missing/duplicate fields, wrong datatypes, big-endian flags), so that both the accepting
and the rejecting paths of a decoder are exercised. Messages are real rclpy messages (what a node
receives) or, for a share of them, duck-typed objects whose `data` is bytes, a memoryview or a
numpy array (what `rosbags` hands to the offline evaluator).

`GENERATED` counts every message drawn from these strategies in this test session.
"""

from __future__ import annotations

import collections
import struct
import zlib
from types import SimpleNamespace

import cv2
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, PointCloud2, PointField

from depth_ros.ros.conversions import ENCODINGS, make_header

GENERATED: collections.Counter[str] = collections.Counter()
# ... and those the code under test rejected as malformed (counted by the fuzz tests, per type).
REJECTED: collections.Counter[str] = collections.Counter()

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example, HealthCheck.filter_too_much])


def fuzz(max_examples: int) -> settings:
    """Deterministic settings for CI: fixed seed, no example database, no deadline."""
    return settings(FUZZ, max_examples=max_examples)

U32 = 2**32 - 1
ABSURD = st.sampled_from([0, 1, 2, 3, 7, 65_535, 100_000, 2**31 - 1, 2**31, U32])
BAD_ENCODINGS = ["", "RGB8", "rgb8 ", "yuv422", "yuv422_yuy2", "bayer_rggb8", "32FC3", "16UC3", "8SC1",
                 "\u00e9ncoding", "mono8\x00", "nv12"]
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
WEIRD_FLOATS = st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-300, -1e-300, 1e300, -1e300, float("nan"),
                                float("inf"), float("-inf"), 5e-324])


def _data_container(draw: st.DrawFn, raw: bytes, allow_duck: bool) -> object:
    """The message's data as rclpy stores it, or as rosbags/other readers may hand it over."""
    if not allow_duck:
        return raw
    kind = draw(st.sampled_from(["bytes", "bytes", "memoryview", "ndarray", "ndarray_u16"]))
    if kind == "memoryview":
        return memoryview(raw)
    if kind == "ndarray":
        return np.frombuffer(raw, np.uint8)
    if kind == "ndarray_u16" and len(raw) % 2 == 0:
        return np.frombuffer(raw, np.uint16)  # a non-uint8 array: as_uint8 must reinterpret its bytes
    return raw


def _stamp(draw: st.DrawFn):
    sec = draw(st.integers(-(2**31), 2**31 - 1) | st.just(1_700_000_000))
    nanosec = draw(st.integers(0, 999_999_999) | ABSURD)
    return make_header_raw(sec, nanosec, draw(st.sampled_from(["cam", "", "radar_link", "x" * 300])))


def make_header_raw(sec: int, nanosec: int, frame_id: str):
    h = make_header(0, frame_id)
    h.stamp.sec, h.stamp.nanosec = sec, nanosec
    return h


def _to_msg(cls: type, duck: bool, fields: dict):
    if duck:
        return SimpleNamespace(**fields)
    msg = cls()
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


# -- sensor_msgs/Image -------------------------------------------------------------------------


@st.composite
def image_parts(draw: st.DrawFn, max_side: int = 12, encodings: list[str] | None = None) -> dict:
    """A well-formed Image as a dict of fields (before mutations)."""
    enc = draw(st.sampled_from(encodings or list(ENCODINGS)))
    info = ENCODINGS[enc]
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    bpp = info.dtype.itemsize * info.channels
    pad = draw(st.sampled_from([0, 0, 0, info.dtype.itemsize, 4 * info.dtype.itemsize]))
    step = w * bpp + pad
    big = draw(st.booleans())
    n = h * step // info.dtype.itemsize
    if info.dtype.kind == "f":
        values = draw(st.lists(FLOATS | WEIRD_FLOATS, min_size=n, max_size=n))
        with np.errstate(over="ignore"):
            raw = np.array(values, dtype=info.dtype.newbyteorder(">" if big else "<")).tobytes()
    else:
        raw = draw(st.binary(min_size=n * info.dtype.itemsize, max_size=n * info.dtype.itemsize))
    return dict(height=h, width=w, encoding=enc, is_bigendian=int(big), step=step, raw=raw)


@st.composite
def images(draw: st.DrawFn, allow_duck: bool = True, max_side: int = 12, encodings: list[str] | None = None,
           mutate: bool = True):
    """(message, well_formed): an Image, mutated or not; well_formed says no mutation was applied."""
    p = draw(image_parts(max_side=max_side, encodings=encodings))
    mutations = draw(st.lists(st.sampled_from(
        ["encoding", "step", "step_absurd", "height", "width", "size_absurd", "truncate", "extend", "empty",
         "bigendian", "random_data", "zero_size"]), max_size=3)) if mutate else []
    raw = p["raw"]
    for m in mutations:
        if m == "encoding":
            p["encoding"] = draw(st.sampled_from(BAD_ENCODINGS + list(ENCODINGS)))
        elif m == "step":
            p["step"] = max(0, p["step"] + draw(st.integers(-5, 5)))
        elif m == "step_absurd":
            p["step"] = draw(ABSURD)
        elif m == "height":
            p["height"] = max(0, p["height"] + draw(st.integers(-2, 2)))
        elif m == "width":
            p["width"] = max(0, p["width"] + draw(st.integers(-2, 2)))
        elif m == "size_absurd":
            p["height"], p["width"] = draw(ABSURD), draw(ABSURD)
        elif m == "truncate" and raw:
            raw = raw[: draw(st.integers(0, len(raw) - 1))]
        elif m == "extend":
            raw = raw + bytes(draw(st.integers(1, 64)))
        elif m == "empty":
            raw = b""
        elif m == "bigendian":
            p["is_bigendian"] = draw(st.sampled_from([0, 1, 255]))
        elif m == "random_data":
            raw = draw(st.binary(max_size=256))
        elif m == "zero_size":
            p["height"] = p["width"] = p["step"] = 0
    duck = allow_duck and draw(st.booleans())
    fields = {k: v for k, v in p.items() if k != "raw"}
    fields["header"] = _stamp(draw) if mutations else make_header(1, "cam")
    fields["data"] = _data_container(draw, raw, duck)
    GENERATED["Image"] += 1
    return _to_msg(Image, duck, fields), not mutations


def reference_pixels(msg) -> np.ndarray:
    """Independent decoding of a well-formed Image: row by row from the bytes, (H, W, C) native order."""
    info = ENCODINGS[str(msg.encoding)]
    raw = bytes(memoryview(np.ascontiguousarray(np.asarray(msg.data)).view(np.uint8)).cast("B")) \
        if isinstance(msg.data, np.ndarray) else bytes(msg.data)
    row_bytes = msg.width * info.dtype.itemsize * info.channels
    rows = b"".join(raw[r * msg.step: r * msg.step + row_bytes] for r in range(msg.height))
    dt = info.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    return np.frombuffer(rows, dtype=dt).astype(info.dtype).reshape(msg.height, msg.width, info.channels)


# -- sensor_msgs/CompressedImage ---------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_with_size(payload: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (CRC fixed, so decoders accept the header)."""
    ihdr_at = len(PNG_SIGNATURE)
    body = payload[ihdr_at + 8: ihdr_at + 8 + 13]
    body = struct.pack(">II", width, height) + body[8:]
    chunk = b"IHDR" + body
    crc = struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    return payload[:ihdr_at] + struct.pack(">I", 13) + chunk + crc + payload[ihdr_at + 25:]


def jpeg_with_size(payload: bytes, width: int, height: int) -> bytes:
    """A JPEG whose SOF marker claims width x height."""
    i = 2
    out = bytearray(payload)
    while i + 4 <= len(out) and out[i] == 0xFF:
        marker, length = out[i + 1], int.from_bytes(out[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            out[i + 5:i + 9] = struct.pack(">HH", height, width)
            break
        i += 2 + length
    return bytes(out)


@st.composite
def compressed_images(draw: st.DrawFn, allow_duck: bool = True, max_side: int = 16):
    """(message, expected (H, W) or None): a CompressedImage, often damaged."""
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    kind = draw(st.sampled_from(["png", "jpeg"]))
    channels = draw(st.sampled_from([1, 3]))
    pixels = np.frombuffer(draw(st.binary(min_size=h * w * channels, max_size=h * w * channels)), np.uint8)
    ok, enc = cv2.imencode(".png" if kind == "png" else ".jpg", pixels.reshape(h, w, channels)
                           if channels == 3 else pixels.reshape(h, w))
    assert ok
    payload = enc.tobytes()
    fmt = draw(st.sampled_from([kind, f"rgb8; {kind} compressed bgr8", f"bgr8; {kind} compressed rgb8",
                                f"mono8; {kind} compressed mono8", "", "jpg", "16UC1; compressedDepth png",
                                "compressedDepth", "\u00e9", "png compressed" * 20]))
    mutations = draw(st.lists(st.sampled_from(
        ["truncate", "flip", "garbage_prefix", "random", "empty", "huge_header", "other_format"]), max_size=2))
    expected = (h, w)
    for m in mutations:
        expected = None
        if m == "truncate" and payload:
            payload = payload[: draw(st.integers(0, len(payload) - 1))]
        elif m == "flip" and payload:
            i = draw(st.integers(0, len(payload) - 1))
            payload = payload[:i] + bytes([payload[i] ^ draw(st.integers(1, 255))]) + payload[i + 1:]
        elif m == "garbage_prefix":
            payload = draw(st.binary(min_size=1, max_size=16)) + payload
        elif m == "random":
            payload = draw(st.binary(max_size=300))
        elif m == "empty":
            payload = b""
        elif m == "huge_header":
            size = draw(st.sampled_from([(100_000, 100_000), (30_000, 30_000), (65_535, 65_535), (1, 2**31 - 1),
                                         (20_000, 1)]))
            payload = png_with_size(payload, *size) if kind == "png" and payload.startswith(PNG_SIGNATURE) \
                else jpeg_with_size(payload, *[min(v, 65_535) for v in size])
        elif m == "other_format":
            ok, other = cv2.imencode(draw(st.sampled_from([".bmp", ".tiff", ".ppm", ".webp"])),
                                     np.zeros((h, w, 3), np.uint8))
            payload = other.tobytes()
    if "compresseddepth" in fmt.lower().replace(" ", ""):
        expected = None
    duck = allow_duck and draw(st.booleans())
    fields = {"header": make_header(2, "cam"), "format": fmt, "data": _data_container(draw, payload, duck)}
    GENERATED["CompressedImage"] += 1
    return _to_msg(CompressedImage, duck, fields), expected


# -- sensor_msgs/CameraInfo --------------------------------------------------------------------

DISTORTION_MODELS = ["plumb_bob", "rational_polynomial", "equidistant", "", "fisheye", "unknown", "PLUMB_BOB"]


@st.composite
def camera_infos(draw: st.DrawFn, width: int | None = None, height: int | None = None, allow_duck: bool = True):
    """A CameraInfo, well formed or broken (sizes, K, D, binning, ROI)."""
    good = draw(st.booleans())
    w = width if width is not None else draw(st.integers(1, 16) | ABSURD)
    h = height if height is not None else draw(st.integers(1, 16) | ABSURD)
    if good:
        fx, fy = draw(st.floats(1.0, 2000.0)), draw(st.floats(1.0, 2000.0))
        k = [fx, 0.0, w / 2, 0.0, fy, h / 2, 0.0, 0.0, 1.0]
        d = draw(st.sampled_from([[], [0.0] * 5, [0.01, -0.02, 0.001, 0.0, 0.0]]))
        model = "plumb_bob"
        binning = (0, 0)
        roi = (0, 0, 0, 0)
    else:
        k = draw(st.lists(st.floats(-1e4, 1e4) | WEIRD_FLOATS, min_size=9, max_size=9))
        d = draw(st.lists(st.floats(-10, 10) | WEIRD_FLOATS, max_size=14))
        model = draw(st.sampled_from(DISTORTION_MODELS))
        binning = (draw(st.integers(0, 4) | ABSURD), draw(st.integers(0, 4) | ABSURD))
        roi = tuple(draw(st.integers(0, 20) | ABSURD) for _ in range(4))
    duck = allow_duck and draw(st.booleans())
    roi_msg = SimpleNamespace(x_offset=roi[0], y_offset=roi[1], width=roi[2], height=roi[3], do_rectify=False)
    fields = {"header": make_header(3, "cam"), "width": w, "height": h, "distortion_model": model,
              "binning_x": binning[0], "binning_y": binning[1]}
    if duck:
        ros1 = draw(st.booleans())  # rosbags keeps ROS 1 names K and D
        fields.update({"K" if ros1 else "k": np.array(k), "D" if ros1 else "d": np.array(d), "roi": roi_msg})
        GENERATED["CameraInfo"] += 1
        return SimpleNamespace(**fields)
    msg = CameraInfo()
    for key, value in fields.items():
        setattr(msg, key, value)
    msg.k, msg.d = k, d
    for key in ("x_offset", "y_offset", "width", "height"):
        setattr(msg.roi, key, getattr(roi_msg, key))
    GENERATED["CameraInfo"] += 1
    return msg


# -- sensor_msgs/PointCloud2 -------------------------------------------------------------------

FIELD_NAMES = ["x", "y", "z", "intensity", "snr", "rcs", "doppler", "", "_", "rgb", "x"]


@st.composite
def pointclouds(draw: st.DrawFn, allow_duck: bool = True, max_points: int = 8):
    """A PointCloud2: xyz float32 (+ extras) in a random layout, often broken."""
    n_fields = draw(st.integers(3, 6))
    names = ["x", "y", "z"] + draw(st.lists(st.sampled_from(FIELD_NAMES[3:]), min_size=n_fields - 3,
                                            max_size=n_fields - 3))
    datatypes = [7, 7, 7] + draw(st.lists(st.integers(1, 8), min_size=n_fields - 3, max_size=n_fields - 3))
    if draw(st.booleans()):
        datatypes = [draw(st.integers(1, 8)) for _ in names]  # any numeric type for x, y, z too
    sizes = [1, 1, 2, 2, 4, 4, 4, 8]
    offsets, end = [], 0
    for dt in datatypes:
        size = sizes[dt - 1]
        end = -(-end // size) * size
        offsets.append(end)
        end += size
    point_step = end + draw(st.sampled_from([0, 0, 4]))
    h, w = draw(st.integers(0, 3)), draw(st.integers(0, max_points))
    row_step = w * point_step + draw(st.sampled_from([0, 0, 8]))
    raw = draw(st.binary(min_size=h * row_step, max_size=h * row_step))
    counts = [1] * len(names)
    big = draw(st.booleans())
    mutations = draw(st.lists(st.sampled_from(
        ["drop_field", "duplicate", "datatype", "count", "offset", "point_step", "row_step", "truncate",
         "size_absurd", "bigendian", "nan_data"]), max_size=3))
    for m in mutations:
        i = draw(st.integers(0, len(names) - 1)) if names else 0
        if m == "drop_field" and names:
            for lst in (names, datatypes, offsets, counts):
                del lst[i]
        elif m == "duplicate" and names:
            names.append(names[i]), datatypes.append(datatypes[i]), offsets.append(offsets[i]), counts.append(1)
        elif m == "datatype" and names:
            datatypes[i] = draw(st.sampled_from([0, 9, 255, 1, 8]))
        elif m == "count" and names:
            counts[i] = draw(st.sampled_from([0, 2, 3, U32]))
        elif m == "offset" and names:
            offsets[i] = draw(st.integers(0, 64) | ABSURD)
        elif m == "point_step":
            point_step = draw(st.integers(0, 64) | ABSURD)
        elif m == "row_step":
            row_step = draw(st.integers(0, 256) | ABSURD)
        elif m == "truncate" and raw:
            raw = raw[: draw(st.integers(0, len(raw) - 1))]
        elif m == "size_absurd":
            h, w = draw(ABSURD), draw(ABSURD)
        elif m == "bigendian":
            big = not big
        elif m == "nan_data" and raw:
            nan = struct.pack(">f" if big else "<f", float(draw(st.sampled_from(["nan", "inf", "-inf"]))))
            raw = (nan * (len(raw) // 4 + 1))[: len(raw)]
    duck = allow_duck and draw(st.booleans())
    fields = [SimpleNamespace(name=nm, offset=off, datatype=dt, count=c) if duck
              else PointField(name=nm, offset=off, datatype=dt, count=c)
              for nm, off, dt, c in zip(names, offsets, datatypes, counts)]
    msg_fields = {"header": _stamp(draw) if mutations else make_header(4, "radar_link"), "height": h, "width": w,
                  "fields": fields, "is_bigendian": big, "point_step": point_step, "row_step": row_step,
                  "is_dense": False, "data": _data_container(draw, raw, duck)}
    GENERATED["PointCloud2"] += 1
    return _to_msg(PointCloud2, duck, msg_fields), not mutations


def reference_field(msg, name: str) -> np.ndarray:
    """Independent read of one field of a well-formed cloud, point by point with struct."""
    f = next(f for f in msg.fields if f.name == name)
    code = {1: "b", 2: "B", 3: "h", 4: "H", 5: "i", 6: "I", 7: "f", 8: "d"}[f.datatype]
    fmt = (">" if msg.is_bigendian else "<") + code
    raw = bytes(np.asarray(msg.data).view(np.uint8)) if isinstance(msg.data, np.ndarray) else bytes(msg.data)
    out = [struct.unpack_from(fmt, raw, r * msg.row_step + c * msg.point_step + f.offset)[0]
           for r in range(msg.height) for c in range(msg.width)]
    return np.array(out, dtype=np.float64)


# -- sensor_msgs/Imu -----------------------------------------------------------------------------


@st.composite
def imus(draw: st.DrawFn, allow_duck: bool = True):
    """An Imu with finite or NaN/inf vectors, a covariance marker and odd stamps."""
    vec = st.tuples(*[st.floats(-50, 50) | WEIRD_FLOATS] * 3)
    gyro, accel = draw(vec), draw(vec)
    quat = draw(st.tuples(*[st.floats(-1, 1) | WEIRD_FLOATS] * 4))
    cov0 = draw(st.sampled_from([-1.0, 0.0, 0.01, float("nan")]))
    header = _stamp(draw)
    if allow_duck and draw(st.booleans()):
        v3 = lambda v: SimpleNamespace(x=v[0], y=v[1], z=v[2])  # noqa: E731
        GENERATED["Imu"] += 1
        return SimpleNamespace(header=header, angular_velocity=v3(gyro), linear_acceleration=v3(accel),
                               orientation=SimpleNamespace(x=quat[0], y=quat[1], z=quat[2], w=quat[3]),
                               orientation_covariance=[cov0] + [0.0] * 8)
    msg = Imu(header=header)
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = gyro
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = accel
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = quat
    msg.orientation_covariance[0] = cov0
    GENERATED["Imu"] += 1
    return msg


# -- nav_msgs/Odometry ---------------------------------------------------------------------------


@st.composite
def odometries(draw: st.DrawFn):
    """An Odometry whose twist may be NaN/inf, with odd stamps."""
    from nav_msgs.msg import Odometry

    msg = Odometry(header=_stamp(draw))
    v = msg.twist.twist.linear
    v.x, v.y, v.z = draw(st.tuples(*[st.floats(-20, 20) | WEIRD_FLOATS] * 3))
    GENERATED["Odometry"] += 1
    return msg
