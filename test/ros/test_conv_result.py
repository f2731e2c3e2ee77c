"""result_messages: one result -> the node's messages, with the input image's header and the right frames."""

from __future__ import annotations

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.cloud import CloudBuilder
from depth_ros.core.laserscan import Scan
from depth_ros.core.obstacles import ObstacleCloud
from depth_ros.pipeline.pipeline import DepthResult
from depth_ros.ros.conversions import image_to_depth_m, make_header, read_fields
from depth_ros.ros.conversions.result import RESULT_TOPICS, result_messages

CAM = CameraModel(8, 6, 10.0, 10.0, 3.5, 2.5)
STAMP = 1_700_000_000_123_456_789


def _result(confidence: bool = True) -> DepthResult:
    depth = np.full((6, 8), 2.0, np.float32)
    depth[0, 0] = np.nan
    conf = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8) if confidence else None
    return DepthResult(depth, True, STAMP, "cam_optical", CAM, confidence=conf)


def test_every_output_carries_the_image_header_and_its_data():
    result = _result()
    header = make_header(STAMP, "cam_optical")
    cloud = CloudBuilder(rgb=False).build(result.depth, CAM, None, reuse=False)
    obstacles = ObstacleCloud(np.array([[0.0, 0.0, 2.0], [0.5, 0.0, 2.0]], np.float32), frame="gravity")
    scan = Scan(-0.5, 0.5, 0.5, np.array([2.0, np.inf, 3.0]), 0.1, 10.0, frame="camera")
    msgs = result_messages(result, header, RESULT_TOPICS, cloud, obstacles, scan,
                           gravity_frame_id="base_footprint", scan_frame_id="camera_link")
    assert set(msgs) == set(RESULT_TOPICS)
    for key in ("depth", "info", "confidence", "points"):
        assert msgs[key].header.frame_id == "cam_optical", key
        assert msgs[key].header.stamp.sec == STAMP // 10**9 and msgs[key].header.stamp.nanosec == STAMP % 10**9
    np.testing.assert_array_equal(image_to_depth_m(msgs["depth"]), result.depth)
    assert msgs["confidence"].encoding == "32FC1"
    np.testing.assert_array_equal(np.frombuffer(bytes(msgs["confidence"].data), np.float32).reshape(6, 8), result.confidence)
    assert (msgs["info"].width, msgs["info"].height, msgs["info"].k[0]) == (8, 6, 10.0)
    assert (msgs["points"].width, msgs["points"].height) == (8, 6)
    z = read_fields(msgs["points"], names=("z",))["z"]
    assert np.isnan(z[0]) and np.all(z[1:] == np.float32(2.0))
    # Obstacles in the gravity frame get that frame; a row-band scan the scan frame.
    assert msgs["obstacles"].header.frame_id == "base_footprint" and msgs["obstacles"].width == 2
    assert msgs["scan"].header.frame_id == "camera_link"
    assert msgs["scan"].ranges[0] == 2.0 and np.isinf(msgs["scan"].ranges[1]) and msgs["scan"].angle_increment == 0.5


def test_only_the_asked_outputs_and_none_without_their_data():
    result = _result(confidence=False)
    header = make_header(STAMP, "cam_optical")
    assert set(result_messages(result, header, {"depth", "confidence", "points"})) == {"depth"}
    result.camera = None
    assert set(result_messages(result, header, {"depth", "info"})) == {"depth"}
