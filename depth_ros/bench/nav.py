"""Navigation outputs on a real RGB-D frame: ObstacleFilter against Open3D, and DepthToScan timing.

Both sides get the same points: the frame's valid depth in [min_depth, max_depth], back-projected
with the manifest's pinhole intrinsics, and the same leaf size. Ours is timed from the depth image
(back-projection included, numba JIT warmed up first); Open3D is timed from an existing
`o3d.geometry.PointCloud` (numpy -> Vector3dVector conversion excluded, reported separately):
`voxel_down_sample(leaf)` then `remove_statistical_outlier(nb_neighbors, std_ratio)`.

Last line: ``RESULT nav_vs_open3d=<ours/open3d> scan_ms=<x> ours_ms=<y> open3d_ms=<z>``
(scan_ms: the default row-band scan).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from depth_ros.cli import ArgumentParser
from depth_ros.core.camera import CameraModel
from depth_ros.core.cloud import depth_to_points
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.laserscan import DepthToScan
from depth_ros.core.obstacles import ObstacleFilter
from depth_ros.datasets.rgbd import default_shared_dir, load_manifest


def _default_shared() -> Path:
    return default_shared_dir() or Path("../shared")


def load_frame(shared: Path, frame_id: str | None = None) -> tuple[str, np.ndarray, CameraModel]:
    """(id, depth (H, W) float32 metres with NaN = invalid, camera) of one 640x480 manifest frame.

    Without `frame_id`, the 640x480 frame with the most valid pixels (first one on ties).
    """

    manifest = Path(shared) / "data" / "rgbd" / "manifest.json"
    frames = [f for f in load_manifest(manifest) if f.camera.size == (640, 480)
              and (frame_id is None or f.id == frame_id)]
    if not frames:
        raise InvalidInputError(f"no 640x480 frame{' ' + repr(frame_id) if frame_id else ''} in {manifest}")
    best = max(frames, key=lambda f: int(np.isfinite(f.depth).sum()))
    return best.id, best.depth, best.camera


def _median_ms(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times)), out


def run(
    shared: Path,
    repeat: int = 20,
    frame_id: str | None = None,
    leaf: float = 0.05,
    min_depth: float = 0.1,
    max_depth: float = 5.0,
    min_neighbors: int = 2,
    nb_neighbors: int = 20,
    std_ratio: float = 2.0,
    camera_height: float = 1.0,
) -> dict:
    """Time ours and Open3D on one frame; returns the numbers printed by `main`."""
    import open3d as o3d  # noqa: PLC0415

    if repeat < 1:
        raise InvalidInputError(f"repeat must be >= 1, got {repeat}")
    fid, depth, camera = load_frame(shared, frame_id)
    filt = ObstacleFilter(leaf_size=leaf, min_depth=min_depth, max_depth=max_depth, min_neighbors=min_neighbors)
    filt.compute(depth, camera)  # JIT warm-up (and the table grows to its working size)
    ours_ms, cloud = _median_ms(lambda: filt.compute(depth, camera), repeat)

    pts = depth_to_points(depth, camera, min_depth, max_depth).reshape(-1, 3)
    pts = pts[np.isfinite(pts[:, 2])].astype(np.float64)
    convert_ms, pcd = _median_ms(lambda: o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts)), max(1, repeat // 4))

    def open3d_filter() -> object:
        down = pcd.voxel_down_sample(leaf)
        return down.remove_statistical_outlier(nb_neighbors=nb_neighbors, std_ratio=std_ratio)[0]

    open3d_filter()
    open3d_ms, o3d_cloud = _median_ms(open3d_filter, repeat)
    o3d_voxels = len(pcd.voxel_down_sample(leaf).points)

    band = DepthToScan(range_min=min_depth, range_max=8.0)
    band.compute(depth, camera)
    scan_ms, scan = _median_ms(lambda: band.compute(depth, camera), repeat)
    level = np.array([0.0, 1.0, 0.0])
    grav = DepthToScan(range_min=min_depth, range_max=8.0, use_gravity_band=True, camera_height=camera_height)
    grav.compute(depth, camera, level)
    scan_gravity_ms, _ = _median_ms(lambda: grav.compute(depth, camera, level), repeat)

    return {
        "frame": fid,
        "input_points": int(pts.shape[0]),
        "ours_ms": ours_ms,
        "ours_voxels": cloud.stats["voxels"],  # type: ignore[union-attr]
        "ours_points": cloud.stats["kept"],  # type: ignore[union-attr]
        "open3d_ms": open3d_ms,
        "open3d_convert_ms": convert_ms,
        "open3d_voxels": o3d_voxels,
        "open3d_points": len(o3d_cloud.points),  # type: ignore[attr-defined]
        "ratio": ours_ms / open3d_ms,
        "scan_ms": scan_ms,
        "scan_gravity_ms": scan_gravity_ms,
        "scan_beams": int(scan.ranges.size),  # type: ignore[union-attr]
        "scan_finite": int(np.isfinite(scan.ranges).sum()),  # type: ignore[union-attr]
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(
        prog="bench_nav",
        description="Time depth_ros's ObstacleFilter against Open3D (voxel_down_sample + remove_statistical_outlier) "
        "on the same points of a real 640x480 RGB-D frame, and time DepthToScan. Ours is timed from the depth image "
        "(back-projection included); Open3D from a ready PointCloud (numpy conversion excluded, printed apart).",
    )
    p.add_argument("--shared", type=Path, default=_default_shared(),
                   help="folder holding data/rgbd/manifest.json (default: the ../shared beside the checkout)")
    p.add_argument("--repeat", type=int, default=20, help="timed runs per method; medians are reported (default: %(default)s)")
    p.add_argument("--frame", default=None,
                   help="manifest frame id (default: the 640x480 frame with the most valid depth pixels)")
    p.add_argument("--leaf", type=float, default=0.05, help="voxel edge in metres, both methods (default: %(default)s)")
    p.add_argument("--min-depth", type=float, default=0.1, help="nearest depth kept, metres (default: %(default)s)")
    p.add_argument("--max-depth", type=float, default=5.0, help="farthest depth kept, metres (default: %(default)s)")
    p.add_argument("--min-neighbors", type=int, default=2,
                   help="ours: occupied voxels (of 26) a voxel needs to survive (default: %(default)s)")
    p.add_argument("--nb-neighbors", type=int, default=20,
                   help="Open3D remove_statistical_outlier nb_neighbors (default: %(default)s)")
    p.add_argument("--std-ratio", type=float, default=2.0,
                   help="Open3D remove_statistical_outlier std_ratio (default: %(default)s)")
    p.add_argument("--camera-height", type=float, default=1.0,
                   help="camera height (m) assumed for the gravity-band scan timing, gravity level (default: %(default)s)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        r = run(args.shared, args.repeat, args.frame, args.leaf, args.min_depth, args.max_depth,
                args.min_neighbors, args.nb_neighbors, args.std_ratio, args.camera_height)
    except InvalidInputError as exc:
        print(f"bench_nav: {exc}", file=sys.stderr)
        return 2
    print(f"frame {r['frame']}: {r['input_points']} points in range, leaf {args.leaf} m, {args.repeat} runs (medians)")
    print(f"ours   ObstacleFilter (from depth): {r['ours_ms']:8.2f} ms  {r['ours_voxels']} voxels -> {r['ours_points']} points")
    print(f"Open3D voxel + statistical outlier: {r['open3d_ms']:8.2f} ms  {r['open3d_voxels']} voxels -> "
          f"{r['open3d_points']} points  (+{r['open3d_convert_ms']:.2f} ms numpy -> PointCloud, not counted)")
    print(f"DepthToScan row band:    {r['scan_ms']:8.3f} ms  {r['scan_finite']}/{r['scan_beams']} finite beams")
    print(f"DepthToScan gravity band: {r['scan_gravity_ms']:7.3f} ms  (all pixels, level gravity)")
    print(f"RESULT nav_vs_open3d={r['ratio']:.3f} scan_ms={r['scan_ms']:.3f} ours_ms={r['ours_ms']:.2f} "
          f"open3d_ms={r['open3d_ms']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
