"""depth-ros-simulate: bag contents, rates, reproducibility, side files, --from-rgbd, errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from depth_ros.bags.io import open_bag
from depth_ros.ros.conversions import image_to_depth_m, image_to_rgb, read_fields
from depth_ros.tools.simulate import main

EPOCH_NS = 1_700_000_000 * 10**9
TYPES = {
    "/camera/image_raw": "sensor_msgs/msg/Image",
    "/camera/camera_info": "sensor_msgs/msg/CameraInfo",
    "/camera/depth/ground_truth": "sensor_msgs/msg/Image",
    "/radar/points": "sensor_msgs/msg/PointCloud2",
    "/imu/data": "sensor_msgs/msg/Imu",
    "/tf_static": "tf2_msgs/msg/TFMessage",
    "/odom": "nav_msgs/msg/Odometry",
    "/tf": "tf2_msgs/msg/TFMessage",
    "/ground_truth/pose": "geometry_msgs/msg/PoseStamped",
}
SMALL = ["--seconds", "2", "--width", "96", "--height", "72", "--no-progress"]


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    out = {}
    for name, args in (("a", ["--scene", "yard", "--seed", "3"]), ("b", ["--scene", "yard", "--seed", "3"]),
                       ("c", ["--scene", "yard", "--seed", "4"])):
        bag = root / name / "bag"
        assert main([*args, *SMALL, "--out", str(bag)]) == 0
        out[name] = bag
    return out


def _raw(bag: Path, topic: str) -> list[bytes]:
    with open_bag(bag) as r:
        return [m.data for m in r.raw_messages(topic)]


def test_topics_types_rates_and_frames(bags):
    with open_bag(bags["a"]) as r:
        topics = r.topics
        assert {t: i.msgtype for t, i in topics.items()} == TYPES
        counts = {t: i.count for t, i in topics.items()}
        assert counts == {"/camera/image_raw": 20, "/camera/camera_info": 20, "/camera/depth/ground_truth": 20,
                          "/radar/points": 30, "/imu/data": 401, "/tf_static": 1, "/odom": 101, "/tf": 101,
                          "/ground_truth/pose": 101}
        stamps: dict[str, list[int]] = {t: [] for t in TYPES}
        last = -1
        for m in r.messages():
            assert m.timestamp_ns >= last
            last = m.timestamp_ns
            if m.topic == "/tf_static":
                assert m.timestamp_ns == EPOCH_NS
                pairs = {(t.header.frame_id, t.child_frame_id) for t in m.msg.transforms}
                assert pairs == {("base_link", "camera_link"), ("camera_link", "camera_optical_frame"),
                                 ("camera_link", "radar_link"), ("camera_link", "imu_link")}
                continue
            if m.topic == "/tf":
                (t,) = m.msg.transforms
                assert (t.header.frame_id, t.child_frame_id) == ("odom", "base_link")
                stamps[m.topic].append(m.timestamp_ns)
                continue
            h = m.msg.header
            assert h.stamp.sec * 10**9 + h.stamp.nanosec == m.timestamp_ns
            stamps[m.topic].append(m.timestamp_ns)
            frame = {"/radar/points": "radar_link", "/imu/data": "imu_link", "/odom": "odom",
                     "/ground_truth/pose": "odom"}.get(m.topic, "camera_optical_frame")
            assert h.frame_id == frame
            if m.topic == "/camera/image_raw":
                assert m.msg.encoding == "rgb8" and image_to_rgb(m.msg).shape == (72, 96, 3)
            elif m.topic == "/camera/depth/ground_truth":
                assert m.msg.encoding == "32FC1"
                d = image_to_depth_m(m.msg)
                assert np.isfinite(d).mean() > 0.3 and np.nanmax(d) <= 40.0
            elif m.topic == "/camera/camera_info":
                assert m.msg.distortion_model == "plumb_bob" and m.msg.d[0] == pytest.approx(-0.05)
            elif m.topic == "/radar/points":
                names = [f.name for f in m.msg.fields]
                assert names == ["x", "y", "z", "snr", "doppler"]
                assert all(f.datatype == 7 for f in m.msg.fields)  # FLOAT32
                assert 20 <= m.msg.width <= 60
                fields = read_fields(m.msg, ["x", "snr"])
                assert all(np.isfinite(v).all() for v in fields.values())
            elif m.topic == "/imu/data":
                assert m.msg.orientation_covariance[0] == -1.0
                assert m.msg.angular_velocity_covariance[0] > 0 and m.msg.linear_acceleration_covariance[0] > 0
    assert stamps["/camera/image_raw"] == stamps["/camera/camera_info"] == stamps["/camera/depth/ground_truth"]
    for topic, hz in (("/camera/image_raw", 10), ("/radar/points", 15), ("/imu/data", 200)):
        np.testing.assert_allclose(np.diff(stamps[topic]), 1e9 / hz, atol=1)
    assert stamps["/camera/image_raw"][0] == EPOCH_NS


def test_side_files(bags):
    folder = bags["a"].parent
    world = yaml.safe_load((folder / "world.yaml").read_text())
    assert world["scene"] == "yard" and world["seed"] == 3
    assert world["camera"]["width"] == 96 and world["camera"]["distortion_model"] == "plumb_bob"
    assert 0.3 <= world["camera_height"] <= 1.5
    assert set(world["extrinsics"]) == {"base_link_to_camera_link", "camera_link_to_camera_optical_frame",
                                       "camera_link_to_radar_link", "camera_link_to_imu_link"}
    assert world["topics"]["depth_gt"] == "/camera/depth/ground_truth"
    assert world["frame_ids"]["radar"] == "radar_link"
    params = yaml.safe_load((folder / "radar_depth_node.params.yaml").read_text())
    p = params["/**/radar_depth_node"]["ros__parameters"]
    assert p["radar"]["translation"] == world["extrinsics"]["camera_link_to_radar_link"]["translation"]
    assert p["radar"]["rotation_rpy"] == world["extrinsics"]["camera_link_to_radar_link"]["rotation_rpy"]
    assert p["imu"]["rotation_rpy"] == world["extrinsics"]["camera_link_to_imu_link"]["rotation_rpy"]
    assert len(p["imu"]["translation"]) == 3
    assert p["ground"]["camera_height"] == world["camera_height"]
    # ROS 2 parameter arrays must not mix ints and doubles.
    for v in (p["radar"]["translation"], p["radar"]["rotation_rpy"], p["imu"]["translation"], p["imu"]["rotation_rpy"]):
        assert all(isinstance(x, float) for x in v)
    assert abs(np.linalg.norm(p["radar"]["translation"]) - 0.10) < 0.03  # beside the camera
    assert abs(p["imu"]["rotation_rpy"][2]) > 1.0  # the IMU is mounted turned


def test_same_seed_same_bytes_other_seed_differs(bags):
    a, b, c = (_raw(bags[k], "/camera/image_raw") for k in "abc")
    assert a == b
    assert a != c
    assert _raw(bags["a"], "/radar/points") == _raw(bags["b"], "/radar/points")
    assert _raw(bags["a"], "/imu/data") == _raw(bags["b"], "/imu/data")


def test_sqlite3_storage(tmp_path):
    bag = tmp_path / "bag"
    assert main(["--scene", "hall", "--seed", "1", "--seconds", "0.3", "--width", "32", "--height", "24",
                 "--storage", "sqlite3", "--no-progress", "--out", str(bag)]) == 0
    assert list(bag.glob("*.db3"))
    with open_bag(bag) as r:
        assert r.topics["/camera/image_raw"].count == 3


def test_from_rgbd(tmp_path, shared_dir):
    manifest = shared_dir / "data" / "rgbd" / "manifest.json"
    if not manifest.is_file():
        pytest.skip(f"{manifest} is missing")
    from depth_ros.datasets.rgbd import load_manifest

    bag = tmp_path / "rgbd"
    assert main(["--from-rgbd", str(manifest), "--out", str(bag), "--no-progress"]) == 0
    frames = load_manifest(manifest)
    with open_bag(bag) as r:
        imgs = list(r.messages("/camera/image_raw"))
        depths = list(r.messages("/camera/depth/ground_truth"))
        assert len(imgs) == len(depths) == 12
        assert r.topics["/radar/points"].count == 12 and r.topics["/camera/camera_info"].count == 12
        assert [m.timestamp_ns for m in imgs] == [m.timestamp_ns for m in depths]
        np.testing.assert_allclose(np.diff([m.timestamp_ns for m in imgs]), 1e8, atol=1)
        np.testing.assert_array_equal(image_to_rgb(imgs[4].msg), frames[4].rgb)
        np.testing.assert_array_equal(image_to_depth_m(depths[4].msg), frames[4].depth)
        # At rest: the accelerometer averages to gravity.
        acc = np.array([[m.msg.linear_acceleration.x, m.msg.linear_acceleration.y, m.msg.linear_acceleration.z]
                        for m in r.messages("/imu/data")])
        assert abs(np.linalg.norm(acc.mean(axis=0)) - 9.80665) < 0.15
    params = yaml.safe_load((tmp_path / "radar_depth_node.params.yaml").read_text())
    assert params["/**/radar_depth_node"]["ros__parameters"]["ground"]["camera_height"] == 0.0


@pytest.mark.parametrize("args,needle", [
    (["--scene", "hall", "--from-rgbd", "x.json"], "not allowed with"),
    (["--from-rgbd", "/nonexistent/manifest.json"], "no such manifest"),
    (["--scene", "mars"], "invalid choice"),
    (["--scene", "hall", "--seconds", "-1"], "--seconds"),
    (["--scene", "hall", "--radar-hz", "0"], "--radar-hz"),
    (["--scene", "hall", "--width", "2"], "--width"),
])
def test_bad_arguments_exit_1_with_one_line(tmp_path, capsys, args, needle):
    with pytest.raises(SystemExit) as exc:
        main([*args, "--out", str(tmp_path / "bag")])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and err.startswith("depth-ros-simulate: error:")
    assert not (tmp_path / "bag").exists()


def test_existing_out_is_refused(tmp_path, capsys):
    (tmp_path / "bag").mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["--scene", "hall", "--out", str(tmp_path / "bag")])
    assert exc.value.code == 1 and "exists" in capsys.readouterr().err


def test_help_lists_every_option():
    out = subprocess.run([sys.executable, "-m", "depth_ros.tools.simulate", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    for opt in ("--scene", "--from-rgbd", "--out", "--seconds", "--seed", "--width", "--height", "--camera-hz",
                "--radar-hz", "--imu-hz", "--storage", "--meta-dir", "--no-progress"):
        assert opt in out.stdout


def test_odometry_starts_at_the_true_pose_and_drifts_like_wheels(bags):
    """/odom and /ground_truth/pose at the same stamps: equal at the start, apart by a few % of the
    distance driven at the end; the odometry twist integrates to its own poses."""
    with open_bag(bags["a"]) as r:
        odom = [m.msg for m in r.messages(["/odom"])]
        truth = [m.msg for m in r.messages(["/ground_truth/pose"])]
    xy = lambda p: np.array([p.position.x, p.position.y])  # noqa: E731
    odo = np.array([xy(m.pose.pose) for m in odom])
    gt = np.array([xy(m.pose) for m in truth])
    assert odom[0].child_frame_id == "base_link"
    np.testing.assert_allclose(odo[0], gt[0], atol=1e-9)
    driven = np.linalg.norm(np.diff(gt, axis=0), axis=1).sum()
    assert driven > 0.05  # 2 s from rest
    error = np.linalg.norm(odo[-1] - gt[-1])
    assert 0 < error < 0.1 * driven
    speed = np.array([m.twist.twist.linear.x for m in odom[1:]])
    steps = np.linalg.norm(np.diff(odo, axis=0), axis=1)
    np.testing.assert_allclose(steps, np.abs(speed) * 0.02, rtol=1e-6, atol=1e-9)
