"""The radar points of a processed frame and which of them the scale fit used (`DepthResult.radar_used`)."""

from __future__ import annotations

from depth_ros.pipeline.pipeline import DepthResult, Frame
from depth_ros.view.frame import RadarPoints, radar_xyz


def radar_points(frame: Frame, result: DepthResult) -> RadarPoints | None:
    """The frame's radar points in the image with their use by the fit (None without radar or camera)."""
    proj = result.radar
    if frame.camera is None or proj is None or not len(proj):
        return None
    return RadarPoints(proj.uv.copy(), radar_xyz(frame.camera, proj.uv, proj.depth), result.radar_used.copy())
