"""depth_ros/config/depth_ros.rviz only displays topics that depth_ros publishes (or the camera input it reads)."""

from pathlib import Path

import yaml

from depth_ros.ros.depth_node import INPUT_TOPICS, OUTPUT_TOPICS
from depth_ros.ros.map_node import MAP_OUTPUT_TOPICS

RVIZ = Path(__file__).resolve().parents[1] / "depth_ros" / "config" / "depth_ros.rviz"


def _displays(items):
    for d in items:
        yield d
        yield from _displays(d.get("Displays", []))


def test_rviz_topics_are_published_by_the_node():
    content = yaml.safe_load(RVIZ.read_text())
    displays = list(_displays(content["Visualization Manager"]["Displays"]))
    topics = [d["Topic"]["Value"] for d in displays if "Topic" in d]
    assert len(topics) >= 6
    outputs = {"/" + t for t in OUTPUT_TOPICS + MAP_OUTPUT_TOPICS}
    for t in topics:
        assert t in outputs or t == "/camera/image_raw", f"{t} is neither published by the node nor its camera input"
    assert {"/depth/image", "/depth/confidence", "/points", "/points/obstacles", "/scan", "/map",
            "/map/points"} <= set(topics)
    map_display = next(d for d in displays if d.get("Topic", {}).get("Value") == "/map")
    assert map_display["Topic"]["Durability Policy"] == "Transient Local"  # as depth_map_node publishes it
    # Outputs are reliable (RViz's default); the camera input is best effort like a driver's.
    for d in displays:
        if "Topic" in d and d["Topic"]["Value"] in outputs:
            assert d["Topic"]["Reliability Policy"] == "Reliable"
    assert content["Visualization Manager"]["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    assert "image" in INPUT_TOPICS["depth_node"]


def test_nav2_example_observes_the_node_outputs():
    path = RVIZ.parent / "nav2_costmap_example.yaml"
    layer = yaml.safe_load(path.read_text())["local_costmap"]["local_costmap"]["ros__parameters"]["obstacle_layer"]
    sources = layer["observation_sources"].split()
    assert len(sources) == 2
    kinds = {layer[s]["data_type"]: layer[s]["topic"] for s in sources}
    assert kinds == {"PointCloud2": "/points/obstacles", "LaserScan": "/scan"}
    assert all(t.lstrip("/") in OUTPUT_TOPICS for t in kinds.values())
    scan = next(layer[s] for s in sources if layer[s]["data_type"] == "LaserScan")
    assert scan["inf_is_valid"] is True  # the scan uses REP-117 +inf for "clear"


def test_nav2_example_takes_the_map_as_the_global_static_layer():
    path = RVIZ.parent / "nav2_costmap_example.yaml"
    params = yaml.safe_load(path.read_text())["global_costmap"]["global_costmap"]["ros__parameters"]
    assert "static_layer" in params["plugins"]
    layer = params["static_layer"]
    assert layer["map_topic"] == "/map" and layer["map_subscribe_transient_local"] is True
    assert layer["map_topic"].lstrip("/") in MAP_OUTPUT_TOPICS
