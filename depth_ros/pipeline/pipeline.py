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
from depth_ros.pipeline.fusion import FusionConfig, FusionStage


@dataclass
class PipelineConfig:
    """Settings of the pipeline (read once from ROS parameters or command-line options)."""

    min_depth: float = 0.1
    max_depth: float = 20.0
    cloud_decimation: int = 1
    cloud_rgb: bool = True
    cloud_confidence: bool = False

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


class DepthPipeline:
    """Runs a depth model on frames and turns its output into metric depth and clouds."""

    def __init__(self, model: Any, config: PipelineConfig | None = None, fusion: FusionConfig | None = None) -> None:
        self.model = model
        self.config = config or PipelineConfig()
        self.fusion = FusionStage(fusion or FusionConfig(), self.config.min_depth, self.config.max_depth)
        self._cloud_builder = CloudBuilder(
            rgb=self.config.cloud_rgb,
            extra_field="confidence" if self.config.cloud_confidence else None,
            min_depth=self.config.min_depth,
            max_depth=self.config.max_depth,
            decimation=self.config.cloud_decimation,
        )

    @property
    def model_is_metric(self) -> bool:
        return self.model.spec.output_kind.value == "metric"

    def reset(self) -> None:
        """Forget temporal state (called on a backwards time jump)."""
        self.fusion.reset()

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
        fusion = self.fusion
        scans = fusion.radar_scans(frame.stamp_ns)
        proj = fusion.radar_points(frame.camera, frame.stamp_ns, scans) if frame.camera is not None else None
        prior = fusion.prior(proj, rgb.shape[:2]) if self.model.spec.input_channels == 4 else None
        t1 = time.perf_counter()
        raw = self.model.predict(rgb, prior)
        t2 = time.perf_counter()
        timings = {f"model_{k}": v for k, v in getattr(self.model, "last_timings", {}).items()}
        timings["model"] = t2 - t1
        check_model_output(raw, rgb.shape[:2])
        model_conf = getattr(self.model, "last_confidence", None)
        if fusion.config.any_source:
            spec = self.model.spec
            out = fusion.align(raw, spec.output_kind, frame.camera, frame.stamp_ns, proj,
                               saturation_depth=spec.max_depth if self.model_is_metric else None)
            depth = out.depth if out.metric else relative_inverse_to_relative_depth(out.depth)
            confidence = out.confidence if out.confidence is not None else model_conf
            result = DepthResult(depth, out.metric, frame.stamp_ns, frame.frame_id, frame.camera,
                                 confidence=confidence, scale_source=out.source, info=out.info)
            # What the scale sources had to offer, for diagnostics (see `scale_source_warning`).
            if fusion.config.radar_enabled:
                result.info["radar_scans"] = len(scans)
            if fusion.config.imu_enabled:
                result.info["imu_fresh"] = fusion.imu_fresh(frame.stamp_ns)
        elif self.model_is_metric:
            result = DepthResult(self._limit_range(raw), True, frame.stamp_ns, frame.frame_id, frame.camera,
                                 confidence=model_conf, scale_source="model")
        else:
            result = DepthResult(relative_inverse_to_relative_depth(raw), False, frame.stamp_ns, frame.frame_id,
                                 frame.camera, scale_source="none")
        t3 = time.perf_counter()
        timings["fusion"] = (t1 - t0) + (t3 - t2)
        timings["total"] = t3 - t0
        result.timings = timings
        result.raw = raw
        result.gravity = fusion.gravity_optical(frame.stamp_ns)
        return result

    def _limit_range(self, depth: np.ndarray) -> np.ndarray:
        c = self.config
        with np.errstate(invalid="ignore"):
            ok = (depth >= c.min_depth) & (depth <= c.max_depth)
        return np.where(ok, depth, np.float32(np.nan)).astype(np.float32, copy=False)

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
