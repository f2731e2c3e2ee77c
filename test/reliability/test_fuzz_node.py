"""Property-based fuzzing of depth_node's inputs: the MessageFeeder side inputs and the worker's
`_process`, on a real in-process radar_depth_node (FastDepth TFLite, radar + IMU + odometry +
ground plane + obstacle cloud + LaserScan enabled, so every consumer of a message is reached).

Contract: nothing raises, whatever arrives; an image that the conversions accept is published,
one they reject is counted as bad input; afterwards the node still answers a good frame on the
graph. The camera-info wait of the worker is set to 0 here: it only makes unmatched frames slow.
"""

from __future__ import annotations

import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

rclpy = pytest.importorskip("rclpy")
from fuzz_strategies import (  # noqa: E402
    GENERATED,
    camera_infos,
    compressed_images,
    fuzz,
    images,
    imus,
    odometries,
    pointclouds,
)
from graph_rig import Graph  # noqa: E402
from sensor_msgs.msg import Image, LaserScan, PointCloud2  # noqa: E402

from depth_ros.core.errors import DepthRosError  # noqa: E402
from depth_ros.ros import depth_node as depth_node_module  # noqa: E402
from depth_ros.ros.conversions import compressed_to_rgb, image_to_rgb, stamp_to_ns  # noqa: E402

# IMU samples of 1e300 m/s^2 overflow the attitude filter's norm (to inf, then gated): expected here.
pytestmark = [pytest.mark.ros, pytest.mark.filterwarnings("ignore:overflow encountered in dot:RuntimeWarning")]
N_SIDE, N_FRAMES = 1000, 500
MIN_GENERATED = N_SIDE + 2 * N_FRAMES - 100
FILE_COUNT: dict[str, int] = {}
COLOUR = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "8UC3", "32FC1", "16UC1"]


def _count(kind: str, n: int = 1) -> None:
    FILE_COUNT[kind] = FILE_COUNT.get(kind, 0) + n


@pytest.fixture(scope="module")
def rig(ros, fastdepth_path):
    """radar_depth_node + a client subscribed to every output, spinning on a background thread."""
    patch = pytest.MonkeyPatch()
    patch.setattr(depth_node_module, "CAMERA_INFO_WAIT_S", 0.0)
    params = {"model": "fastdepth_tflite", "model_path": str(fastdepth_path), "odom.enabled": True,
              "ground.enabled": True, "ground.camera_height": 1.2, "obstacles.enabled": True, "scan.enabled": True,
              "diagnostics_period": 0.1, "radar.use_tf": False}
    r = Graph("fuzz", params, "radar_depth_node", diagnostics=False,
              extra_topics={"depth/confidence": Image, "points/obstacles": PointCloud2, "scan": LaserScan})
    try:
        assert r.node.active
        assert r.client.wait_for_subscribers(10, r.executor)
        assert r.spin_until(lambda: all(r.node._wanted()), 10), "the node does not see the client's subscriptions"

        def keep_memory_flat() -> None:  # over thousands of outputs
            for msgs in r.client.extra.values():
                del msgs[:-5]
            with r.client._lock:
                if len(r.client.outputs) > 50:
                    r.client.outputs.clear()

        r.spin_in_background(keep_memory_flat)
        yield r
    finally:
        r.close()
        patch.undo()


SIDE_INPUTS = st.one_of(
    st.tuples(st.just("camera_info"), camera_infos(allow_duck=False)),
    st.tuples(st.just("radar"), pointclouds(allow_duck=False).map(lambda c: c[0])),
    st.tuples(st.just("imu"), imus(allow_duck=False)),
    st.tuples(st.just("odom"), odometries()),
)


def _stamp_or_none(msg):
    try:
        return stamp_to_ns(msg.header.stamp)
    except DepthRosError:
        return None


@fuzz(N_SIDE)
@given(SIDE_INPUTS)
def test_side_inputs_are_taken_or_counted(rig, item):
    """No side input vanishes silently: it is buffered for the frames, or its error kind is counted."""
    kind, msg = item
    _count(kind)
    node = rig.node
    feeder, fusion = node.feeder, node.pipeline.fusion
    errors_before = sum(node.stats.errors.values())
    inputs_before = node.pipeline.diagnostics().counters
    {"camera_info": feeder.add_camera_info, "radar": node._on_radar, "imu": feeder.add_imu,
     "odom": feeder.add_odometry}[kind](msg)
    counted = sum(node.stats.errors.values()) > errors_before
    inputs = node.pipeline.diagnostics().counters
    stamp = _stamp_or_none(msg)
    if kind == "camera_info":
        buffered = any(m is msg for _, m in feeder.infos) if stamp is not None else False
        nearest = feeder.infos.nearest(stamp, 1 << 62) if stamp is not None else None
        # Buffered, or older than the 30 kept: no image that could still arrive pairs with it.
        taken = buffered or (nearest is not None and nearest[0] > stamp)
    elif kind == "radar":
        taken = inputs["radar_scans"] == inputs_before["radar_scans"] + 1
    elif kind == "imu":
        taken = inputs["imu_samples"] == inputs_before["imu_samples"] + 1
    else:
        found = fusion.odometry.nearest(stamp, 0) if stamp is not None else None
        taken = found is not None
    assert taken or counted, (kind, msg)


def _rgb_or_none(msg):
    """The pixels of a frame the node can use: decodable, with a valid stamp (else None)."""
    try:
        stamp_to_ns(msg.header.stamp)
        return compressed_to_rgb(msg) if hasattr(msg, "format") else image_to_rgb(msg)
    except DepthRosError:
        return None


@st.composite
def frames(draw):
    """An image (raw or compressed, often malformed), the side inputs that precede it, and its stamp."""
    if draw(st.integers(0, 3)) == 0:
        msg, _ = draw(compressed_images(allow_duck=False, max_side=24))
    else:
        msg, _ = draw(images(allow_duck=False, max_side=24, encodings=COLOUR))
    h, w = int(msg.height) if hasattr(msg, "height") else 0, int(msg.width) if hasattr(msg, "width") else 0
    side = []
    if draw(st.booleans()):  # CameraInfo sized like the image (when it has a size) or random
        side.append(("camera_info", draw(camera_infos(width=w or None, height=h or None, allow_duck=False))))
    for _ in range(draw(st.integers(0, 2))):
        side.append(draw(SIDE_INPUTS))
    return msg, side


@pytest.mark.slow
@fuzz(N_FRAMES)
@given(frames())
def test_process_never_raises_and_publishes_every_decodable_frame(rig, frame):
    msg, side = frame
    node = rig.node
    _count("image")
    _count("side", len(side))
    for kind, m in side:
        {"camera_info": node.feeder.add_camera_info, "radar": node._on_radar, "imu": node.feeder.add_imu,
         "odom": node.feeder.add_odometry}[kind](m)
    rgb = _rgb_or_none(msg)
    out_before, bad_before = node.stats.output.total, node.stats.errors["bad_image"]
    node._process((msg, time.monotonic()))
    published = node.stats.output.total - out_before
    rejected = node.stats.errors["bad_image"] - bad_before
    assert published + rejected == 1, node.stats.last_error  # exactly one outcome per frame
    if rgb is not None and min(rgb.shape[:2]) >= 2:  # the network needs at least 2x2 pixels
        assert published == 1, node.stats.last_error


def test_no_internal_or_model_errors_and_the_node_still_answers(rig, rgbd_frames):
    node, client = rig.node, rig.client
    assert node.stats.errors["internal"] == 0 and node.stats.errors["model"] == 0, dict(node.stats.errors)
    frame = rgbd_frames[0]
    stamp = 1_800_000_000_000_000_000
    end = time.monotonic() + 15
    out = None
    while out is None and time.monotonic() < end:  # the worker pairs it with its own CameraInfo
        client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="cam")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and out is None:
            got = client.get(stamp)
            out = got if got is not None and got.depth is not None and got.points is not None else None
            time.sleep(0.02)
    assert out is not None, "the node does not answer a good frame after the fuzzing"
    assert (out.depth.width, out.depth.height) == (frame.camera.width, frame.camera.height)
    assert out.points.width == frame.camera.width
    assert node._worker is not None and node.active


def test_fuzz_count(rig):
    total = sum(FILE_COUNT.values())
    stats = rig.node.stats
    print(f"\nfuzz_node: {stats.output.total} frames published, bad input {dict(stats.errors)}")
    # The frames reached the network and the outputs, not only the rejecting paths. (The mix varies
    # with what else the session imported: Hypothesis seeds its draws with literals of local modules.)
    assert stats.output.total >= N_FRAMES // 8 and stats.errors["bad_image"] >= N_FRAMES // 4
    print(f"\nfuzz_node: {total} generated messages {dict(FILE_COUNT)}; session total {sum(GENERATED.values())} "
          f"{dict(GENERATED)}")
    assert total >= MIN_GENERATED, FILE_COUNT
    conversions = sys.modules.get("test_fuzz_conversions")
    if conversions is not None and conversions.FILE_COUNT:  # both fuzz files ran: the per-run target
        assert sum(GENERATED.values()) >= 5000, dict(GENERATED)
