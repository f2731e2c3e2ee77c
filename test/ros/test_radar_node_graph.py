"""radar_depth_node on the real graph: radar + IMU in, metric depth, confidence, cloud with a
confidence field and fusion diagnostics out; bad radar/IMU input is reported, never fatal."""

from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from graph_rig import spin  # noqa: E402
from radar_imu_msgs import imu_msgs, radar_msg  # noqa: E402
from sensor_msgs.msg import Image, Imu, PointCloud2, PointField  # noqa: E402

from depth_ros.core.metrics import depth_metrics  # noqa: E402
from depth_ros.models.registry import load_model  # noqa: E402
from depth_ros.pipeline.pipeline import DepthPipeline, Frame, PipelineConfig  # noqa: E402
from depth_ros.ros.conversions import image_to_depth_m, make_header, points_to_msg, read_fields  # noqa: E402
from depth_ros.ros.params import fusion_config_from_values, params_for  # noqa: E402

pytestmark = pytest.mark.ros
RADAR_T = [0.0, 0.10, 0.0]  # radar 10 cm left of the camera in camera_link, as the simulator places it


@pytest.fixture
def graph(make_graph, fastdepth_path):
    """radar_depth_node (FastDepth) with radar and IMU publishers it subscribes to."""
    g = make_graph("r", {"model": "fastdepth_tflite", "model_path": str(fastdepth_path), "radar.translation": RADAR_T,
                         "scale.temporal": False, "diagnostics_period": 0.2},
                   node_name="radar_depth_node", extra_topics={"depth/confidence": Image})
    assert g.node.active
    g.client.radar_pub = g.client.create_publisher(PointCloud2, "radar/points", 10)
    g.client.imu_pub = g.client.create_publisher(Imu, "imu/data", 50)
    assert g.client.wait_for_subscribers(10, g.executor, g.client.radar_pub)
    return g


def test_radar_depth_matches_the_offline_pipeline_and_is_metric(graph, rgbd_frames, fastdepth_path):
    node, client, ex = graph.node, graph.client, graph.executor
    radar_pub, imu_pub = client.radar_pub, client.imu_pub
    frame = rgbd_frames[7]  # redwood: FastDepth is ~35 % off here; radar must fix the scale
    stamp = 5_000_000_000
    for m in imu_msgs(stamp):
        imu_pub.publish(m)
    msg, sim = radar_msg(frame, stamp)
    radar_pub.publish(msg)
    spin(ex, 0.3)
    client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="camera_optical_frame")
    out = client.wait_for(stamp, ("depth", "points"), 15, ex)
    assert out is not None
    spin(ex, 0.5)
    depth = image_to_depth_m(out.depth)

    # Offline: the same pipeline object, the same parameters, the same radar scan.
    values = {p.name: node.get_parameter(p.name).value for p in params_for("radar_depth_node")}
    model = load_model("fastdepth_tflite", path=str(fastdepth_path))
    pipe = DepthPipeline(model, PipelineConfig(cloud_confidence=True), fusion_config_from_values(values))
    pipe.add_radar(sim.scan)
    offline = pipe.process(Frame(frame.rgb, frame.camera, stamp, "camera_optical_frame"))
    assert offline.scale_source == "radar"
    np.testing.assert_allclose(depth, offline.depth, rtol=1e-5, atol=1e-5, equal_nan=True)
    mono = depth_metrics(model.predict(frame.rgb), frame.depth).absrel
    fused = depth_metrics(depth, frame.depth).absrel
    assert fused < 0.7 * mono

    conf_msgs = [m for m in client.extra["depth/confidence"] if m.header.stamp == out.depth.header.stamp]
    assert conf_msgs and conf_msgs[0].encoding == "32FC1"
    conf = image_to_depth_m(conf_msgs[0])
    assert np.nanmin(conf) >= 0 and np.nanmax(conf) <= 1
    pc = out.points
    assert [f.name for f in pc.fields] == ["x", "y", "z", "rgb", "confidence"] and pc.point_step == 32
    np.testing.assert_allclose(read_fields(pc, ("confidence",), required=())["confidence"].reshape(conf.shape),
                               offline.confidence, atol=1e-6)

    status = graph.latest_diagnostic()
    assert status is not None
    values = {kv.key: kv.value for kv in status.values}
    assert values["scale_source"] == "radar" and int(values["radar_used"]) >= 10
    assert float(values["scale"]) == pytest.approx(offline.info["scale"], rel=1e-3) and "fit_residual" in values


def test_default_model_is_shipped_and_radar_makes_it_metric(make_graph, rgbd_frames):
    """radar_depth_node with nothing but its defaults: the shipped relative network, made metric by radar."""
    g = make_graph("d", {"radar.translation": RADAR_T, "diagnostics_period": 0.2}, node_name="radar_depth_node")
    node, client, ex = g.node, g.client, g.executor
    radar_pub = client.create_publisher(PointCloud2, "radar/points", 10)
    assert node.active and node.config.model == "tcmonodepth_small"
    assert node._model.spec.output_kind.value == "relative_inverse"
    assert client.wait_for_subscribers(10, ex, radar_pub)
    frame = rgbd_frames[9]
    stamp = 6_000_000_000
    msg, _ = radar_msg(frame, stamp, seed=3)
    radar_pub.publish(msg)
    spin(ex, 0.3)
    client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="camera_optical_frame")
    out = client.wait_for(stamp, ("depth",), 15, ex)
    assert out is not None
    spin(ex, 0.5)
    assert depth_metrics(image_to_depth_m(out.depth), frame.depth).absrel < 0.3  # metres, not relative
    status = g.latest_diagnostic()
    assert status is not None
    values = {kv.key: kv.value for kv in status.values}
    assert values["depth_kind"] == "metric" and values["scale_source"] == "radar"
    assert values["radar_fit"] in ("scale", "affine") and values["radar_fit_quality"] in ("full", "subset")


def _cloud(fields, data, n, point_step):
    msg = PointCloud2(header=make_header(1, "radar_link"), height=1, width=n, point_step=point_step,
                      row_step=n * point_step, is_dense=False)
    msg.fields = [PointField(name=f, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, f in enumerate(fields)]
    msg.data = data
    return msg


def test_bad_radar_and_imu_input_is_reported(graph, rgbd_frames):
    node, client, ex = graph.node, graph.client, graph.executor
    radar_pub, imu_pub = client.radar_pub, client.imu_pub
    frame = rgbd_frames[0]
    stamp = 9_000_000_000
    no_z = _cloud(["x", "y"], bytes(8 * 5), 5, 8)
    truncated = _cloud(["x", "y", "z"], bytes(12 * 2), 100, 12)
    nan_pts = points_to_msg(np.array([[np.nan, 0, 1], [np.inf, 1, 1], [1, 1, 1]], np.float32),
                            header=make_header(stamp, "radar_link"))
    empty = points_to_msg(np.zeros((0, 3), np.float32), header=make_header(stamp, "radar_link"))
    rng = np.random.default_rng(0)
    million = points_to_msg(rng.uniform(1, 5, (1_000_000, 3)).astype(np.float32), header=make_header(stamp, "radar_link"))
    for m in (no_z, truncated, nan_pts, empty, million):
        radar_pub.publish(m)
        spin(ex, 0.2)
    bad_imu = Imu(header=make_header(stamp, "imu_link"))
    bad_imu.angular_velocity.x = float("nan")
    imu_pub.publish(bad_imu)
    spin(ex, 0.5)
    errors = node.stats.errors
    assert errors["bad_radar"] == 2 and errors["empty_radar"] == 1 and errors["radar_subsampled"] == 1
    assert errors["bad_imu"] == 1
    assert node.pipeline.diagnostics().counters["radar_nonfinite_points"] >= 2
    # Old radar (stamps 10 s before the image) is outside the window: the model's own scale is used.
    client.publish_frame(frame.rgb, frame.camera, stamp + 10_000_000_000)
    assert client.wait_for(stamp + 10_000_000_000, ("depth",), 15, ex) is not None
    spin(ex, 0.5)
    assert node._last_result_info["scale_source"] == "model"
