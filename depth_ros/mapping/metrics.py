"""How good a map is: surface F-score against reference points, occupancy IoU against a reference grid."""

from __future__ import annotations

from typing import Any

import numpy as np

from depth_ros.mapping.occupancy import OCCUPIED
from depth_ros.mapping.tsdf import _open3d


def fscore(points: np.ndarray, reference: np.ndarray, tolerance: float = 0.10) -> tuple[float, float, float]:
    """(precision, recall, F) of `points` against `reference` at `tolerance` metres: the share of map
    points within it of the reference, and of reference points within it of the map (Open3D KD-trees)."""
    o3d, _ = _open3d()
    if len(points) == 0 or len(reference) == 0:
        return 0.0, 0.0, 0.0

    def cloud(p: np.ndarray) -> Any:
        return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(p, np.float64)))

    a, b = cloud(points), cloud(reference)
    precision = float(np.mean(np.asarray(a.compute_point_cloud_distance(b)) < tolerance))
    recall = float(np.mean(np.asarray(b.compute_point_cloud_distance(a)) < tolerance))
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f


def grid_iou(grid: np.ndarray, reference: np.ndarray) -> float:
    """IoU of the occupied cells of two grids of the same shape (1.0 when neither has any)."""
    a, b = grid == OCCUPIED, reference == OCCUPIED
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else 1.0


def thin(points: np.ndarray, voxel: float) -> np.ndarray:
    """Points (N, 3) thinned to one per `voxel` metres (Open3D voxel down-sampling)."""
    o3d, _ = _open3d()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    return np.asarray(cloud.voxel_down_sample(voxel).points)
