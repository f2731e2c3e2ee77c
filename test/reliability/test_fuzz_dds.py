"""Fuzz over DDS: a publisher process sends 2,000 valid and malformed messages of every input type
through Fast DDS to two running node processes (depth_node on raw images, radar_depth_node on
compressed images with radar, IMU and odometry). Afterwards both are alive, answer a valid frame
with depth and points, and their /diagnostics count the bad input by kind, without model or
internal errors. Seeded (dds_fuzz_publisher.py --seed), so the messages are the same every run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
NS = "dds_fuzz"
PER_TYPE = 2000
S = 1_000_000_000

# errors_* kinds that the malformed messages of each type can produce (an unusable message of a
# type is counted under one of these).
KINDS = {
    "Image": ("bad_image",),
    "CompressedImage": ("bad_image",),
    "CameraInfo": ("bad_camera_info", "camera_info_size"),
    "PointCloud2": ("bad_radar", "empty_radar"),
    "Imu": ("bad_imu",),
    "Odometry": ("bad_odom",),
}


def _diagnostics(client, executor, names: set[str], timeout: float) -> dict[str, dict[str, str]]:
    """The latest /diagnostics values of each node in `names` (by the status name)."""
    from diagnostic_msgs.msg import DiagnosticArray

    from depth_ros.ros.qos import DIAGNOSTICS_QOS

    latest: dict[str, dict[str, str]] = {}

    def store(msg: DiagnosticArray) -> None:
        for status in msg.status:
            for name in names:
                if status.name.split(":")[0].endswith(f"/{name}"):  # "<ns>/<node>: depth"
                    latest[name] = {kv.key: kv.value for kv in status.values} | {"_level": str(status.level)}

    sub = client.create_subscription(DiagnosticArray, "/diagnostics", store, DIAGNOSTICS_QOS)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and set(latest) != names:
        executor.spin_once(timeout_sec=0.05)
    latest.clear()
    end = time.monotonic() + 1.5  # a fresh message of each, after the answers below
    while time.monotonic() < end or set(latest) != names and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    client.destroy_subscription(sub)
    return latest


def test_malformed_messages_over_dds_are_counted_and_the_nodes_stay_up(ros, fastdepth_path, rgbd_frames, tmp_path):
    from rclpy.executors import SingleThreadedExecutor

    from depth_ros.ros.node_process import FrameClient, NodeProcess, node_command

    common = {"model": "fastdepth_tflite", "model_path": str(fastdepth_path), "diagnostics_period": 0.2}
    raw = node_command("depth_node", params=common, remaps={"__ns": f"/{NS}", "__node": "fuzz_raw"})
    compressed = node_command("radar_depth_node", remaps={"__ns": f"/{NS}", "__node": "fuzz_compressed"},
                              params={**common, "image_transport": "compressed", "imu.enabled": True,
                                      "odom.enabled": True, "radar.use_tf": False})
    with NodeProcess(raw, log_path=str(tmp_path / "raw.log")) as raw_node, \
            NodeProcess(compressed, log_path=str(tmp_path / "compressed.log")) as compressed_node:
        # A subscriber to the outputs, so that the nodes do the work (they skip frames nobody wants).
        client = FrameClient("dds_fuzz_client", namespace=NS)
        executor = SingleThreadedExecutor()
        executor.add_node(client)
        try:
            frame = rgbd_frames[0]
            assert client.handshake(frame.rgb, frame.camera, 30, executor, kinds=("depth", "points"))
            stop = threading.Event()

            def spin() -> None:
                while not stop.is_set():
                    executor.spin_once(timeout_sec=0.05)
                    with client._lock:
                        client.outputs.clear()

            spinner = threading.Thread(target=spin, daemon=True)
            spinner.start()
            started = time.monotonic()
            try:
                pub = subprocess.run([sys.executable, str(HERE / "dds_fuzz_publisher.py"), "--namespace", NS,
                                      "--per-type", str(PER_TYPE), "--seed", "7", "--subscribers-timeout", "60"],
                                     capture_output=True, text=True, timeout=180)
            finally:
                stop.set()
                spinner.join(5)
            assert pub.returncode == 0, pub.stderr[-2000:] + (tmp_path / "raw.log").read_text()[-2000:]
            report = json.loads(pub.stdout.strip().splitlines()[-1])
            print(f"\ndds fuzz: sent {report['sent']}, malformed {report['malformed']} "
                  f"({sum(report['malformed'].values())} of {sum(report['sent'].values())}) "
                  f"in {time.monotonic() - started:.0f} s")
            assert all(report["sent"][t] == PER_TYPE for t in KINDS)
            assert all(0 < report["malformed"][t] < PER_TYPE for t in KINDS)
            assert raw_node.alive() and compressed_node.alive()

            # Both still answer a valid frame with depth and points.
            stamp = 200 * S
            client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="cam")
            out = client.wait_for(stamp, ("depth", "points"), 15, executor)
            assert out is not None and out.points.width == frame.camera.width
            status = _diagnostics(client, executor, {"fuzz_raw", "fuzz_compressed"}, timeout=20)
        finally:
            executor.remove_node(client)
            client.destroy_node()
        assert raw_node.alive() and compressed_node.alive()

    assert set(status) == {"fuzz_raw", "fuzz_compressed"}, status
    for name, values in status.items():
        assert "errors_model" not in values and "errors_internal" not in values, (name, values)
    counted = {t: sum(int(status[node].get(f"errors_{k}", 0)) for node in status for k in kinds)
               for t, kinds in KINDS.items()}
    counted["Image"] = int(status["fuzz_raw"].get("errors_bad_image", 0))
    counted["CompressedImage"] = int(status["fuzz_compressed"].get("errors_bad_image", 0))
    print(f"dds fuzz: counted by the nodes {counted}")
    for t in KINDS:
        # Best-effort delivery may lose some; every type's bad messages must show up, none invented.
        # CameraInfo goes to both nodes; the others to one.
        limit = report["malformed"][t] * (2 if t == "CameraInfo" else 1)
        assert 0 < counted[t] <= limit, (t, counted[t], report["malformed"][t])
