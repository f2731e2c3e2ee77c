"""depth-ros-demo: the README's main job, on a fresh machine, without downloads.

Default: generates (or reuses) a seeded sample bag of the synthetic camera + radar + IMU world,
starts radar_depth_node as its own process with compact_depth (shipped; trained on these worlds), plays the bag to it
over ROS 2, records what it publishes into an output bag, evaluates the published depth against
the ground truth, and prints the metrics table and where the report, preview and bag are.

--rgbd: instead, publishes the real RGB-D frames of ../shared/data/rgbd to depth_node (its default,
the shipped FastDepth) and checks that depth and points come back.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_ros.cli import ArgumentParser
from depth_ros.core.errors import DepthRosError, MissingDependencyError
from depth_ros.core.metrics import depth_metrics
from depth_ros.datasets.rgbd import default_shared_dir, load_manifest
from depth_ros.evaluation.preview import save_preview
from depth_ros.evaluation.run import run_evaluation
from depth_ros.package_data import config_file, package_sources, user_cache_dir
from depth_ros.ros.conversions import image_to_depth_m, read_fields
from depth_ros.ros.dds import use_large_data_profile
from depth_ros.ros.params import params_for
from depth_ros.tools.evaluate import parse_args as eval_args
from depth_ros.tools.simulate import main as simulate
from depth_ros.tools.view import parse_args as view_args
from depth_ros.view.run import run_view
from depth_ros.view.sdk import rerun


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    shared = default_shared_dir()
    p = ArgumentParser(prog="depth-ros-demo", description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scene", choices=("hall", "yard"), default="hall",
                   help="synthetic world of the sample bag (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the sample bag (default: %(default)s)")
    # compact_depth was trained on seeds 0-19 of both scenes: the demo shows a world it has not seen.
    p.add_argument("--seed", type=int, default=1007,
                   help="seed of the sample bag (default: %(default)s, not one the compact model was trained on)")
    p.add_argument("--rate", type=float, default=1.0, help="playback rate of the bag (default: %(default)s)")
    p.add_argument("--model", help="registered model name (default: compact_depth for the synthetic bag, which it "
                                   "was trained for; depth_node's default, the shipped FastDepth, with --rgbd)")
    p.add_argument("--model-path", help="weights for --model (e.g. a local Depth Anything V2 directory)")
    p.add_argument("--out", default=str(Path("out") / "demo"),
                   help="output folder (default: out/demo in the current folder; ./demo.sh runs in the checkout)")
    p.add_argument("--cache", default=str(user_cache_dir("demo")),
                   help="where the sample bag is kept (default: %(default)s)")
    p.add_argument("--rgbd", action="store_true",
                   help="publish the real RGB-D frames of ../shared instead (depth_node + FastDepth)")
    p.add_argument("--manifest", default=str(shared / "data" / "rgbd" / "manifest.json") if shared else "",
                   help="RGB-D manifest for --rgbd (default: ../shared/data/rgbd/manifest.json)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the node (--rgbd)")
    p.add_argument("--view", action="store_true",
                   help="then show the run in 3D: Rerun's web viewer on localhost with report/demo.rrd (prints its URL, "
                   "until Ctrl-C; needs the [view] extra, which ./demo.sh --view installs)")
    return p.parse_args(argv)


def sample_bag(args: argparse.Namespace) -> Path:
    """The seeded sample bag, generated once per simulator version and reused afterwards."""

    version = hashlib.sha256(b"".join(f.read_bytes() for f in package_sources("sim"))).hexdigest()[:10]
    folder = Path(args.cache) / f"{args.scene}-seed{args.seed}-{args.seconds:g}s-{version}"
    bag = folder / "bag"
    if (bag / "metadata.yaml").is_file():
        print(f"sample bag (cached): {bag}")
        return bag
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"generating the sample bag ({args.scene}, {args.seconds:g} s, seed {args.seed}) -> {bag}")
    code = simulate(["--scene", args.scene, "--seconds", str(args.seconds), "--seed", str(args.seed), "--out", str(bag)])
    if code != 0:
        raise SystemExit(code)
    return bag


def bag_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    bag = sample_bag(args)
    shutil.rmtree(out / "output_bag", ignore_errors=True)
    argv = [str(bag), "--report", str(out / "report"), "--live", "--rate", str(args.rate),
            "--output-bag", str(out / "output_bag"), "-p", "cloud_decimation:=2", "--samples", "3"]
    argv += ["--model", args.model or "compact_depth"]
    if args.model_path:
        argv += ["--model-path", args.model_path]
    started = time.monotonic()
    code = run_evaluation(eval_args(argv))
    print(f"preview: {out / 'report' / 'sample_0.png'}")
    print(f"RViz: rviz2 -d {config_file('depth_ros.rviz')}  (then depth-ros-play {out / 'output_bag'} --loop)")
    rrd = demo_recording(args, bag, out / "report")
    print(f"demo finished in {time.monotonic() - started:.0f} s")
    if args.view:
        if rrd is None:
            return 1
        return run_view(view_args([str(rrd), "--web"]))
    return code


def demo_recording(args: argparse.Namespace, bag: Path, report: Path) -> Path | None:
    """report/demo.rrd: the sample bag through the same pipeline, in 3D for depth-ros-view (the [view] extra);
    None, with one line saying why, without it."""
    try:
        rerun()
    except MissingDependencyError as exc:
        print(f"view: no demo.rrd: {exc}")
        return None
    rrd = report / "demo.rrd"
    argv = [str(bag), "--save", str(rrd), "--model", args.model or "compact_depth", "-p", "cloud_decimation:=4"]
    argv += ["--model-path", args.model_path] if args.model_path else []
    run_view(view_args(argv))
    print(f"view: depth-ros-view {rrd} --web   (or ./demo.sh --view)")
    return rrd


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

    use_large_data_profile()

    try:
        return rgbd_demo(args) if args.rgbd else bag_demo(args)
    except DepthRosError as exc:
        print(f"depth-ros-demo: {exc}", file=sys.stderr)
        return 1


def rgbd_demo(args: argparse.Namespace) -> int:
    """Real frames of an RGB-D manifest through depth_node (its default model), with AbsRel per frame."""

    args.model = args.model or {p.name: p.default for p in params_for("depth_node")}["model"]
    if not args.manifest or not Path(args.manifest).is_file():
        print(f"depth-ros-demo: RGB-D manifest not found: '{args.manifest}'. Pass --manifest.", file=sys.stderr)
        return 2
    import rclpy  # noqa: PLC0415

    from depth_ros.ros.node_process import FrameClient, NodeProcess, node_command  # noqa: PLC0415

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames = load_manifest(args.manifest)
    cmd = node_command("depth_node", params={"model": args.model, "model_path": args.model_path or "",
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
