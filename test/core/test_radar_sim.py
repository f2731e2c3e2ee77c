"""The radar simulator: determinism, counts and noise statistics of seeded draws, geometry round trips."""

import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.radar import project_points, reject_clutter
from depth_ros.sim.radar import default_radar_extrinsic, simulate_radar

CAM = CameraModel(160, 120, 110.0, 112.0, 79.3, 60.2, "plumb_bob", [-0.2, 0.05, 0.001, -0.001, 0.0])
PINHOLE = CameraModel(160, 120, 110.0, 110.0, 79.5, 59.5)


def _two_walls():
    """Left half 1.5 m, right half 9 m (optical z), a NaN stripe in between."""
    depth = np.full((120, 160), 9.0)
    depth[:, :75] = 1.5
    depth[:, 75:85] = np.nan
    return depth


def _spherical(p):
    # Independent of the module: range, azimuth, elevation in REP-103 body axes.
    return np.linalg.norm(p, axis=1), np.arctan2(p[:, 1], p[:, 0]), np.arctan2(p[:, 2], np.hypot(p[:, 0], p[:, 1]))


def _draws(n, seed=0, camera=CAM, depth=None, **kw):
    rng = np.random.default_rng(seed)
    depth = _two_walls() if depth is None else depth
    return [simulate_radar(depth, camera, rng, **kw) for _ in range(n)]


def test_seeded_determinism():
    a = simulate_radar(_two_walls(), CAM, np.random.default_rng(5))
    b = simulate_radar(_two_walls(), CAM, np.random.default_rng(5))
    c = simulate_radar(_two_walls(), CAM, np.random.default_rng(6))
    np.testing.assert_array_equal(a.scan.points, b.scan.points)
    np.testing.assert_array_equal(a.is_clutter, b.is_clutter)
    np.testing.assert_array_equal(a.scan.fields["snr"], b.scan.fields["snr"])
    assert a.scan.points.shape != c.scan.points.shape or not np.array_equal(a.scan.points, c.scan.points)


def test_scan_fields_and_counts():
    sims = _draws(300, seed=1)
    counts = np.array([len(s.scan) for s in sims])
    assert counts.min() >= 20 and counts.max() <= 60
    assert counts.min() <= 22 and counts.max() >= 58  # the whole range is used
    s = sims[0]
    assert s.scan.frame_id == "radar_link" and set(s.scan.fields) == {"snr", "doppler"}
    assert np.all(s.scan.fields["doppler"] == 0.0)
    clutter = np.concatenate([x.is_clutter for x in sims])
    snr = np.concatenate([x.scan.fields["snr"] for x in sims])
    assert abs(clutter.mean() - 0.10) < 0.012
    assert snr[clutter].mean() < snr[~clutter].mean() - 5.0
    # Clutter is shuffled in, not appended.
    assert np.mean([np.flatnonzero(x.is_clutter).mean() for x in sims if x.is_clutter.any()]) < 0.8 * counts.mean()


def test_range_noise_is_5cm_plus_1_percent():
    sims = _draws(250, seed=2)
    meas = np.concatenate([s.scan.points[~s.is_clutter] for s in sims])
    true = np.concatenate([s.true_points_radar[~s.is_clutter] for s in sims])
    r_meas, _, _ = _spherical(meas)
    r_true, _, _ = _spherical(true)
    err = r_meas - r_true
    for group in (r_true < 3.0, r_true > 8.0):
        expected = np.sqrt(np.mean((0.05 + 0.01 * r_true[group]) ** 2))
        assert group.sum() > 1500
        assert np.std(err[group]) == pytest.approx(expected, rel=0.06)
        assert abs(np.mean(err[group])) < 0.1 * expected


def test_angle_noise_is_1_deg_azimuth_4_deg_elevation():
    sims = _draws(250, seed=3)
    meas = np.concatenate([s.scan.points[~s.is_clutter] for s in sims])
    true = np.concatenate([s.true_points_radar[~s.is_clutter] for s in sims])
    _, az_m, el_m = _spherical(meas)
    _, az_t, el_t = _spherical(true)
    d_az = np.rad2deg(np.angle(np.exp(1j * (az_m - az_t))))
    d_el = np.rad2deg(el_m - el_t)
    assert np.std(d_az) == pytest.approx(1.0, rel=0.06)
    assert np.std(d_el) == pytest.approx(4.0, rel=0.06)


def test_clutter_ranges_and_directions():
    sims = _draws(300, seed=4)
    depth = _two_walls()
    x, y = CAM.rays.x * depth, CAM.rays.y * depth  # optical frame
    r_max_gt = np.nanmax(np.sqrt(depth**2 + (x + 0.10) ** 2 + y**2))  # from the radar 0.10 m to the left
    r_c = np.concatenate([np.linalg.norm(s.scan.points[s.is_clutter], axis=1) for s in sims])
    hi = 1.5 * r_max_gt
    assert r_c.min() >= 0.3 and r_c.max() <= hi + 1e-9
    # Uniform on [0.3, hi]: mean at the midpoint, sd of the mean ~ 0.8 % of the span.
    assert r_c.mean() == pytest.approx((0.3 + hi) / 2, rel=0.05)
    # Clutter directions lie inside the field of view: they project to their drawn pixels.
    for s in sims[:50]:
        uv, front = CAM.project(s.T_cam_radar.apply(s.scan.points[s.is_clutter]))
        assert front.all() and CAM.in_image(uv).all()
        np.testing.assert_allclose(uv, s.source_uv[s.is_clutter], atol=1e-3)


def test_true_points_reproject_to_their_source_pixels_with_distortion():
    for s in _draws(20, seed=5):
        good = ~s.is_clutter
        np.testing.assert_allclose(s.T_cam_radar.apply(s.true_points_radar), s.true_points_cam, atol=1e-12)
        uv, front = CAM.project(s.true_points_cam[good])
        assert front.all()
        np.testing.assert_allclose(uv, s.source_uv[good], atol=1e-3)
        z = s.true_points_cam[good, 2]
        np.testing.assert_allclose(z, _two_walls()[s.source_uv[good, 1].astype(int), s.source_uv[good, 0].astype(int)])


def test_measured_points_land_near_their_source_pixels():
    sims = _draws(150, seed=6, camera=PINHOLE)
    du, dv = [], []
    for s in sims:
        good = ~s.is_clutter
        uv, front = PINHOLE.project(s.T_cam_radar.apply(s.scan.points[good]))
        du.append(uv[:, 0] - s.source_uv[good, 0])
        dv.append(uv[:, 1] - s.source_uv[good, 1])
    du, dv = np.concatenate(du), np.concatenate(dv)
    # Near the optical axis 1 deg of azimuth is ~ f * 0.01745 = 1.9 px; 4 deg of elevation ~ 7.7 px.
    # The median absolute error of a Gaussian is 0.674 sigma; wide-angle points stretch it a little.
    assert 0.674 * 1.92 * 0.9 < np.median(np.abs(du)) < 0.674 * 1.92 * 1.35
    assert 0.674 * 7.68 * 0.9 < np.median(np.abs(dv)) < 0.674 * 7.68 * 1.35


def test_extrinsic_puts_the_radar_10cm_left_of_the_camera():
    s = simulate_radar(_two_walls(), CAM, np.random.default_rng(7))
    xc, yc, zc = s.true_points_cam.T
    # Hand conversion: optical (x right, y down, z fwd) -> body (fwd, left, up), minus the radar's 0.10 m left offset.
    np.testing.assert_allclose(s.true_points_radar, np.column_stack([zc, -xc - 0.10, -yc]), atol=1e-12)
    np.testing.assert_allclose(default_radar_extrinsic().apply(np.zeros(3)), [-0.10, 0.0, 0.0], atol=1e-15)


def test_range_limits_and_validation():
    for s in _draws(40, seed=8, min_range=2.0, max_range=20.0):
        r = np.linalg.norm(s.true_points_radar[~s.is_clutter], axis=1)
        assert r.min() >= 2.0  # the 1.5 m wall is never sampled
        rc = np.linalg.norm(s.scan.points[s.is_clutter], axis=1)
        assert np.all((rc >= 2.0) & (rc <= 20.0 + 1e-9))
    with pytest.raises(InvalidInputError, match="shape"):
        simulate_radar(np.ones((10, 10)), CAM, np.random.default_rng(0))
    with pytest.raises(InvalidInputError, match="no valid pixel"):
        simulate_radar(np.full((120, 160), np.nan), CAM, np.random.default_rng(0))
    with pytest.raises(InvalidInputError, match="n_points"):
        simulate_radar(_two_walls(), CAM, np.random.default_rng(0), n_points=(30, 10))


def test_simulated_scans_through_projection_and_clutter_rejection():
    # End to end with the ground truth as a perfect metric network: ghosts go, real returns stay.
    # With 4 deg elevation noise some real returns land on another surface (box edges); those
    # disagree with the image at their pixel and must go too.
    depth = np.full((120, 160), 8.0)
    depth[20:70, 20:70] = 2.0
    depth[50:110, 90:150] = 4.0
    rng = np.random.default_rng(9)
    totals = {"consistent": [0, 0], "off_surface": [0, 0], "gross_clutter": [0, 0]}
    for _ in range(80):
        s = simulate_radar(depth, PINHOLE, rng)
        proj = project_points(s.T_cam_radar.apply(s.scan.points), PINHOLE, 0.1, 50.0)
        keep = reject_clutter(proj, depth, "metric")
        clutter = s.is_clutter[proj.index]
        z_pixel = depth[np.rint(proj.uv[:, 1]).astype(int), np.rint(proj.uv[:, 0]).astype(int)]
        err = np.abs(np.log(proj.depth / z_pixel))
        for name, sel in (("consistent", ~clutter & (err < 0.2)), ("off_surface", ~clutter & (err > 0.4)),
                          ("gross_clutter", clutter & (err > 0.3))):
            totals[name][0] += (~keep[sel]).sum()
            totals[name][1] += sel.sum()
    rejected = {k: r / n for k, (r, n) in totals.items()}
    assert totals["off_surface"][1] > 50 and totals["gross_clutter"][1] > 100
    assert rejected["consistent"] < 0.05
    assert rejected["off_surface"] > 0.9
    assert rejected["gross_clutter"] > 0.9
