"""depth-ros-view --live: a node's outputs played over ROS 2 (from depth-ros-eval's output bag) come out
as a recording of those frames."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from depth_ros.view import entities as E

pytestmark = pytest.mark.slow


def test_live_topics_become_a_recording(eval_output_bag, tmp_path):
    from rerun.chunk import RrdReader

    from depth_ros.bags.io import open_bag
    from depth_ros.ros.conversions import stamp_to_ns

    rrd = tmp_path / "live.rrd"
    view = subprocess.Popen([sys.executable, "-m", "depth_ros.tools.view", "--live", "--save", str(rrd),
                             "--max-frames", "8", "--duration", "60", "--no-progress", "-r", "image:=/camera/image_raw"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    play = subprocess.Popen([sys.executable, "-m", "depth_ros.tools.play", str(eval_output_bag), "--loop", "--no-clock",
                             "--no-progress", "--wait-for-subscribers", "/depth/image", "--rate", "0.5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out, _ = view.communicate(timeout=90)
    finally:
        play.terminate()
        play.wait(15)
    assert view.returncode == 0, out[-3000:]
    assert "8 frames ->" in out, out
    with open_bag(eval_output_bag) as bag:
        stamps = {stamp_to_ns(m.msg.header.stamp) for m in bag.messages(topics=["/depth/image"])}
    store = RrdReader(rrd).stream().collect()
    for entity in (E.DEPTH, E.IMAGE, E.CLOUD, E.CONFIDENCE):
        table = store.reader(index=E.STAMP_TIMELINE, contents=f"/{entity}").to_arrow_table()
        got = set(table.column(E.STAMP_TIMELINE).cast(pa.int64()).to_pylist())
        assert got and got <= stamps, entity
    frames = store.reader(index=E.FRAME_TIMELINE, contents=f"/{E.DEPTH}").to_arrow_table()
    assert frames.column(E.FRAME_TIMELINE).to_pylist() == list(range(8))
