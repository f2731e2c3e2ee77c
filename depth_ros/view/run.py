"""depth-ros-view's work: pick the source (bag, output bag, .rrd, live topics), record it, show or save it."""

from __future__ import annotations

import argparse
import contextlib
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from depth_ros.bags.io import open_bag
from depth_ros.core.errors import DepthRosError, InvalidInputError
from depth_ros.ros.params import fusion_config_from_values, load_params_file, resolve_values
from depth_ros.view.blueprint import default_blueprint
from depth_ros.view.frame import ViewFrame
from depth_ros.view.messages import frame_from_messages, output_topics, recorded_frames
from depth_ros.view.poses import DEFAULT_MOUNT
from depth_ros.view.recording import ViewRecorder, new_stream
from depth_ros.view.replay import PipelineReplay
from depth_ros.view.viewer import WebViewer, connect, has_display, open_native

LIVE_NODE = "radar_depth_node"


def run_view(args: argparse.Namespace) -> int:
    """The whole run of depth-ros-view for parsed options; returns the exit code."""
    if args.live:
        return _live(args)
    source = Path(args.source)
    if not source.exists():
        raise DepthRosError(f"{source}: no such bag or recording")
    if source.suffix == ".rrd":
        return _open_recording(source, args)
    with open_bag(source) as bag:
        recorded = bool(output_topics(bag.topics)) and not args.replay
        if recorded:
            depth_range, has_poses, total = _depth_range(args), False, bag.topics[output_topics(bag.topics)["depth"]].count
            replay = None
        else:
            replay = PipelineReplay(bag, source, args, poses=args.poses)
            depth_range, has_poses, total = replay.depth_range, replay.poses is not None, replay.n_images
            what = f"{replay.node}, model {replay.values['model']}" + (
                f", {replay.poses.source} poses" if replay.poses is not None else ", no poses")
            print(f"depth-ros-view: running the pipeline over {source} ({what})")
        with _Output(args) as out:
            recorder = ViewRecorder(out.stream, depth_range, has_poses)
            recorder.start()
            total = min(total, args.max_frames or total)
            with tqdm(total=total, desc="view", unit="frame", disable=args.no_progress) as bar:
                frames: Iterator[ViewFrame] = (recorded_frames(bag, args.max_frames, bar) if replay is None
                                               else replay.frames(args.max_frames, bar))
                for frame in frames:
                    recorder.log(frame)
            if recorder.frames == 0:
                raise DepthRosError(f"{source}: no frame to show (no image with a camera_info, or no depth/image)")
            out.finish(recorder.frames)
    return 0


class _Output:
    """The stream with its sinks (file, web viewer, native viewer) for the options; `finish` waits for the web."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.save = Path(args.save) if args.save else None
        self.stream = new_stream()
        self.web = WebViewer(args.web_port) if args.web else None

    def __enter__(self) -> _Output:
        try:
            if self.web is not None:
                self.web.wait_ready()
            connect(self.stream, default_blueprint(), save=self.save, web=self.web,
                    native=self.save is None and self.web is None)
        except BaseException:
            self.close()
            raise
        if self.web is not None:
            _announce(self.web, self.args)
        return self

    def finish(self, frames: int) -> None:
        self.stream.flush()
        self.stream.disconnect()
        if self.save is not None:
            print(f"depth-ros-view: {frames} frames -> {self.save}")
        if self.web is not None:
            _serve(self.web, frames)

    def close(self) -> None:
        if self.web is not None:
            self.web.close()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _announce(web: WebViewer, args: argparse.Namespace) -> None:
    print(f"depth-ros-view: web viewer: {web.url}", flush=True)
    if not args.no_browser and has_display():
        webbrowser.open(web.url)


def _serve(web: WebViewer, frames: int) -> None:
    print(f"depth-ros-view: {frames} frames served at {web.url} (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        web.wait()


def _open_recording(rrd: Path, args: argparse.Namespace) -> int:
    """An existing .rrd: in the web viewer (--web) or the native viewer."""
    if args.save:
        raise InvalidInputError(f"{rrd} is a recording already: --save applies to bags and --live")
    if not args.web:
        open_native(rrd)
        print(f"depth-ros-view: opened {rrd} in the Rerun viewer")
        return 0
    with WebViewer(args.web_port, rrd=rrd) as web:
        web.wait_ready()
        _announce(web, args)
        print("depth-ros-view: Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            web.wait()
    return 0


def _node_values(args: argparse.Namespace, node: str) -> dict[str, Any]:
    """The node's parameter values from --params and -p, as depth-ros-eval reads them."""
    overrides = load_params_file(args.params, node) if args.params else {}
    for item in args.param:
        name, sep, value = item.partition(":=")
        if not sep:
            raise InvalidInputError(f"--param expects NAME:=VALUE, got {item!r}")
        overrides[name] = yaml.safe_load(value)
    return resolve_values(node, overrides)


def _depth_range(args: argparse.Namespace) -> tuple[float, float]:
    values = _node_values(args, args.node or LIVE_NODE)
    return float(values["min_depth"]), float(values["max_depth"])


def _live(args: argparse.Namespace) -> int:
    """A running node's topics until Ctrl-C, --duration or --max-frames."""
    if args.source:
        raise InvalidInputError("--live takes no BAG: it subscribes to a running node's topics")
    from depth_ros.ros.bag_player import parse_remap  # noqa: PLC0415 - rclpy only for --live
    from depth_ros.ros.view_subscriber import run_view_subscriber  # noqa: PLC0415

    values = _node_values(args, args.node or LIVE_NODE)
    T_cam_radar = fusion_config_from_values(values).T_cam_radar
    remaps = parse_remap(args.remap)
    errors: dict[str, int] = {}
    with _Output(args) as out:
        recorder = ViewRecorder(out.stream, (float(values["min_depth"]), float(values["max_depth"])), args.odom)
        recorder.start()
        print(f"depth-ros-view: listening to {args.namespace or '/'} (Ctrl-C to stop)", flush=True)
        with tqdm(desc="view", unit="frame", disable=args.no_progress) as bar:

            def on_bundle(bundle: Any) -> None:
                pose = bundle.odom_pose @ DEFAULT_MOUNT if bundle.odom_pose is not None else None
                try:
                    frame = frame_from_messages(bundle.messages, bundle.diagnostics, T_cam_radar, pose)
                except DepthRosError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    return
                recorder.log(frame)
                bar.update(1)

            run_view_subscriber(on_bundle, namespace=args.namespace, remaps=remaps, odom=args.odom,
                                duration_s=args.duration, max_frames=args.max_frames)
        if errors:
            print(f"depth-ros-view: frames skipped: {', '.join(f'{k} x{n}' for k, n in errors.items())}")
        if recorder.frames == 0:
            raise DepthRosError(f"no depth/image arrived under {args.namespace or '/'}; is the node running? "
                                "Check --namespace and --remap")
        out.finish(recorder.frames)
    return 0
