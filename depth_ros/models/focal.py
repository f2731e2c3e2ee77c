"""Focal-length normalisation of metric networks trained at one camera (Metric3D's canonical camera).

A metric network learns metres from how large things look. Trained on one camera, it reads a
scene seen through a wider lens (a shorter focal length in its input pixels) as farther away, in
proportion: an object of size S at depth Z spans f S / Z pixels. Scaling its depth by
``f_frame / f_train`` (both in network-input pixels, geometric mean of the x and y ratios, since a
resize to a square input changes the two differently) gives the depth the network would have
predicted through its training lens.

FastDepth (NYU Depth V2): NYU's Kinect has fx 518.86, fy 519.47 at 640x480; FastDepth's data
loader resizes the frame by 250/480, centre-crops 304x228 and resizes that to 224x224, so its
training camera has fx = 518.86 * 250/480 * 224/304 and fy = 519.47 * 250/480 * 224/228 in input
pixels. A 640x480 frame resized whole to 224x224 with fx 520 has 0.92 of that focal length.
"""

from __future__ import annotations

import math

from depth_ros.core.camera import CameraModel
from depth_ros.models.preprocess import network_size
from depth_ros.models.spec import ModelSpec

NYU_FX, NYU_FY = 518.8579, 519.4696  # NYU Depth V2 colour camera, 640x480
FASTDEPTH_TRAIN_FOCAL = (NYU_FX * 250 / 480 * 224 / 304, NYU_FY * 250 / 480 * 224 / 228)


def focal_scale(spec: ModelSpec, camera: CameraModel | None, height: int, width: int) -> float:
    """Factor for the metric depth of ``spec``'s network on a ``height`` x ``width`` frame of ``camera``
    (1.0 when the spec has no training focal length or the camera is unknown)."""
    train = spec.train_focal
    if train is None or camera is None:
        return 1.0
    nh, nw = network_size(spec, height, width)
    fx, fy = camera.fx * nw / width, camera.fy * nh / height
    return math.sqrt(fx * fy / (train[0] * train[1]))
