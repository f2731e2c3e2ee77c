"""The depth pipeline: one object shared by the live node and the offline evaluator.

A frame (RGB + camera model + stamp) goes through the depth network, range limits and, when
the model is relative, a normalisation; later stages (scale alignment from radar / IMU) plug
in here so that `depth_node` and `depth-ros-eval` compute exactly the same thing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.cloud import CloudBuilder, OrganizedCloud
from depth_ros.core.errors import InvalidInputError, ModelOutputError
from depth_ros.core.imu import ImuReading
from depth_ros.core.output_kind import OutputKind
from depth_ros.core.radar import RadarProjection, RadarScan
from depth_ros.core.transforms import RigidTransform
from depth_ros.pipeline.fusion import FusionConfig, FusionStage
from depth_ros.pipeline.param_schema import param
from depth_ros.pipeline.temporal import TemporalConfig, TemporalStage


@dataclass
class PipelineConfig:
    """Settings of the pipeline (read once from ROS parameters or command-line options)."""

    min_depth: float = param(0.1, "min_depth", "Depth below this (metres) is published as NaN.", min=0.0, max=1000.0)
    max_depth: float = param(20.0, "max_depth", "Depth above this (metres) is published as NaN.",
                             min=0.01, max=1000.0)
    cloud_decimation: int = param(1, "cloud_decimation", "Use every n-th pixel in both directions for the cloud.",
                                  min=1, max=16)
    cloud_rgb: bool = param(True, "cloud_rgb", "Colour the cloud (xyzrgb, point_step 32) instead of xyz (16).")
    cloud_confidence: bool = param(False, "cloud_confidence",
                                   "Add a float32 'confidence' field to the cloud (in depth_image_proc's padding).")
    focal_normalise: bool = param(True, "focal_normalise",
                                  "Scale a metric network's depth by the camera's focal length over that of its "
                                  "training camera (models that declare one: FastDepth), so a wider or narrower "
                                  "lens than the training one does not bias its metres.")
    flip_average: bool = param(False, "flip_average",
                               "Also run the network on the mirrored image and average the two (geometric mean of "
                               "metric depth, mean of relative output): less error, twice the network's time.")

    def __post_init__(self) -> None:
        if not (0.0 <= self.min_depth < self.max_depth):
            raise InvalidInputError(f"need 0 <= min_depth < max_depth, got {self.min_depth}, {self.max_depth}")
        if self.cloud_decimation < 1:
            raise InvalidInputError(f"cloud_decimation must be >= 1, got {self.cloud_decimation}")


@dataclass
class Frame:
    """One camera frame: RGB pixels, the camera model of those pixels (None if unknown), time."""

    rgb: np.ndarray
    camera: CameraModel | None
    stamp_ns: int
    frame_id: str = ""


@dataclass
class DepthResult:
    """Depth for one frame: float32 (H, W) at the frame's resolution, NaN where invalid.

    `metric` is False when the model is relative and nothing gave it a scale: `depth` is then a
    relative depth normalised to a median of 1.0, and users must not read it as metres.
    """

    depth: np.ndarray
    metric: bool
    stamp_ns: int
    frame_id: str
    camera: CameraModel | None
    confidence: np.ndarray | None = None
    scale_source: str = "model"
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    raw: np.ndarray | None = None  # the network's own output (metres or inverse-relative), for evaluation
    gravity: np.ndarray | None = None  # unit gravity in the optical frame at the frame's time (None: no fresh IMU)
    radar: RadarProjection | None = None  # the radar points of the frame's window, in the image
    radar_used: np.ndarray | None = None  # bool per point of `radar`: used by the radar scale fit (an inlier)


@dataclass(frozen=True)
class PipelineDiagnostics:
    """What the pipeline's side inputs did so far (`DepthPipeline.diagnostics`)."""

    counters: dict[str, int]  # radar scans and dropped non-finite points, IMU samples, uncompensated scans
    radar_scans_buffered: int
    imu_stamp_ns: int | None  # stamp of the last IMU sample (None: none yet)


class DepthPipeline:
    """Runs a depth model on frames and turns its output into metric depth and clouds."""

    def __init__(self, model: Any, config: PipelineConfig | None = None, fusion: FusionConfig | None = None,
                 temporal: TemporalConfig | None = None) -> None:
        self.model = model
        self.config = config or PipelineConfig()
        self.fusion = FusionStage(fusion or FusionConfig(), self.config.min_depth, self.config.max_depth)
        self.temporal = TemporalStage(temporal) if temporal is not None and temporal.enabled else None
        self._cloud_builder = CloudBuilder(
            rgb=self.config.cloud_rgb,
            extra_field="confidence" if self.config.cloud_confidence else None,
            min_depth=self.config.min_depth,
            max_depth=self.config.max_depth,
            decimation=self.config.cloud_decimation,
        )

    @property
    def model_is_metric(self) -> bool:
        return self.model.spec.output_kind is OutputKind.METRIC

    @property
    def fusion_config(self) -> FusionConfig:
        """The scale sources this pipeline was built with."""
        return self.fusion.config

    # -- side inputs (any thread) ------------------------------------------------------------

    def add_radar(self, scan: RadarScan) -> bool:
        """Buffer a radar scan for the frames around its stamp; True when radar time jumped backwards."""
        return self.fusion.add_radar(scan)

    def add_imu(self, reading: ImuReading) -> None:
        """Feed one IMU sample (attitude for the ground plane, gyro for motion compensation)."""
        self.fusion.add_imu(reading)

    def add_odometry(self, stamp_ns: int, velocity_cam: np.ndarray) -> None:
        """Camera linear velocity (m/s, optical frame) at `stamp_ns`, for radar motion compensation."""
        self.fusion.add_odometry(stamp_ns, velocity_cam)

    def set_radar_extrinsic(self, T_cam_radar: RigidTransform) -> None:
        """Radar -> camera optical transform (replaces the configured one, e.g. when TF knows it)."""
        self.fusion.set_radar_extrinsic(T_cam_radar)

    def diagnostics(self) -> PipelineDiagnostics:
        """Counters of the side inputs and what is buffered now, for /diagnostics."""
        fusion = self.fusion
        return PipelineDiagnostics(counters=dict(fusion.counters), radar_scans_buffered=len(fusion.radar),
                                   imu_stamp_ns=fusion.attitude.stamp_ns)

    def reset(self) -> None:
        """Forget temporal state (called on a backwards time jump)."""
        self.fusion.reset()
        if self.temporal is not None:
            self.temporal.reset()

    def process(self, frame: Frame) -> DepthResult:
        """Depth for one frame; raises InvalidInputError or ModelOutputError on bad input/output."""
        rgb = frame.rgb
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InvalidInputError(f"frame must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        if frame.camera is not None and (frame.camera.width, frame.camera.height) != (rgb.shape[1], rgb.shape[0]):
            raise InvalidInputError(
                f"camera size {frame.camera.width}x{frame.camera.height} does not match image "
                f"{rgb.shape[1]}x{rgb.shape[0]}"
            )
        t0 = time.perf_counter()
        model_s = 0.0
        spec = self.model.spec
        metric = self.model_is_metric
        # Models declare how their metres follow the lens (`DepthModel.focal_scale`); stand-ins without it: none.
        scale_of = getattr(self.model, "focal_scale", None) if metric and self.config.focal_normalise else None
        focal = float(scale_of(frame.camera, *rgb.shape[:2])) if scale_of is not None else 1.0
        model_conf = None

        def predict(prior: np.ndarray | None) -> np.ndarray:
            nonlocal model_s, model_conf
            start = time.perf_counter()
            raw = self.model.predict(rgb, prior)
            check_model_output(raw, rgb.shape[:2])
            model_conf = getattr(self.model, "last_confidence", None)
            if self.config.flip_average:
                raw, model_conf = self._flip_average(rgb, prior, raw, model_conf, metric)
                if focal != 1.0:
                    raw *= np.float32(focal)  # the average is this pipeline's own array
            elif focal != 1.0:
                raw = raw * np.float32(focal)  # the model's output may be a buffer it keeps
            model_s = time.perf_counter() - start
            return raw

        out = self.fusion.process(predict, spec.output_kind, frame.camera, frame.stamp_ns, rgb.shape[:2],
                                  with_prior=spec.input_channels == 4,
                                  saturation_depth=spec.max_depth * focal if metric else None, guide=rgb)
        depth = out.depth if out.metric else relative_inverse_to_relative_depth(out.depth)
        confidence = out.confidence if out.confidence is not None else model_conf
        temporal_s = None
        if self.temporal is not None:
            depth, confidence, temporal_s = self.temporal.apply(depth, confidence, out.metric, frame.camera,
                                                                frame.stamp_ns, self.fusion.camera_motion, out.info)
        result = DepthResult(depth, out.metric, frame.stamp_ns, frame.frame_id, frame.camera,
                             confidence=confidence, scale_source=out.source, info=out.info, raw=out.raw,
                             gravity=out.gravity, radar=out.radar, radar_used=out.radar_used)
        if focal != 1.0:
            result.info["focal_scale"] = round(focal, 4)
        total = time.perf_counter() - t0
        result.timings = {f"model_{k}": v for k, v in getattr(self.model, "last_timings", {}).items()}
        result.timings.update(model=model_s, fusion=total - model_s - (temporal_s or 0.0), total=total)
        if temporal_s is not None:
            result.timings["temporal"] = temporal_s
        return result

    def _flip_average(self, rgb: np.ndarray, prior: np.ndarray | None, raw: np.ndarray,
                      confidence: np.ndarray | None, metric: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The network's output averaged with that of the mirrored image (and prior), mirrored back."""
        mirrored = None if prior is None else np.ascontiguousarray(prior[:, ::-1])
        other = self.model.predict(np.ascontiguousarray(rgb[:, ::-1]), mirrored)
        check_model_output(other, rgb.shape[:2])
        if metric:
            averaged = np.multiply(raw, other[:, ::-1], dtype=np.float32)
            np.sqrt(averaged, out=averaged)
        else:
            averaged = np.add(raw, other[:, ::-1], dtype=np.float32)
            averaged *= np.float32(0.5)
        other_conf = getattr(self.model, "last_confidence", None)
        if confidence is not None and other_conf is not None:
            confidence = 0.5 * (confidence + other_conf[:, ::-1])
        return averaged, confidence

    def build_cloud(self, result: DepthResult, rgb: np.ndarray | None, reuse: bool = True) -> OrganizedCloud | None:
        """Organised cloud of a result (None without a camera model)."""
        if result.camera is None:
            return None
        extra = result.confidence if self.config.cloud_confidence else None
        if self.config.cloud_confidence and extra is None:
            extra = np.ones_like(result.depth)
        return self._cloud_builder.build(
            result.depth, result.camera, rgb if self.config.cloud_rgb else None, extra, reuse=reuse
        )


def check_model_output(depth: np.ndarray, shape: tuple[int, int]) -> None:
    """Reject outputs that must never reach a robot: wrong shape, NaN, inf, negative values."""
    if not isinstance(depth, np.ndarray) or depth.shape != shape:
        got = getattr(depth, "shape", type(depth).__name__)
        raise ModelOutputError(f"model returned shape {got}, expected {shape}")
    finite = np.isfinite(depth)
    if not finite.all():
        raise ModelOutputError(f"model returned {int((~finite).sum())} NaN/inf values")
    low = float(depth.min()) if depth.size else 0.0
    if low < 0:
        raise ModelOutputError(f"model returned negative depth (min {low:.4g})")


def relative_inverse_to_relative_depth(inverse: np.ndarray) -> np.ndarray:
    """Inverse-relative output -> relative depth with median 1.0 (NaN where inverse <= 0)."""
    inv = inverse.astype(np.float32, copy=False)
    positive = inv > 0
    if not positive.any():
        return np.full(inv.shape, np.nan, dtype=np.float32)
    med = float(np.median(inv[positive]))
    with np.errstate(divide="ignore"):
        depth = np.where(positive, med / inv, np.float32(np.nan))
    return depth.astype(np.float32, copy=False)
