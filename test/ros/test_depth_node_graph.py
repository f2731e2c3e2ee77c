"""depth_node on the real ROS 2 graph (FastDPS): outputs, headers, values, bad input, drops, no-subscriber idling."""

from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from graph_rig import values  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from depth_ros.models.registry import load_model  # noqa: E402
from depth_ros.pipeline.pipeline import DepthPipeline, Frame  # noqa: E402
from depth_ros.ros.conversions import (  # noqa: E402
    array_to_image,
    camera_info_from_model,
    image_to_depth_m,
    make_header,
    read_fields,
    rgb_to_compressed,
)
from depth_ros.ros.depth_node import DepthNode  # noqa: E402
from depth_ros.ros.node_process import FrameClient  # noqa: E402
from depth_ros.ros.params import pipeline_config_from_values, resolve_values  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def graph_factory(make_graph, fastdepth_path):
    """depth_node (FastDepth) and a client in one executor, the node subscribed to our CameraInfo."""

    def make(params=None, want_points: bool = True, namespace: str = "t"):
        g = make_graph(namespace, {"model": "fastdepth_tflite", "model_path": str(fastdepth_path), **(params or {})},
                       want_points=want_points)
        assert g.node.active
        assert g.client.wait_for_subscribers(10, g.executor, g.client.info_pub)
        g.spin(0.3)
        return g

    return make


def test_depth_points_and_info_match_the_offline_pipeline(graph_factory, rgbd_frames, fastdepth_path):
    g = graph_factory()
    frame = rgbd_frames[0]
    stamp = 1_700_000_000_123_456_789
    g.client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="cam_optical")
    out = g.client.wait_for(stamp, ("depth", "info", "points"), 15, g.executor)
    assert out is not None, "no output from depth_node"

    d = out.depth
    assert (d.encoding, d.height, d.width, d.step, d.is_bigendian) == ("32FC1", 480, 640, 640 * 4, 0)
    assert d.header.frame_id == "cam_optical"
    assert (d.header.stamp.sec, d.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    depth = image_to_depth_m(d)

    # The same pipeline object offline gives the same numbers: one code path for node and evaluator.
    model = load_model("fastdepth_tflite", path=str(fastdepth_path))
    config = pipeline_config_from_values(resolve_values("depth_node", {}))  # what the node reads
    offline = DepthPipeline(model, config).process(Frame(frame.rgb, frame.camera, stamp))
    np.testing.assert_array_equal(np.isnan(depth), np.isnan(offline.depth))
    np.testing.assert_allclose(depth, offline.depth, atol=1e-6, equal_nan=True)
    valid = np.isfinite(depth)
    assert valid.mean() > 0.9 and np.nanmin(depth) >= 0.1 and np.nanmax(depth) <= 20.0

    info = out.info
    assert info.header.frame_id == "cam_optical" and info.width == 640
    np.testing.assert_allclose(info.k, frame.camera.K.ravel())

    pc = out.points
    assert (pc.height, pc.width, pc.point_step, pc.is_dense) == (480, 640, 32, False)
    assert [f.name for f in pc.fields] == ["x", "y", "z", "rgb"]
    assert pc.header.frame_id == "cam_optical" and pc.header.stamp == d.header.stamp
    xyz = read_fields(pc, ("x", "y", "z"))
    z = xyz["z"].reshape(480, 640)
    np.testing.assert_allclose(z, depth, atol=1e-6, equal_nan=True)
    u = np.arange(640)[None, :]
    np.testing.assert_allclose(xyz["x"].reshape(480, 640), z * (u - frame.camera.cx) / frame.camera.fx,
                               rtol=1e-5, atol=1e-6, equal_nan=True)


def test_temporal_stage_on_the_graph(graph_factory, rgbd_frames, fastdepth_path):
    """With temporal.enabled, a still camera (no IMU: no rotation assumed) sending the same frame: the
    history is fused into every frame after the first, and the published depth is that frame's depth
    (fusing equal depths changes nothing), its cloud built from it; /diagnostics says what the stage did."""
    g = graph_factory({"temporal.enabled": True, "diagnostics_period": 0.2})
    frame = rgbd_frames[2]
    config = pipeline_config_from_values(resolve_values("depth_node", {}))
    offline = DepthPipeline(load_model("fastdepth_tflite", path=str(fastdepth_path)), config).process(
        Frame(frame.rgb, frame.camera, 0))
    for k in range(4):
        stamp = 5_000_000_000 + k * 100_000_000
        g.client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="cam")
        out = g.client.wait_for(stamp, ("depth", "points"), 15, g.executor)
        assert out is not None, f"no output for frame {k}"
        depth = image_to_depth_m(out.depth)
        np.testing.assert_allclose(depth, offline.depth, rtol=1e-5, equal_nan=True)
        z = read_fields(out.points, ("z",))["z"].reshape(depth.shape)
        np.testing.assert_allclose(z, depth, atol=1e-6, equal_nan=True)
    status = g.wait_diagnostic(lambda s: values(s).get("temporal", "").startswith("fused"), timeout=5)
    assert status is not None, "no diagnostics with the temporal stage's state"
    assert values(status)["temporal"].endswith("(no gyro)") and float(values(status)["temporal_fused"]) > 0.9


def test_compressed_input(graph_factory, rgbd_frames):
    g = graph_factory({"image_transport": "compressed", "cloud_rgb": False})
    pub = g.client.create_publisher(CompressedImage, "image/compressed", 10)
    frame = rgbd_frames[3]
    g.spin(0.5)
    stamp = 42_000_000_000
    header = make_header(stamp, "cam")
    g.client.info_pub.publish(camera_info_from_model(frame.camera, header))
    pub.publish(rgb_to_compressed(frame.rgb, fmt="png", header=header))
    out = g.client.wait_for(stamp, ("depth", "points"), 15, g.executor)
    assert out is not None
    assert out.points.point_step == 16 and out.depth.width == 640


def test_bad_input_is_reported_and_the_node_keeps_working(graph_factory, rgbd_frames):
    g = graph_factory({"diagnostics_period": 0.2})
    frame = rgbd_frames[1]
    good = array_to_image(frame.rgb, "rgb8", header=make_header(1, "cam"))

    def variant(stamp, **changes):
        msg = Image(header=make_header(stamp, "cam"), height=good.height, width=good.width, encoding=good.encoding,
                    is_bigendian=0, step=good.step)
        msg.data = good.data
        for k, v in changes.items():
            setattr(msg, k, v)
        return msg

    bad = [
        variant(10, encoding="yuv422_yuy2"),
        variant(11, step=100),
        variant(12, data=[]),
        variant(13, height=0, width=0, step=0, data=[]),
        variant(14, height=100000, width=100000, step=300000),
    ]
    for msg in bad:
        g.client.image_pub.publish(msg)
        g.spin(0.15)
    # A CameraInfo of all zeros, then a CameraInfo for another resolution.
    zero_info = CameraInfo(header=make_header(20, "cam"), width=640, height=480)
    g.client.info_pub.publish(zero_info)
    g.client.image_pub.publish(variant(20))
    out = g.client.wait_for(20, ("depth",), 10, g.executor)
    assert out is not None and out.points is None  # depth without intrinsics, no cloud
    g.spin(0.5)
    assert g.node.stats.errors["bad_image"] == len(bad)
    assert g.node.stats.errors["bad_camera_info"] >= 1

    diag = g.latest_diagnostic()
    assert diag is not None and diag.level == b"\x01"  # WARN
    values = {kv.key: kv.value for kv in diag.values}
    assert int(values["errors_bad_image"]) == len(bad)
    assert values["model"] == "fastdepth_tflite"

    # And a good frame with a good CameraInfo still gives everything.
    g.client.publish_frame(frame.rgb, frame.camera, 30, frame_id="cam")
    assert g.client.wait_for(30, ("depth", "info", "points"), 10, g.executor) is not None


def test_image_without_camera_info_gives_depth_but_no_points(graph_factory, rgbd_frames):
    g = graph_factory()
    g.client.publish_frame(rgbd_frames[2].rgb, None, 55, frame_id="cam")
    out = g.client.wait_for(55, ("depth",), 10, g.executor)
    assert out is not None
    g.spin(0.5)
    assert out.points is None and g.node.stats.errors["no_camera_info"] >= 1


def test_nothing_is_computed_without_subscribers(ros, fastdepth_path, rgbd_frames):
    node = DepthNode(namespace="idle", parameter_overrides=[Parameter("model", value="fastdepth_tflite"),
                                                             Parameter("model_path", value=str(fastdepth_path))])
    pub_node = rclpy.create_node("idle_pub", namespace="idle")
    pub = pub_node.create_publisher(Image, "image", 10)
    ex = MultiThreadedExecutor()
    ex.add_node(node)
    ex.add_node(pub_node)
    try:
        calls = []
        original = node.pipeline.process
        node.pipeline.process = lambda frame: calls.append(1) or original(frame)
        end = time.monotonic() + 1.0
        while pub.get_subscription_count() == 0 and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        for i in range(5):
            pub.publish(array_to_image(rgbd_frames[0].rgb, "rgb8", header=make_header(i + 1, "cam")))
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                ex.spin_once(timeout_sec=0.02)
        assert node.stats.input.total == 5
        assert node.stats.skipped_no_subscribers == 5 and not calls
    finally:
        ex.shutdown()
        node.destroy_node()
        pub_node.destroy_node()


def test_newest_frame_policy_drops_and_counts(graph_factory, rgbd_frames):
    g = graph_factory()
    original = g.node.pipeline.process

    def slow(frame):
        time.sleep(0.15)
        return original(frame)

    g.node.pipeline.process = slow
    frame = rgbd_frames[0]
    for i in range(12):
        g.client.publish_frame(frame.rgb, frame.camera, 1000 + i)
        g.spin(0.02)
    assert g.client.wait_for(1011, ("depth",), 10, g.executor) is not None  # the newest frame is processed
    g.spin(0.5)
    got = [s for s in range(1000, 1012) if g.client.get(s) and g.client.get(s).depth is not None]
    assert len(got) < 12
    assert g.node._worker.dropped == 12 - len(got)


@pytest.mark.slow
def test_depth_node_as_a_process_with_the_params_file(ros, rgbd_frames, tmp_path):
    """The shipped params file and nothing else: the shipped FastDepth weights, no download, no model_path."""
    from depth_ros.ros.node_process import NodeProcess, node_command

    repo = __import__("pathlib").Path(__file__).resolve().parents[2]
    cmd = node_command("depth_node", params={},
                       params_file=str(repo / "depth_ros" / "config" / "depth_node.yaml"),
                       remaps={"image": "/cam/image_raw", "camera_info": "/cam/camera_info", "__ns": "/proc"})
    client = FrameClient("proc_client", namespace="proc")
    client.image_pub = client.create_publisher(Image, "/cam/image_raw", 10)
    client.info_pub = client.create_publisher(CameraInfo, "/cam/camera_info", 10)
    log = tmp_path / "node.log"
    try:
        with NodeProcess(cmd, log_path=str(log)) as proc:
            assert client.wait_for_subscribers(30), log.read_text()
            frame = rgbd_frames[5]
            assert client.handshake(frame.rgb, frame.camera, 20), log.read_text()
            client.publish_frame(frame.rgb, frame.camera, 77, frame_id="cam")
            out = client.wait_for(77, ("depth", "info", "points"), 20)
            assert out is not None, log.read_text()
            assert proc.alive() and "model 'fastdepth_tflite' loaded" in log.read_text()
            from depth_ros.core.metrics import depth_metrics
            from depth_ros.ros.conversions import image_to_depth_m

            metres = image_to_depth_m(out.depth)
            depth = metres[np.isfinite(metres)]
            assert depth.size > 0.5 * metres.size and 0.1 < float(np.median(depth)) < 40.0  # metres
            assert depth_metrics(metres, frame.depth).absrel < 0.4  # real metres on a real frame
        assert proc.proc.returncode == 0, log.read_text()
    finally:
        client.destroy_node()
