"""`depth-ros-eval BAG --map`: the evaluated depth integrated into maps with the bag's poses.

Three maps are built from the same poses: from the published depth (with its confidence), from the
network's own output (metric models only) and from the bag's ground-truth depth. Each TSDF surface
is scored against the ground-truth depth of every frame, back-projected and thinned to 2.5 cm
(F-score at 5 and 10 cm), and the published map's occupancy grid against the ground-truth depth's
(IoU of occupied cells). Poses: `/ground_truth/pose` (exact) or `/odom` (wheel-like, drifting), both
base_link in the odom frame, composed with the static transforms of `/tf_static` from base_link to
the image's frame. The reference surface is always placed with the exact poses when the bag has
them: with odometry poses, the ground-truth depth's map shows what the drift alone costs.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.cloud import depth_to_points
from depth_ros.core.errors import BagError
from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import RigidTransform, quat_to_matrix
from depth_ros.evaluation.mesh_view import render_mesh
from depth_ros.mapping.mapper import DepthMapper
from depth_ros.mapping.metrics import fscore, grid_iou, thin
from depth_ros.mapping.occupancy import GridConfig
from depth_ros.mapping.tsdf import TsdfConfig
from depth_ros.optional import pyplot
from depth_ros.ros.conversions import stamp_to_ns

POSE_TOPICS = {"ground_truth": "/ground_truth/pose", "odom": "/odom"}
BASE_FRAME = "base_link"
POSE_SLOP_NS = 30_000_000
MAPS = ("published", "network", "ground_truth_depth")
MESH_VIEW_TRIANGLES = 30000  # the rendered mesh views are simplified to this many triangles


def _transform(translation: Any, rotation: Any) -> RigidTransform:
    return RigidTransform(quat_to_matrix((rotation.x, rotation.y, rotation.z, rotation.w)),
                          np.array([translation.x, translation.y, translation.z]))


def read_poses(bag: Any, source: str) -> tuple[TimeBuffer, dict[str, tuple[str, RigidTransform]]]:
    """base_link poses by stamp (from `source`'s topic) and the static tree: child -> (parent, T_parent_child)."""
    topic = POSE_TOPICS[source]
    if topic not in bag.topics:
        raise BagError(f"the bag has no {topic} for --map-poses {source} (depth-ros-simulate writes it)")
    poses: TimeBuffer = TimeBuffer(max_items=10**7)
    tree: dict[str, tuple[str, RigidTransform]] = {}
    topics = [topic] + (["/tf_static"] if "/tf_static" in bag.topics else [])
    for m in bag.messages(topics=topics):
        if m.topic == "/tf_static":
            for t in m.msg.transforms:
                tree[t.child_frame_id] = (t.header.frame_id, _transform(t.transform.translation, t.transform.rotation))
            continue
        pose = m.msg.pose.pose if hasattr(m.msg, "twist") else m.msg.pose
        poses.add(stamp_to_ns(m.msg.header.stamp), _transform(pose.position, pose.orientation))
    return poses, tree


def mount(tree: dict[str, tuple[str, RigidTransform]], frame: str, base: str = BASE_FRAME) -> RigidTransform | None:
    """T_base_frame through the static tree, or None when `frame` does not hang below `base`."""
    T = RigidTransform.identity()
    seen = set()
    while frame != base:
        if frame not in tree or frame in seen:
            return None
        seen.add(frame)
        parent, T_parent_child = tree[frame]
        T = T_parent_child @ T
        frame = parent
    return T


class MapEvaluator:
    """Integrates each evaluated frame into the three maps (module doc) and scores them."""

    def __init__(self, poses: TimeBuffer, tree: dict[str, tuple[str, RigidTransform]], max_depth: float = 8.0,
                 true_poses: TimeBuffer | None = None) -> None:
        """`true_poses`: where the reference surface is placed (default `poses`); with drifting
        `poses` the exact ones, so that the drift shows in every map's score."""
        self.poses, self.tree = poses, tree
        self.true_poses = true_poses if true_poses is not None else poses
        self.max_depth = max_depth
        self.mappers = {name: DepthMapper(TsdfConfig(voxel_size=0.05, max_depth=max_depth, min_confidence=0.3),
                                          GridConfig(resolution=0.05, size=60.0)) for name in MAPS}
        self._mounts: dict[str, RigidTransform | None] = {}
        self._reference: list[np.ndarray] = []
        self.times: list[float] = []
        self.without_pose = 0

    def add(self, frame: Any, result: Any, gt: np.ndarray) -> bool:
        """One frame (its stamp, frame_id, camera) with its result and ground truth; False without a pose."""
        if frame.frame_id not in self._mounts:
            self._mounts[frame.frame_id] = mount(self.tree, frame.frame_id)
        T_base_cam = self._mounts[frame.frame_id]
        found = self.poses.nearest(frame.stamp_ns, POSE_SLOP_NS)
        if T_base_cam is None or found is None or frame.camera is None or gt.shape != result.depth.shape:
            self.without_pose += 1
            return False
        T = (found[1] @ T_base_cam).as_matrix()
        if result.metric:  # relative depth without a scale is no map
            started = time.perf_counter()
            self.mappers["published"].add(result.depth, frame.camera, T, result.confidence)
            self.times.append(time.perf_counter() - started)
        if result.metric and result.raw is not None and result.scale_source != "model":
            self.mappers["network"].add(np.asarray(result.raw, np.float32), frame.camera, T)
        self.mappers["ground_truth_depth"].add(gt, frame.camera, T)
        true = self.true_poses.nearest(frame.stamp_ns, POSE_SLOP_NS)
        if true is not None:
            T_true = (true[1] @ T_base_cam).as_matrix()
            p = depth_to_points(gt, frame.camera, 0.0, self.max_depth, step=2).reshape(-1, 3)
            self._reference.append(p[np.isfinite(p[:, 2])] @ T_true[:3, :3].T + T_true[:3, 3])
        return True

    def summary(self) -> dict[str, Any]:
        """F-scores at 5 and 10 cm of each map, the grid IoU, timing, memory and frame counts."""
        reference = thin(np.concatenate(self._reference), 0.025) if self._reference else np.empty((0, 3))
        frames = self.mappers["ground_truth_depth"].tsdf.frames
        out: dict[str, Any] = {"frames": frames, "frames_published_metric": len(self.times),
                               "frames_without_pose": self.without_pose}
        for name, mapper in self.mappers.items():
            if mapper.tsdf.frames == 0:
                continue
            surface = mapper.surface_points()
            for cm in (5, 10):
                p, r, f = fscore(surface, reference, cm / 100)
                out[f"{name}_precision{cm}"], out[f"{name}_recall{cm}"], out[f"{name}_fscore{cm}"] = p, r, f
        grids = {name: m.grid() for name, m in self.mappers.items()}
        out["grid_iou_published"] = grid_iou(grids["published"], grids["ground_truth_depth"])
        out["integrate_ms_per_frame"] = 1e3 * float(np.median(self.times)) if self.times else float("nan")
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self._grids = grids
        return out

    def save(self, folder: Path, summary: dict[str, Any]) -> list[Path]:
        """map_metrics.json, map_grids.png (published vs ground-truth depth, top-down), map_published.ply and
        map_mesh_published.png and map_mesh_ground_truth_depth.png (the two meshes, rendered)."""
        import open3d as o3d  # noqa: PLC0415 - the [map] extra, loaded by the mappers already

        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / "map_metrics.json", folder / "map_grids.png", folder / "map_published.ply"]
        paths[0].write_text(json.dumps(summary, indent=2) + "\n")
        plt = pyplot("the map pictures")
        fig, axes = plt.subplots(1, 2, figsize=(10, 5))
        occ = self.mappers["published"].occupancy
        extent = (occ.origin[0], occ.origin[0] + occ.cells * occ.config.resolution,
                  occ.origin[1], occ.origin[1] + occ.cells * occ.config.resolution)
        for ax, name in zip(axes, ("published", "ground_truth_depth")):
            grid = self._grids[name].astype(float)
            shown = np.where(grid < 0, 0.5, np.where(grid >= 100, 0.0, 1.0))  # unknown grey, free white
            ax.imshow(shown, cmap="gray", vmin=0, vmax=1, origin="lower", extent=extent)
            ax.set_title(f"{name.replace('_', ' ')} depth" if name == "published" else "ground-truth depth")
            ax.set_xlabel("x (m)")
        axes[0].set_ylabel("y (m)")
        fig.suptitle(f"occupancy grids, IoU {summary['grid_iou_published']:.3f}")
        fig.tight_layout()
        fig.savefig(paths[1], dpi=100)
        plt.close(fig)
        o3d.io.write_triangle_mesh(str(paths[2]), self.mappers["published"].tsdf.mesh())
        for name, label in (("published", "published depth"), ("ground_truth_depth", "ground-truth depth")):
            vertices, triangles = self.mappers[name].tsdf.mesh_arrays(MESH_VIEW_TRIANGLES)
            paths.append(render_mesh(vertices, triangles, folder / f"map_mesh_{name}.png", f"mesh from the {label}"))
        return paths


def map_evaluator(bag: Any, source: str) -> MapEvaluator:
    """A MapEvaluator with `source`'s poses; the reference surface on /ground_truth/pose when the bag has it."""
    poses, tree = read_poses(bag, source)
    true_poses = None
    if source != "ground_truth" and POSE_TOPICS["ground_truth"] in bag.topics:
        true_poses, _ = read_poses(bag, "ground_truth")
    return MapEvaluator(poses, tree, true_poses=true_poses)
