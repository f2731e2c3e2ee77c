"""Publish-ready xyz+rgb organised cloud on a real 640x480 RGB-D frame, against Open3D and a copy.

Ours: `CloudBuilder(rgb=True).build(depth, camera, rgb)` (buffer and working planes reused across
frames; OpenCV kernels, one interleaving pass) gives the bytes of a PointCloud2 (depth_image_proc layout, point step 32, NaN for
invalid depth); "ours + msg" adds `cloud_to_msg`, which takes that buffer without a copy.
Open3D, on the same frame: `PointCloud.create_from_rgbd_image(..., project_valid_depth_only=False)`
with colours. Its output (float64 points, float64 colours in [0, 1]) is not publishable as is, so
the reference that the main ratio uses is Open3D's whole way from the same numpy frame to the
same bytes: numpy -> o3d.geometry.Image -> RGBDImage -> create_from_rgbd_image -> float32 xyz and
packed colour written into a reused buffer. The bare create_from_rgbd_image call on a prepared
RGBDImage is timed too ("open3d core", a lower bound that publishes nothing).
Memcpy: `np.copyto` between two buffers of the cloud's byte size. "numpy" is the plain NumPy
builder (cached rays, several passes), kept as the reference implementation.

Timing: every method runs in each round, in a rotating order, twice in a row; the second call is
timed (warm caches and allocator for everybody). Medians over the rounds; ratios are taken in
this run only.

Last line: ``RESULT cloud_vs_open3d=<ours/open3d to bytes> cloud_vs_memcpy=<ours/memcpy>
cloud_distorted_vs_pinhole=<ours plumb_bob/ours pinhole> cloud_msg_vs_open3d=<ours+msg/open3d>
cloud_vs_open3d_core=<ours/bare open3d call> numpy_vs_open3d=<numpy builder/open3d> ours_ms=<ms>``
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from depth_ros.cli import ArgumentParser
from depth_ros.core.camera import PLUMB_BOB, CameraModel
from depth_ros.core.cloud import CloudBuilder, _fill_numpy
from depth_ros.core.errors import InvalidInputError
from depth_ros.datasets.rgbd import default_shared_dir, load_manifest

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
# A moderate plumb_bob lens (RealSense-colour-like magnitudes) for the distorted timing.
DISTORTION = (0.12, -0.25, 0.001, -0.0005, 0.1)


def _default_shared() -> Path:
    return default_shared_dir() or Path("../shared")


def load_rgbd(shared: Path, frame_id: str | None = None) -> tuple[str, np.ndarray, np.ndarray, CameraModel]:
    """(id, depth metres with NaN, rgb uint8, camera) of one 640x480 manifest frame.

    Without `frame_id`: the first 640x480 frame of the manifest (tum_fr1_1 in ../shared: a real
    Kinect frame, holes included, so that the invalid-depth branch is timed too).
    """

    frames = [f for f in load_manifest(Path(shared) / "data" / "rgbd" / "manifest.json")
              if (f.camera.width, f.camera.height) == (640, 480)]
    if frame_id is not None:
        frames = [f for f in frames if f.id == frame_id]
    if not frames:
        raise InvalidInputError(f"no 640x480 frame{' ' + repr(frame_id) if frame_id else ''} in {shared}")
    frame = frames[0]
    return frame.id, frame.depth, frame.rgb, frame.camera


class _Open3dToBytes:
    """Open3D's way from numpy depth + colour to the PointCloud2 bytes of depth_image_proc."""

    def __init__(self, camera: CameraModel) -> None:
        import open3d as o3d  # noqa: PLC0415

        self.o3d = o3d
        self.intr = o3d.camera.PinholeCameraIntrinsic(camera.width, camera.height, camera.fx, camera.fy,
                                                      camera.cx, camera.cy)
        n = camera.width * camera.height
        self.words = np.zeros((n, 8), np.float32)
        self.raw = self.words.view(np.uint8)  # (n, 32)
        self.scaled = np.empty((n, 3), np.float64)
        self.u8 = np.empty((n, 3), np.uint8)

    def rgbd(self, depth: np.ndarray, rgb: np.ndarray) -> object:
        o3d = self.o3d
        return o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(rgb), o3d.geometry.Image(np.nan_to_num(depth, nan=0.0)), depth_scale=1.0,
            depth_trunc=1e6, convert_rgb_to_intensity=False)

    def cloud(self, rgbd: object) -> object:
        return self.o3d.geometry.PointCloud.create_from_rgbd_image(rgbd, self.intr, project_valid_depth_only=False)

    def to_bytes(self, depth: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        pc = self.cloud(self.rgbd(depth, rgb))
        self.words[:, :3] = np.asarray(pc.points)
        np.multiply(np.asarray(pc.colors), 255.0, out=self.scaled)
        np.rint(self.scaled, out=self.scaled)
        self.u8[...] = self.scaled
        self.raw[:, 16:19] = self.u8[:, ::-1]  # b, g, r bytes of the packed 0x00RRGGBB
        return self.words


def _tune_malloc() -> bool:
    """glibc: keep freed large blocks in the heap (no mmap/munmap per call, no trimming).

    Open3D allocates ~15 MB of output per call; with glibc's dynamic thresholds those blocks are
    sometimes fresh pages from the kernel (page faults: 2-4x slower) and sometimes reused heap,
    depending on what ran before. Fixed thresholds give every method its warm, repeatable best
    case. Returns False where mallopt is unavailable (not glibc).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)) and bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def _time_rounds(methods: dict[str, Callable[[], object]], rounds: int, scratch_mb: int = 32) -> dict[str, float]:
    """Fastest milliseconds per method over `rounds`, every method once per round in rotating order.

    The fastest round, not the median: other work on the machine (a test run beside it) only ever
    adds time, and it slows a method that uses both cores more than a one-thread copy, so medians
    of a ratio drift with the load while the best rounds do not.

    Before each timed call the same unrelated copy of `scratch_mb` MB runs, so that no method finds
    its buffers left in the cache by its own previous call (a node does other work between two
    frames) and all follow the same predecessor.
    """
    names = list(methods)
    for fn in methods.values():  # first calls: lazy initialisation, page faults of fresh buffers
        fn()
    scratch_src = np.ones(scratch_mb << 20, np.uint8)
    scratch_dst = np.zeros_like(scratch_src)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            fn = methods[name]
            np.copyto(scratch_dst, scratch_src)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * float(np.min(t)) for name, t in times.items()}


def run(shared: Path, rounds: int = 50, frame_id: str | None = None, with_msg: bool = True) -> dict:
    """Check ours against Open3D on one frame, then time every method; returns the printed numbers."""
    if rounds < 1:
        raise InvalidInputError(f"rounds must be >= 1, got {rounds}")
    malloc_tuned = _tune_malloc()
    fid, depth, rgb, camera = load_rgbd(shared, frame_id)
    distorted = CameraModel(camera.width, camera.height, camera.fx, camera.fy, camera.cx, camera.cy,
                            PLUMB_BOB, DISTORTION)
    distorted.rays  # noqa: B018 - the ray grid is computed once per camera, not per frame
    builder = CloudBuilder(rgb=True)
    builder_distorted = CloudBuilder(rgb=True)
    builder_numpy = CloudBuilder(rgb=True)
    numpy_buffer = builder_numpy.build(depth, camera, rgb, reuse=False).buffer
    ref = _Open3dToBytes(camera)

    # Same points as Open3D and the exact colours (Open3D has no colour for invalid points).
    cloud = builder.build(depth, camera, rgb)
    words = np.frombuffer(cloud.buffer, np.float32).reshape(-1, 8)
    theirs = ref.to_bytes(depth, rgb)
    valid = np.isfinite(depth.reshape(-1)) & (depth.reshape(-1) > 0)
    max_diff = float(np.abs(words[valid, :3] - theirs[valid, :3]).max())
    if not (np.isnan(words[~valid, :3]).all() and max_diff < 1e-4
            and np.array_equal(words.view(np.uint32)[valid, 4], theirs.view(np.uint32)[valid, 4])):
        raise RuntimeError(f"ours and Open3D disagree (max |xyz| difference {max_diff:g} m)")

    nbytes = len(cloud.buffer)
    src, dst = np.ones(nbytes, np.uint8), np.zeros(nbytes, np.uint8)
    rgbd = ref.rgbd(depth, rgb)
    methods: dict[str, Callable[[], object]] = {
        "ours": lambda: builder.build(depth, camera, rgb),
        "ours_distorted": lambda: builder_distorted.build(depth, distorted, rgb),
        "numpy": lambda: _fill_numpy(numpy_buffer, builder_numpy.layout, depth, camera, rgb, None, None, 0.0,
                                     float("inf"), 1),
        "open3d": lambda: ref.to_bytes(depth, rgb),
        "open3d_core": lambda: ref.cloud(rgbd),
        "memcpy": lambda: np.copyto(dst, src),
    }
    msg_error = None
    if with_msg:
        try:
            from depth_ros.ros.conversions.pointcloud2 import cloud_to_msg  # noqa: PLC0415

            msg = cloud_to_msg(builder.build(depth, camera, rgb), frame_id="camera_optical", stamp=1)
            if msg.data is not builder.build(depth, camera, rgb).buffer:
                raise RuntimeError("cloud_to_msg copied the buffer")
            methods["ours_msg"] = lambda: cloud_to_msg(builder.build(depth, camera, rgb), frame_id="camera_optical",
                                                       stamp=1)
        except ImportError as exc:
            msg_error = f"{type(exc).__name__}: {exc}"
    ms = _time_rounds(methods, rounds)
    out = {
        "frame": fid,
        "points": int(cloud.height * cloud.width),
        "valid": int(valid.sum()),
        "bytes": nbytes,
        "max_diff": max_diff,
        "ms": ms,
        "msg_error": msg_error,
        "malloc_tuned": malloc_tuned,
        "cloud_vs_open3d": ms["ours"] / ms["open3d"],
        "cloud_vs_memcpy": ms["ours"] / ms["memcpy"],
        "cloud_distorted_vs_pinhole": ms["ours_distorted"] / ms["ours"],
        "cloud_vs_open3d_core": ms["ours"] / ms["open3d_core"],
        "numpy_vs_open3d": ms["numpy"] / ms["open3d"],
    }
    if "ours_msg" in ms:
        out["cloud_msg_vs_open3d"] = ms["ours_msg"] / ms["open3d"]
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(prog="depth-ros-bench cloud", description=__doc__.split("\n\n")[0],
                                epilog="See the module docstring (python -m pydoc depth_ros.bench.cloud) "
                                       "for what each method times.")
    p.add_argument("--shared", type=Path, default=_default_shared(),
                   help="folder holding data/rgbd/manifest.json (default: the ../shared beside the checkout)")
    p.add_argument("--rounds", type=int, default=50,
                   help="timing rounds; each runs every method once, in rotating order, after the same unrelated "
                        "32 MB copy; the fastest round of each is reported (default: %(default)s)")
    p.add_argument("--frame", default=None,
                   help="manifest frame id (default: the first 640x480 frame of the manifest)")
    p.add_argument("--no-msg", action="store_true",
                   help="skip timing cloud_to_msg (building the sensor_msgs/PointCloud2 around the buffer)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        r = run(args.shared, args.rounds, args.frame, with_msg=not args.no_msg)
    except InvalidInputError as exc:
        print(f"bench_cloud: {exc}", file=sys.stderr)
        return 2
    ms = r["ms"]
    print(f"frame {r['frame']}: {r['points']} points ({r['valid']} valid), {r['bytes']} bytes xyzrgb, "
          f"{args.rounds} rounds (fastest); ours vs Open3D max |xyz| diff {r['max_diff']:.2e} m, colours equal, "
          f"malloc tuned: {r['malloc_tuned']}")
    rows = [
        ("ours (OpenCV planes, one interleave)", "ours"),
        ("ours + cloud_to_msg", "ours_msg"),
        ("ours, plumb_bob rays", "ours_distorted"),
        ("numpy builder", "numpy"),
        ("Open3D numpy -> bytes", "open3d"),
        ("Open3D create_from_rgbd_image only", "open3d_core"),
        ("memcpy (np.copyto)", "memcpy"),
    ]
    for label, key in rows:
        if key in ms:
            print(f"  {label:<36}{ms[key]:8.3f} ms  {ms[key] / ms['open3d']:6.3f} x Open3D  "
                  f"{ms[key] / ms['memcpy']:6.2f} x memcpy")
    if r["msg_error"]:
        print(f"  (cloud_to_msg not timed: {r['msg_error']})")
    msg = f" cloud_msg_vs_open3d={r['cloud_msg_vs_open3d']:.3f}" if "cloud_msg_vs_open3d" in r else ""
    print(f"RESULT cloud_vs_open3d={r['cloud_vs_open3d']:.3f} cloud_vs_memcpy={r['cloud_vs_memcpy']:.3f} "
          f"cloud_distorted_vs_pinhole={r['cloud_distorted_vs_pinhole']:.3f}{msg} "
          f"cloud_vs_open3d_core={r['cloud_vs_open3d_core']:.3f} numpy_vs_open3d={r['numpy_vs_open3d']:.3f} "
          f"ours_ms={ms['ours']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
