"""Radar scans: accumulation windows, projection (vs hand pinhole and cv2), clutter statistics, rasterisation."""

import cv2
import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.radar import (
    RadarAccumulator,
    RadarScan,
    clutter_check,
    project_points,
    rasterize_prior,
    reject_clutter,
    to_camera,
)
from depth_ros.core.sampling import window_median
from depth_ros.core.transforms import RigidTransform, so3_exp

S = 1_000_000_000  # ns per second
PLUMB_BOB = [-0.28, 0.07, 0.001, -0.0005, 0.01]


def _scan(t_s, n=5, **fields):
    pts = np.column_stack([np.linspace(1, 5, n), np.zeros(n), np.zeros(n)])
    return RadarScan(stamp_ns=int(round(t_s * S)), points=pts, fields=fields, frame_id="radar")


# -- RadarScan ---------------------------------------------------------------------------------


def test_scan_validates_and_sanitises():
    pts = np.array([[1.0, 0, 0], [np.nan, 0, 0], [2.0, np.inf, 0], [3.0, 1, 1]])
    scan = RadarScan(7, pts, {"snr": [1, 2, 3, 4]}, "radar")
    clean, dropped = scan.sanitised()
    assert dropped == 2 and len(clean) == 2
    np.testing.assert_array_equal(clean.points, [[1.0, 0, 0], [3.0, 1, 1]])
    np.testing.assert_array_equal(clean.fields["snr"], [1, 4])
    assert clean.stamp_ns == 7 and clean.frame_id == "radar"
    assert len(RadarScan(0, np.zeros((0, 3)))) == 0
    with pytest.raises(InvalidInputError, match="snr"):
        RadarScan(0, pts, {"snr": [1, 2]})
    with pytest.raises(InvalidInputError, match=r"\(N, 3\)"):
        RadarScan(0, np.zeros((4, 2)))


# -- accumulator -------------------------------------------------------------------------------


def test_accumulator_window_takes_newest_fresh_scans():
    acc = RadarAccumulator(max_scans=3, max_age_s=0.5, future_tolerance_s=0.05)
    for i in range(11):
        acc.add(_scan(i / 10))
    got = [s.stamp_ns for s in acc.scans_for(int(0.55 * S))]
    # window [0.05, 0.60]: 0.1 .. 0.6 qualify, the newest three are returned oldest first
    assert got == [int(0.4 * S), int(0.5 * S), int(0.6 * S)]
    got = [s.stamp_ns for s in acc.scans_for(int(0.54 * S))]  # 0.6 is now 0.06 s in the future
    assert got == [int(0.3 * S), int(0.4 * S), int(0.5 * S)]


def test_accumulator_never_returns_stale_scans():
    acc = RadarAccumulator(max_scans=3, max_age_s=0.5, history_s=10.0)
    acc.add(_scan(1.0))
    acc.add(_scan(1.2))
    assert [s.stamp_ns for s in acc.scans_for(int(1.7 * S))] == [int(1.2 * S)]
    assert acc.scans_for(int(1.71 * S)) == []
    assert acc.stats.queries_empty == 1 and acc.stats.queries_stale == 1
    # Nothing held at or before the image: empty but not stale.
    assert acc.scans_for(int(0.2 * S)) == []
    assert acc.stats.queries_empty == 2 and acc.stats.queries_stale == 1


def test_accumulator_serves_a_late_image_from_history():
    acc = RadarAccumulator(max_scans=2, max_age_s=0.2, history_s=1.0)
    for i in range(20):
        acc.add(_scan(i * 0.05))  # newest at 0.95 s
    assert [s.stamp_ns for s in acc.scans_for(int(0.3 * S))] == [int(0.3 * S), int(0.35 * S)]
    assert acc.scans_for(int(-0.3 * S)) == []  # older than history: forgotten


def test_accumulator_resets_on_backwards_jump_and_on_request():
    acc = RadarAccumulator()
    assert acc.add(_scan(10.0)) is False
    assert acc.add(_scan(10.1)) is False
    assert acc.add(_scan(2.0)) is True
    assert len(acc) == 1 and acc.stats.time_jumps == 1
    assert [s.stamp_ns for s in acc.scans_for(2 * S)] == [2 * S]
    acc.reset()
    assert len(acc) == 0 and acc.scans_for(2 * S) == []


def test_accumulator_drops_nonfinite_rows():
    acc = RadarAccumulator()
    scan = _scan(1.0, n=4)
    scan.points[1, 0] = np.nan
    acc.add(scan)
    assert acc.stats.points_nonfinite == 1 and len(acc.scans_for(S)[0]) == 3


def test_point_cap_keeps_strongest_by_snr_then_intensity():
    acc = RadarAccumulator(max_scans=3, max_points=30)
    rng = np.random.default_rng(0)
    snr = rng.permutation(100).astype(float)
    acc.add(_scan(1.0, n=100, snr=snr, intensity=-snr))
    kept = acc.scans_for(S)[0]
    np.testing.assert_array_equal(np.sort(kept.fields["snr"]), np.arange(90, 100))
    assert acc.stats.points_truncated == 90
    acc2 = RadarAccumulator(max_scans=3, max_points=30)
    acc2.add(_scan(1.0, n=100, intensity=snr))
    np.testing.assert_array_equal(np.sort(acc2.scans_for(S)[0].fields["intensity"]), np.arange(90, 100))


def test_point_cap_random_subset_is_seeded_and_uniform():
    def kept_x(seed):
        acc = RadarAccumulator(max_scans=1, max_points=200, seed=seed)
        acc.add(_scan(1.0, n=1000))
        return acc.scans_for(S)[0].points[:, 0]

    a, b, c = kept_x(0), kept_x(0), kept_x(1)
    assert a.size == 200 and np.unique(a).size == 200
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # A uniform subset of linspace(1, 5): its mean is near 3 (sd of the mean ~0.08).
    assert abs(a.mean() - 3.0) < 0.3


def test_held_points_are_capped_by_evicting_oldest_scans():
    acc = RadarAccumulator(max_scans=3, max_points=30)
    for i in range(5):
        acc.add(_scan(1.0 + i * 0.01, n=10))
    assert acc.points_held == 30 and len(acc) == 3 and acc.stats.scans_evicted == 2
    assert len(acc.scans_for(int(1.04 * S))) == 3


def test_million_point_cloud_is_bounded():
    acc = RadarAccumulator(max_scans=3, max_points=20000)
    big = RadarScan(S, np.random.default_rng(0).normal(size=(1_000_000, 3)),
                    {"snr": np.arange(1_000_000, dtype=float)})
    acc.add(big)
    (kept,) = acc.scans_for(S)
    assert len(kept) == 20000 // 3 and kept.fields["snr"].min() == 1_000_000 - 20000 // 3
    assert acc.stats.points_truncated == 1_000_000 - 20000 // 3


# -- geometry ----------------------------------------------------------------------------------


def test_to_camera_applies_extrinsic_then_motion():
    rng = np.random.default_rng(3)
    T = RigidTransform(so3_exp([0.1, -0.2, 0.05]), [0.1, -0.02, 0.03])
    Rm, tm = so3_exp([0.01, 0.02, -0.03]), np.array([0.0, 0.01, -0.05])
    p = rng.normal(size=(10, 3))
    ref = np.array([Rm @ (T.R @ q + T.t) + tm for q in p])
    np.testing.assert_allclose(to_camera(p, T, Rm, tm), ref, atol=1e-12)
    np.testing.assert_allclose(to_camera(p, T), T.apply(p), atol=1e-12)
    np.testing.assert_allclose(to_camera(p, T, t_motion=tm), T.apply(p) + tm, atol=1e-12)
    with pytest.raises(InvalidInputError, match="R_motion"):
        to_camera(p, T, np.eye(2))


def test_projection_pinhole_hand_computed():
    cam = CameraModel(640, 480, 500.0, 500.0, 320.0, 240.0)
    proj = project_points(np.array([[0.2, -0.1, 2.0], [0.0, 0.0, 4.0]]), cam, 0.1, 10.0)
    np.testing.assert_allclose(proj.uv, [[370.0, 215.0], [320.0, 240.0]])
    np.testing.assert_allclose(proj.depth, [2.0, 4.0])
    np.testing.assert_array_equal(proj.index, [0, 1])


def test_projection_counts_each_drop_reason_once():
    cam = CameraModel(640, 480, 500.0, 500.0, 320.0, 240.0)
    pts = np.array([
        [0.0, 0.0, 3.0],  # kept
        [np.nan, 0.0, 3.0],  # non-finite
        [0.0, 0.0, -2.0],  # behind
        [10.0, 0.0, -1.0],  # behind (even if far off-axis)
        [0.0, 0.0, 0.2],  # too near
        [0.0, 0.0, 60.0],  # too far
        [5.0, 0.0, 1.0],  # outside the image (u = 2820)
        [0.0, 0.49, 1.0],  # v = 485 > 479.5: outside
        [0.1, 0.1, 1.0],  # kept
    ])
    proj = project_points(pts, cam, 0.5, 50.0)
    np.testing.assert_array_equal(proj.index, [0, 8])
    assert (proj.n_input, proj.n_nonfinite, proj.n_behind, proj.n_out_of_range, proj.n_outside_image) == (9, 1, 2, 2, 2)
    assert len(project_points(np.zeros((0, 3)), cam)) == 0
    with pytest.raises(InvalidInputError, match="min_depth"):
        project_points(pts, cam, 5.0, 1.0)


@pytest.mark.parametrize("model,D", [("plumb_bob", PLUMB_BOB),
                                     ("rational_polynomial", [0.5, -0.1, 0.001, 0.001, 0.01, 0.8, -0.05, 0.02]),
                                     ("equidistant", [0.1, -0.02, 0.003, -0.001])])
def test_projection_matches_opencv_with_distortion(model, D):
    cam = CameraModel(640, 480, 500.0, 505.0, 321.3, 238.7, model, D)
    rng = np.random.default_rng(5)
    pts = np.column_stack([rng.uniform(-0.9, 0.9, 400), rng.uniform(-0.7, 0.7, 400), np.ones(400)])
    pts *= rng.uniform(0.5, 20.0, (400, 1))
    if model == "equidistant":
        ref, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), cam.K, np.array(D))
    else:
        ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.K, np.array(D))
    ref = ref.reshape(-1, 2)
    inside = (ref[:, 0] > -0.5) & (ref[:, 0] < 639.5) & (ref[:, 1] > -0.5) & (ref[:, 1] < 479.5)
    proj = project_points(pts, cam, 0.0, 100.0)
    assert 50 < inside.sum() < 400
    np.testing.assert_array_equal(proj.index, np.flatnonzero(inside))
    np.testing.assert_allclose(proj.uv, ref[inside], atol=1e-6)
    assert proj.n_outside_image == 400 - inside.sum()


def test_projection_rejects_points_the_distortion_polynomial_folds_into_the_image():
    cam = CameraModel(640, 480, 500.0, 500.0, 320.0, 240.0, "plumb_bob", [-0.3, 0, 0, 0, 0])
    far_off_axis = np.array([[2.0, 0.0, 1.0]])  # 63 deg off axis: x_d = 2 * (1 - 0.3 * 4) = -0.4
    uv, _ = cam.project(far_off_axis)
    assert cam.in_image(uv)[0]  # the raw polynomial would put it at u = 120
    proj = project_points(far_off_axis, cam)
    assert len(proj) == 0 and proj.n_outside_image == 1


# -- clutter rejection -------------------------------------------------------------------------


def _scene(h=240, w=320):
    """Depth (metres): a receding floor/wall gradient with three boxes at different depths."""
    vv, uu = np.mgrid[0:h, 0:w]
    depth = 9.0 - 6.0 * (vv / h) ** 1.5 + 1.0 * (uu / w)
    depth[40:120, 30:100] = 2.0
    depth[100:200, 150:220] = 3.5
    depth[20:90, 230:300] = 5.5
    return depth


def _network_maps(depth, rng, kind):
    h, w = depth.shape
    vv, uu = np.mgrid[0:h, 0:w]
    smooth = 0.04 * np.sin(uu / 37.0) * np.cos(vv / 23.0)  # low-frequency relative error
    noisy = depth * np.exp(smooth + rng.normal(0.0, 0.02, depth.shape))
    if kind == "metric":
        return 1.3 * noisy  # metric network with a 30 % scale error
    return 4.0 / noisy + 0.25  # relative inverse depth: unknown scale and shift


def _radar_points(depth, rng, n, clutter_fraction, cam):
    h, w = depth.shape
    v = rng.integers(3, h - 3, n)
    u = rng.integers(3, w - 3, n)
    z_true = depth[v, u]
    z = z_true + rng.normal(0.0, 0.05 + 0.01 * z_true)
    clutter = rng.random(n) < clutter_fraction
    z[clutter] = rng.uniform(0.3, 1.5 * depth.max(), clutter.sum())
    pts = np.column_stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z])
    return pts, clutter, z_true


@pytest.mark.parametrize("kind", ["metric", "inverse"])
def test_clutter_rejection_statistics(kind):
    rng = np.random.default_rng(11)
    depth = _scene()
    cam = CameraModel(320, 240, 250.0, 250.0, 159.5, 119.5)
    kept_good = n_good = caught = n_gross = kept_clean = n_clean = 0
    for _ in range(60):
        net = _network_maps(depth, rng, kind)
        # A clean scan: noise only, no clutter.
        pts, _, _ = _radar_points(depth, rng, int(rng.integers(20, 61)), 0.0, cam)
        keep = reject_clutter(project_points(pts, cam, 0.1, 50.0), net, kind)
        kept_clean += keep.sum()
        n_clean += keep.size
        # A scan with 15 % clutter at random ranges on the right pixels.
        pts, clutter, z_true = _radar_points(depth, rng, int(rng.integers(20, 61)), 0.15, cam)
        proj = project_points(pts, cam, 0.1, 50.0)
        assert len(proj) == len(pts)
        keep = reject_clutter(proj, net, kind)
        gross = clutter & (np.abs(np.log(pts[:, 2] / z_true)) > 0.3)
        kept_good += keep[~clutter].sum()
        n_good += (~clutter).sum()
        caught += (~keep[gross]).sum()
        n_gross += gross.sum()
    assert 1 - kept_clean / n_clean < 0.05
    assert 1 - kept_good / n_good < 0.05
    assert n_gross > 100 and caught / n_gross > 0.9


def test_ordering_stage_alone_rejects_ghosts():
    # Residual test switched off (huge floor): only the network ordering can catch clutter.
    rng = np.random.default_rng(12)
    depth = _scene()
    cam = CameraModel(320, 240, 250.0, 250.0, 159.5, 119.5)
    kept_good = n_good = caught = n_gross = 0
    for _ in range(40):
        net = _network_maps(depth, rng, "metric")
        pts, clutter, z_true = _radar_points(depth, rng, 50, 0.15, cam)
        check = clutter_check(project_points(pts, cam, 0.1, 50.0), net, "metric", floor=100.0)
        assert check.n_residual == 0
        gross = clutter & (np.abs(np.log(pts[:, 2] / z_true)) > 0.5)
        kept_good += check.keep[~clutter].sum()
        n_good += (~clutter).sum()
        caught += (~check.keep[gross]).sum()
        n_gross += gross.sum()
    assert 1 - kept_good / n_good < 0.05
    assert caught / n_gross > 0.7


@pytest.mark.parametrize("kind", ["metric", "inverse"])
def test_heavy_clutter_and_dense_clouds(kind):
    # 35 % clutter in a 3000-point cloud (the ordering stage switches to its reference subset).
    rng = np.random.default_rng(14)
    depth = _scene()
    cam = CameraModel(320, 240, 250.0, 250.0, 159.5, 119.5)
    net = _network_maps(depth, rng, kind)
    pts, clutter, z_true = _radar_points(depth, rng, 3000, 0.35, cam)
    check = clutter_check(project_points(pts, cam, 0.1, 50.0), net, kind)
    gross = clutter & (np.abs(np.log(pts[:, 2] / z_true)) > 0.3)
    assert 1 - check.keep[~clutter].mean() < 0.05
    assert 1 - check.keep[gross].mean() > 0.9


def test_clutter_fit_recovers_the_network_scale_and_shift():
    rng = np.random.default_rng(13)
    depth = _scene()
    cam = CameraModel(320, 240, 250.0, 250.0, 159.5, 119.5)
    pts, _, _ = _radar_points(depth, rng, 60, 0.15, cam)
    proj = project_points(pts, cam, 0.1, 50.0)
    metric = clutter_check(proj, 1.3 * depth, "metric")
    assert np.exp(metric.params[0]) == pytest.approx(1 / 1.3, rel=0.02)
    inverse = clutter_check(proj, 4.0 / depth + 0.25, "inverse")
    s, c = inverse.params  # 1/d = (net - 0.25) / 4
    assert s == pytest.approx(0.25, rel=0.05) and c == pytest.approx(-0.0625, abs=0.01)


def test_clutter_unverifiable_and_too_few_points():
    cam = CameraModel(64, 48, 50.0, 50.0, 31.5, 23.5)
    net = np.full((48, 64), 2.0)
    net[:, :20] = np.nan
    pts = np.array([[(u - 31.5) / 50.0 * 2.0, 0.0, 2.0] for u in (5.0, 30.0, 40.0, 50.0)])
    proj = project_points(pts, cam)
    np.testing.assert_array_equal(reject_clutter(proj, net, "metric"), [False, True, True, True])
    np.testing.assert_array_equal(reject_clutter(proj, net, "metric", keep_unverified=True), [True] * 4)
    with pytest.raises(InvalidInputError, match="kind"):
        reject_clutter(proj, net, "disparity")
    with pytest.raises(InvalidInputError, match="outside"):
        reject_clutter(proj, net[:10, :10], "metric")


def test_window_median_is_robust_at_edges_and_ignores_invalid():
    img = np.full((20, 20), 4.0, np.float32)
    img[:, 10:] = 9.0
    img[5, 5] = np.nan
    img[6, 6] = 0.0
    # 5x5 box at u=8: 3 columns of 4 m, 2 of 9 m -> 4; at the border the box is clipped.
    out = window_median(img, np.array([[8.0, 10.0], [11.0, 10.0], [0.0, 0.0], [5.0, 5.0]]), 5)
    np.testing.assert_allclose(out, [4.0, 9.0, 4.0, 4.0])
    # Interior points take a separate fast path; it must agree with a per-point reference.
    rng = np.random.default_rng(4)
    big = rng.uniform(1.0, 5.0, (40, 50))
    big[rng.random(big.shape) < 0.2] = np.nan
    uv = rng.uniform(3.0, 45.0, (30, 2)) * [1.0, 0.8]
    ref = [np.nanmedian(big[int(round(v)) - 2:int(round(v)) + 3, int(round(u)) - 2:int(round(u)) + 3]) for u, v in uv]
    np.testing.assert_allclose(window_median(big, uv, 5), ref)
    allbad = np.full((5, 5), np.nan)
    assert np.isnan(window_median(allbad, np.array([[2.0, 2.0]]), 3))[0]
    # Inverse maps may hold zeros (sky) as valid values.
    assert window_median(np.zeros((5, 5)), np.array([[2.0, 2.0]]), 3, positive=False)[0] == 0.0


# -- rasterisation -----------------------------------------------------------------------------


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_overlapping_discs_take_the_nearer_depth(order):
    uv = np.array([[10.0, 10.0], [14.0, 10.0]])[order]
    depth = np.array([2.0, 5.0])[order]
    prior, mask = rasterize_prior(uv, depth, (20, 30), radius_px=3)
    assert prior.dtype == np.float32 and mask.dtype == bool
    assert prior[10, 12] == 2.0  # overlap: nearer wins, not 2 + 5
    assert prior[10, 11] == 2.0 and prior[10, 13] == 2.0
    assert prior[10, 17] == 5.0 and prior[10, 7] == 2.0
    assert prior.max() == 5.0
    np.testing.assert_array_equal(mask, prior > 0)


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 8])
def test_disc_has_the_euclidean_radius(radius):
    prior, mask = rasterize_prior(np.array([[20.4, 19.6]]), np.array([3.0]), (40, 41), radius)
    dv, du = np.mgrid[0:40, 0:41]
    ref = (du - 20) ** 2 + (dv - 20) ** 2 <= radius * radius
    np.testing.assert_array_equal(mask, ref)
    assert mask.sum() == {0: 1, 1: 5, 2: 13, 3: 29, 5: 81, 8: 197}[radius]
    np.testing.assert_array_equal(prior[mask], 3.0)


def test_rasterize_clips_at_the_border_and_validates():
    prior, mask = rasterize_prior(np.array([[-2.0, 5.0], [1e12, 5.0]]), np.array([1.0, 2.0]), (10, 10), 3)
    assert mask.sum() == 6  # column 0: dv in -2..2; column 1: dv = 0
    empty, m = rasterize_prior(np.zeros((0, 2)), np.zeros(0), (4, 5), 2)
    assert empty.shape == (4, 5) and not m.any()
    with pytest.raises(InvalidInputError, match="depth"):
        rasterize_prior(np.array([[1.0, 1.0]]), np.array([0.0]), (4, 5), 1)
    with pytest.raises(InvalidInputError, match="radius"):
        rasterize_prior(np.array([[1.0, 1.0]]), np.array([1.0]), (4, 5), -1)


def test_inverse_map_sky_pixels_reject_returns_there():
    # Relative inverse depth is ~0 in the sky; 1/d = s * net + c with c < 0 puts it beyond infinity.
    rng = np.random.default_rng(15)
    depth = _scene()
    cam = CameraModel(320, 240, 250.0, 250.0, 159.5, 119.5)
    net = 4.0 / depth + 0.25  # 1/d = net / 4 - 0.0625
    net[:15, :] = 0.0  # sky band
    pts, _, _ = _radar_points(depth, rng, 40, 0.0, cam)
    sky = np.array([[(u - 159.5) / 250.0 * 12.0, (5.0 - 119.5) / 250.0 * 12.0, 12.0] for u in (40.0, 160.0, 280.0)])
    check = clutter_check(project_points(np.vstack([pts, sky]), cam, 0.1, 50.0), net, "inverse")
    assert check.fitted and check.params[1] == pytest.approx(-0.0625, abs=0.01)
    assert np.all(np.isinf(check.residual[-3:])) and not check.keep[-3:].any()
    v_good = pts[:, 1] / pts[:, 2] * 250.0 + 119.5
    assert check.keep[:-3][v_good > 17.5].mean() > 0.95
    assert (v_good < 12.5).sum() >= 1 and not check.keep[:-3][v_good < 12.5].any()  # "sky" per the network
