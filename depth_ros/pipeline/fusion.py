"""Metric scale for any depth network from radar points, the IMU's gravity and a ground plane.

Per frame (`FusionStage.process`, around the network call; `align` is the scale step):
1. radar scans of the last N scans / T seconds are moved into the camera frame at the image's
   time (extrinsic, then the camera rotation between scan and image from the gyro, and the
   translation from odometry when available), projected with the full camera model;
2. clutter that disagrees with the network's depth ordering is rejected;
3. a robust global fit (scale for metric models; scale + shift in inverse depth for relative
   ones); when radar is absent or the fit is not trustworthy, ground pixels that agree with the
   plane predicted from gravity and the camera height give the fit instead;
4. a Kalman filter on the fit smooths it over time (reset when time jumps backwards);
5. optionally a spatially varying correction interpolated from the per-point residuals;
6. a confidence map from radar support, fit residual and model kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from depth_ros.core.alignment import QUALITY_CONFIDENCE, Alignment, AlignmentConfig, align_points, apply_inverse_fit
from depth_ros.core.camera import CameraModel
from depth_ros.core.confidence import confidence_map
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.ground import GroundPrior, ground_correspondences
from depth_ros.core.imu import (
    AttitudeFilter,
    GyroIntegrator,
    ImuReading,
    camera_roll_pitch,
    gravity_in_camera,
    rotation_in_camera,
)
from depth_ros.core.output_kind import OutputKind, as_output_kind
from depth_ros.core.radar import (
    RadarAccumulator,
    RadarProjection,
    RadarScan,
    project_points,
    rasterize_prior,
    reject_clutter,
    to_camera,
)
from depth_ros.core.scale import ScaleFit, fit_scale, sample_at
from depth_ros.core.scale_filter import ScaleFilter
from depth_ros.core.scale_map import ColourGuide, ScaleMapper
from depth_ros.core.timebuffer import TimeBuffer
from depth_ros.core.transforms import OPTICAL_FROM_BODY, RigidTransform
from depth_ros.pipeline.param_schema import ParamDef, converted, param

COARSE_SIGMA = 3.0  # reach of the coarse spatial pass, in units of spatial_sigma_px
SIGMA_REFERENCE_WIDTH = 640  # spatial_sigma_px is the reach on an image this wide, scaled with the width
FAR_PERCENTILE = 1.0  # the far end of a relative network's prediction (sky included) for the positivity margin
SATURATED_CONFIDENCE = 0.25  # confidence factor of pixels where a metric network sits at its range limit
CONTRADICTION_RATIO = 2.0  # published vs radar depth: a point is contradicted beyond this factor
CONTRADICTION_SHARE = 0.5  # ... and the frame is flagged when more than this share of points are
# Clip of one point's log residual in the local correction (x0.37 .. x2.7): a relative network's shape
# error on real rooms reaches x2 locally; the consistency weights, not the clip, keep ghosts out.
MAX_CORRECTION = 1.0


@dataclass
class FusionConfig:
    """Scale sources and how they are combined (see README "Radar and IMU").

    Fields made with `param` are the node's ROS parameters (name, description, range in the field);
    `radar_use_tf`, `radar_max_points` and `odom_enabled` are read by the node and its message feeder.
    """

    radar_enabled: bool = param(False, "radar.enabled",
                                "Subscribe to `radar/points` (PointCloud2 with x, y, z) and scale depth with it.")
    # Radar points -> camera optical frame (built from the radar pose in camera_link).
    T_cam_radar: RigidTransform = converted(
        ParamDef("radar.translation", [0.0, 0.0, 0.0],
                 "Radar position in camera_link (x forward, y left, z up), metres."),
        ParamDef("radar.rotation_rpy", [0.0, 0.0, 0.0],
                 "Radar orientation in camera_link: roll, pitch, yaw (rad, REP-103)."),
        ParamDef("radar.rotation_quaternion", [0.0, 0.0, 0.0, 1.0],
                 "Radar orientation in camera_link as x, y, z, w; used instead of rotation_rpy when not identity."),
        default_factory=lambda: OPTICAL_FROM_BODY,
    )
    radar_use_tf: bool = param(True, "radar.use_tf",
                               "Look the radar->camera transform up with tf2 when tf2_ros is importable.")
    radar_max_scans: int = param(3, "radar.max_scans", "Radar scans accumulated per image.", min=1, max=50)
    radar_max_age_s: float = param(0.5, "radar.max_age", "Oldest radar scan used, seconds before the image.",
                                   min=0.01, max=5.0)
    radar_min_range: float = param(0.2, "radar.min_range",
                                   "Radar points nearer than this (metres, camera z) are dropped.", min=0.0, max=50.0)
    radar_max_range: float = param(100.0, "radar.max_range",
                                   "Radar points farther than this (metres, camera z) are dropped.",
                                   min=0.5, max=1000.0)
    radar_max_points: int = param(100000, "radar.max_points", "Clouds with more points are subsampled to this many.",
                                  min=10, max=10000000)
    radar_reject_clutter: bool = param(  # the fit's weights and the consistency test handle clutter (README)
        False, "radar.reject_clutter", "Drop radar points that contradict the network's depth ordering before "
        "the fit (off: the fit's robust weights and the neighbour consistency test handle clutter).")
    prior_radius_px: int = param(3, "radar.prior_radius",
                                 "Disc radius (pixels) of the radar prior fed to 4-channel networks.", min=0, max=50)
    imu_enabled: bool = param(False, "imu.enabled",
                              "Subscribe to `imu/data` (sensor_msgs/Imu): gravity and motion compensation.")
    # IMU frame -> camera optical frame rotation.
    R_cam_imu: np.ndarray = converted(
        ParamDef("imu.translation", [0.0, 0.0, 0.0],
                 "IMU position in camera_link, metres (informational: compensation is rotation-only)."),
        ParamDef("imu.rotation_rpy", [0.0, 0.0, 0.0],
                 "IMU orientation in camera_link: roll, pitch, yaw (rad, REP-103)."),
        ParamDef("imu.rotation_quaternion", [0.0, 0.0, 0.0, 1.0],
                 "IMU orientation in camera_link as x, y, z, w; used instead of rotation_rpy when not identity."),
        default_factory=lambda: OPTICAL_FROM_BODY.R.copy(),
    )
    imu_gain: float = param(0.02, "imu.gain", "Complementary-filter gain per sample (accelerometer weight).",
                            min=0.0001, max=1.0)
    imu_max_age_s: float = 1.0  # gravity older than this (before the image) is not used for the ground plane
    motion_compensation: bool = param(True, "imu.motion_compensation",
                                      "Rotate radar scans to the image time with the integrated gyro.")
    odom_enabled: bool = param(False, "odom.enabled",
                               "Subscribe to `odom` (nav_msgs/Odometry) for translation between scan and image.")
    ground_enabled: bool = param(False, "ground.enabled",
                                 "Use the ground plane (needs IMU and camera_height) when radar is absent/sparse.")
    camera_height: float = param(0.0, "ground.camera_height", "Camera height above the ground, metres; 0 = unknown.",
                                 min=0.0, max=20.0)  # 0 = unknown: no ground prior
    ground_max_distance: float = param(20.0, "ground.max_distance", "Ground pixels farther than this are not used.",
                                       min=1.0, max=200.0)
    scale_mode: str = param("spatial", "scale.mode",
                            "global: one scale per frame; spatial: plus a smooth local correction.",
                            choices=("global", "spatial"))
    scale_method: str = param("huber", "scale.method", "Robust fit of the global scale.", choices=("huber", "ransac"))
    min_points: int = param(5, "scale.min_points",
                            "Fewest radar points for a full fit; fewer give a median scale with low confidence.",
                            min=2, max=1000)
    max_residual: float = param(  # log-depth residual spread of a full-quality radar fit (core.alignment)
        0.4, "scale.max_residual", "Robust log-depth spread of a full-quality fit; beyond it the fit degrades "
        "(consistent subset, then scale only) instead of being rejected.", min=0.01, max=5.0)
    range_tolerance: float = param(  # ... widened to this times the log-depth spread of the radar points
        0.5, "scale.range_tolerance", "The spread tolerated grows to this times the log-depth spread of the "
        "radar points (wide depth ranges tolerate more shape error).", min=0.0, max=5.0)
    temporal: bool = param(True, "scale.temporal", "Kalman-filter the scale over time (reset when time jumps back).")
    process_noise: float = param(0.02, "scale.process_noise", "Scale random-walk noise per sqrt(second) (log units).",
                                 min=0.0, max=10.0)
    spatial_sigma_px: float = param(  # fine pass, pixels of a 640-wide image (scaled with the width)
        50.0, "scale.spatial_sigma_px", "Reach (pixels, on a 640-wide image; scaled with the width) of one radar "
        "point's local correction; a coarse pass reaches 3x as far.", min=1.0, max=2000.0)
    depth_sigma: float = 0.25  # depth similarity of the local correction (ln D; chosen on rgbd_train)
    colour_sigma: float = 0.3  # colour similarity of the local correction (CIELAB / 100; inf: off)
    prior_weight: float = 0.05

    def __post_init__(self) -> None:
        if self.scale_mode not in ("global", "spatial"):
            raise InvalidInputError(f"scale_mode must be 'global' or 'spatial', got {self.scale_mode!r}")
        if self.scale_method not in ("huber", "ransac"):
            raise InvalidInputError(f"scale_method must be 'huber' or 'ransac', got {self.scale_method!r}")
        if self.camera_height < 0 or not math.isfinite(self.camera_height):
            raise InvalidInputError(f"camera_height must be >= 0 (0 = unknown), got {self.camera_height}")

    @property
    def any_source(self) -> bool:
        return self.radar_enabled or (self.ground_enabled and self.imu_enabled and self.camera_height > 0)


@dataclass
class FusionOutput:
    depth: np.ndarray  # float32 metres, NaN = invalid
    confidence: np.ndarray | None
    metric: bool
    source: str  # "radar", "ground", "filter", "model", "none"
    info: dict[str, Any]
    raw: np.ndarray | None = None  # the network's own output (set by `FusionStage.process`)
    gravity: np.ndarray | None = None  # unit gravity in the optical frame at the frame's time, if fresh
    radar: RadarProjection | None = None  # the frame's radar points in the image (set by `FusionStage.process`)
    radar_used: np.ndarray | None = None  # bool per point of `radar`: an inlier of the radar scale fit


class FusionStage:
    """Holds radar/IMU/odometry buffers and the temporal state; thread-safe inputs."""

    def __init__(self, config: FusionConfig, min_depth: float, max_depth: float) -> None:
        self.config = config
        self.T_cam_radar = config.T_cam_radar
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        c = config
        self.radar = RadarAccumulator(max_scans=c.radar_max_scans, max_age_s=c.radar_max_age_s)
        self.gyro = GyroIntegrator(max_age_s=max(2.0, 4 * c.radar_max_age_s))
        self.attitude = AttitudeFilter(gain=c.imu_gain)
        self.odometry: TimeBuffer[np.ndarray] = TimeBuffer(max_items=400, max_age_ns=2_000_000_000)
        self.ground = GroundPrior(max_depth=c.ground_max_distance)
        # Two passes (coarse, then fine): the coarse one follows scene-wide shape errors (a tilted floor,
        # a wall too near), the fine one what is left around each point.
        self.mappers = (ScaleMapper(sigma_px=COARSE_SIGMA * c.spatial_sigma_px, depth_sigma=c.depth_sigma,
                                    prior_weight=2 * c.prior_weight, max_correction=MAX_CORRECTION,
                                    colour_sigma=c.colour_sigma),
                        ScaleMapper(sigma_px=c.spatial_sigma_px, depth_sigma=c.depth_sigma, prior_weight=c.prior_weight,
                                    max_correction=MAX_CORRECTION, colour_sigma=c.colour_sigma))
        self.alignment_config = AlignmentConfig(min_points=c.min_points, max_residual=c.max_residual,
                                                range_tolerance=c.range_tolerance, method=c.scale_method)
        self._filters: dict[OutputKind, ScaleFilter] = {}
        self.counters = {"radar_scans": 0, "radar_nonfinite_points": 0, "imu_samples": 0, "imu_rejected": 0,
                         "uncompensated_scans": 0}

    # -- inputs (any thread) -----------------------------------------------------------------

    def add_radar(self, scan: RadarScan) -> bool:
        """Buffer a scan (NaN/inf points dropped and counted); True when time jumped backwards."""
        clean, dropped = scan.sanitised()
        self.counters["radar_scans"] += 1
        self.counters["radar_nonfinite_points"] += dropped
        return self.radar.add(clean)

    def add_imu(self, reading: ImuReading) -> None:
        self.counters["imu_samples"] += 1
        self.gyro.add(reading)
        self.attitude.update(reading)

    def add_odometry(self, stamp_ns: int, velocity_cam: np.ndarray) -> None:
        """Camera linear velocity (m/s) in the optical frame at `stamp_ns`."""
        self.odometry.add(int(stamp_ns), np.asarray(velocity_cam, dtype=np.float64).reshape(3))

    def set_radar_extrinsic(self, T_cam_radar: RigidTransform) -> None:
        """Radar -> camera optical transform for the scans projected from now on (e.g. from TF)."""
        self.T_cam_radar = T_cam_radar

    def reset(self) -> None:
        """Forget everything temporal (time went backwards)."""
        self.radar.reset()
        self.gyro.clear()
        self.attitude.reset()
        self.odometry.clear()
        for f in self._filters.values():
            f.reset()

    # -- per frame -------------------------------------------------------------------------

    def imu_fresh(self, stamp_ns: int) -> bool:
        """True when the last IMU sample is at most `imu_max_age_s` older than `stamp_ns`."""
        last = self.attitude.stamp_ns
        return last is not None and stamp_ns - last <= self.config.imu_max_age_s * 1e9

    def gravity_optical(self, stamp_ns: int | None = None) -> np.ndarray | None:
        """Unit gravity (down) in the camera optical frame, or None before the IMU is initialised
        (and, given an image stamp, when the IMU has gone quiet: see `imu_fresh`)."""
        if not self.config.imu_enabled:
            return None
        if stamp_ns is not None and not self.imu_fresh(stamp_ns):
            return None
        g = self.attitude.gravity_imu()
        return None if g is None else gravity_in_camera(g, self.config.R_cam_imu)

    def camera_motion(self, t0_ns: int, t1_ns: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The camera's motion from `t0_ns` to `t1_ns` as (R, t) with X_1 = R X_0 + t (optical frames):
        R from the integrated gyro, t from the odometry velocity near `t0_ns`; None where no source knows."""
        R = None
        if self.config.imu_enabled:
            R_imu = self.gyro.rotation_between(t0_ns, t1_ns)
            R = None if R_imu is None else rotation_in_camera(R_imu, self.config.R_cam_imu)
        t = None
        odo = self.odometry.nearest(t0_ns, 200_000_000)
        if odo is not None:
            displacement = odo[1] * ((t1_ns - t0_ns) * 1e-9)
            t = -((np.eye(3) if R is None else R) @ displacement)
        return R, t

    def _motion(self, scan_ns: int, image_ns: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        c = self.config
        if not (c.imu_enabled and c.motion_compensation) or scan_ns == image_ns:
            return None, None
        R, t = self.camera_motion(scan_ns, image_ns)
        if R is None:
            self.counters["uncompensated_scans"] += 1
            return None, None
        return R, t

    def radar_scans(self, stamp_ns: int) -> list[RadarScan]:
        """The radar scans in the window of an image stamped `stamp_ns` (none when radar is off)."""
        return self.radar.scans_for(stamp_ns) if self.config.radar_enabled else []

    def radar_points(self, camera: CameraModel, stamp_ns: int,
                     scans: list[RadarScan] | None = None) -> RadarProjection | None:
        """Radar points of the window (or of `scans`), at the image's time, projected into `camera`."""
        if not self.config.radar_enabled:
            return None
        if scans is None:
            scans = self.radar_scans(stamp_ns)
        if not scans:
            return None
        clouds = []
        for scan in scans:
            R, t = self._motion(scan.stamp_ns, stamp_ns)
            clouds.append(to_camera(scan.points, self.T_cam_radar, R, t))
        points = np.concatenate(clouds) if len(clouds) > 1 else clouds[0]
        return project_points(points, camera, max(self.min_depth, self.config.radar_min_range),
                              min(self.max_depth, self.config.radar_max_range))

    def prior(self, proj: RadarProjection | None, shape: tuple[int, int]) -> np.ndarray:
        """Sparse radar prior (metres, 0 = none) for 4-channel networks."""
        if proj is None or len(proj) == 0:
            return np.zeros(shape, np.float32)
        return rasterize_prior(proj.uv, proj.depth, shape, self.config.prior_radius_px)[0]

    def _filter(self, kind: OutputKind) -> ScaleFilter:
        """The temporal filter of a network kind; its state is always the inverse-domain (log s, t)."""
        if kind not in self._filters:
            self._filters[kind] = ScaleFilter(OutputKind.RELATIVE_INVERSE, process_noise=self.config.process_noise)
        return self._filters[kind]

    def process(self, predict: Callable[[np.ndarray | None], np.ndarray], kind: OutputKind | str,
                camera: CameraModel | None, stamp_ns: int, shape: tuple[int, int], with_prior: bool = False,
                saturation_depth: float | None = None, guide: np.ndarray | None = None) -> FusionOutput:
        """One frame, around its network call: the radar window at the image's time, the sparse prior
        (``with_prior``, for 4-channel networks), ``predict(prior)``, then the scale (`align`; ``guide``:
        the frame's RGB image, for the colour-aware local correction).

        Without any scale source the network output passes through (a metric one range-limited).
        The output carries the network's raw output and the gravity at ``stamp_ns``.
        """
        c = self.config
        scans = self.radar_scans(stamp_ns)
        proj = self.radar_points(camera, stamp_ns, scans) if camera is not None else None
        raw = predict(self.prior(proj, shape) if with_prior else None)
        kind = as_output_kind(kind)
        if c.any_source:
            out = self.align(raw, kind, camera, stamp_ns, proj, saturation_depth, guide)
            # What the scale sources had to offer, for diagnostics (see `scale_source_warning`).
            if c.radar_enabled:
                out.info["radar_scans"] = len(scans)
            if c.imu_enabled:
                out.info["imu_fresh"] = self.imu_fresh(stamp_ns)
        elif kind is OutputKind.METRIC:
            out = FusionOutput(_limit(raw.astype(np.float32, copy=True), self.min_depth, self.max_depth), None,
                               True, "model", {})
        else:
            out = FusionOutput(raw, None, False, "none", {})
        out.raw = raw
        out.gravity = self.gravity_optical(stamp_ns)
        if proj is not None and len(proj):
            out.radar = proj
            if out.radar_used is None:
                out.radar_used = np.zeros(len(proj), bool)
        return out

    def align(self, raw: np.ndarray, kind: OutputKind | str, camera: CameraModel | None, stamp_ns: int,
              proj: RadarProjection | None, saturation_depth: float | None = None,
              guide: np.ndarray | None = None) -> FusionOutput:
        """Metric depth + confidence from the network output `raw` and the available scale sources.

        ``saturation_depth``: a metric network's range limit (its spec's max_depth); pixels at it
        are left out of the radar fit and get low confidence. ``guide``: the frame's (H, W, 3) uint8
        RGB image, the size of ``raw``; the spatial correction then also follows its colours.
        """
        c = self.config
        kind = as_output_kind(kind)
        info: dict[str, Any] = {"radar_points": 0, "radar_used": 0, "ground_points": 0}
        gravity = self.gravity_optical(stamp_ns)
        if gravity is not None:
            roll, pitch = camera_roll_pitch(gravity)
            info["camera_roll_deg"], info["camera_pitch_deg"] = round(math.degrees(roll), 2), round(math.degrees(pitch), 2)
        alignment, (uv, target, pred_pts), rows = self._radar_alignment(raw, kind, proj, saturation_depth, info)
        fit: ScaleFit | None = alignment.fit if alignment is not None else None
        source = "radar" if alignment is not None else "none"
        weak = alignment is not None and alignment.quality in ("scale_only", "few_points")
        if (alignment is None or weak) and c.ground_enabled and c.camera_height > 0 and camera is not None:
            ground = self._ground_fit(raw, kind, camera, stamp_ns)
            if ground is not None and ground[0].ok:
                fit, uv, target, pred_pts = ground
                alignment, source = None, "ground"
                info["ground_points"] = int(fit.n_inliers)
            elif ground is not None and alignment is None:
                info["fallback"] = f"ground fit rejected: {ground[0].reason}"
        estimate: Any = fit
        reciprocal = kind is OutputKind.METRIC  # every fit and filter state here is in the inverse domain
        if c.temporal:
            filtered = self._filter(kind).update(stamp_ns, fit)
            if fit is None and filtered.usable:
                source = "filter"
            estimate = filtered if filtered.usable else None
        if estimate is None:
            return self._unscaled(raw, kind, info)
        used = None
        if source == "radar" and fit is not None and fit.inliers is not None:
            used = np.zeros(len(proj), bool)
            used[rows[np.asarray(fit.inliers, bool)]] = True
        if fit is not None:
            info["radar_used" if source == "radar" else "ground_points"] = int(fit.n_inliers)
            info["fit_residual"] = float(fit.residual)
        # Metric networks: scale = metres per network metre (exact when the shift is 0), shift in 1/m.
        info["scale"] = float(1.0 / estimate.scale if reciprocal else estimate.scale)
        info["shift"] = float(estimate.shift)
        depth = apply_inverse_fit(raw, estimate, reciprocal, self.max_depth)
        weights = None
        if source == "radar" and c.scale_mode == "spatial":
            weights = self._spatial(depth, estimate, reciprocal, uv, target, pred_pts, info, guide)
        depth = _limit(depth, self.min_depth, self.max_depth)
        quality = alignment.quality if alignment is not None else "full"
        if weights is not None:
            support = uv[weights >= 0.5]
        elif source == "radar":
            support = uv[fit.inliers] if fit is not None else np.empty((0, 2))
        else:
            support = np.empty((0, 2))
        residual = float(fit.residual) if fit is not None else float("nan")
        # A shift makes far depths sensitive to small fit errors: such a fit is never fully trusted.
        conf_kind = OutputKind.METRIC if reciprocal and float(estimate.shift) == 0.0 else OutputKind.RELATIVE_INVERSE
        conf = confidence_map(raw.shape, support, residual, conf_kind)
        if quality != "full":
            conf *= np.float32(QUALITY_CONFIDENCE[quality])
        if kind is OutputKind.METRIC and saturation_depth is not None:
            saturated = raw >= np.float32(self.alignment_config.saturation_fraction * saturation_depth)
            if saturated.any():
                conf[saturated] *= np.float32(SATURATED_CONFIDENCE)
                info["saturated_fraction"] = round(float(saturated.mean()), 3)
        if proj is not None and len(proj):
            self._check_contradiction(depth, proj, info)
        return FusionOutput(depth, conf, True, source, info, radar_used=used)

    def _radar_alignment(self, raw: np.ndarray, kind: OutputKind, proj: RadarProjection | None,
                         saturation_depth: float | None, info: dict[str, Any]
                         ) -> tuple[Alignment | None, tuple, np.ndarray | None]:
        """`align_points` on the radar points of this frame, the points it was given (uv, depth, network
        sample) and their rows in `proj`; (None, (None, None, None), None) without usable points."""
        none = (None, (None, None, None), None)
        if proj is None or not len(proj):
            return none
        info["radar_points"] = len(proj)
        rows = np.arange(len(proj))
        if self.config.radar_reject_clutter:
            rows = rows[reject_clutter(proj, raw, kind)]
        pred_pts = sample_at(raw, proj.uv[rows])
        ok = np.isfinite(pred_pts)
        rows = rows[ok]
        uv, target, pred_pts = proj.uv[rows], proj.depth[rows], pred_pts[ok]
        if kind is OutputKind.RELATIVE_INVERSE:
            x_far = float(np.percentile(raw[::4, ::4], FAR_PERCENTILE))  # a 1/16 sample finds the far end
        else:
            top = float(raw.max())
            x_far = 1.0 / top if top > 0 else None
        alignment = align_points(pred_pts, target, kind, self.alignment_config, x_far=x_far,
                                 far_depth=self.max_depth, saturation_depth=saturation_depth)
        if alignment is None:
            return none
        info["radar_fit"] = alignment.label
        info["radar_fit_quality"] = alignment.quality
        if alignment.reason:
            info["radar_fit_reason"] = alignment.reason
        if alignment.saturated.any():
            info["radar_saturated_points"] = int(alignment.saturated.sum())
        return alignment, (uv, target, pred_pts), rows

    def _spatial(self, depth: np.ndarray, estimate: Any, reciprocal: bool, uv: np.ndarray, target: np.ndarray,
                 pred_pts: np.ndarray, info: dict[str, Any], guide: np.ndarray | None = None) -> np.ndarray | None:
        """Local correction of ``depth`` in place from the points, weighted by their consistency.

        Points the global fit explains badly are where the local correction matters: their say is
        decided by agreement with their neighbours (`ScaleMapper.consistency`), not by the
        global residual. A pass whose correction does not predict left-out points better than no
        correction (`Consistency.gain` >= 1) is skipped: then the residuals are mostly radar noise and
        correcting would copy it into the depth (on the training frames this skips few passes; on a
        network with an almost right shape it keeps the fusion better than the ground-truth median
        scale). Returns the weights of the last pass.
        """
        d_pts = apply_inverse_fit(pred_pts.astype(np.float32), estimate, reciprocal, self.max_depth)
        weights, passes = None, []
        use_colour = guide is not None and math.isfinite(self.config.colour_sigma)
        colours: ColourGuide | None = None  # made at the first pass that corrects, shared by both
        for k, (mapper, sigma) in enumerate(zip(self.mappers, (COARSE_SIGMA, 1.0))):
            mapper.sigma_px = sigma * self.config.spatial_sigma_px * depth.shape[1] / SIGMA_REFERENCE_WIDTH
            if k and passes:
                d_pts = sample_at(depth, uv)  # after the coarse pass
            consistency = mapper.consistency(uv, target, d_pts)
            weights = consistency.weights
            if np.count_nonzero(weights > 0) < 2 or not consistency.gain < 1.0:
                continue  # the points do not predict each other: correcting would copy their noise
            if use_colour and colours is None:
                colours = ColourGuide.from_rgb(guide, mapper.downsample)
            mapper.correct(depth, uv, target, weights=weights, depth_at_points=d_pts, out=depth, guide=colours)
            passes.append(("coarse", "fine")[k])
        info["spatial_passes"] = "+".join(passes) or "none"
        return weights

    def _check_contradiction(self, depth: np.ndarray, proj: RadarProjection, info: dict[str, Any]) -> None:
        """A warning in ``info`` when the published depth disagrees with most live radar points by > 2x."""
        published = sample_at(depth, proj.uv)
        ok = np.isfinite(published)
        if ok.sum() < self.config.min_points:
            return
        ratio = published[ok] / proj.depth[ok]
        off = float(np.mean((ratio > CONTRADICTION_RATIO) | (ratio < 1.0 / CONTRADICTION_RATIO)))
        info["radar_disagreement"] = round(off, 3)
        if off > CONTRADICTION_SHARE:
            info["radar_warning"] = (f"published depth differs from {off:.0%} of {int(ok.sum())} radar points "
                                     f"by more than {CONTRADICTION_RATIO:g}x")

    def _ground_fit(self, raw: np.ndarray, kind: OutputKind, camera: CameraModel, stamp_ns: int):
        g = self.gravity_optical(stamp_ns)
        if g is None:
            return None
        cam = camera.scaled(raw.shape[1], raw.shape[0])
        prior = self.ground.get(cam, g, self.config.camera_height)
        corr = ground_correspondences(raw, prior, kind, max_depth=self.config.ground_max_distance)
        if len(corr.target_depth) == 0:
            return None
        pred_pts = sample_at(raw, corr.uv, window=1)
        ok = np.isfinite(pred_pts)
        uv, target, pred_pts = corr.uv[ok], corr.target_depth[ok], pred_pts[ok]
        fit = fit_scale(pred_pts, target, kind, method=self.config.scale_method, min_points=max(self.config.min_points, 20),
                        max_residual=self.config.max_residual)
        return _inverse_domain(fit), uv, target, pred_pts

    def _unscaled(self, raw: np.ndarray, kind: OutputKind, info: dict[str, Any]) -> FusionOutput:
        info.setdefault("fallback", "no scale source")
        if kind is OutputKind.METRIC:
            return FusionOutput(_limit(raw.astype(np.float32, copy=True), self.min_depth, self.max_depth), None,
                                True, "model", info)
        return FusionOutput(raw, None, False, "none", info)


def _inverse_domain(fit: ScaleFit) -> ScaleFit:
    """A metric fit (depth = scale * pred) as the inverse-domain fit 1 / depth = (1 / scale) / pred."""
    if fit.kind is not OutputKind.METRIC or not (math.isfinite(fit.scale) and fit.scale > 0):
        return fit
    out = ScaleFit(1.0 / fit.scale, 0.0, OutputKind.RELATIVE_INVERSE, fit.n_points, fit.n_inliers, fit.residual,
                   fit.ok, fit.reason, fit.inliers)
    out.cov = np.asarray(fit.cov, dtype=np.float64).copy()
    return out


def _limit(depth: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """NaN outside [lo, hi], in place."""
    with np.errstate(invalid="ignore"):
        bad = (depth < lo) | (depth > hi)
    depth[bad] = np.nan
    return depth
