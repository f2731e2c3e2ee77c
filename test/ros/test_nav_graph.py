"""Navigation outputs of depth_node on the real graph: LaserScan geometry against a hand-computed
wall, an obstacle cloud without the floor, and bad input (all-NaN depth, no gravity, empty result)."""

from __future__ import annotations

import math

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from graph_rig import spin  # noqa: E402
from raycast_scenes import LEVEL, cast  # noqa: E402
from sensor_msgs.msg import LaserScan, PointCloud2  # noqa: E402

from depth_ros.core.camera import CameraModel  # noqa: E402
from depth_ros.ros.conversions import read_fields  # noqa: E402

pytestmark = pytest.mark.ros
CAM = CameraModel(160, 120, 100.0, 100.0, 79.5, 59.5)
HEIGHT = 1.0


def wall_and_floor(wall=3.0):
    """Level camera 1 m above a floor, facing a wall 3 m ahead (optical z)."""
    return cast(CAM, LEVEL, HEIGHT, wall_x=wall).depth


@pytest.fixture
def graph(make_graph, fastdepth_path):
    """depth_node with obstacle cloud and LaserScan, its network replaced by `depth_fn`."""

    def make(depth_fn, **params):
        g = make_graph("nav", {"model": "fastdepth_tflite", "model_path": str(fastdepth_path),
                               "obstacles.enabled": True, "scan.enabled": True, "ground.camera_height": HEIGHT,
                               "min_depth": 0.1, "max_depth": 20.0, **params,
                               # the stand-in depth is the scene's own: no lens scaling, no mirrored average
                               "focal_normalise": False, "flip_average": False},
                       want_points=False, extra_topics={"scan": LaserScan, "points/obstacles": PointCloud2},
                       diagnostics=False)
        g.node.pipeline.model.predict = lambda rgb, prior=None: depth_fn()
        assert g.client.wait_for_subscribers(10, g.executor, g.client.info_pub)
        return g.node, g.client, g.executor

    return make


def run_frame(client, ex, stamp):
    rgb = np.zeros((CAM.height, CAM.width, 3), np.uint8)
    client.publish_frame(rgb, CAM, stamp, frame_id="cam_optical")
    assert client.wait_for(stamp, ("depth",), 10, ex) is not None
    spin(ex, 0.5)
    scans = [m for m in client.extra["scan"] if m.header.stamp.nanosec == stamp % 10**9]
    clouds = [m for m in client.extra["points/obstacles"] if m.header.stamp.nanosec == stamp % 10**9]
    return scans[-1] if scans else None, clouds[-1] if clouds else None


def test_scan_ranges_match_a_wall_and_floor_is_not_an_obstacle(graph):
    node, client, ex = graph(wall_and_floor, **{"mount.fixed_gravity": True, "scan.height_rows": 1})
    scan, cloud = run_frame(client, ex, 5_000_000_123)
    assert scan is not None and cloud is not None
    assert scan.header.frame_id == "camera_link" and len(scan.ranges) == CAM.width
    angles = scan.angle_min + scan.angle_increment * np.arange(len(scan.ranges))
    # A wall 3 m ahead: planar range of the beam at angle a is 3 / cos(a).
    # A wall 3 m ahead: column u sees planar range 3 * sqrt(1 + x_u^2) at angle -atan(x_u), x_u = (u - cx) / fx.
    # Beam k takes the nearest of the columns within half an increment of its angle, or, when none
    # falls there, the column nearest to it in angle (depthimage_to_laserscan's binning, gaps filled).
    x_u = (np.arange(CAM.width) - CAM.cx) / CAM.fx
    col_angle, col_range = -np.arctan(x_u), 3.0 * np.sqrt(1 + x_u**2)
    col_beam = np.rint((col_angle - scan.angle_min) / scan.angle_increment).astype(int)
    expected = np.array([col_range[col_beam == k].min() if (col_beam == k).any()
                         else col_range[np.abs(col_angle - a).argmin()] for k, a in enumerate(angles)])
    np.testing.assert_allclose(np.asarray(scan.ranges), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(scan.ranges), 3.0 / np.cos(angles), rtol=1e-2)
    assert scan.angle_min < 0 < scan.angle_max
    assert math.isclose(scan.angle_max, math.atan2(79.5, 100.0), rel_tol=0.02)
    pts = read_fields(cloud, ("x", "y", "z"))
    assert cloud.header.frame_id == "cam_optical" and cloud.height == 1 and len(pts["z"]) > 50
    # Everything left is the wall (z = 3), nothing of the floor (y = +1 m below the camera).
    np.testing.assert_allclose(pts["z"], 3.0, atol=0.05)
    assert pts["y"].max() < HEIGHT - 0.05 + 0.03


def test_all_nan_depth_gives_an_empty_cloud_and_no_return_scan(graph):
    node, client, ex = graph(lambda: np.full((CAM.height, CAM.width), 50.0, np.float32))  # beyond max_depth
    scan, cloud = run_frame(client, ex, 6_000_000_000)
    assert cloud is not None and cloud.width == 0
    # REP-117: invalid depth (NaN after range limits) -> NaN ranges.
    assert scan is not None and np.isnan(np.asarray(scan.ranges)).all()


def test_without_gravity_no_height_filter_is_applied(graph):
    node, client, ex = graph(wall_and_floor)  # no IMU, no fixed mount
    scan, cloud = run_frame(client, ex, 7_000_000_000)
    pts = read_fields(cloud, ("x", "y", "z"))
    assert pts["y"].max() > HEIGHT - 0.1  # floor points stay: nobody knows where down is
    assert node.stats.errors.get("internal", 0) == 0
