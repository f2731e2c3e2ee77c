"""ObstacleFilter against Open3D's voxel grid, a numpy reference and ray-cast scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from raycast_scenes import cast
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from depth_ros.core.camera import CameraModel
from depth_ros.core.cloud import depth_to_points
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.imu import camera_roll_pitch
from depth_ros.core.obstacles import (
    ObstacleFilter,
    gravity_frame_transform,
    gravity_from_roll_pitch,
    voxel_downsample,
)
from depth_ros.core.transforms import OPTICAL_FROM_BODY

o3d = pytest.importorskip("open3d")

CAM = CameraModel(160, 120, 120.0, 120.0, 79.5, 59.5)
# Optical axes in a REP-103 world (x forward, y left, z up) for a level camera: columns are
# optical x (right = -y), optical y (down = -z), optical z (forward = +x).
R_LEVEL = OPTICAL_FROM_BODY.R.T
OFFSETS = [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)]


# -- independent references -------------------------------------------------------------------


def ref_voxels(points: np.ndarray, leaf: float, origin=(0.0, 0.0, 0.0), min_neighbors: int = 0):
    """(voxel indices, centroids float64, counts) with np.unique; isolation by a Python set."""
    p = np.asarray(points, dtype=np.float64)
    idx = np.floor((p - np.asarray(origin)) / leaf).astype(np.int64)
    uniq, inv, counts = np.unique(idx, axis=0, return_inverse=True, return_counts=True)
    sums = np.zeros((len(uniq), 3))
    np.add.at(sums, inv.ravel(), p)
    cent = sums / counts[:, None]
    if min_neighbors:
        occupied = set(map(tuple, uniq.tolist()))
        keep = np.array(
            [sum((i + a, j + b, k + c) in occupied for a, b, c in OFFSETS) >= min_neighbors for i, j, k in uniq.tolist()],
            dtype=bool,
        )
        uniq, cent, counts = uniq[keep], cent[keep], counts[keep]
    return uniq, cent, counts


def _sorted(points: np.ndarray, *others: np.ndarray):
    order = np.lexsort(np.asarray(points).T[::-1])
    return (np.asarray(points)[order],) + tuple(np.asarray(o)[order] for o in others)


def assert_same_points(actual: np.ndarray, desired: np.ndarray, atol: float) -> None:
    """Same point sets up to order: nearest neighbours within atol, one to one."""
    assert actual.shape == desired.shape
    if len(desired) == 0:
        return
    dist, idx = cKDTree(np.asarray(actual, np.float64)).query(np.asarray(desired, np.float64))
    assert dist.max() <= atol, f"max distance {dist.max()}"
    assert len(np.unique(idx)) == len(idx)


def camera_rotation(roll: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """R_world_optical of a camera with REP-103 roll/pitch (pitch > 0 looks down)."""
    return Rotation.from_euler("xyz", [roll, pitch, 0.0]).as_matrix() @ R_LEVEL


def render(camera: CameraModel, R_wo: np.ndarray, height: float, boxes=(), ceiling=None, wall_x=None):
    """Optical depth and world hit points of a camera `height` above the ground plane z = 0."""
    hits = cast(camera, R_wo, height, boxes=boxes, ceiling=ceiling, wall_x=wall_x)
    return hits.depth, hits.points


def to_world(points_optical: np.ndarray, R_wo: np.ndarray, height: float) -> np.ndarray:
    return points_optical.astype(np.float64) @ R_wo.T + np.array([0.0, 0.0, height])


# -- voxel grid -------------------------------------------------------------------------------


@pytest.mark.parametrize("leaf", [0.05, 0.137])
def test_voxel_centroids_and_counts_equal_open3d(leaf):
    rng = np.random.default_rng(3)
    pts = np.concatenate([rng.normal(c, 0.2, (3000, 3)) for c in ((0, 0, 2), (1, -0.5, 3), (-1, 0.3, 1))])
    pts = pts.astype(np.float32)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts.astype(np.float64)))
    origin = pcd.get_min_bound() - leaf / 2  # Open3D's grid origin
    down, _, members = pcd.voxel_down_sample_and_trace(leaf, origin, pcd.get_max_bound() + leaf / 2, False)
    ref_pts, ref_counts = _sorted(np.asarray(down.points), np.array([len(m) for m in members]))
    # voxel_down_sample_and_trace with these bounds is voxel_down_sample itself:
    np.testing.assert_array_equal(_sorted(np.asarray(pcd.voxel_down_sample(leaf).points))[0], ref_pts)

    cent, counts = voxel_downsample(pts, leaf, origin=origin)
    cent, counts = _sorted(cent, counts)
    assert cent.shape == ref_pts.shape
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_allclose(cent, ref_pts, rtol=0, atol=1e-12)


def test_voxel_downsample_equals_numpy_reference_and_grows_its_table():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-2, 2, (60000, 3)).astype(np.float32)  # ~ 40k voxels: more than the first table holds
    pts[::1000] = np.nan
    cent, counts = voxel_downsample(pts, 0.1)
    _, ref_c, ref_n = ref_voxels(pts[np.isfinite(pts).all(1)], 0.1)
    assert len(cent) > 30000
    cent, counts = _sorted(cent, counts)
    ref_c, ref_n = _sorted(ref_c, ref_n)
    np.testing.assert_array_equal(counts, ref_n)
    np.testing.assert_allclose(cent, ref_c, atol=1e-12)


def test_isolated_points_removed_wall_kept():
    g = np.arange(-1.0, 1.0, 0.01)
    xx, yy = np.meshgrid(g, g[:100])
    wall = np.stack([xx.ravel(), yy.ravel(), np.full(xx.size, 2.0)], 1)
    singles = np.array([[3.0, 3.0, 3.0], [-2.0, 1.0, 4.0], [0.0, 0.0, 0.5], [0.5, -0.8, 3.1]])
    pts = np.concatenate([wall, singles]).astype(np.float32)
    cent, _ = voxel_downsample(pts, 0.05, min_neighbors=2)
    _, wall_cent, _ = ref_voxels(wall.astype(np.float32), 0.05)
    assert len(cent) == len(wall_cent)
    np.testing.assert_allclose(_sorted(cent)[0], _sorted(wall_cent)[0], atol=1e-9)
    for s in singles:
        assert np.linalg.norm(cent - s, axis=1).min() > 0.5

    # the same through compute(): a wall at 2 m with single pixels pulled forward to 0.7 m
    depth = np.full((CAM.height, CAM.width), 2.0, np.float32)
    spikes = [(10, 10), (60, 80), (100, 150)]
    for v, u in spikes:
        depth[v, u] = 0.7
    out = ObstacleFilter(min_neighbors=2).compute(depth, CAM)
    assert out.points.shape[1] == 3 and (np.abs(out.points[:, 2] - 2.0) < 0.03).all()
    assert out.stats["voxels"] == out.stats["kept"] + len(spikes)
    kept_all = ObstacleFilter(min_neighbors=0).compute(depth, CAM)
    assert (kept_all.points[:, 2] < 1.0).sum() == len(spikes)  # the check above can fail


@pytest.mark.parametrize("min_neighbors", [0, 2, 5])
def test_compute_equals_reference_on_real_frames(rgbd_frames, min_neighbors):
    filt = ObstacleFilter(leaf_size=0.05, min_depth=0.3, max_depth=4.0, min_neighbors=min_neighbors)
    for frame in rgbd_frames[::3]:
        out = filt.compute(frame.depth, frame.camera)
        pts = depth_to_points(frame.depth, frame.camera, 0.3, 4.0).reshape(-1, 3)
        pts = pts[np.isfinite(pts[:, 2])]
        _, ref_c, _ = ref_voxels(pts, 0.05, min_neighbors=min_neighbors)
        assert out.points.dtype == np.float32 and out.points.shape == ref_c.shape, frame.id
        assert_same_points(out.points, ref_c, atol=5e-6)
        assert out.stats["in_range"] == len(pts) and out.stats["kept"] == len(ref_c)
        assert out.stats["height_filtered"] is False


def test_decimation_uses_every_nth_pixel():
    rng = np.random.default_rng(1)
    depth = rng.uniform(1.0, 3.0, (CAM.height, CAM.width)).astype(np.float32)
    out = ObstacleFilter(min_neighbors=0, decimation=3).compute(depth, CAM)
    pts = depth_to_points(depth, CAM)[::3, ::3].reshape(-1, 3)
    _, ref_c, _ = ref_voxels(pts, 0.05)
    assert_same_points(out.points, ref_c, atol=5e-6)
    assert out.stats["pixels"] == pts.shape[0]


# -- confidence, range, empty input ---------------------------------------------------------


def test_confidence_threshold_and_depth_range():
    depth = np.full((CAM.height, CAM.width), 2.0, np.float32)
    depth[:, :20] = 0.05  # nearer than min_depth
    depth[:, 20:40] = 6.0  # beyond max_depth
    depth[:, 40:60] = 5.0  # exactly max_depth: kept
    conf = np.full(depth.shape, 0.9, np.float32)
    conf[:60, :] = 0.2
    conf[60:70, :] = 0.5  # exactly the threshold: kept
    conf[70:72, :] = np.nan
    out = ObstacleFilter(min_confidence=0.5, min_depth=0.1, max_depth=5.0, min_neighbors=0).compute(depth, CAM, conf)
    n_conf = int((conf >= 0.5).sum())
    assert out.stats["valid"] == depth.size and out.stats["confident"] == n_conf
    assert out.stats["in_range"] == n_conf // CAM.width * (CAM.width - 40)
    v = depth_to_points(depth, CAM)[:, :, 1]
    assert out.points[:, 1].min() >= v[60].min() - 1e-6  # rows of low confidence are gone
    assert out.points[:, 2].min() >= 1.99 and out.points[:, 2].max() <= 5.0
    assert np.isclose(out.points[:, 2], 5.0, atol=1e-6).any()
    # without the map nothing is dropped for confidence
    no_conf = ObstacleFilter(min_confidence=0.5, min_neighbors=0).compute(depth, CAM)
    assert no_conf.stats["confident"] == depth.size and len(no_conf.points) > len(out.points)


@pytest.mark.parametrize("gravity", [None, (0.0, 1.0, 0.0)])
@pytest.mark.parametrize("frame", ["optical", "gravity"])
def test_all_nan_or_empty_gives_empty_cloud(gravity, frame):
    filt = ObstacleFilter(camera_height=1.0)
    cases = [
        np.full((CAM.height, CAM.width), np.nan, np.float32),
        np.zeros((CAM.height, CAM.width), np.float32),
        np.full((CAM.height, CAM.width), 50.0, np.float32),
    ]
    for depth in cases:
        if frame == "gravity" and gravity is None:
            with pytest.raises(InvalidInputError, match="gravity"):
                filt.compute(depth, CAM, gravity_optical=gravity, output_frame=frame)
            continue
        out = filt.compute(depth, CAM, gravity_optical=gravity, output_frame=frame)
        assert out.points.shape == (0, 3) and out.points.dtype == np.float32
        assert out.stats["kept"] == 0 and out.frame == frame
    # floor only: everything is height-filtered away
    depth, _ = render(CAM, camera_rotation(pitch=0.6), 1.0)
    out = filt.compute(depth, CAM, gravity_optical=camera_rotation(pitch=0.6).T @ [0, 0, -1])
    assert out.stats["in_range"] > 1000 and out.points.shape == (0, 3)


def test_invalid_arguments_name_the_value():
    with pytest.raises(InvalidInputError, match="-0.1"):
        ObstacleFilter(leaf_size=-0.1)
    with pytest.raises(InvalidInputError, match="27"):
        ObstacleFilter(min_neighbors=27)
    with pytest.raises(InvalidInputError, match=r"\[3.0, 2.0\]"):
        ObstacleFilter(min_depth=3.0, max_depth=2.0)
    with pytest.raises(InvalidInputError, match="camera_height"):
        ObstacleFilter(mount_roll_pitch=(0.0, 0.1))
    with pytest.raises(InvalidInputError, match="camera_height"):
        ObstacleFilter().compute(np.ones((120, 160), np.float32), CAM, gravity_optical=(0, 1, 0))
    with pytest.raises(InvalidInputError, match=r"\(10, 10\)"):
        ObstacleFilter().compute(np.ones((10, 10), np.float32), CAM)
    with pytest.raises(InvalidInputError, match="zero length"):
        ObstacleFilter(camera_height=1.0).compute(np.ones((120, 160), np.float32), CAM, gravity_optical=(0, 0, 0))
    with pytest.raises(InvalidInputError, match="voxels"):
        ObstacleFilter(leaf_size=1e-6, max_depth=100.0).compute(np.ones((120, 160), np.float32), CAM)


# -- height band ------------------------------------------------------------------------------

BOX = ((2.0, -0.3, 0.0), (2.5, 0.3, 0.5))
BAND = (0.05, 2.0)


@pytest.mark.parametrize("roll,pitch", [(0.0, 0.0), (0.0, 0.35), (0.12, 0.25), (-0.2, -0.1)])
def test_height_band_removes_floor_and_ceiling_keeps_box(roll, pitch):
    H = 1.0
    R = camera_rotation(roll, pitch)
    depth, hits = render(CAM, R, H, boxes=[BOX], ceiling=2.5, wall_x=4.0)
    g = R.T @ np.array([0.0, 0.0, -1.0])
    filt = ObstacleFilter(leaf_size=0.05, max_depth=6.0, camera_height=H, height_band=BAND)
    out = filt.compute(depth, CAM, gravity_optical=g)
    assert out.stats["height_filtered"] is True
    world = to_world(out.points, R, H)
    # centroids of in-band points are in the band (floor at 0 and ceiling at 2.5 are not)
    assert world[:, 2].min() >= BAND[0] - 1e-4 and world[:, 2].max() <= BAND[1] + 1e-4
    # the pixels in the band, counted on the ray-cast hit points
    z = hits[..., 2][(depth >= 0.1) & (depth <= 6.0)]
    assert int(((z > BAND[0] + 1e-4) & (z < BAND[1] - 1e-4)).sum()) <= out.stats["in_height_band"]
    assert out.stats["in_height_band"] <= int(((z >= BAND[0] - 1e-4) & (z <= BAND[1] + 1e-4)).sum())
    # the box's front face survives (voxelisation and isolation included)
    on_box = (np.abs(world[:, 0] - 2.0) < 0.05) & (np.abs(world[:, 1]) < 0.3) & (world[:, 2] < 0.5)
    assert on_box.sum() >= 10
    # without gravity the floor and the ceiling come through
    raw = ObstacleFilter(leaf_size=0.05, max_depth=6.0).compute(depth, CAM)
    wz = to_world(raw.points, R, H)[:, 2]
    assert raw.stats["height_filtered"] is False
    assert (wz < 0.02).sum() > 20
    if (z > 2.49).sum() > 100:  # ceiling in view (not when the camera looks down at the wall)
        assert (wz > 2.45).sum() > 20
    if roll == pitch == 0.0:
        assert (z > 2.49).sum() > 100


def test_mount_roll_pitch_equals_gravity_argument():
    roll, pitch = 0.1, 0.3
    g = gravity_from_roll_pitch(roll, pitch)
    # independent: the IMU module's inverse, and the rotation of the world's down vector
    assert np.allclose(camera_roll_pitch(g), (roll, pitch), atol=1e-12)
    np.testing.assert_allclose(g, camera_rotation(roll, pitch).T @ [0, 0, -1], atol=1e-12)
    depth, _ = render(CAM, camera_rotation(roll, pitch), 1.2, boxes=[BOX], wall_x=4.0)
    a = ObstacleFilter(camera_height=1.2, mount_roll_pitch=(roll, pitch)).compute(depth, CAM, output_frame="gravity")
    b = ObstacleFilter(camera_height=1.2).compute(depth, CAM, gravity_optical=3.0 * g, output_frame="gravity")
    np.testing.assert_array_equal(a.points, b.points)
    assert a.stats["height_filtered"] and len(a.points) > 100


# -- gravity-aligned output frame -------------------------------------------------------------

SMALL = CameraModel(9, 5, 4.0, 4.0, 4.0, 2.0)


def _single_pixels(pixels):
    depth = np.full((SMALL.height, SMALL.width), np.nan, np.float32)
    for (u, v), d in pixels.items():
        depth[v, u] = d
    return depth


def test_gravity_frame_known_points_pitched_camera():
    # pitched 30 deg down, 1 m above the floor: the optical axis hits the floor 1/tan(30) ahead.
    s, c = math.sin(math.radians(30)), math.cos(math.radians(30))
    depth = _single_pixels({(4, 2): 1.0, (6, 2): 2.0})  # optical (0, 0, 1) and (1, 0, 2)
    filt = ObstacleFilter(leaf_size=0.01, min_neighbors=0, height_band=None, camera_height=1.0)
    out = filt.compute(depth, SMALL, gravity_optical=(0.0, c, s), output_frame="gravity")
    expected = [[c, 0.0, 1.0 - s], [2 * c, -1.0, 1.0 - 2 * s]]  # forward, left, height
    np.testing.assert_allclose(_sorted(out.points)[0], _sorted(np.array(expected))[0], atol=1e-6)
    assert out.frame == "gravity"


def test_gravity_frame_known_point_rolled_camera():
    # rolled 30 deg, image right side down: a point 1 m right of the axis is 0.5 m lower.
    s, c = math.sin(math.radians(30)), math.cos(math.radians(30))
    depth = _single_pixels({(6, 2): 2.0})
    g = gravity_from_roll_pitch(math.radians(30), 0.0)
    np.testing.assert_allclose(g, (s, c, 0.0), atol=1e-12)
    out = ObstacleFilter(leaf_size=0.01, min_neighbors=0, camera_height=1.0).compute(
        depth, SMALL, gravity_optical=g, output_frame="gravity"
    )
    np.testing.assert_allclose(out.points, [[2.0, -c, 0.5]], atol=1e-6)
    # without camera_height the origin stays at the optical centre
    R, t = gravity_frame_transform(g)
    np.testing.assert_allclose(R @ [1.0, 0.0, 2.0] + t, [2.0, -c, -0.5], atol=1e-12)


def test_gravity_frame_is_a_right_handed_rotation_also_looking_down():
    for g in [(0, 1, 0), (0.3, 0.8, 0.2), (0.0, 0.0, 1.0), (0.0, 1e-9, 1.0)]:
        R, _ = gravity_frame_transform(g)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(R), 1.0)
        np.testing.assert_allclose(R @ (np.asarray(g) / np.linalg.norm(g)), [0, 0, -1], atol=1e-12)
    # looking straight down: the image's top is forward, its right side is to the right
    R, _ = gravity_frame_transform((0.0, 0.0, 1.0))
    np.testing.assert_allclose(R @ [0, -1, 0], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(R @ [1, 0, 0], [0, -1, 0], atol=1e-12)


def test_bench_nav_prints_result_line(shared_dir, capsys):
    from depth_ros.bench.nav import main

    assert main(["--shared", str(shared_dir), "--repeat", "2", "--frame", "tum_fr1_1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    fields = dict(kv.split("=") for kv in last.split()[1:])
    assert last.startswith("RESULT ") and set(fields) == {"nav_vs_open3d", "scan_ms", "ours_ms", "open3d_ms"}
    assert float(fields["nav_vs_open3d"]) == pytest.approx(float(fields["ours_ms"]) / float(fields["open3d_ms"]), rel=0.01)
