"""depth_map_node on the ROS graph: depth + camera info + odometry in, occupancy grid and map points out,
the save service writes files that Open3D and a map_server-format reader load back.

The scene of test_mapping.py: a camera 0.5 m above the ground (odometry pose z = 0.5, camera_link on
base_link at the origin) looking along x at a wall 3.02 m ahead.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml

pytest.importorskip("open3d")

pytestmark = pytest.mark.ros
S = 1_000_000_000
WALL = 3.02


def test_depth_in_grid_and_points_out_and_the_map_saved(ros, tmp_path):
    import open3d as o3d
    from nav_msgs.msg import OccupancyGrid, Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_srvs.srv import Trigger
    from visualization_msgs.msg import Marker

    from depth_ros.core.camera import CameraModel
    from depth_ros.ros.conversions import camera_info_from_model, depth_to_image, make_header, read_fields
    from depth_ros.ros.map_node import MAP_QOS, DepthMapNode
    from depth_ros.ros.qos import OUTPUT_QOS

    node = DepthMapNode("depth_map_node", namespace="mapgraph", parameter_overrides=[
        Parameter("save_directory", value=str(tmp_path / "maps")), Parameter("publish_period", value=0.2),
        Parameter("grid.size", value=10.0), Parameter("grid.resolution", value=0.1),
        Parameter("mesh.enabled", value=True), Parameter("mesh.period", value=0.5),
        Parameter("mesh.max_triangles", value=500)])
    client = __import__("rclpy").create_node("mapgraph_client", namespace="mapgraph")
    grids, clouds, meshes = [], [], []
    client.create_subscription(Marker, "map/mesh", meshes.append, OUTPUT_QOS)
    client.create_subscription(OccupancyGrid, "map", grids.append, MAP_QOS)
    client.create_subscription(PointCloud2, "map/points", clouds.append, OUTPUT_QOS)
    depth_pub = client.create_publisher(Image, "depth/image", 10)
    info_pub = client.create_publisher(CameraInfo, "depth/camera_info", 10)
    odom_pub = client.create_publisher(Odometry, "odom", 10)
    save = client.create_client(Trigger, "depth_map_node/save_map")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(client)

    def spin_until(condition, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
            if condition():
                return True
        return False

    try:
        assert node.mapper is not None
        assert spin_until(lambda: depth_pub.get_subscription_count() and odom_pub.get_subscription_count(), 10)
        cam = CameraModel(160, 120, 120.0, 120.0, 79.5, 59.5)
        depth = np.full((120, 160), WALL, np.float32)
        for k in range(5):
            stamp = 10 * S + k * S // 10
            odom = Odometry(header=make_header(stamp, "odom"), child_frame_id="base_link")
            odom.pose.pose.position.z, odom.pose.pose.orientation.w = 0.5, 1.0
            odom_pub.publish(odom)
            spin_until(lambda: False, 0.05)
            header = make_header(stamp, "camera_optical")
            info_pub.publish(camera_info_from_model(cam, header))
            spin_until(lambda: False, 0.05)
            depth_pub.publish(depth_to_image(depth, header))
            spin_until(lambda: False, 0.2)
        assert spin_until(lambda: node.integrated >= 3 and grids and clouds and meshes, 10), (node.integrated,
                                                                                               node.errors)
        marker = meshes[-1]
        assert marker.type == Marker.TRIANGLE_LIST and marker.header.frame_id == "odom"
        corners = np.array([(p.x, p.y, p.z) for p in marker.points])
        # Simplified to the budget, three corners per triangle, all on the wall's plane.
        assert 10 * 3 <= len(corners) <= 500 * 3 and len(corners) % 3 == 0
        np.testing.assert_allclose(corners[:, 0], WALL, atol=0.03)

        grid_msg = grids[-1]
        assert grid_msg.header.frame_id == "odom" and grid_msg.info.resolution == pytest.approx(0.1)
        grid = np.array(grid_msg.data, np.int8).reshape(grid_msg.info.height, grid_msg.info.width)
        rows, cols = np.nonzero(grid == 100)
        x = grid_msg.info.origin.position.x + (cols + 0.5) * 0.1
        assert len(cols) and np.all(np.abs(x - WALL) < 0.1)
        assert (grid == 0).sum() > 50 and (grid == -1).sum() > 0.5 * grid.size
        pts = read_fields(clouds[-1], names=("x", "y", "z"))
        np.testing.assert_allclose(pts["x"], WALL, atol=0.03)  # the wall's plane
        assert np.all(np.abs(pts["z"] - 0.5) <= WALL * 59.5 / 120 + 0.1)

        assert save.wait_for_service(timeout_sec=5)
        future = save.call_async(Trigger.Request())
        assert spin_until(future.done, 30)
        assert future.result().success, future.result().message
    finally:
        executor.shutdown()
        node.destroy_node()
        client.destroy_node()

    folder = tmp_path / "maps"
    mesh = o3d.io.read_triangle_mesh(str(folder / "map.ply"))
    vertices = np.asarray(mesh.vertices)
    assert len(vertices) > 100 and np.allclose(vertices[:, 0], WALL, atol=0.03)
    meta = yaml.safe_load((folder / "map.yaml").read_text())
    assert meta["image"] == "map.pgm" and meta["resolution"] == pytest.approx(0.1) and meta["mode"] == "trinary"
    raw = (folder / "map.pgm").read_bytes()
    magic, size, maxval, pixels = raw.split(b"\n", 3)
    width, height = map(int, size.split())
    assert magic == b"P5" and maxval == b"255" and (width, height) == (grid.shape[1], grid.shape[0])
    image = np.frombuffer(pixels, np.uint8).reshape(height, width)[::-1]  # PGM rows run top-down
    np.testing.assert_array_equal(image == 0, grid == 100)
    np.testing.assert_array_equal(image == 254, grid == 0)
    assert meta["origin"][:2] == pytest.approx([grid_msg.info.origin.position.x, grid_msg.info.origin.position.y])
