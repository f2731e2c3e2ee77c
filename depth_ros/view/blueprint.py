"""The default layout of a depth-ros-view recording: 3D scene, camera + radar, depth with its metres
scale, confidence, and the time series."""

from __future__ import annotations

from typing import Any

from depth_ros.view import entities as E
from depth_ros.view.sdk import blueprint_module


def default_blueprint() -> Any:
    """A `rerun.blueprint.Blueprint`: 3D on the left, the images in the middle, the series on the right."""
    rrb = blueprint_module()
    scene = rrb.Spatial3DView(name="3D: cloud, radar, obstacles, scan, trajectory", origin=E.WORLD,
                              contents=[f"+ {E.WORLD}/**", f"- {E.DEPTH}", f"- {E.CONFIDENCE}"])
    images = rrb.Vertical(
        rrb.Spatial2DView(name="camera + radar (green: used by the fit)", origin=E.IMAGE,
                          contents=[f"+ {E.IMAGE}", f"+ {E.RADAR_2D}"]),
        rrb.Spatial2DView(name="depth (m)", origin=E.IMAGE, contents=[f"+ {E.DEPTH}", f"+ {E.RADAR_2D}"]),
        rrb.Spatial2DView(name="depth scale (m)", origin=E.DEPTH_LEGEND),
        rrb.Spatial2DView(name="confidence (0..1)", origin=E.IMAGE, contents=[f"+ {E.CONFIDENCE}"]),
        row_shares=[3, 3, 1, 3],
    )
    series = rrb.Vertical(
        rrb.TimeSeriesView(name="scale", origin=E.SCALE),
        rrb.TimeSeriesView(name="fit residual", origin=E.FIT_RESIDUAL),
        rrb.TimeSeriesView(name="radar points", origin=E.RADAR_POINTS),
        rrb.TimeSeriesView(name="scale source (" + ", ".join(f"{v} {k}" for k, v in E.SCALE_SOURCES.items()) + ")",
                           origin=E.SCALE_SOURCE),
        rrb.TimeSeriesView(name="latency (ms)", origin=E.LATENCY),
    )
    return rrb.Blueprint(rrb.Horizontal(scene, images, series, column_shares=[5, 3, 3]), collapse_panels=True)
