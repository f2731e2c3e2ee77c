"""Logs `ViewFrame`s into a Rerun recording stream, on two timelines: the image stamp and the frame number."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from depth_ros.view import entities as E
from depth_ros.view.frame import ViewFrame
from depth_ros.view.sdk import rerun

APPLICATION_ID = "depth_ros"
DEPTH_COLORMAP = "turbo"
CONFIDENCE_COLORMAP = cv2.COLORMAP_VIRIDIS
JPEG_QUALITY = 85
RADAR_COLOURS = {E.RADAR_UNUSED: ((255, 60, 60), "radar point not used by the fit"),
                 E.RADAR_USED_BY_FIT: ((40, 220, 60), "radar point used by the fit"),
                 E.RADAR_UNKNOWN: ((255, 200, 0), "radar point (fit use unknown)")}
SOURCE_SERIES_NAME = "scale source"


def new_stream(recording_id: str | None = None) -> Any:
    """A new `rerun.RecordingStream` of depth_ros (no sink yet)."""
    rr = rerun()
    return rr.RecordingStream(APPLICATION_ID, recording_id=recording_id)


def depth_legend(depth_range: tuple[float, float], width: int = 480, height: int = 60) -> np.ndarray:
    """An RGB colour bar of the depth colour map over `depth_range` (metres) with ticks at round metres."""
    lo, hi = depth_range
    bar_h = height // 2
    ramp = np.linspace(0, 255, width).astype(np.uint8)[None, :].repeat(bar_h, axis=0)
    out = np.full((height, width, 3), 255, np.uint8)
    out[:bar_h] = cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    raw_step = (hi - lo) / 4
    step = min((m * 10 ** np.floor(np.log10(raw_step)) for m in (1, 2, 2.5, 5, 10)), key=lambda s: abs(s - raw_step))
    for value in np.arange(np.ceil(lo / step) * step, hi + 1e-9, step):
        x = int(round((value - lo) / (hi - lo) * (width - 1)))
        label = f"{value:g} m" if value + step > hi else f"{value:g}"
        (tw, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        cv2.line(out, (x, bar_h), (x, bar_h + 5), (0, 0, 0), 1)
        cv2.putText(out, label, (min(max(x - tw // 2, 0), width - tw), height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return out


class ViewRecorder:
    """Writes frames to `stream`: static styling first (`start`), then one `log` call per frame."""

    def __init__(self, stream: Any, depth_range: tuple[float, float], has_poses: bool) -> None:
        self.rr = rerun()
        self.stream = stream
        self.depth_range = (float(depth_range[0]), float(depth_range[1]))
        self.has_poses = has_poses
        self.frames = 0
        self._trajectory: list[np.ndarray] = []
        self._source: str | None = None

    def start(self) -> None:
        """Static entities: world axes convention, radar point classes, depth scale, series styles."""
        rr, log = self.rr, self.stream.log
        world_axes = rr.ViewCoordinates.RIGHT_HAND_Z_UP if self.has_poses else rr.ViewCoordinates.RDF
        log(E.WORLD, world_axes, static=True)
        log(E.WORLD, rr.AnnotationContext([rr.AnnotationInfo(id=k, label=label, color=colour)
                                           for k, (colour, label) in RADAR_COLOURS.items()]), static=True)
        log(E.DEPTH_LEGEND, rr.Image(depth_legend(self.depth_range)), static=True)
        for path, name in ((E.SCALE, "scale"), (E.FIT_RESIDUAL, "fit residual"), (E.RADAR_USED, "used by the fit"),
                           (E.RADAR_IN_IMAGE, "in the image"), (E.SCALE_SOURCE, SOURCE_SERIES_NAME)):
            log(path, rr.SeriesLines(names=name), static=True)

    def log(self, frame: ViewFrame) -> None:
        """One frame on the `stamp` (the image's header stamp) and `frame` timelines."""
        rr, log = self.rr, self.stream.log
        self.stream.set_time(E.STAMP_TIMELINE, timestamp=np.datetime64(int(frame.stamp_ns), "ns"))
        self.stream.set_time(E.FRAME_TIMELINE, sequence=self.frames)
        self.frames += 1
        if frame.pose is not None:
            log(E.CAMERA, rr.Transform3D(translation=frame.pose.t, mat3x3=frame.pose.R))
            self._trajectory.append(np.asarray(frame.pose.t, dtype=np.float32))
            if len(self._trajectory) > 1:
                log(E.TRAJECTORY, rr.LineStrips3D([np.stack(self._trajectory)], colors=[(60, 120, 255)], radii=0.02))
        cam = frame.camera
        if cam is not None:
            log(E.IMAGE, rr.Pinhole(image_from_camera=cam.K, width=cam.width, height=cam.height,
                                    image_plane_distance=0.5))
        if frame.rgb is not None:
            log(E.IMAGE, rr.Image(np.ascontiguousarray(frame.rgb)).compress(jpeg_quality=JPEG_QUALITY))
        if frame.depth is not None:
            self._log_depth(frame.depth)
        if frame.confidence is not None:
            conf = np.nan_to_num(np.clip(frame.confidence, 0.0, 1.0), nan=0.0)
            coloured = cv2.applyColorMap((conf * 255).astype(np.uint8), CONFIDENCE_COLORMAP)
            log(E.CONFIDENCE, rr.Image(cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)).compress(jpeg_quality=JPEG_QUALITY))
        if frame.radar is not None:
            r = frame.radar
            classes = (np.full(len(r.uv), E.RADAR_UNKNOWN) if r.used is None
                       else np.where(r.used, E.RADAR_USED_BY_FIT, E.RADAR_UNUSED))
            log(E.RADAR_2D, rr.Points2D(r.uv + 0.5, class_ids=classes, radii=3.0))  # pixel centres at +0.5 in Rerun
            log(E.RADAR_3D, rr.Points3D(r.xyz, class_ids=classes, radii=0.06))
        if frame.cloud_xyz is not None:
            log(E.CLOUD, rr.Points3D(frame.cloud_xyz, colors=frame.cloud_rgb, radii=0.015))
        if frame.obstacles is not None:
            log(E.OBSTACLES, rr.Points3D(frame.obstacles, colors=[(255, 140, 0)], radii=0.03))
        if frame.scan is not None:
            log(E.SCAN, rr.Points3D(frame.scan, colors=[(230, 0, 230)], radii=0.03))
        self._log_series(frame)

    def _log_depth(self, depth: np.ndarray) -> None:
        """Millimetres as uint16 (0 = no depth, half the size of float32); the viewer shows metres."""
        rr = self.rr
        mm = np.nan_to_num(depth * 1000.0, nan=0.0, posinf=0.0, neginf=0.0)
        mm = np.rint(np.clip(mm, 0, np.iinfo(np.uint16).max)).astype(np.uint16)
        lo, hi = self.depth_range
        self.stream.log(E.DEPTH, rr.DepthImage(mm, meter=1000.0, colormap=DEPTH_COLORMAP,
                                               depth_range=(lo * 1000.0, hi * 1000.0)))

    def _log_series(self, frame: ViewFrame) -> None:
        rr, log = self.rr, self.stream.log
        paths = {"scale": E.SCALE, "fit_residual": E.FIT_RESIDUAL, "radar_used": E.RADAR_USED,
                 "radar_points": E.RADAR_IN_IMAGE}
        for key, path in paths.items():
            value = frame.scalars.get(key)
            if value is not None and np.isfinite(value):
                log(path, rr.Scalars(float(value)))
        if frame.scale_source is not None:
            log(E.SCALE_SOURCE, rr.Scalars(float(E.SCALE_SOURCES.get(frame.scale_source, -1))))
            if frame.scale_source != self._source:
                log(E.SCALE_SOURCE_LOG, rr.TextLog(f"scale source: {frame.scale_source}"))
                self._source = frame.scale_source
        for stage, ms in frame.latency_ms.items():
            if np.isfinite(ms):
                log(E.latency_entity(stage), rr.Scalars(float(ms)))
