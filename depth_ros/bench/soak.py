"""Soak: thousands of frames through a running depth node; memory growth, latency drift, errors.

The node runs as its own process (``depth_node``, FastDepth TFLite by default), exactly as
``ros2 run`` starts it. Frames are crops of the real RGB-D frames (160x120 by default, a set of
distinct crops cycled), each published with its CameraInfo; the next frame is sent when the
previous one's depth image, depth camera info and point cloud have come back (or after
``--timeout``). Reported:

* RSS of the node process (psutil) after the warm-up frames and at the end: rss_growth = end / warm;
* the p95 round-trip latency (publish -> point cloud received) of every window of ``--window``
  frames after the warm-up: p95_drift = median p95 of the last third of the windows / median p95
  of the first third (one window each when there are fewer than 3);
* errors: frames without complete outputs, outputs of the wrong size or stamp, errors the node
  itself counts on /diagnostics (errors_* values), and the node exiting.

Last line: ``RESULT soak_frames=<n> rss_growth=<end/warm> p95_drift=<last/first> errors=<n>``.
Targets (depth_ros.bench.targets): rss_growth <= 1.05, p95_drift <= 1.2, errors 0; the exit code is 1
when one is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from depth_ros.bench.targets import TARGETS
from depth_ros.cli import ArgumentParser
from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import DepthRosError, InvalidInputError
from depth_ros.datasets.rgbd import default_shared_dir, load_manifest
from depth_ros.optional import missing_dependency
from depth_ros.ros.dds import use_large_data_profile

TARGET_RSS_GROWTH = next(t.value for t in TARGETS["soak"] if t.key == "rss_growth")
TARGET_P95_DRIFT = next(t.value for t in TARGETS["soak"] if t.key == "p95_drift")


class NodeFailure(RuntimeError):
    """The node under test did not start or stopped answering."""


@dataclass
class SoakResult:
    """What a soak run measured (`run_soak`)."""

    frames: int = 0
    rss_warm: int = 0
    rss_end: int = 0
    window_p95_s: list[float] = field(default_factory=list)
    window_rss: list[int] = field(default_factory=list)
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)
    node_errors: dict[str, int] = field(default_factory=dict)

    @property
    def rss_growth(self) -> float:
        return self.rss_end / self.rss_warm if self.rss_warm else float("nan")

    @property
    def p95_drift(self) -> float:
        """Median p95 of the last third of the windows / that of the first third: a node that slows
        down with the frame count raises every late window, a burst of scheduler noise only one."""
        w = self.window_p95_s
        k = max(1, len(w) // 3)
        first, last = float(np.median(w[:k])) if w else 0.0, float(np.median(w[-k:])) if w else 0.0
        return last / first if first > 0 else float("nan")

    def result_line(self) -> str:
        return (f"RESULT soak_frames={self.frames} rss_growth={self.rss_growth:.3f} "
                f"p95_drift={self.p95_drift:.3f} errors={self.errors}")


def parse_size(text: str) -> tuple[int, int]:
    """"WxH" -> (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 160x120, got {text!r}") from None
    if not (16 <= w <= 640 and 16 <= h <= 480):
        raise argparse.ArgumentTypeError(f"size must be within 16x16 .. 640x480 (crops of 640x480 frames), got {text}")
    return w, h


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    shared = default_shared_dir()
    default_model = shared / "models" / "fastdepth_224_int8" / "fast_depth_224.tflite" if shared else None
    p = ArgumentParser(prog="depth-ros-bench soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=10_000,
                   help="frames measured after the warm-up (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=200,
                   help="frames sent first and not measured; the RSS baseline is taken after them "
                   "(default: %(default)s)")
    p.add_argument("--window", type=int, default=1000,
                   help="frames per latency window; one p95 per window (default: %(default)s)")
    p.add_argument("--size", type=parse_size, default=(160, 120), metavar="WxH",
                   help="size of the crops of the real 640x480 frames that are published (default: 160x120)")
    p.add_argument("--crops", type=int, default=64, help="distinct crops, cycled through (default: %(default)s)")
    p.add_argument("--model", default="fastdepth_tflite",
                   help="registered model name passed to the node (default: %(default)s)")
    p.add_argument("--model-path", default=str(default_model) if default_model else "",
                   help="weights of the model (default: the FastDepth TFLite in ../shared/models)")
    p.add_argument("--shared", type=Path, default=shared,
                   help="folder with data/rgbd/manifest.json (default: ../shared beside the checkout)")
    p.add_argument("--executable", default="depth_node", choices=("depth_node", "radar_depth_node"),
                   help="node executable to start (default: %(default)s)")
    p.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                   help="extra node parameter, repeatable, e.g. --param cloud_rgb:=false")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for one frame's outputs before counting an error (default: %(default)s)")
    p.add_argument("--startup-timeout", type=float, default=60.0,
                   help="seconds to wait for the node to start and answer (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the crop positions (default: %(default)s)")
    p.add_argument("--log", type=Path, default=None,
                   help="node log file (default: a temporary file, deleted when every target is met)")
    p.add_argument("--no-progress", action="store_true", help="do not show the progress bar on stderr")
    args = p.parse_args(argv)
    for name in ("frames", "window", "crops"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.warmup < 0 or args.timeout <= 0:
        p.error("--warmup must be >= 0 and --timeout > 0")
    if args.frames < args.window:
        p.error("--frames must be at least one --window (frames after the last full window are not in a p95)")
    return args


def make_crops(frames: list[Any], size: tuple[int, int], n: int, seed: int) -> list[tuple[np.ndarray, Any]]:
    """`n` (rgb, camera) crops of `size` from the frames, at seeded random positions."""

    w, h = size
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f = frames[i % len(frames)]
        x0 = int(rng.integers(0, f.camera.width - w + 1))
        y0 = int(rng.integers(0, f.camera.height - h + 1))
        cam = CameraModel(w, h, f.camera.fx, f.camera.fy, f.camera.cx - x0, f.camera.cy - y0)
        out.append((np.ascontiguousarray(f.rgb[y0:y0 + h, x0:x0 + w]), cam))
    return out


def _fresh_node_errors(client: Any, wait_s: float = 3.0) -> dict[str, int]:
    """The node's error counters from the next /diagnostics message (the latest one after `wait_s`)."""
    import rclpy  # noqa: PLC0415

    end = time.monotonic() + wait_s
    before = len(client.extra["/diagnostics"])
    while time.monotonic() < end and len(client.extra["/diagnostics"]) <= before:
        rclpy.spin_once(client, timeout_sec=0.1)
    return _node_errors(client.extra["/diagnostics"], "soak/")


def _node_errors(diag_msgs: list, node_name: str) -> dict[str, int]:
    for msg in reversed(diag_msgs):
        for status in msg.status:
            if status.name.startswith(node_name):
                return {kv.key[len("errors_"):]: int(kv.value) for kv in status.values if kv.key.startswith("errors_")}
    return {}


def run_soak(args: argparse.Namespace, log_path: Path, out=print) -> SoakResult:
    """Start the node, feed the frames, measure; `NodeFailure` when the node never answers."""
    try:
        import psutil  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc, "the soak benchmark") from exc
    import rclpy  # noqa: PLC0415
    from diagnostic_msgs.msg import DiagnosticArray  # noqa: PLC0415

    from depth_ros.ros.node_process import FrameClient, NodeProcess, node_command  # noqa: PLC0415

    frames = load_manifest(args.shared / "data" / "rgbd" / "manifest.json")
    frames = [f for f in frames if f.camera.width >= args.size[0] and f.camera.height >= args.size[1]]
    if not frames:
        raise InvalidInputError(f"no frame in {args.shared} is at least {args.size[0]}x{args.size[1]}")
    crops = make_crops(frames, args.size, args.crops, args.seed)
    params: dict[str, Any] = {"model": args.model, "model_path": args.model_path}
    for item in args.param:
        key, sep, value = item.partition(":=")
        if not sep or not key:
            raise InvalidInputError(f"--param needs NAME:=VALUE, got {item!r}")
        params[key] = value
    cmd = node_command(args.executable, params=params, remaps={"__ns": "/soak"})
    out(f"starting: {' '.join(cmd)}  (log: {log_path})")
    result = SoakResult()
    rclpy.init()
    client = FrameClient("soak_client", namespace="soak", extra_topics={"/diagnostics": DiagnosticArray})
    w, h = args.size
    try:
        with NodeProcess(cmd, log_path=str(log_path)) as node:
            rgb, cam = crops[0]
            deadline = time.monotonic() + args.startup_timeout
            while node.alive() and time.monotonic() < deadline and not client.wait_for_subscribers(0.2):
                pass
            if not node.alive() or client.image_pub.get_subscription_count() == 0:
                raise NodeFailure(f"{args.executable} did not start")
            if not client.handshake(rgb, cam, args.startup_timeout, kinds=("depth", "info", "points")):
                raise NodeFailure(f"{args.executable} does not answer")
            # Frames of the handshake may reach the node before its CameraInfo subscription has matched
            # (DDS discovery); the node rightly counts those, but they are not errors of the soak.
            baseline = _fresh_node_errors(client)
            proc = psutil.Process(node.pid)
            total = args.warmup + args.frames
            latencies = np.full(args.frames, np.nan)
            stamp0 = 1_700_000_000 * 1_000_000_000
            bar = tqdm(total=total, unit="frame", desc="soak", disable=args.no_progress, file=sys.stderr)
            for i in range(total):
                if i == args.warmup:
                    result.rss_warm = proc.memory_info().rss
                if not node.alive():
                    result.errors += total - i
                    result.error_messages.append(f"frame {i}: node exited with code {node.proc.returncode}")
                    break
                rgb, cam = crops[i % len(crops)]
                stamp = stamp0 + i * 33_333_333
                sent = client.publish_frame(rgb, cam, stamp, frame_id="camera_optical_frame")
                got = client.wait_for(stamp, ("depth", "info", "points"), args.timeout)
                client.outputs.pop(stamp, None)
                if got is None:
                    result.errors += 1
                    result.error_messages.append(f"frame {i}: no complete output within {args.timeout} s")
                elif (got.depth.width, got.depth.height, got.points.width, got.points.height) != (w, h, w, h):
                    result.errors += 1
                    result.error_messages.append(f"frame {i}: output size {got.depth.width}x{got.depth.height}")
                elif i >= args.warmup:
                    latencies[i - args.warmup] = max(got.received.values()) - sent
                    result.frames += 1
                done = i + 1 - args.warmup
                if done > 0 and done % args.window == 0:
                    window = latencies[done - args.window:done]
                    result.window_p95_s.append(float(np.nanpercentile(window, 95)) if np.isfinite(window).any()
                                               else float("nan"))
                    result.window_rss.append(proc.memory_info().rss)
                    bar.set_postfix(p95_ms=f"{1e3 * result.window_p95_s[-1]:.1f}",
                                    rss_mb=f"{result.window_rss[-1] / 2**20:.0f}")
                for msgs in client.extra.values():
                    del msgs[:-10]
                bar.update()
            bar.close()
            if node.alive():
                result.rss_end = proc.memory_info().rss
                counted = _fresh_node_errors(client)
                result.node_errors = {k: v - baseline.get(k, 0) for k, v in counted.items() if v > baseline.get(k, 0)}
                result.errors += sum(result.node_errors.values())
    finally:
        client.destroy_node()
        rclpy.try_shutdown()
    return result


def report(result: SoakResult, args: argparse.Namespace, out=print) -> bool:
    """Print the measurements; True when every target is met."""
    mb = 2**20
    out(f"node RSS after {args.warmup} warm-up frames: {result.rss_warm / mb:.1f} MiB, at the end: "
        f"{result.rss_end / mb:.1f} MiB")
    for k, (p95, rss) in enumerate(zip(result.window_p95_s, result.window_rss)):
        out(f"window {k + 1:3d} (frames {k * args.window + 1}-{(k + 1) * args.window}): p95 latency "
            f"{1e3 * p95:7.2f} ms, RSS {rss / mb:7.1f} MiB")
    out(f"errors: {result.errors}" + (f" (node counters {result.node_errors})" if result.node_errors else ""))
    for message in result.error_messages[:10]:
        out(f"  {message}")
    checks = {"rss_growth": (result.rss_growth, TARGET_RSS_GROWTH), "p95_drift": (result.p95_drift, TARGET_P95_DRIFT)}
    ok = result.errors == 0 and result.frames == args.frames
    for name, (value, target) in checks.items():
        met = bool(value <= target)
        ok &= met
        out(f"{name} = {value:.3f} (target <= {target}): {'met' if met else 'MISSED'}")
    out(result.result_line())
    return ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prog = "bench soak"
    manifest = args.shared / "data" / "rgbd" / "manifest.json" if args.shared else None
    if manifest is None or not manifest.is_file():
        print(f"{prog}: RGB-D manifest not found: '{manifest}'; pass --shared", file=sys.stderr)
        return 2
    if not args.model_path:
        print(f"{prog}: no model weights; pass --model-path", file=sys.stderr)
        return 2
    if not Path(args.model_path).exists():
        print(f"{prog}: model weights not found: '{args.model_path}'", file=sys.stderr)
        return 2
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

    use_large_data_profile()
    log_path = args.log or Path(tempfile.mkstemp(prefix="soak_node_", suffix=".log")[1])
    try:
        result = run_soak(args, log_path)
    except DepthRosError as exc:  # bad input before the node ran: its (empty) log is of no use
        print(f"{prog}: {exc}", file=sys.stderr)
        if args.log is None:
            log_path.unlink(missing_ok=True)
        return 1
    except NodeFailure as exc:
        print(f"{prog}: {exc}: {_last_error_line(log_path)}", file=sys.stderr)
        return 1
    ok = report(result, args)
    if ok and args.log is None:
        log_path.unlink(missing_ok=True)
    return 0 if ok else 1


def _last_error_line(log_path: Path) -> str:
    """The node's last ERROR/FATAL line (or its last line), to say why it did not start."""
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"see {log_path}"
    errors = [ln for ln in lines if "[ERROR]" in ln or "[FATAL]" in ln
              or ln.startswith(("depth_node:", "radar_depth_node:"))]
    return (errors or lines or [f"see {log_path}"])[-1]


if __name__ == "__main__":
    sys.exit(main())
