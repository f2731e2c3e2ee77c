"""A bounded TSDF map on Open3D's `VoxelBlockGrid` (CPU), fed with depth images and camera poses.

Open3D does the integration, the surface extraction and the mesh; this class adds what a robot
needs around it: depth in depth_ros's convention (float32 metres, NaN = none; pixels below a
confidence threshold left out), poses as camera -> world 4x4 matrices, and a block budget: before
a frame would exceed `block_budget` voxel blocks, the blocks farthest from the camera are dropped
(counted in `dropped_blocks`), so memory stays bounded on long runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.optional import missing_dependency


def _open3d() -> tuple[Any, Any]:
    try:
        import open3d as o3d  # noqa: PLC0415 - optional (the [map] extra) and large
        import open3d.core as o3c  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc, "the TSDF map", extra="map") from exc
    return o3d, o3c


@dataclass(frozen=True)
class TsdfConfig:
    """Voxel size (m), voxels per block edge, block budget, depth range (m), truncation (voxels)."""

    voxel_size: float = 0.05
    block_resolution: int = 8
    block_budget: int = 20_000
    max_depth: float = 8.0
    trunc_voxels: float = 4.0
    min_confidence: float = 0.0
    min_weight: float = 1.0  # voxels integrated fewer times are not reported as surface

    def __post_init__(self) -> None:
        if not self.voxel_size > 0:
            raise InvalidInputError(f"voxel_size must be > 0, got {self.voxel_size}")
        if self.block_resolution < 1 or self.block_budget < 1:
            raise InvalidInputError(f"block_resolution and block_budget must be >= 1, got "
                                    f"{self.block_resolution}, {self.block_budget}")
        if not self.max_depth > 0 or not self.trunc_voxels > 0:
            raise InvalidInputError(f"max_depth and trunc_voxels must be > 0, got {self.max_depth}, {self.trunc_voxels}")


class TsdfMap:
    """TSDF of the frames integrated so far (world frame = the frame of the poses given)."""

    def __init__(self, config: TsdfConfig | None = None) -> None:
        self.config = config or TsdfConfig()
        self._o3d, self._o3c = _open3d()
        self.frames = 0
        self.dropped_blocks = 0
        self._grid = self._new_grid()

    def _new_grid(self) -> Any:
        c, o3c = self.config, self._o3c
        return self._o3d.t.geometry.VoxelBlockGrid(
            # Open3D's surface extraction expects a colour attribute; it stays zero (depth-only integration).
            attr_names=("tsdf", "weight", "color"), attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
            attr_channels=((1), (1), (3)),
            voxel_size=c.voxel_size, block_resolution=c.block_resolution,
            block_count=min(c.block_budget, 50_000), device=o3c.Device("CPU:0"))

    @property
    def blocks(self) -> int:
        """Voxel blocks allocated now."""
        return int(self._grid.hashmap().size())

    def clear(self) -> None:
        """Forget everything integrated."""
        self._grid = self._new_grid()
        self.frames = 0

    def integrate(self, depth: np.ndarray, camera: CameraModel, T_world_cam: np.ndarray,
                  confidence: np.ndarray | None = None) -> None:
        """Fuse one depth image (H, W) float32 metres (NaN/<= 0 = none) seen from `T_world_cam`."""
        c, o3d, o3c = self.config, self._o3d, self._o3c
        d = np.array(depth, dtype=np.float32, copy=True)
        if d.shape != (camera.height, camera.width):
            raise InvalidInputError(f"depth {d.shape} does not match camera {camera.height}x{camera.width}")
        T = np.asarray(T_world_cam, dtype=np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all():
            raise InvalidInputError(f"T_world_cam must be a finite 4x4 matrix, got {T.shape}")
        with np.errstate(invalid="ignore"):
            bad = ~(d > 0) | ~(d <= c.max_depth)
            if confidence is not None and c.min_confidence > 0:
                bad |= ~(np.asarray(confidence) >= c.min_confidence)
        d[bad] = 0.0
        if not (d > 0).any():
            return
        image = o3d.t.geometry.Image(o3c.Tensor(d))
        intrinsic = o3c.Tensor(camera.K, o3c.float64)
        extrinsic = o3c.Tensor(np.linalg.inv(T), o3c.float64)
        coords = self._grid.compute_unique_block_coordinates(image, intrinsic, extrinsic, 1.0, c.max_depth,
                                                             c.trunc_voxels)
        self._keep_budget(int(coords.shape[0]), T[:3, 3])
        self._grid.integrate(coords, image, intrinsic, extrinsic, 1.0, c.max_depth, c.trunc_voxels)
        self.frames += 1

    def _keep_budget(self, incoming: int, camera_position: np.ndarray) -> None:
        """Drop the blocks farthest from the camera when `incoming` new ones would pass the budget."""
        hashmap = self._grid.hashmap()
        excess = int(hashmap.size()) + incoming - self.config.block_budget
        if excess <= 0:
            return
        keys = hashmap.key_tensor()[hashmap.active_buf_indices()].numpy()  # (M, 3) block coordinates
        block_size = self.config.voxel_size * self.config.block_resolution
        centres = (keys.astype(np.float64) + 0.5) * block_size
        far = np.argsort(-np.linalg.norm(centres - camera_position, axis=1))[:min(excess, len(keys))]
        hashmap.erase(self._o3c.Tensor(keys[far].astype(np.int32)))
        self.dropped_blocks += len(far)

    def surface_points(self) -> np.ndarray:
        """(N, 3) float64 world points on the zero crossing of the TSDF (voxels seen enough times)."""
        if self.blocks == 0:
            return np.empty((0, 3))
        pcd = self._grid.extract_point_cloud(weight_threshold=self.config.min_weight)
        return pcd.point.positions.numpy().astype(np.float64) if "positions" in pcd.point else np.empty((0, 3))

    def mesh(self) -> Any:
        """The surface as an Open3D (legacy) TriangleMesh."""
        return self._grid.extract_triangle_mesh(weight_threshold=self.config.min_weight).to_legacy()

    def mesh_arrays(self, max_triangles: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(vertices (N, 3) float64, triangles (M, 3) int) of the surface mesh, simplified by quadric
        decimation to at most `max_triangles` when given; empty arrays without a surface."""
        if self.blocks == 0:
            return np.empty((0, 3)), np.empty((0, 3), np.int64)
        mesh = self.mesh()
        if max_triangles is not None and len(mesh.triangles) > max_triangles:
            mesh = mesh.simplify_quadric_decimation(int(max_triangles))
        return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.triangles, np.int64)
