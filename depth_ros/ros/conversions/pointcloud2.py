"""sensor_msgs/PointCloud2 <-> numpy.

`read_fields` is duck-typed (height, width, fields[i].name/offset/datatype/count, is_bigendian,
point_step, row_step, data) and works on rclpy and `rosbags` messages, ROS 1 bags included.
It checks the declared layout against `len(data)` before it allocates anything.

Layout written by `points_to_msg` (unorganised, height 1, native byte order):
x@0 y@4 z@8 float32, then each extra field in the order given, with its own datatype,
at the next offset aligned to its size; point_step is rounded up to a multiple of 16,
so xyz alone gives point_step 16 as in depth_image_proc, xyz + one float32 extra puts
the extra at 12 (still 16). Padding bytes are zero.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from depth_ros.core.cloud import OrganizedCloud
from depth_ros.core.errors import ConversionError
from depth_ros.ros.conversions.stamps import as_uint8, new_u8_buffer, resolve_header, sensor_msgs, set_uint8_data

INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)
POINTFIELD_DTYPES: dict[int, np.dtype] = {
    INT8: np.dtype(np.int8),
    UINT8: np.dtype(np.uint8),
    INT16: np.dtype(np.int16),
    UINT16: np.dtype(np.uint16),
    INT32: np.dtype(np.int32),
    UINT32: np.dtype(np.uint32),
    FLOAT32: np.dtype(np.float32),
    FLOAT64: np.dtype(np.float64),
}
"""sensor_msgs/PointField datatype code -> native numpy dtype."""
_DATATYPE_OF = {dt: code for code, dt in POINTFIELD_DTYPES.items()}
_PADDING_NAMES = ("", "_")  # PCL names padding fields "_"; several may coexist
_NATIVE_BIG = sys.byteorder == "big"


def _point_field(name: str, offset: int, datatype: int, count: int = 1) -> Any:
    return sensor_msgs().PointField(name=name, offset=offset, datatype=datatype, count=count)


def _new_cloud_msg(header: Any, height: int, width: int, fields: list, point_step: int, buf: Any, dense: bool) -> Any:
    msg = sensor_msgs().PointCloud2()
    msg.header = header
    msg.height, msg.width = height, width
    msg.fields = fields
    msg.is_bigendian = _NATIVE_BIG
    msg.point_step = point_step
    msg.row_step = width * point_step
    msg.is_dense = dense
    set_uint8_data(msg, buf)
    return msg


def cloud_to_msg(
    cloud: OrganizedCloud,
    header: Any = None,
    frame_id: str | None = None,
    stamp: Any = None,
) -> Any:
    """Organised `PointCloud2` (is_dense False) sharing `cloud.buffer` without a copy.

    The message's data IS the cloud's buffer: a `CloudBuilder` reusing its buffer overwrites
    the points of messages made from earlier clouds (publish before building the next one).
    """
    layout = cloud.layout
    nbytes = cloud.height * cloud.width * layout.point_step
    if len(cloud.buffer) != nbytes:
        raise ConversionError(
            f"cloud buffer has {len(cloud.buffer)} bytes, expected {cloud.height}x{cloud.width} points "
            f"* point_step {layout.point_step} = {nbytes}"
        )
    fields = [_point_field(f.name, f.offset, f.datatype, f.count) for f in layout.fields]
    return _new_cloud_msg(
        resolve_header(header, frame_id, stamp),
        cloud.height,
        cloud.width,
        fields,
        layout.point_step,
        cloud.buffer,
        dense=False,
    )


def points_to_msg(
    points: np.ndarray,
    header: Any = None,
    extra: Mapping[str, np.ndarray] | None = None,
    frame_id: str | None = None,
    stamp: Any = None,
) -> Any:
    """(N, 3) points + optional (N,) extra fields -> unorganised `PointCloud2` (layout: module notes).

    Extras keep their dtype (bool is written as uint8; 64-bit integers are rejected since
    PointField has no such type). is_dense is True when every coordinate is finite.
    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.dtype.kind not in "fiu":
        raise ConversionError(f"points must be an (N, 3) numeric array, got shape {pts.shape} dtype {pts.dtype}")
    n = pts.shape[0]
    names, formats, offsets = ["x", "y", "z"], [np.dtype(np.float32)] * 3, [0, 4, 8]
    columns: list[np.ndarray] = []
    end = 12
    for name, values in (extra or {}).items():
        name = str(name)
        if name in names or name in _PADDING_NAMES:
            raise ConversionError(f"extra cloud field name '{name}' is empty, padding or already used")
        col = np.asarray(values)
        if col.shape != (n,):
            raise ConversionError(f"extra field '{name}' has shape {col.shape}, expected ({n},)")
        if col.dtype == np.bool_:
            col = col.view(np.uint8)
        dt = col.dtype.newbyteorder("=")
        if dt not in _DATATYPE_OF:
            raise ConversionError(
                f"extra field '{name}' has dtype {col.dtype}; PointField supports int8..uint32, float32, float64"
            )
        offset = -(-end // dt.itemsize) * dt.itemsize
        names.append(name)
        formats.append(dt)
        offsets.append(offset)
        columns.append(col)
        end = offset + dt.itemsize
    point_step = -(-end // 16) * 16
    record = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})
    buf = new_u8_buffer(n * point_step)
    if n:
        rec = np.frombuffer(buf, dtype=record)
        for i, axis in enumerate("xyz"):
            rec[axis] = pts[:, i]
        for name, col in zip(names[3:], columns):
            rec[name] = col
    fields = [_point_field(nm, off, _DATATYPE_OF[dt]) for nm, off, dt in zip(names, offsets, formats)]
    dense = bool(np.isfinite(pts).all()) if pts.dtype.kind == "f" else True
    return _new_cloud_msg(resolve_header(header, frame_id, stamp), 1, n, fields, point_step, buf, dense)


def _validated_fields(msg: Any, point_step: int) -> dict[str, tuple[int, int, int]]:
    """name -> (offset, datatype, count), after the duplicate and bounds checks."""
    out: dict[str, tuple[int, int, int]] = {}
    for f in msg.fields:
        name, offset, datatype, count = str(f.name), int(f.offset), int(f.datatype), int(f.count)
        if name in _PADDING_NAMES:
            continue
        if name in out:
            raise ConversionError(f"PointCloud2 has duplicate field '{name}'")
        dt = POINTFIELD_DTYPES.get(datatype)
        if dt is not None:
            size = dt.itemsize * max(count, 1)
            if offset < 0 or offset + size > point_step:
                raise ConversionError(
                    f"PointCloud2 field '{name}' at offset {offset} with {size} bytes "
                    f"does not fit in point_step {point_step}"
                )
        out[name] = (offset, datatype, count)
    return out


def read_fields(
    msg: Any,
    names: Iterable[str] | None = None,
    required: Iterable[str] = ("x", "y", "z"),
    dtype: Any = np.float64,
) -> dict[str, np.ndarray]:
    """Flat (N,) arrays of the requested fields of any PointCloud2 (organised or not).

    `names` None means every readable field (known datatype, count 1). Required fields must
    exist (the error lists the fields present); other requested fields that are absent are left
    out. Requested fields must have count 1. `dtype` None keeps each field's own type (native
    byte order). Points are in row-major order, N = height * width; row padding is skipped.
    Always returns fresh arrays.
    """
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    if height < 0 or width < 0:
        raise ConversionError(f"PointCloud2 size {width}x{height} (width x height) is negative")
    if point_step <= 0:
        raise ConversionError(f"PointCloud2 point_step {point_step} must be positive")
    if row_step < width * point_step:
        raise ConversionError(f"PointCloud2 row_step {row_step} < width {width} * point_step {point_step}")
    raw = as_uint8(msg.data)
    nbytes = raw.size
    if nbytes < row_step * height:
        raise ConversionError(
            f"PointCloud2 data has {nbytes} bytes but row_step {row_step} * height {height} = {row_step * height}"
        )
    fields = _validated_fields(msg, point_step)
    required = tuple(required)
    missing = [r for r in required if r not in fields]
    if missing:
        raise ConversionError(
            f"PointCloud2 lacks required field(s) {missing}; it has {list(fields) or 'no fields'}"
        )
    if names is None:
        wanted = [n for n, (_, dt, c) in fields.items() if dt in POINTFIELD_DTYPES and c == 1]
        wanted += [r for r in required if r not in wanted]
    else:
        wanted = list(dict.fromkeys([*required, *names]))
    out_dtype = None if dtype is None else np.dtype(dtype)
    swap = bool(msg.is_bigendian) != _NATIVE_BIG
    result: dict[str, np.ndarray] = {}
    for name in wanted:
        if name not in fields:
            continue
        offset, datatype, count = fields[name]
        dt = POINTFIELD_DTYPES.get(datatype)
        if dt is None:
            raise ConversionError(f"PointCloud2 field '{name}' has unknown datatype {datatype} (expected 1..8)")
        if count != 1:
            raise ConversionError(f"PointCloud2 field '{name}' has count {count}; only count 1 is supported")
        src = dt.newbyteorder() if swap and dt.itemsize > 1 else dt
        if height * width == 0:
            values = np.empty((0,), dtype=dt)
        else:
            values = np.ndarray(
                shape=(height, width), dtype=src, buffer=raw, offset=offset, strides=(row_step, point_step)
            )
        with np.errstate(invalid="ignore"):  # signalling NaNs in the data are kept as NaN, silently
            result[name] = values.astype(dt if out_dtype is None else out_dtype).reshape(-1)
    return result
