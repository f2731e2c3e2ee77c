"""depth-ros-demo: start depth_node on the ROS graph, feed it real RGB-D frames, check what comes out.

It runs the node as its own process (exactly as `ros2 run depth_ros depth_node` would), publishes
Image + CameraInfo for every frame of an RGB-D manifest, receives depth/image, depth/camera_info
and points, compares the depth with the ground truth and writes a preview image.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from depth_ros.tools.rgbd_dataset import default_shared_dir

    shared = default_shared_dir()
    default_model_path = shared / "models" / "fastdepth_224_int8" / "fast_depth_224.tflite" if shared else None
    default_manifest = shared / "data" / "rgbd" / "manifest.json" if shared else None
    p = argparse.ArgumentParser(
        prog="depth-ros-demo",
        description="Start depth_node as a ROS 2 process, publish real RGB-D frames to it, and check that metric "
        "depth and point clouds come back (with AbsRel against the ground truth).",
    )
    p.add_argument("--model", default="fastdepth_tflite", help="registered model name passed to the node (default: %(default)s)")
    p.add_argument("--model-path", default=str(default_model_path) if default_model_path else "",
                   help="weights file/directory for the model (default: the FastDepth TFLite in ../shared/models)")
    p.add_argument("--manifest", default=str(default_manifest) if default_manifest else "",
                   help="RGB-D manifest.json whose frames are published (default: ../shared/data/rgbd/manifest.json)")
    p.add_argument("--out", default="out/demo", help="folder for the preview PNG and the node log (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the node and for each frame's outputs")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.model_path:
        print("depth-ros-demo: no model weights found. Pass --model-path (e.g. the FastDepth TFLite file, or a local "
              "Depth Anything V2 directory with --model depth_anything_v2_small).", file=sys.stderr)
        return 2
    if not args.manifest or not Path(args.manifest).is_file():
        print(f"depth-ros-demo: RGB-D manifest not found: '{args.manifest}'. Pass --manifest.", file=sys.stderr)
        return 2
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    from depth_ros.ros.dds import use_large_data_profile

    use_large_data_profile()
    import rclpy
    from tqdm import tqdm

    from depth_ros.core.metrics import depth_metrics
    from depth_ros.ros.conversions import image_to_depth_m, read_fields
    from depth_ros.ros.node_process import FrameClient, NodeProcess, node_command
    from depth_ros.tools.preview import save_preview
    from depth_ros.tools.rgbd_dataset import load_manifest

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames = load_manifest(args.manifest)
    cmd = node_command("depth_node", params={"model": args.model, "model_path": args.model_path,
                                             "queue_policy": "fifo", "queue_size": 4})
    print(f"starting: {' '.join(cmd)}")
    rclpy.init()
    client = FrameClient()
    failures = []
    rows = []
    try:
        with NodeProcess(cmd, log_path=str(out / "depth_node.log")) as node:
            if not client.wait_for_subscribers(args.timeout):
                print(f"depth_node did not come up within {args.timeout:.0f} s; see {out / 'depth_node.log'}", file=sys.stderr)
                return 1
            if not client.handshake(frames[0].rgb, frames[0].camera, args.timeout):
                print(f"depth_node does not answer; see {out / 'depth_node.log'}", file=sys.stderr)
                return 1
            preview = None
            for i, frame in enumerate(tqdm(frames, desc="frames", unit="frame")):
                stamp = 1_700_000_000_000_000_000 + i * 100_000_000
                client.publish_frame(frame.rgb, frame.camera, stamp, frame_id="camera_optical_frame")
                got = client.wait_for(stamp, ("depth", "info", "points"), args.timeout)
                if got is None or not node.alive():
                    failures.append(f"{frame.id}: no output")
                    continue
                depth = image_to_depth_m(got.depth)
                pts = read_fields(got.points, ("x", "y", "z"))
                ok = (got.depth.encoding == "32FC1" and got.depth.header.frame_id == "camera_optical_frame"
                      and depth.shape == frame.depth.shape and got.points.height == frame.camera.height
                      and got.points.point_step == 32 and not got.points.is_dense)
                if not ok:
                    failures.append(f"{frame.id}: wrong output format")
                m = depth_metrics(depth, frame.depth)
                rows.append((frame.id, frame.set, m.absrel, m.delta1, int(np.isfinite(pts["z"]).sum())))
                if preview is None:
                    preview = save_preview(out / "preview.png", frame.rgb, frame.depth, depth, title=frame.id)
    finally:
        client.destroy_node()
        rclpy.shutdown()
    print(f"\n{'frame':<16}{'set':<22}{'AbsRel':>8}{'delta1':>8}{'points':>9}")
    for fid, fset, absrel, d1, npts in rows:
        print(f"{fid:<16}{fset:<22}{absrel:8.3f}{d1:8.3f}{npts:9d}")
    if rows:
        for s in sorted({r[1] for r in rows}):
            print(f"mean AbsRel {s:<22}{np.mean([r[2] for r in rows if r[1] == s]):.3f}")
        print(f"mean AbsRel over {len(rows)} frames: {np.mean([r[2] for r in rows]):.3f}")
    print(f"preview: {out / 'preview.png'}   node log: {out / 'depth_node.log'}")
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    return 1 if failures or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
