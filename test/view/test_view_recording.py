"""depth-ros-view's recording, read back with Rerun's own reader (its dataframe API), against the bag
it came from and against depth-ros-eval's output bag of the same replay."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pyarrow as pa
import pytest

from depth_ros.view import entities as E

pytestmark = pytest.mark.slow  # the session fixtures run the pipeline twice (~30 s)

PER_FRAME = (E.CAMERA, E.IMAGE, E.DEPTH, E.CONFIDENCE, E.CLOUD, E.OBSTACLES, E.SCAN, E.SCALE_SOURCE,
             E.latency_entity("model"), E.latency_entity("total"))


def _store(rrd):
    from rerun.chunk import RrdReader

    reader = RrdReader(rrd)
    assert len(reader.recordings()) == 1 and len(reader.blueprints()) == 1  # the data and its default layout
    return reader.stream().collect()


def _table(store, entity: str, index: str | None = E.STAMP_TIMELINE) -> pa.Table:
    return store.reader(index=index, contents=f"/{entity}").to_arrow_table()


def _stamps(table: pa.Table) -> list[int]:
    return table.column(E.STAMP_TIMELINE).cast(pa.int64()).to_pylist()


def _cell(table: pa.Table, column: str, row: int):
    value = table.column(column)[row].as_py()
    return None if value is None else value[0] if isinstance(value, list) and len(value) == 1 else value


def _depth(table: pa.Table, entity: str, row: int) -> np.ndarray:
    fmt = _cell(table, f"/{entity}:DepthImage:format", row)
    meter = _cell(table, f"/{entity}:DepthImage:meter", row)
    raw = np.frombuffer(bytes(_cell(table, f"/{entity}:DepthImage:buffer", row)), np.uint16)
    depth = raw.reshape(fmt["height"], fmt["width"]).astype(np.float32) / np.float32(meter)
    depth[raw.reshape(depth.shape) == 0] = np.nan
    return depth


@pytest.fixture(scope="module")
def bag_stamps(view_bag):
    from depth_ros.bags.io import open_bag
    from depth_ros.ros.conversions import stamp_to_ns

    with open_bag(view_bag) as bag:
        return [stamp_to_ns(m.msg.header.stamp) for m in bag.messages(topics=["/camera/image_raw"])]


def test_every_frame_is_on_the_bags_image_stamps(view_rrd, bag_stamps):
    store = _store(view_rrd)
    assert len(bag_stamps) == 20
    for entity in PER_FRAME:
        table = _table(store, entity)
        assert _stamps(table) == bag_stamps, entity
    frames = _table(store, E.DEPTH, index=E.FRAME_TIMELINE).column(E.FRAME_TIMELINE).to_pylist()
    assert frames == list(range(20))
    # Radar: one row per frame that had radar points in view, each on an image stamp, all inside the image.
    radar = _table(store, E.RADAR_2D)
    assert 15 <= radar.num_rows <= 20 and set(_stamps(radar)) <= set(bag_stamps)
    for row in range(radar.num_rows):
        uv = np.array(_table_list(radar, f"/{E.RADAR_2D}:Points2D:positions", row))
        assert uv.ndim == 2 and len(uv) > 0 and (uv >= 0).all() and (uv[:, 0] <= 320).all() and (uv[:, 1] <= 240).all()
    # Static: the depth colour bar, the world's axes, the radar point classes.
    assert _table(store, E.DEPTH_LEGEND, index=None).num_rows == 1


def _table_list(table: pa.Table, column: str, row: int) -> list:
    return table.column(column)[row].as_py()


def test_the_radar_points_used_are_the_fits_own_count(view_rrd):
    """The recording's per-point "used by the fit" classes (recomputed by the view) count exactly what the
    pipeline reports as radar_used, frame by frame."""
    store = _store(view_rrd)
    radar = _table(store, E.RADAR_2D)
    used = dict(zip(_stamps(_table(store, E.RADAR_USED)),
                    (v[0] for v in _table(store, E.RADAR_USED).column(f"/{E.RADAR_USED}:Scalars:scalars").to_pylist())))
    sources = _table(store, E.SCALE_SOURCE)
    source = dict(zip(_stamps(sources), (v[0] for v in sources.column(f"/{E.SCALE_SOURCE}:Scalars:scalars").to_pylist())))
    checked = 0
    for row, stamp in enumerate(_stamps(radar)):
        classes = np.array(_table_list(radar, f"/{E.RADAR_2D}:Points2D:class_ids", row))
        if source[stamp] == E.SCALE_SOURCES["radar"]:
            assert int((classes == E.RADAR_USED_BY_FIT).sum()) == int(used[stamp]), stamp
            checked += 1
        else:
            assert not (classes == E.RADAR_USED_BY_FIT).any()
    assert checked >= 10


def test_depth_and_cloud_are_what_depth_ros_eval_publishes(view_rrd, eval_output_bag):
    """Same pipeline as depth-ros-eval's offline replay: the recorded depth equals its output bag's
    /depth/image to the millimetre, and the cloud has as many points as its /points."""
    from depth_ros.bags.io import open_bag
    from depth_ros.ros.conversions import image_to_depth_m, read_fields, stamp_to_ns

    store = _store(view_rrd)
    depth_table, cloud_table = _table(store, E.DEPTH), _table(store, E.CLOUD)
    rows = {s: i for i, s in enumerate(_stamps(depth_table))}
    cloud_rows = {s: i for i, s in enumerate(_stamps(cloud_table))}
    compared = 0
    with open_bag(eval_output_bag) as bag:
        for m in bag.messages(topics=["/depth/image", "/points"]):
            stamp = stamp_to_ns(m.msg.header.stamp)
            if m.topic == "/depth/image":
                ours, theirs = _depth(depth_table, E.DEPTH, rows[stamp]), image_to_depth_m(m.msg)
                assert np.array_equal(np.isnan(ours), np.isnan(theirs))
                assert np.nanmax(np.abs(ours - theirs)) <= 0.0006
                compared += 1
            else:
                z = read_fields(m.msg, ("x", "y", "z"))["z"]
                positions = _table_list(cloud_table, f"/{E.CLOUD}:Points3D:positions", cloud_rows[stamp])
                assert len(positions) == int(np.isfinite(z).sum()) > 1000
    assert compared == 20


def test_an_output_bag_is_shown_as_recorded(eval_output_bag, view_rrd, tmp_path, bag_stamps):
    rrd = tmp_path / "recorded.rrd"
    run = subprocess.run([sys.executable, "-m", "depth_ros.tools.view", str(eval_output_bag), "--save", str(rrd),
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    store, replayed = _store(rrd), _store(view_rrd)
    for entity in (E.IMAGE, E.DEPTH, E.CONFIDENCE, E.CLOUD):
        assert _stamps(_table(store, entity)) == bag_stamps, entity
    a, b = _table(store, E.DEPTH), _table(replayed, E.DEPTH)
    for row in (0, 10, 19):
        np.testing.assert_array_equal(_depth(a, E.DEPTH, row), _depth(b, E.DEPTH, row))
    image = _cell(_table(store, E.IMAGE), f"/{E.IMAGE}:EncodedImage:blob", 0)
    assert cv2.imdecode(np.frombuffer(bytes(image), np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)


def test_without_the_view_extra_the_tool_says_how_to_install_it(view_bag, tmp_path):
    code = textwrap.dedent(f"""
        import sys
        class _Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "rerun":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, _Blocker())
        from depth_ros.tools.view import main
        sys.exit(main([{str(view_bag)!r}, "--save", {str(tmp_path / "x.rrd")!r}, "--no-progress"]))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'depth_ros[view]'" in lines[0], run.stderr
    assert not (tmp_path / "x.rrd").exists()


@pytest.mark.parametrize("argv, message", [
    ([], "give a BAG or an .rrd, or --live"),
    (["/nonexistent/bag"], "no such bag or recording"),
    (["--live", "somebag"], "--live takes no BAG"),
    (["x", "--web-port", "0"], "--web-port must be in"),
])
def test_usage_errors_are_one_line(argv, message):
    run = subprocess.run([sys.executable, "-m", "depth_ros.tools.view", *argv], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
