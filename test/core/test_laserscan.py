"""DepthToScan on analytically rendered scenes: walls, boxes, REP-117 cases, gravity band."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.laserscan import DepthToScan

W, H = 640, 480
CAM = CameraModel(W, H, 500.0, 500.0, 319.5, 239.5)
OFF_CENTRE = CameraModel(W, H, 520.0, 515.0, 300.0, 250.0)
R_LEVEL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def column_angles(cam: CameraModel) -> np.ndarray:
    """Scan angle of each column of a pinhole camera: right of the axis is negative."""
    return np.arctan2(-(np.arange(cam.width) - cam.cx) / cam.fx, 1.0)


def beam_angles(scan) -> np.ndarray:
    return scan.angle_min + np.arange(scan.ranges.size) * scan.angle_increment


def expected_from_columns(scan, col_angles: np.ndarray, col_values: np.ndarray, slack: float = 0.0) -> np.ndarray:
    """Per beam: min over the columns within half an increment (+ slack), else the nearest column."""
    out = np.empty(scan.ranges.size)
    for k, th in enumerate(beam_angles(scan)):
        near = np.abs(col_angles - th) <= scan.angle_increment / 2 + slack
        out[k] = col_values[near].min() if near.any() else col_values[np.argmin(np.abs(col_angles - th))]
    return out


def assert_ranges_from_columns(scan, col_angles: np.ndarray, col_values: np.ndarray, rtol: float) -> None:
    """scan.ranges equal `expected_from_columns`; a column within 1e-6 rad of a beam boundary
    (float32 rays) may fall on either side."""
    lo = expected_from_columns(scan, col_angles, col_values, 1e-6)
    hi = expected_from_columns(scan, col_angles, col_values, -1e-6)
    r = scan.ranges.astype(np.float64)
    bad = ~((r >= lo * (1 - rtol)) & (r <= hi * (1 + rtol)))
    assert not bad.any(), f"beams {np.flatnonzero(bad)[:10]}: {r[bad][:5]} not in [{lo[bad][:5]}, {hi[bad][:5]}]"


def wall_depth(cam: CameraModel, nx: float, nz: float, d: float) -> np.ndarray:
    """Optical depth of the vertical plane x * nx + z * nz = d for every pixel (NaN behind)."""
    rx = np.broadcast_to(cam.rays.x.astype(np.float64), (cam.height, cam.width))
    with np.errstate(divide="ignore"):
        t = d / (rx * nx + nz)
    return np.where(t > 0, t, np.nan).astype(np.float32)


# -- geometry -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cam", [CAM, OFF_CENTRE])
def test_angles_and_order(cam):
    scan = DepthToScan().compute(np.full((H, W), 3.0, np.float32), cam)
    assert scan.angle_min == pytest.approx(-math.atan((W - 1 - cam.cx) / cam.fx), abs=1e-7)
    assert scan.angle_max == pytest.approx(math.atan(cam.cx / cam.fx), abs=1e-7)
    assert scan.ranges.shape == (W,) and scan.ranges.dtype == np.float32
    assert scan.angle_increment == pytest.approx((scan.angle_max - scan.angle_min) / (W - 1), rel=1e-12)
    assert scan.frame == "camera"


@pytest.mark.parametrize("nx,nz,d", [(0.0, 1.0, 3.0), (0.5, math.sqrt(0.75), 3.0), (-0.6, 0.8, 2.0)])
@pytest.mark.parametrize("cam", [CAM, OFF_CENTRE])
def test_wall_ranges_per_beam(cam, nx, nz, d):
    depth = wall_depth(cam, nx, nz, d)
    scan = DepthToScan(range_max=20.0).compute(depth, cam)
    th = column_angles(cam)
    # in the scan plane (x forward = optical z, y left = -optical x) the wall is at
    # rho(theta) = d / (nz cos(theta) - nx sin(theta))
    rho = d / (nz * np.cos(th) - nx * np.sin(th))
    assert_ranges_from_columns(scan, th, rho, rtol=1e-4)


def test_beams_follow_rep103_order():
    # an obstacle on the image's RIGHT side (optical +x) is at negative angles: the first beams
    depth = np.full((H, W), 20.0, np.float32)
    depth[:, 500:560] = 2.0
    scan = DepthToScan().compute(depth, CAM)
    hit = np.flatnonzero(np.isfinite(scan.ranges))
    th = beam_angles(scan)[hit]
    cols = column_angles(CAM)
    assert (th < 0).all() and hit.max() < W // 2
    assert th.min() >= cols[559] - scan.angle_increment and th.max() <= cols[500] + scan.angle_increment
    assert np.isposinf(scan.ranges[~np.isfinite(scan.ranges)]).all()
    # flipped image: the obstacle moves to positive angles (the last beams)
    flipped = DepthToScan().compute(np.ascontiguousarray(depth[:, ::-1]), CAM)
    assert np.flatnonzero(np.isfinite(flipped.ranges)).min() > W // 2


def test_angle_step_gives_coarser_uniform_beams():
    step = math.radians(0.5)
    depth = wall_depth(CAM, 0.0, 1.0, 3.0)
    scan = DepthToScan(angle_step=step).compute(depth, CAM)
    fov = math.atan(CAM.cx / CAM.fx) + math.atan((W - 1 - CAM.cx) / CAM.fx)
    assert scan.ranges.size == round(fov / step) + 1 and scan.angle_increment == step
    assert scan.angle_min == pytest.approx(-math.atan((W - 1 - CAM.cx) / CAM.fx))
    assert abs(scan.angle_max - math.atan(CAM.cx / CAM.fx)) <= step / 2
    th = column_angles(CAM)
    assert_ranges_from_columns(scan, th, 3.0 / np.cos(th), rtol=1e-4)


def test_distorted_camera_uses_undistorted_rays():
    D = (-0.28, 0.09, 0.0005, -0.0005, 0.0)
    cam = CameraModel(W, H, 500.0, 500.0, 319.5, 239.5, "plumb_bob", D)
    # independent angles of the edge pixels of the centre row (the pixel row nearest cy)
    K = cam.K
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    edge = cv2.undistortPoints(np.array([[[0.0, 240.0]], [[639.0, 240.0]]]), K, np.array(D), criteria=criteria)
    edge = edge.reshape(-1, 2)
    scan = DepthToScan(range_max=20.0).compute(wall_depth(cam, 0.0, 1.0, 3.0), cam)
    assert scan.angle_max == pytest.approx(math.atan(-edge[0, 0]), abs=1e-5)
    assert scan.angle_min == pytest.approx(math.atan(-edge[1, 0]), abs=1e-5)
    # frontal wall: each beam's range is 3 / cos(angle) of a ray within its beam (band rows
    # differ slightly under distortion, so the angle bound is one increment)
    th = beam_angles(scan)
    lo = 3.0 / np.cos(np.maximum(np.abs(th) - scan.angle_increment, 0.0))
    hi = 3.0 / np.cos(np.abs(th) + scan.angle_increment)
    assert ((scan.ranges >= lo * (1 - 1e-5)) & (scan.ranges <= hi * (1 + 1e-5))).all()
    # ignoring distortion the edge angles would be ~9 deg narrower
    assert scan.angle_max - math.atan(319.5 / 500.0) > math.radians(2)


# -- row band and REP-117 -------------------------------------------------------------------------


def test_obstacle_only_in_row_band():
    scan_rows = 10
    r0 = int(CAM.cy - scan_rows / 2)  # depthimage_to_laserscan's first row: 234
    depth = np.full((H, W), 20.0, np.float32)  # far wall beyond range_max: +inf
    depth[r0 : r0 + scan_rows, 300:340] = 2.0  # inside the band
    depth[0:200, 100:200] = 1.0  # above the band: not in the scan
    depth[r0 + scan_rows :, 400:500] = 1.0  # below the band
    scan = DepthToScan(scan_height_rows=scan_rows).compute(depth, CAM)
    th = column_angles(CAM)
    col_range = np.where((np.arange(W) >= 300) & (np.arange(W) < 340), 2.0 * np.sqrt(1 + np.tan(th) ** 2), np.inf)
    assert_ranges_from_columns(scan, th, col_range, rtol=1e-5)
    assert np.isfinite(scan.ranges).sum() >= 35
    # one row of the obstacle in the band is enough; rows just outside are not
    for rows, seen in [((r0, r0 + 1), True), ((r0 + scan_rows - 1, r0 + scan_rows), True),
                       ((r0 - 1, r0), False), ((r0 + scan_rows, r0 + scan_rows + 1), False)]:
        d = np.full((H, W), 20.0, np.float32)
        d[rows[0] : rows[1], 300:340] = 2.0
        assert np.isfinite(DepthToScan(scan_height_rows=scan_rows).compute(d, CAM).ranges).any() == seen, rows


def _beams_inside(scan, c0: int, c1: int) -> np.ndarray:
    """Beams whose angle lies well inside the angles of columns c0..c1-1."""
    cols = column_angles(CAM)
    th = beam_angles(scan)
    margin = 2 * scan.angle_increment
    return np.flatnonzero((th < cols[c0] - margin) & (th > cols[c1 - 1] + margin))


def test_rep117_values():
    depth = np.full((H, W), 3.0, np.float32)
    depth[:, 0:100] = np.nan  # invalid -> NaN
    depth[:, 100:200] = 20.0  # beyond range_max -> +inf
    depth[:, 200:280] = 0.05  # closer than range_min -> -inf
    depth[:, 280:340] = 0.0  # zero = invalid -> NaN
    # mixed columns: one finite in-range pixel wins over everything else
    depth[:, 340:400] = np.nan
    depth[238, 340:400] = 4.0
    depth[236, 340:400] = 0.05
    depth[237, 340:400] = 20.0
    # too close beats beyond range beats invalid
    depth[:, 400:460] = np.nan
    depth[236, 400:460] = 0.05
    depth[237, 400:460] = 20.0
    depth[:, 460:520] = np.nan
    depth[237, 460:520] = 20.0
    scan = DepthToScan(range_min=0.1, range_max=8.0).compute(depth, CAM)
    r = scan.ranges
    assert np.isnan(r[_beams_inside(scan, 0, 100)]).all()
    assert np.isposinf(r[_beams_inside(scan, 100, 200)]).all()
    assert np.isneginf(r[_beams_inside(scan, 200, 280)]).all()
    assert np.isnan(r[_beams_inside(scan, 280, 340)]).all()
    mixed = _beams_inside(scan, 340, 400)
    th = beam_angles(scan)[mixed]
    np.testing.assert_allclose(r[mixed], 4.0 / np.cos(th), rtol=2e-3)
    assert np.isneginf(r[_beams_inside(scan, 400, 460)]).all()
    assert np.isposinf(r[_beams_inside(scan, 460, 520)]).all()
    assert np.isfinite(r[_beams_inside(scan, 520, 640)]).all()
    assert len(_beams_inside(scan, 0, 100)) > 50


def test_all_nan_image_gives_all_nan_scan():
    scan = DepthToScan().compute(np.full((H, W), np.nan, np.float32), CAM)
    assert np.isnan(scan.ranges).all() and scan.ranges.size == W


# -- gravity band -----------------------------------------------------------------------------------


def render_world(cam, roll, pitch, height, wall_x=None, boxes=()):
    R_wo = Rotation.from_euler("xyz", [roll, pitch, 0.0]).as_matrix() @ R_LEVEL
    r = np.stack(np.broadcast_arrays(cam.rays.x.astype(np.float64), cam.rays.y.astype(np.float64), np.ones((1, 1))), -1)
    w = r @ R_wo.T
    o = np.array([0.0, 0.0, height])
    t = np.full(w.shape[:2], np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(w[..., 2] < 0, -height / w[..., 2], t)
        if wall_x is not None:
            t = np.where(w[..., 0] > 0, np.minimum(t, wall_x / w[..., 0]), t)
        for lo, hi in boxes:
            t0, t1 = (np.asarray(lo) - o) / w, (np.asarray(hi) - o) / w
            tn = np.nanmax(np.minimum(t0, t1), axis=-1)
            tf = np.nanmin(np.maximum(t0, t1), axis=-1)
            t = np.where((tn <= tf) & (tn > 0), np.minimum(t, tn), t)
    depth = np.where(np.isfinite(t), t, np.nan).astype(np.float32)
    return depth, R_wo.T @ np.array([0.0, 0.0, -1.0])


@pytest.mark.parametrize("roll,pitch", [(0.0, math.radians(20)), (math.radians(8), math.radians(15))])
def test_gravity_band_ignores_floor_of_tilted_camera(roll, pitch):
    depth, g = render_world(CAM, roll, pitch, 1.0, wall_x=3.0)
    grav = DepthToScan(use_gravity_band=True, camera_height=1.0, height_band=(0.05, 2.0)).compute(depth, CAM, g)
    assert grav.frame == "gravity"
    # the wall x = 3 (gravity frame) is at horizontal range 3 / cos(azimuth); a beam's pixels lie
    # within half an increment of its angle, or (beams between two pixels of a row) within half a
    # pixel pitch, 1 / (2 fx cos(pitch)) < one increment
    th = np.abs(beam_angles(grav))
    half = grav.angle_increment
    assert 1.0 / (2 * CAM.fx * math.cos(pitch)) < half
    lo = 3.0 / np.cos(np.maximum(th - half, 0.0))
    hi = 3.0 / np.cos(th + half)
    r = grav.ranges
    assert np.isfinite(r).all()
    assert ((r >= lo * (1 - 1e-5)) & (r <= hi * (1 + 1e-5))).all()
    if roll == 0.0:
        # the row band of a camera pitched down 20 deg sees the floor, nearer than the wall: the
        # lowest band row's ray (y_ray = ry) meets it at optical depth 1 / (sin p + ry cos p)
        band = DepthToScan(scan_height_rows=10).compute(depth, CAM)
        centre = int(np.argmin(np.abs(beam_angles(band))))
        ry = (int(CAM.cy - 5) + 9 - CAM.cy) / CAM.fy
        floor_range = 1.0 / (math.sin(pitch) + ry * math.cos(pitch))
        assert band.ranges[centre] == pytest.approx(floor_range, rel=1e-5) and floor_range < 3.0


def test_gravity_band_sees_box_on_floor_and_floor_only_is_no_return():
    pitch = math.radians(25)
    box = ((1.5, -0.2, 0.0), (1.8, 0.2, 0.3))
    depth, g = render_world(CAM, 0.0, pitch, 1.0, boxes=[box])
    scan = DepthToScan(use_gravity_band=True, camera_height=1.0).compute(depth, CAM, g)
    th = beam_angles(scan)
    front = np.abs(th) < math.atan(0.19 / 1.5)
    np.testing.assert_allclose(scan.ranges[front], 1.5 / np.cos(th[front]), rtol=2e-3)
    clear = np.abs(th) > math.atan(0.21 / 1.5)
    assert np.isposinf(scan.ranges[clear]).all()  # floor only: no obstacle within range (REP-117)
    # a band starting above the box top sees no obstacle at all
    low = DepthToScan(use_gravity_band=True, camera_height=1.0, height_band=(0.35, 2.0)).compute(depth, CAM, g)
    assert np.isposinf(low.ranges).all()


def test_gravity_band_needs_height_and_gravity():
    with pytest.raises(InvalidInputError, match="camera_height"):
        DepthToScan(use_gravity_band=True)
    with pytest.raises(InvalidInputError, match="gravity_optical"):
        DepthToScan(use_gravity_band=True, camera_height=1.0).compute(np.ones((H, W), np.float32), CAM)
    with pytest.raises(InvalidInputError, match=r"\[5.0, 1.0\]"):
        DepthToScan(range_min=5.0, range_max=1.0)
    with pytest.raises(InvalidInputError, match=r"\(10, 10\)"):
        DepthToScan().compute(np.ones((10, 10), np.float32), CAM)
    with pytest.raises(InvalidInputError, match="angle_step"):
        DepthToScan(angle_step=0.0)
