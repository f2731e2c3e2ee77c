"""A seeded mmWave radar simulator for tests and offline evaluation of radar/monocular fusion.

Model (all draws from the caller's `numpy.random.Generator`, so a seed reproduces a scan):
1. N ~ uniform integer in [n_points[0], n_points[1]] returns in total; each is clutter with
   probability `clutter_fraction` (N_clutter ~ Binomial(N, clutter_fraction)), the rest are
   surface returns.
2. Surface returns: pixels drawn uniformly, without replacement, from the valid ground-truth
   pixels (finite, > 0, radar range within [min_range, max_range]). Each pixel is
   back-projected with the camera's ray grid (so lens distortion is honoured) to the optical
   frame point p_cam = depth * (x, y, 1), then moved to the radar frame
   (p_radar = T_cam_radar.inverse().apply(p_cam)).
3. The radar (REP-103 body axes: x forward, y left, z up) measures range
   r = |p|, azimuth = atan2(y, x), elevation = atan2(z, hypot(x, y)). Noise is added there:
   range sigma = range_sigma + range_rel_sigma * r (5 cm + 1 % by default), azimuth sigma 1 deg,
   elevation sigma 4 deg (cheap radars resolve elevation poorly). Measured ranges are clipped
   at 1 mm.
4. Clutter (ghosts, multipath): a direction through a uniformly random point of the image (so
   inside the camera's field of view) and a range uniform in [min_range, max_range] (default
   max_range: 1.5 x the largest ground-truth radar range), measured from the radar: the point
   sits on the camera ray at the distance where the radar sees that range. No extra noise.
5. Fields: `snr` in dB, N(20, 4) for surface returns and N(10, 4) for clutter, clipped at 0;
   `doppler` 0 m/s (static scene). Rows are shuffled so clutter is not at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.radar import RadarScan
from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical


def default_radar_extrinsic() -> RigidTransform:
    """T_cam_radar (radar frame -> camera optical frame) of a radar 10 cm left of the camera, same heading."""
    return body_extrinsic_to_optical(RigidTransform.from_translation_rpy([0.0, 0.10, 0.0], [0.0, 0.0, 0.0]))


_DEFAULT_EXTRINSIC = default_radar_extrinsic()


@dataclass(frozen=True, eq=False)
class SimulatedRadar:
    """A simulated scan plus the ground truth behind every row."""

    scan: RadarScan  # measured points in the radar frame, fields snr/doppler
    is_clutter: np.ndarray  # (N,) bool
    true_points_radar: np.ndarray  # (N, 3) noise-free positions in the radar frame (clutter: as placed)
    true_points_cam: np.ndarray  # (N, 3) the same in the camera optical frame
    source_uv: np.ndarray  # (N, 2) pixel each row came from (clutter: the pixel its direction went through)
    T_cam_radar: RigidTransform


def spherical_to_cartesian(r: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Radar (range, azimuth, elevation) -> (N, 3) in REP-103 body axes (x forward, y left, z up)."""
    ce = np.cos(elevation)
    return np.stack([r * ce * np.cos(azimuth), r * ce * np.sin(azimuth), r * np.sin(elevation)], axis=1)


def cartesian_to_spherical(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) body-axis points -> (range, azimuth, elevation) in metres and radians."""
    p = np.asarray(p, dtype=np.float64).reshape(-1, 3)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    return np.linalg.norm(p, axis=1), np.arctan2(y, x), np.arctan2(z, np.hypot(x, y))


def simulate_radar(
    depth_gt: np.ndarray,
    camera: CameraModel,
    rng: np.random.Generator,
    T_cam_radar: RigidTransform | None = _DEFAULT_EXTRINSIC,
    n_points: tuple[int, int] = (20, 60),
    range_sigma: float = 0.05,
    range_rel_sigma: float = 0.01,
    azimuth_sigma_deg: float = 1.0,
    elevation_sigma_deg: float = 4.0,
    clutter_fraction: float = 0.10,
    min_range: float = 0.3,
    max_range: float | None = None,
    stamp_ns: int = 0,
    frame_id: str = "radar_link",
) -> SimulatedRadar:
    """Simulate one radar scan of a scene given its ground-truth depth (metres, NaN = invalid).

    `T_cam_radar` maps radar-frame points to the camera optical frame (default and None:
    `default_radar_extrinsic()`). See the module docstring for the model.
    """
    depth = np.asarray(depth_gt, dtype=np.float64)
    if depth.shape != (camera.height, camera.width):
        raise InvalidInputError(
            f"depth_gt shape {depth.shape} does not match the {camera.width}x{camera.height} camera"
        )
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    lo, hi = (int(v) for v in n_points)
    if not 0 < lo <= hi:
        raise InvalidInputError(f"n_points must be (low, high) with 0 < low <= high, got {n_points}")
    if not 0.0 <= clutter_fraction <= 1.0:
        raise InvalidInputError(f"clutter_fraction must be in [0, 1], got {clutter_fraction}")
    for name, value in (("range_sigma", range_sigma), ("range_rel_sigma", range_rel_sigma),
                        ("azimuth_sigma_deg", azimuth_sigma_deg), ("elevation_sigma_deg", elevation_sigma_deg),
                        ("min_range", min_range)):
        if not (np.isfinite(value) and value >= 0):
            raise InvalidInputError(f"{name} must be finite and >= 0, got {value}")
    if max_range is not None and not (max_range > min_range):
        raise InvalidInputError(f"max_range must exceed min_range ({min_range}), got {max_range}")
    T = default_radar_extrinsic() if T_cam_radar is None else T_cam_radar
    T_radar_cam = T.inverse()

    # Every valid pixel as a radar-frame point (cheap enough for a simulator; keeps sampling exact).
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0)
    vs, us = np.nonzero(valid)
    z = depth[vs, us]
    rays = camera.rays
    rx = np.broadcast_to(rays.x, depth.shape)[vs, us].astype(np.float64)
    ry = np.broadcast_to(rays.y, depth.shape)[vs, us].astype(np.float64)
    p_cam_all = np.stack([rx * z, ry * z, z], axis=1)
    range_all = np.linalg.norm(T_radar_cam.apply(p_cam_all), axis=1)
    in_range = range_all >= min_range
    if max_range is not None:
        in_range &= range_all <= max_range
    candidates = np.flatnonzero(in_range)
    if candidates.size == 0:
        raise InvalidInputError("depth_gt has no valid pixel within the radar's range limits")
    clutter_max = max_range if max_range is not None else 1.5 * float(range_all[candidates].max())

    n = int(rng.integers(lo, hi + 1))
    n_clutter = int(rng.binomial(n, clutter_fraction))
    n_surface = min(n - n_clutter, candidates.size)

    # Surface returns.
    pick = candidates[rng.choice(candidates.size, size=n_surface, replace=False)]
    true_cam_s = p_cam_all[pick]
    true_rad_s = T_radar_cam.apply(true_cam_s)
    r, az, el = cartesian_to_spherical(true_rad_s)
    r_meas = np.maximum(r + rng.normal(0.0, 1.0, n_surface) * (range_sigma + range_rel_sigma * r), 1e-3)
    az_meas = az + np.deg2rad(azimuth_sigma_deg) * rng.normal(size=n_surface)
    el_meas = el + np.deg2rad(elevation_sigma_deg) * rng.normal(size=n_surface)
    meas_s = spherical_to_cartesian(r_meas, az_meas, el_meas)
    uv_s = np.stack([us[pick], vs[pick]], axis=1).astype(np.float64)

    # Clutter: a camera ray through a random image point, at the distance giving the drawn radar range.
    uv_c = np.column_stack([rng.uniform(-0.5, camera.width - 0.5, n_clutter),
                            rng.uniform(-0.5, camera.height - 0.5, n_clutter)])
    xy = camera.undistort_pixels(uv_c) if n_clutter else np.zeros((0, 2))
    d = np.column_stack([xy, np.ones(n_clutter)])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    rng_c = rng.uniform(min_range, clutter_max, n_clutter)
    o = T_radar_cam.t  # camera origin in the radar frame
    dr = d @ T_radar_cam.R.T  # ray directions in the radar frame
    b = dr @ o
    disc = b * b - o @ o + rng_c * rng_c
    # |o + s dr| = range  ->  s = -b + sqrt(b^2 - |o|^2 + range^2); fall back to s = range if no root.
    s = np.where(disc > 0, -b + np.sqrt(np.maximum(disc, 0.0)), rng_c)
    s = np.where(s > 0, s, rng_c)
    true_cam_c = d * s[:, None]
    true_rad_c = T_radar_cam.apply(true_cam_c)

    snr_s = np.maximum(rng.normal(20.0, 4.0, n_surface), 0.0)
    snr_c = np.maximum(rng.normal(10.0, 4.0, n_clutter), 0.0)

    order = rng.permutation(n_surface + n_clutter)
    points = np.concatenate([meas_s, true_rad_c])[order]
    is_clutter = np.concatenate([np.zeros(n_surface, bool), np.ones(n_clutter, bool)])[order]
    true_rad = np.concatenate([true_rad_s, true_rad_c])[order]
    true_cam = np.concatenate([true_cam_s, true_cam_c])[order]
    source_uv = np.concatenate([uv_s, uv_c])[order]
    snr = np.concatenate([snr_s, snr_c])[order]
    scan = RadarScan(
        stamp_ns=int(stamp_ns),
        points=points,
        fields={"snr": snr, "doppler": np.zeros(points.shape[0])},
        frame_id=frame_id,
    )
    return SimulatedRadar(
        scan=scan,
        is_clutter=is_clutter,
        true_points_radar=true_rad,
        true_points_cam=true_cam,
        source_uv=source_uv,
        T_cam_radar=T,
    )
