"""Entity paths and timelines of a depth-ros-view recording (the blueprint and the tests use these names).

`world` is the odometry frame (z up) when the bag has poses, else the camera's optical frame; `world/camera`
is the camera's optical frame (x right, y down, z forward); its `image` child carries the Pinhole, so the
image, depth, confidence and projected radar points share the image's pixel coordinates.
"""

from __future__ import annotations

WORLD = "world"
TRAJECTORY = "world/trajectory"
CAMERA = "world/camera"
IMAGE = "world/camera/image"
DEPTH = "world/camera/image/depth"
CONFIDENCE = "world/camera/image/confidence"
RADAR_2D = "world/camera/image/radar"
RADAR_3D = "world/camera/radar"
CLOUD = "world/camera/points"
OBSTACLES = "world/camera/obstacles"
SCAN = "world/camera/scan"
DEPTH_LEGEND = "legend/depth_m"

METRICS = "metrics"
SCALE = "metrics/scale"
FIT_RESIDUAL = "metrics/fit_residual"
RADAR_POINTS = "metrics/radar_points"
RADAR_USED = "metrics/radar_points/used"
RADAR_IN_IMAGE = "metrics/radar_points/in_image"
SCALE_SOURCE = "metrics/scale_source"
SCALE_SOURCE_LOG = "log/scale_source"
LATENCY = "latency"

STAMP_TIMELINE = "stamp"  # the image's header stamp
FRAME_TIMELINE = "frame"  # frame number in the recording, from 0

# scale_source -> the value of the SCALE_SOURCE series (names in the series' legend).
SCALE_SOURCES = {"none": 0, "model": 1, "filter": 2, "ground": 3, "radar": 4}

# Class ids of radar points (an AnnotationContext gives them their colour and label).
RADAR_UNUSED, RADAR_USED_BY_FIT, RADAR_UNKNOWN = 0, 1, 2


def latency_entity(stage: str) -> str:
    """The time series of one pipeline stage's latency (milliseconds)."""
    return f"{LATENCY}/{stage}"
