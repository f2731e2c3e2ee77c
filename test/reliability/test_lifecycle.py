"""depth_node's managed lifecycle, driven through its lifecycle services on the real graph
(`<node>/change_state`, `<node>/get_state`, lifecycle_msgs) by a client node, with graph
introspection for what the node subscribes to and /rosout for what it logs."""

from __future__ import annotations

import shutil

import pytest

rclpy = pytest.importorskip("rclpy")
from graph_rig import Graph  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def graphs(make_graph):
    def make(namespace: str, params: dict, node_name: str = "depth_node") -> Graph:
        return make_graph(namespace, params, node_name, rosout=True)

    return make


def _answers(g: Graph, frame, stamp: int, timeout: float = 10.0) -> bool:
    """Publish one frame; True when its depth comes back."""
    g.client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="cam")
    return g.client.wait_for(stamp, ("depth",), timeout, g.executor) is not None


def test_configure_activate_deactivate_cleanup_through_the_services(graphs, fastdepth_path, rgbd_frames):
    g = graphs("lc", {"model": "fastdepth_tflite", "model_path": str(fastdepth_path), "autostart": False})
    frame = rgbd_frames[0]
    assert g.state() == "unconfigured"
    assert g.node.pipeline is None and g.publishers("depth/image") == 0

    # configure: model loaded, outputs advertised, nothing subscribed yet.
    assert g.transition("configure")
    assert g.state() == "inactive"
    assert g.node.pipeline is not None and g.node._model is not None
    assert g.spin_until(lambda: g.publishers("depth/image") == 1, 5)
    g.spin(0.5)  # time for a subscription, if one had been made, to show up on the graph
    assert g.subscribers("image") == 0 and g.subscribers("camera_info") == 0
    assert not _answers(g, frame, 10, timeout=1.0)

    # activate: subscriptions on the graph, depth published.
    assert g.transition("activate")
    assert g.state() == "active"
    assert g.spin_until(lambda: g.subscribers("image") == 1 and g.subscribers("camera_info") == 1, 10)
    assert g.client.handshake(frame.rgb, frame.camera, 15, g.executor)
    assert _answers(g, frame, 100)

    # deactivate: no subscriptions, a frame published now gives nothing.
    assert g.transition("deactivate")
    assert g.state() == "inactive"
    assert g.spin_until(lambda: g.subscribers("image") == 0, 10)
    frames_in = g.node.stats.input.total
    assert not _answers(g, frame, 200, timeout=1.5)
    assert g.node.stats.input.total == frames_in and g.node._worker is None

    # cleanup: model freed, outputs withdrawn.
    assert g.transition("cleanup")
    assert g.state() == "unconfigured"
    assert g.node.pipeline is None and g.node._model is None and g.node.feeder is None
    assert g.spin_until(lambda: g.publishers("depth/image") == 0, 5)

    # And the whole cycle works again.
    assert g.transition("configure") and g.transition("activate")
    assert g.state() == "active"
    assert g.spin_until(lambda: g.subscribers("image") == 1, 10)
    assert g.client.handshake(frame.rgb, frame.camera, 15, g.executor)
    assert _answers(g, frame, 300)
    assert g.transition("deactivate") and g.transition("cleanup") and g.transition("shutdown")
    assert g.state() == "finalized"


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "empty"])
def test_bad_weights_fail_configure_with_the_path_and_parameter_logged(graphs, fastdepth_path, tmp_path, damage):
    path = tmp_path / "model" / "fast_depth_224.tflite"
    path.parent.mkdir()
    good = fastdepth_path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 3])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 1000)
    elif damage == "empty":
        path.write_bytes(b"")
    g = graphs(f"bad_{damage}", {"model": "fastdepth_tflite", "model_path": str(path), "autostart": False})
    assert g.state() == "unconfigured"
    assert not g.transition("configure")
    assert g.state() == "unconfigured"
    assert g.node.pipeline is None and g.node._model is None
    assert g.spin_until(lambda: g.logs(Log.ERROR, str(path)), 5), [m.msg for m in g.rosout]
    (message,) = g.logs(Log.ERROR, str(path))
    assert "model_path" in message.msg and "\n" not in message.msg
    assert g.subscribers("image") == 0 and g.publishers("depth/image") == 0

    # Fixing the file on disk is enough: configure reads model_path again.
    shutil.copyfile(fastdepth_path, path)
    assert g.transition("configure") and g.transition("activate")
    assert g.state() == "active"


def test_autostart_walks_to_active(graphs, fastdepth_path, rgbd_frames):
    g = graphs("auto", {"model": "fastdepth_tflite", "model_path": str(fastdepth_path)}, node_name="radar_depth_node")
    assert g.state() == "active" and g.node.active
    assert g.spin_until(lambda: g.subscribers("image") == 1 and g.subscribers("radar/points") == 1, 10)
    frame = rgbd_frames[1]
    assert g.client.handshake(frame.rgb, frame.camera, 15, g.executor)


@pytest.mark.slow
def test_transitions_while_frames_flow(graphs, fastdepth_path, rgbd_frames):
    """Deactivate/activate and cleanup/configure while frames and diagnostics are in flight: no
    exception escapes the executor, no frame fails internally, and the node answers at the end."""
    import threading
    import time

    g = graphs("flow", {"model": "fastdepth_tflite", "model_path": str(fastdepth_path), "diagnostics_period": 0.1,
                        "queue_policy": "fifo",
                        "queue_size": 4})
    frame = rgbd_frames[2]
    assert g.client.handshake(frame.rgb, frame.camera, 15, g.executor)
    stop = threading.Event()

    def publish() -> None:
        stamp = 1000
        while not stop.is_set():
            stamp += 1
            g.client.publish_frame(frame.rgb, frame.camera, stamp * 10_000_000, frame_id="cam")
            time.sleep(0.01)

    feeder = threading.Thread(target=publish, daemon=True)
    feeder.start()
    try:
        for cycle in range(6):
            g.spin(0.15)
            assert g.transition("deactivate")
            g.spin(0.05)
            if cycle % 2:
                assert g.transition("cleanup") and g.transition("configure")
            assert g.transition("activate")
    finally:
        stop.set()
        feeder.join(5)
    assert g.state() == "active"
    assert g.node.stats.errors["internal"] == 0 and g.node.stats.errors["model"] == 0, dict(g.node.stats.errors)
    assert g.spin_until(lambda: g.subscribers("image") == 1, 10)
    assert g.client.handshake(frame.rgb, frame.camera, 15, g.executor)
