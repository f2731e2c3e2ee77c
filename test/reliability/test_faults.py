"""Faults depth_node survives, each on the real graph: model failures, scale sources that stop and
come back, CameraInfo changes, images without CameraInfo, time jumping backwards (bag loop with
use_sim_time), output subscribers that come and go."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from builtin_interfaces.msg import Time  # noqa: E402
from graph_rig import Graph, level, values  # noqa: E402
from radar_imu_msgs import imu_msgs, radar_msg  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Imu, PointCloud2  # noqa: E402

from depth_ros.core.camera import CameraModel  # noqa: E402
from depth_ros.core.errors import ModelLoadError  # noqa: E402
from depth_ros.core.imu import STANDARD_GRAVITY  # noqa: E402
from depth_ros.ros.conversions import array_to_image, image_to_depth_m, make_header, read_fields  # noqa: E402
from depth_ros.ros.node_process import FrameClient  # noqa: E402

pytestmark = pytest.mark.ros
S = 1_000_000_000


def _params(fastdepth_path, params: dict | None) -> dict:
    return {"model": "fastdepth_tflite", "model_path": str(fastdepth_path), "diagnostics_period": 0.1, **(params or {})}


def _ready(g: Graph) -> Graph:
    assert g.node.active
    assert g.client.wait_for_subscribers(10, g.executor)
    return g


@pytest.fixture
def graphs(make_graph, fastdepth_path):
    def make(namespace: str, params: dict | None = None, node_name: str = "depth_node", **kwargs) -> Graph:
        return _ready(make_graph(namespace, _params(fastdepth_path, params), node_name, rosout=True, **kwargs))

    return make


def frame_out(g: Graph, frame, stamp: int, kinds=("depth",), camera="frame", timeout: float = 10.0):
    camera = frame.camera if camera == "frame" else camera
    g.client.publish_frame(frame.rgb, camera, stamp, frame_id="cam")
    return g.client.wait_for(stamp, kinds, timeout, g.executor)


# -- the model fails --------------------------------------------------------------------------


FAULTS = {
    "raises": (lambda raw: (_ for _ in ()).throw(RuntimeError("inference backend crashed")),
               "RuntimeError: inference backend crashed"),
    "model_error": (lambda raw: (_ for _ in ()).throw(ModelLoadError("interpreter lost")), "interpreter lost"),
    "nan": (lambda raw: np.where(np.arange(raw.size).reshape(raw.shape) % 7 == 0, np.nan, raw).astype(np.float32),
            "NaN/inf"),
    "inf": (lambda raw: np.full_like(raw, np.inf), "NaN/inf"),
    "negative": (lambda raw: raw - np.float32(100.0), "negative depth"),
    "wrong_shape": (lambda raw: raw[:10], "shape"),
}


@pytest.fixture(scope="class")
def mf(ros, fastdepth_path, rgbd_frames):
    """One depth_node for all the model faults of TestModelFaults, closed after the class."""
    g = Graph("mf", _params(fastdepth_path, None), rosout=True)
    try:
        _ready(g)
        frame = rgbd_frames[2]
        assert g.client.handshake(frame.rgb, frame.camera, 15, g.executor)
        g.stamp = 10 * S  # stamps keep increasing over the faults: no time jump
        yield g
    finally:
        g.close()


class TestModelFaults:
    """One node takes the faults in turn (the cases share it, in order): each must leave it working."""

    @pytest.mark.parametrize("name", list(FAULTS))
    def test_model_fault_skips_the_frame_with_an_error_diagnostic(self, mf, rgbd_frames, name):
        g = mf
        corrupt, reason = FAULTS[name]
        model = g.node.pipeline.model
        frame = rgbd_frames[2]
        real_predict = model.predict
        # Frames still in flight (a handshake retry on a loaded machine) must not meet the fault.
        g.spin(1.0)
        assert g.spin_until(lambda: g.node._worker.idle(), 10)
        model.predict = lambda rgb, prior=None: corrupt(real_predict(rgb, prior))
        try:
            g.stamp += S
            stamp = g.stamp
            sent, failures = time.monotonic(), g.node.stats.errors["model"] + g.node.stats.errors["internal"]
            g.client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="cam")
            assert g.spin_until(lambda: g.node.stats.errors["model"] + g.node.stats.errors["internal"] > failures, 10)
            g.spin(0.2)
            assert g.client.get(stamp) is None, f"{name}: a frame with a failed model was published"
            status = g.wait_diagnostic(lambda s: level(s) == "ERROR" and reason in s.message, since=sent)
            assert status is not None, f"{name}: no ERROR diagnostic naming '{reason}'"
        finally:
            model.predict = real_predict
        g.stamp += S
        out = frame_out(g, frame, g.stamp, kinds=("depth", "points"))
        assert out is not None, f"{name}: the next good frame was not published"
        depth = image_to_depth_m(out.depth)
        assert np.isfinite(depth).mean() > 0.9 and np.nanmin(depth) > 0
        assert g.node.stats.errors["model"] + g.node.stats.errors["internal"] == failures + 1  # this fault, once
        assert g.node._worker is not None and g.node.active


# -- scale sources stop and come back ----------------------------------------------------------------


def _scaled_frame(g: Graph, frame, stamp: int, radar=None, imu=None):
    """Publish side inputs, then the frame; the status published after its output arrived."""
    for m in imu or []:
        g.client.imu_pub.publish(m)
    if radar is not None:
        g.client.radar_pub.publish(radar)
    g.spin(0.3)
    out = frame_out(g, frame, stamp)
    assert out is not None
    status = g.wait_diagnostic(lambda s: values(s).get("scale_source") == g.node._last_result_info["scale_source"],
                               since=time.monotonic())
    assert status is not None
    return status


def test_radar_stops_and_comes_back(graphs, rgbd_frames):
    g = graphs("rs", {"radar.translation": [0.0, 0.10, 0.0], "scale.temporal": False, "imu.enabled": False},
               node_name="radar_depth_node")
    g.client.radar_pub = g.client.create_publisher(PointCloud2, "radar/points", 10)
    assert g.spin_until(lambda: g.client.radar_pub.get_subscription_count() > 0, 10)
    frame = rgbd_frames[7]
    t = 100 * S

    status = _scaled_frame(g, frame, t, radar=radar_msg(frame, t)[0])
    assert g.node._last_result_info["scale_source"] == "radar"
    assert level(status) == "OK", status.message

    t += 2 * S  # the radar has stopped: nothing in the 0.5 s window
    status = _scaled_frame(g, frame, t)
    info = g.node._last_result_info
    assert info["scale_source"] == "model" and info["radar_scans"] == 0
    assert level(status) == "WARN" and status.message == "no radar in the last 0.5 s: using model"

    t += 2 * S  # and is back
    status = _scaled_frame(g, frame, t, radar=radar_msg(frame, t, seed=1)[0])
    assert g.node._last_result_info["scale_source"] == "radar"
    assert level(status) == "OK", status.message
    assert g.node.stats.errors.total() == 0, dict(g.node.stats.errors)


def test_imu_stops_and_comes_back(graphs, rgbd_frames):
    g = graphs("is", {"imu.enabled": True, "ground.enabled": True, "ground.camera_height": 1.2,
                      "scale.temporal": False})
    g.client.imu_pub = g.client.create_publisher(Imu, "imu/data", 50)
    assert g.spin_until(lambda: g.client.imu_pub.get_subscription_count() > 0, 10)
    frame = rgbd_frames[3]
    t = 50 * S

    status = _scaled_frame(g, frame, t, imu=imu_msgs(t, gravity=STANDARD_GRAVITY, pitch=0.2))
    assert g.node._last_result_info["scale_source"] == "ground" and level(status) == "OK", status.message

    t += 3 * S  # the IMU has stopped: its gravity is too old for the ground plane
    status = _scaled_frame(g, frame, t)
    info = g.node._last_result_info
    assert info["scale_source"] == "model" and info["imu_fresh"] is False and info["ground_points"] == 0
    assert level(status) == "WARN" and status.message == "no IMU in the last 1 s: using model"

    t += 3 * S
    status = _scaled_frame(g, frame, t, imu=imu_msgs(t, gravity=STANDARD_GRAVITY, pitch=0.2))
    assert g.node._last_result_info["scale_source"] == "ground" and level(status) == "OK", status.message


# -- CameraInfo ---------------------------------------------------------------------------------------


def _check_cloud(out, camera: CameraModel) -> None:
    assert (out.depth.width, out.depth.height) == (camera.width, camera.height)
    assert (out.points.width, out.points.height) == (camera.width, camera.height)
    np.testing.assert_allclose(np.asarray(out.info.k).reshape(3, 3), camera.K)
    xyz = read_fields(out.points, ("x", "y", "z"))
    z = xyz["z"].reshape(camera.height, camera.width)
    u = np.arange(camera.width)[None, :]
    np.testing.assert_allclose(z, image_to_depth_m(out.depth), atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(xyz["x"].reshape(z.shape), z * (u - camera.cx) / camera.fx, rtol=1e-5, atol=1e-5,
                               equal_nan=True)


def test_camera_info_changes_mid_stream(graphs, rgbd_frames):
    g = graphs("ci", {"cloud_rgb": False})
    frame = rgbd_frames[4]
    base = frame.camera
    assert g.client.handshake(frame.rgb, base, 15, g.executor)
    kinds = ("depth", "info", "points")
    out = frame_out(g, frame, 10 * S, kinds)
    _check_cloud(out, base)

    # New intrinsics, same size: rays rebuilt.
    zoom = CameraModel(base.width, base.height, base.fx * 0.6, base.fy * 0.6, base.cx + 7, base.cy - 3)
    out = frame_out(g, frame, 11 * S, kinds, camera=zoom)
    _check_cloud(out, zoom)

    # New resolution: buffers rebuilt, outputs at the new size.
    small_rgb = cv2.resize(frame.rgb, (base.width // 2, base.height // 2), interpolation=cv2.INTER_AREA)
    small = base.scaled(base.width // 2, base.height // 2)
    g.client.publish_frame(small_rgb, small, 12 * S, frame_id="cam")
    out = g.client.wait_for(12 * S, kinds, 10, g.executor)
    assert out is not None
    _check_cloud(out, small)

    # And back to full size with the original intrinsics.
    out = frame_out(g, frame, 13 * S, kinds)
    _check_cloud(out, base)
    assert not g.node.stats.errors, dict(g.node.stats.errors)


def test_images_before_any_camera_info(graphs, rgbd_frames):
    g = graphs("nci")
    frame = rgbd_frames[5]
    for i in range(5):
        out = frame_out(g, frame, (20 + i) * S, camera=None)
        assert out is not None and out.depth is not None
    g.spin(0.5)
    assert all(g.client.get((20 + i) * S).points is None for i in range(5))
    assert g.node.stats.errors["no_camera_info"] == 5
    assert len(g.logs(Log.WARN, "no CameraInfo")) == 1  # throttled: one line for five frames

    # The throttle is per kind: another problem in the same window is still logged.
    bad = array_to_image(frame.rgb, "rgb8", header=make_header(30 * S, "cam"))
    bad.encoding = "yuv422_yuy2"
    g.client.image_pub.publish(bad)
    assert g.spin_until(lambda: g.logs(Log.WARN, "yuv422_yuy2"), 5)

    # Once CameraInfo flows, points follow. Up to five tries absorb DDS discovery of the camera_info
    # link, used for the first time here: a frame whose CameraInfo has not arrived within the
    # node's wait rightly gets no points.
    for k in range(5):
        out = frame_out(g, frame, (40 + k) * S, kinds=("depth", "info", "points"), timeout=4.0)
        if out is not None:
            break
    assert out is not None and out.points.width == frame.camera.width


# -- time jumps backwards (bag loop, use_sim_time) -----------------------------------------------------


@pytest.mark.slow
def test_time_jump_backwards_resets_buffers_and_filters(graphs, rgbd_frames):
    g = graphs("tj", {"radar.translation": [0.0, 0.10, 0.0], "imu.enabled": False, "use_sim_time": True},
               node_name="radar_depth_node")
    client = g.client
    client.radar_pub = client.create_publisher(PointCloud2, "radar/points", 10)
    clock_pub = client.create_publisher(Clock, "/clock", 10)
    clock = {"base": 100 * S, "wall": time.monotonic()}

    def tick() -> None:
        ns = clock["base"] + int((time.monotonic() - clock["wall"]) * 1e9)
        clock_pub.publish(Clock(clock=Time(sec=ns // S, nanosec=ns % S)))

    client.create_timer(0.02, tick)  # the client runs on wall time; the node on /clock
    assert g.spin_until(lambda: client.radar_pub.get_subscription_count() > 0, 10)
    frame = rgbd_frames[7]
    for k in range(3):  # a few frames with radar: the temporal scale filter has a state
        t = 100 * S + k * 100_000_000
        status = _scaled_frame(g, frame, t, radar=radar_msg(frame, t, seed=k)[0])
        assert g.node._last_result_info["scale_source"] == "radar"
    assert len(g.node.pipeline.fusion.radar) == 3
    _scaled_frame(g, frame, 100 * S + 900_000_000)  # radar out of its 0.5 s window: the filter holds the scale
    assert g.node._last_result_info["scale_source"] == "filter"

    # The bag loops: /clock and the stamps start again 90 s earlier; no radar yet.
    clock.update(base=10 * S, wall=time.monotonic())
    status = _scaled_frame(g, frame, 10 * S)
    info = g.node._last_result_info
    assert g.node.stats.errors["time_jump"] == 1
    assert len(g.node.pipeline.fusion.radar) == 0  # the old loop's scans are gone
    assert info["scale_source"] == "model", info  # neither stale radar nor the old loop's filter state
    assert level(status) == "WARN" and "no radar" in status.message
    assert g.node.get_clock().now().nanoseconds < 20 * S  # the node is on the new sim time...
    assert g.wait_diagnostic(lambda s: True, timeout=2.0) is not None  # ...and its timer still fires

    t = 10 * S + 200_000_000
    _scaled_frame(g, frame, t, radar=radar_msg(frame, t, seed=5)[0])
    assert g.node._last_result_info["scale_source"] == "radar"


# -- output subscribers come and go ------------------------------------------------------------------


def test_no_work_without_subscribers_and_none_lost_when_they_return(graphs, rgbd_frames):
    g = graphs("sub", {"obstacles.enabled": True})
    frame = rgbd_frames[6]
    assert g.client.handshake(frame.rgb, frame.camera, 15, g.executor)
    calls = []
    model = g.node.pipeline.model
    real_predict = model.predict
    model.predict = lambda rgb, prior=None: calls.append(1) or real_predict(rgb, prior)
    outputs = {"depth/image", "depth/camera_info", "points"}

    for it in range(2):
        g.spin(0.3)  # let callbacks in flight finish before their subscriptions go
        for sub in [s for s in g.client.subscriptions if s.topic_name.split("/", 2)[-1] in outputs]:
            g.client.destroy_subscription(sub)
        assert g.spin_until(lambda: g.node._wanted() == (False, False), 10)
        skipped, frames_in = g.node.stats.skipped_no_subscribers, g.node.stats.input.total
        dropped = g.node._worker.dropped
        calls.clear()
        # Camera input is best effort: frames may be lost on the way; send until 5 have arrived (every
        # one of them must be skipped without running the model).
        stamp, deadline = (100 + 40 * it) * S, time.monotonic() + 20
        while g.node.stats.input.total - frames_in < 5 and time.monotonic() < deadline:
            g.client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="cam")
            stamp += S // 10
            g.spin(0.2)
        received = g.node.stats.input.total - frames_in
        assert received >= 5
        assert g.spin_until(lambda: g.node._worker.idle(), 10)  # the last one may still be in the worker
        # Each frame that reached the worker was skipped; the newest-frame queue may replace one waiting.
        handled = g.node.stats.skipped_no_subscribers - skipped + g.node._worker.dropped - dropped
        assert handled == received and g.node.stats.skipped_no_subscribers > skipped and not calls

        # A new subscriber (another node) appears: work resumes, without errors.
        late = FrameClient("late", namespace="sub")
        g.executor.add_node(late)
        try:
            assert g.spin_until(lambda: g.node._wanted() == (True, True), 10)
            late_stamp = (120 + 40 * it) * S
            late.publish_frame(frame.rgb, frame.camera, late_stamp, frame_id="cam")
            assert late.wait_for(late_stamp, ("depth", "info", "points"), 10, g.executor) is not None
            assert calls
            g.spin(0.3)
        finally:
            g.executor.remove_node(late)
            late.destroy_node()
    assert not g.node.stats.errors, dict(g.node.stats.errors)


# -- malformed side inputs over DDS: counted by kind and reported in /diagnostics -----------------------


def test_malformed_side_inputs_are_counted_and_reported_at_warn(graphs, rgbd_frames):
    from nav_msgs.msg import Odometry

    from depth_ros.ros.conversions import camera_info_from_model, points_to_msg

    g = graphs("side", {"imu.enabled": True, "odom.enabled": True, "radar.use_tf": False}, node_name="radar_depth_node")
    client = g.client
    radar_pub = client.create_publisher(PointCloud2, "radar/points", 10)
    imu_pub = client.create_publisher(Imu, "imu/data", 10)
    odom_pub = client.create_publisher(Odometry, "odom", 10)
    assert g.spin_until(lambda: all(p.get_subscription_count() > 0 for p in (radar_pub, imu_pub, odom_pub)), 10)
    frame = rgbd_frames[3]
    stamp = 50 * S

    info = camera_info_from_model(frame.camera, make_header(stamp, "cam"))
    info.k = [0.0] * 9  # no focal length: found when an image of that stamp needs it
    client.info_pub.publish(info)
    g.spin(0.2)
    client.image_pub.publish(array_to_image(frame.rgb, "rgb8", header=make_header(stamp, "cam")))
    radar_pub.publish(points_to_msg(np.zeros((0, 3), np.float32), header=make_header(stamp, "radar_link")))  # empty
    no_z = points_to_msg(np.ones((5, 3), np.float32), header=make_header(stamp, "radar_link"))
    no_z.fields = [f for f in no_z.fields if f.name != "z"]  # a cloud without z
    radar_pub.publish(no_z)
    bad_imu = imu_msgs(stamp, n=1)[0]
    bad_imu.linear_acceleration.x = float("nan")
    imu_pub.publish(bad_imu)
    bad_odom = Odometry(header=make_header(stamp, "odom"))
    bad_odom.twist.twist.linear.x = float("inf")
    odom_pub.publish(bad_odom)

    expected = ("bad_camera_info", "empty_radar", "bad_radar", "bad_imu", "bad_odom")
    assert g.spin_until(lambda: all(g.node.stats.errors[k] >= 1 for k in expected), 10), dict(g.node.stats.errors)
    status = g.wait_diagnostic(lambda s: all(f"errors_{k}" in values(s) for k in expected), timeout=5.0)
    assert status is not None, g.latest_diagnostic()
    assert level(status) == "WARN"
    assert all(int(values(status)[f"errors_{k}"]) == g.node.stats.errors[k] for k in expected)
    assert g.node.stats.errors["model"] == 0 and g.node.stats.errors["internal"] == 0
    # The node carries on: a good frame still gets depth.
    assert frame_out(g, frame, stamp + S, kinds=("depth",)) is not None
