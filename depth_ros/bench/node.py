"""The depth node on the real ROS 2 graph (separate processes) against a minimal relay node.

1. Latency: an image (640x480 rgb8) is published and the time until its depth arrives is measured,
   one frame at a time, for depth_node (FastDepth TFLite) and for a relay node that subscribes to
   Image and publishes a same-size 32FC1 Image and nothing else. node_overhead = (node latency -
   the model's own predict time, measured in this process on the same frame) / relay latency.
2. Rate: frames are fed at 30 Hz for 60 s; the output rate is compared with min(input rate, model
   capacity) (out_rate_ratio), p95 latency of the last 10 s with that of the first 10 s (backlog),
   and the drops the node counts (from /diagnostics) are reported.
3. Memory: peak RSS (VmHWM) of the node process with the TFLite model (torch must not be imported)
   and with the Depth Anything V2 small architecture through torch (random weights saved locally).

Last line: ``RESULT node_overhead=... out_rate_ratio=... rss_tflite_mb=... rss_torch_mb=...``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from depth_ros.cli import ArgumentParser
from depth_ros.datasets.rgbd import default_shared_dir, load_manifest
from depth_ros.models.registry import load_model
from depth_ros.ros.dds import use_large_data_profile

RELAY_CODE = """
import sys, numpy as np, rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image
from depth_ros.ros.conversions import depth_to_image
from depth_ros.ros.qos import OUTPUT_QOS, SENSOR_QOS
rclpy.init(args=sys.argv)
node = Node("relay")
pub = node.create_publisher(Image, "depth/image", OUTPUT_QOS)
buf = np.zeros((480, 640), np.float32)
node.create_subscription(Image, "image", lambda m: pub.publish(depth_to_image(buf, m.header)), SENSOR_QOS)
try:
    rclpy.spin(node)
except Exception:
    pass
"""


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def modules_loaded(pid: int, name: str) -> bool:
    """True when the process has mapped a shared library of `name` (e.g. torch's libtorch)."""
    try:
        return any(name in line for line in Path(f"/proc/{pid}/maps").read_text().splitlines())
    except OSError:
        return False


def latency_run(client, stamps: range, rgb, camera, timeout: float = 10.0) -> list[float]:
    out = []
    for stamp in stamps:
        sent = client.publish_frame(rgb, camera, stamp)
        got = client.wait_for(stamp, ("depth",), timeout)
        if got is not None:
            out.append(got.received["depth"] - sent)
    return out


def feed(client, rgb, camera, hz: float, seconds: float, start_stamp: int) -> tuple[list[tuple[float, float]], int]:
    """Publish at `hz` for `seconds` (timer thread) while spinning; returns (send time, latency) pairs."""
    import rclpy  # noqa: PLC0415

    sent: dict[int, float] = {}
    n = int(hz * seconds)
    done = threading.Event()

    def publisher():
        t0 = time.monotonic()
        for k in range(n):
            target = t0 + k / hz
            time.sleep(max(0.0, target - time.monotonic()))
            sent[start_stamp + k] = client.publish_frame(rgb, camera, start_stamp + k)
        done.set()

    th = threading.Thread(target=publisher, daemon=True)
    th.start()
    received: dict[int, float] = {}
    end_after = None
    while True:
        rclpy.spin_once(client, timeout_sec=0.01)
        # Keep arrival times only: 1,800 stored depth images would grow this process by 2 GB and
        # slow it down towards the end of the run, which would read as a backlog in the node.
        received.update(client.pop_received("depth"))
        if done.is_set():
            end_after = end_after or time.monotonic() + 2.0
            if time.monotonic() > end_after:
                break
    received.update(client.pop_received("depth"))
    pairs = [(t, received[stamp] - t) for stamp, t in sent.items() if stamp in received]
    return sorted(pairs), n


def run(shared: Path, seconds: float = 60.0, hz: float = 30.0, frames: int = 60, torch_rss: bool = True,
        out=print) -> dict:
    import rclpy  # noqa: PLC0415

    from depth_ros.ros.node_process import FrameClient, NodeProcess, node_command  # noqa: PLC0415

    use_large_data_profile()
    frame = load_manifest(shared / "data" / "rgbd" / "manifest.json")[0]
    model_path = shared / "models" / "fastdepth_224_int8" / "fast_depth_224.tflite"
    model = load_model("fastdepth_tflite", path=str(model_path))
    for _ in range(5):
        model.predict(frame.rgb)
    predict_s = []
    for _ in range(50):
        t0 = time.perf_counter()
        model.predict(frame.rgb)
        predict_s.append(time.perf_counter() - t0)
    model_ms = 1e3 * float(np.median(predict_s))
    results: dict = {"model_ms": model_ms}
    rclpy.init()
    try:
        # 1. relay vs node latency, one frame at a time
        client = FrameClient("bench_client", namespace="bench_relay", want_points=False)
        with NodeProcess([sys.executable, "-c", RELAY_CODE, "--ros-args", "-r", "__ns:=/bench_relay"]):
            if not client.handshake(frame.rgb, frame.camera, 30):
                raise RuntimeError("the relay node did not answer")
            relay = latency_run(client, range(1000, 1000 + frames), frame.rgb, frame.camera)
        client.destroy_node()
        from diagnostic_msgs.msg import DiagnosticArray  # noqa: PLC0415

        client = FrameClient("bench_client", namespace="bench_node", want_points=False,
                             extra_topics={"/diagnostics": DiagnosticArray})
        cmd = node_command("depth_node", params={"model_path": str(model_path), "model": "fastdepth_tflite",
                                                  "diagnostics_period": 1.0},
                           remaps={"__ns": "/bench_node"})
        with NodeProcess(cmd) as proc:
            if not client.handshake(frame.rgb, frame.camera, 60):
                raise RuntimeError("depth_node did not answer")
            node_lat = latency_run(client, range(2000, 2000 + frames), frame.rgb, frame.camera)
            node_model_ms = _diagnostic(client, "inference_ms_mean")
            # 2. 30 Hz for `seconds`
            pairs, n_sent = feed(client, frame.rgb, frame.camera, hz, seconds, 10_000)
            results["rss_tflite_mb"] = peak_rss_mb(proc.pid)
            results["torch_in_tflite_node"] = modules_loaded(proc.pid, "libtorch")
        client.destroy_node()
        relay_ms, node_ms = 1e3 * float(np.median(relay)), 1e3 * float(np.median(node_lat))
        # The model's own time as the node measured it (same process, same moment) where available.
        model_in_node = node_model_ms if np.isfinite(node_model_ms) else model_ms
        results.update(relay_ms=relay_ms, node_ms=node_ms, model_in_node_ms=model_in_node,
                       node_overhead=(node_ms - model_in_node) / relay_ms)
        t_first = pairs[0][0] if pairs else 0.0
        lat_first = [lat for t, lat in pairs if t - t_first < 10.0]
        lat_last = [lat for t, lat in pairs if t - t_first >= seconds - 10.0]
        capacity = 1e3 / model_ms
        expected = min(hz, capacity)
        out_rate = len(pairs) / seconds
        results.update(out_rate_hz=out_rate, expected_rate_hz=expected, out_rate_ratio=out_rate / expected,
                       sent=n_sent, received=len(pairs), dropped=n_sent - len(pairs),
                       p95_first_ms=1e3 * float(np.percentile(lat_first, 95)) if lat_first else float("nan"),
                       p95_last_ms=1e3 * float(np.percentile(lat_last, 95)) if lat_last else float("nan"),
                       p50_first_ms=1e3 * float(np.median(lat_first)) if lat_first else float("nan"),
                       p50_last_ms=1e3 * float(np.median(lat_last)) if lat_last else float("nan"),
                       trend_ms_per_min=_trend_ms_per_min(pairs))
        # 3. RSS with Depth Anything V2 small through torch
        results["rss_torch_mb"] = _torch_rss(frame) if torch_rss else float("nan")
    finally:
        rclpy.shutdown()
    r = results
    out(f"model predict (640x480 -> 224 -> 640x480, this process): {r['model_ms']:.2f} ms")
    out(f"latency median: relay {r['relay_ms']:.2f} ms, depth_node {r['node_ms']:.2f} ms, model inside the node "
        f"{r['model_in_node_ms']:.2f} ms -> overhead (node - model) / relay = {r['node_overhead']:.2f}")
    out(f"{hz:g} Hz for {seconds:g} s: sent {r['sent']}, depth received {r['received']} ({r['out_rate_hz']:.1f} Hz; "
        f"expected min(input, capacity) = {r['expected_rate_hz']:.1f} Hz), not answered {r['dropped']}")
    out(f"p95 latency first 10 s {r['p95_first_ms']:.1f} ms, last 10 s {r['p95_last_ms']:.1f} ms; median "
        f"{r['p50_first_ms']:.1f} -> {r['p50_last_ms']:.1f} ms; linear trend {r['trend_ms_per_min']:+.2f} ms per minute "
        f"(a backlog would add {1e3 / hz:.0f} ms per queued frame)")
    out(f"peak RSS: TFLite node {r['rss_tflite_mb']:.0f} MB (torch loaded: {r['torch_in_tflite_node']}), "
        f"Depth Anything V2 small (torch) node {r['rss_torch_mb']:.0f} MB")
    out(f"RESULT node_overhead={r['node_overhead']:.3f} out_rate_ratio={r['out_rate_ratio']:.3f} "
        f"rss_tflite_mb={r['rss_tflite_mb']:.0f} rss_torch_mb={r['rss_torch_mb']:.0f}")
    return results


def _trend_ms_per_min(pairs: list[tuple[float, float]]) -> float:
    """Slope of a least-squares line through latency over send time, in ms per minute."""
    if len(pairs) < 2:
        return float("nan")
    t, lat = np.array(pairs).T
    return float(np.polyfit(t - t[0], lat, 1)[0]) * 1e3 * 60.0


def _diagnostic(client, key: str) -> float:
    """The latest value of `key` in the node's /diagnostics (spinning up to 3 s for one)."""
    import rclpy  # noqa: PLC0415

    end = time.monotonic() + 3.0
    client.extra["/diagnostics"].clear()
    while time.monotonic() < end and not client.extra["/diagnostics"]:
        rclpy.spin_once(client, timeout_sec=0.05)
    for msg in reversed(client.extra["/diagnostics"]):
        for status in msg.status:
            for kv in status.values:
                if kv.key == key:
                    return float(kv.value)
    return float("nan")


def _torch_rss(frame) -> float:
    """Peak RSS of depth_node running the Depth Anything V2 small architecture (random weights)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config  # noqa: PLC0415

    from depth_ros.ros.node_process import FrameClient, NodeProcess, node_command  # noqa: PLC0415

    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, patch_size=14,
                            image_size=518, out_features=["stage9", "stage10", "stage11", "stage12"],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, fusion_hidden_size=64, neck_hidden_sizes=[48, 96, 192, 384],
                                 depth_estimation_type="relative")
    with tempfile.TemporaryDirectory() as tmp:
        DepthAnythingForDepthEstimation(config).save_pretrained(tmp)
        client = FrameClient("bench_torch_client", namespace="bench_torch", want_points=False)
        cmd = node_command("depth_node", params={"model": "depth_anything_v2_small", "model_path": tmp,
                                                  "num_threads": 2}, remaps={"__ns": "/bench_torch"})
        try:
            with NodeProcess(cmd) as proc:
                if not client.handshake(frame.rgb, frame.camera, 120):
                    return float("nan")
                latency_run(client, range(3000, 3003), frame.rgb, frame.camera, timeout=60)
                return peak_rss_mb(proc.pid)
        finally:
            client.destroy_node()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="depth-ros-bench node", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=None, help="shared data folder (default: ../shared beside the checkout)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the 30 Hz feed (default: %(default)s)")
    p.add_argument("--hz", type=float, default=30.0, help="input rate of the feed (default: %(default)s)")
    p.add_argument("--frames", type=int, default=60, help="frames for the one-at-a-time latency runs (default: %(default)s)")
    p.add_argument("--no-torch", action="store_true", help="skip the Depth Anything V2 (torch) memory measurement")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shared = args.shared or default_shared_dir()
    if shared is None or not (shared / "models" / "fastdepth_224_int8" / "fast_depth_224.tflite").is_file():
        print("bench node: the shared folder with the FastDepth model is missing; pass --shared PATH", file=sys.stderr)
        return 2
    run(shared, args.seconds, args.hz, args.frames, not args.no_torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
