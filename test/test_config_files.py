"""depth_ros/config/depth_ros.rviz only displays topics that depth_ros publishes (or the camera input it reads)."""

from pathlib import Path

import yaml

from depth_ros.ros.depth_node import INPUT_TOPICS, OUTPUT_TOPICS

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
    outputs = {"/" + t for t in OUTPUT_TOPICS}
    for t in topics:
        assert t in outputs or t == "/camera/image_raw", f"{t} is neither published by the node nor its camera input"
    assert {"/depth/image", "/depth/confidence", "/points", "/points/obstacles", "/scan"} <= set(topics)
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
