"""Focal-length normalisation (`depth_ros.models.focal`) and the mirrored-image average, by hand.

FastDepth's training camera in its 224x224 input, from NYU's intrinsics and FastDepth's data loader
(resize 250/480, centre crop 304x228, resize to 224x224): fx = 518.8579 * 250/480 * 224/304 = 199.12,
fy = 519.4696 * 250/480 * 224/228 = 265.81. A 640x480 frame resized whole has fx * 224/640 and
fy * 224/480 in that input.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.models.focal import focal_scale
from depth_ros.models.registry import get_spec
from depth_ros.models.spec import ModelSpec, OutputKind
from depth_ros.pipeline.pipeline import DepthPipeline, Frame, PipelineConfig

FASTDEPTH = get_spec("fastdepth_tflite")


def test_fastdepth_training_focal_from_nyu_and_its_loader():
    fx, fy = FASTDEPTH.train_focal
    assert fx == pytest.approx(199.12, abs=0.01)
    assert fy == pytest.approx(265.81, abs=0.01)


def test_scale_is_the_ratio_of_focal_lengths_in_network_pixels():
    # The camera whose 224x224 input matches training exactly: 1.
    same = CameraModel(640, 480, 199.1231 * 640 / 224, 265.8105 * 480 / 224, 319.5, 239.5)
    assert focal_scale(FASTDEPTH, same, 480, 640) == pytest.approx(1.0, abs=1e-5)
    # TUM fr1 (fx 520.9, fy 521.0): sqrt(182.315 * 243.133 / (199.123 * 265.810)) = 0.9151.
    tum = CameraModel(640, 480, 520.9, 521.0, 325.1, 249.7)
    assert focal_scale(FASTDEPTH, tum, 480, 640) == pytest.approx(0.9151, abs=1e-4)
    # Half the focal length (a wider lens): half the depth. The image size does not matter, only the focal
    # length relative to it.
    wide = CameraModel(320, 240, 520.9 / 4, 521.0 / 4, 160, 120)
    assert focal_scale(FASTDEPTH, wide, 240, 320) == pytest.approx(0.9151 / 2, abs=1e-4)
    assert focal_scale(FASTDEPTH, None, 480, 640) == 1.0
    assert focal_scale(get_spec("compact_depth"), tum, 480, 640) == 1.0  # declares no training camera


def test_train_focal_is_checked_and_survives_the_sidecar_format():
    spec = dataclasses.replace(FASTDEPTH, train_focal=(100, 120))
    assert ModelSpec.from_dict(spec.to_dict()).train_focal == (100.0, 120.0)
    with pytest.raises(InvalidInputError, match="train_focal"):
        dataclasses.replace(FASTDEPTH, train_focal=(100.0, -1.0))


class Ramp:
    """A metric 'network' with a training camera whose depth grows along the image columns: 1 m .. 3 m."""

    spec = dataclasses.replace(FASTDEPTH, name="ramp", max_depth=30.0)

    def __init__(self) -> None:
        self.calls = 0

    def focal_scale(self, camera: CameraModel | None, height: int, width: int) -> float:
        return focal_scale(self.spec, camera, height, width)

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        self.calls += 1
        h, w = rgb.shape[:2]
        row = np.linspace(1.0, 3.0, w, dtype=np.float32) + (rgb[0, :, 0] > 0)  # +1 where the first row is lit
        return np.repeat(row[None], h, axis=0)


def test_pipeline_scales_metric_depth_by_the_focal_ratio_and_can_be_told_not_to():
    cam = CameraModel(64, 48, 52.09, 52.10, 31.5, 23.5)  # TUM's focal lengths at a tenth of the size
    rgb = np.zeros((48, 64, 3), np.uint8)
    on = DepthPipeline(Ramp(), PipelineConfig(min_depth=0.1, max_depth=30.0)).process(Frame(rgb, cam, 1))
    off = DepthPipeline(Ramp(), PipelineConfig(min_depth=0.1, max_depth=30.0, focal_normalise=False)).process(
        Frame(rgb, cam, 1))
    np.testing.assert_allclose(off.depth[0], np.linspace(1.0, 3.0, 64), rtol=1e-6)
    np.testing.assert_allclose(on.depth / off.depth, 0.9151, atol=1e-4)
    assert on.info["focal_scale"] == pytest.approx(0.9151, abs=1e-4)


def test_flip_average_is_the_geometric_mean_with_the_mirrored_image_mirrored_back():
    cam = CameraModel(64, 48, 52.09, 52.10, 31.5, 23.5)
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[0, 40:, 0] = 255  # lit on the right: the network adds 1 m there, and on the left in the mirror
    model = Ramp()
    config = PipelineConfig(min_depth=0.1, max_depth=30.0, focal_normalise=False, flip_average=True)
    depth = DepthPipeline(model, config).process(Frame(rgb, cam, 1)).depth
    assert model.calls == 2
    ramp = np.linspace(1.0, 3.0, 64)
    lit = (np.arange(64) >= 40).astype(float)
    direct = ramp + lit
    mirrored_back = ramp[::-1] + lit  # the mirror's ramp runs the other way; the lit part is where it was
    expected = np.sqrt(direct * mirrored_back)
    np.testing.assert_allclose(depth[5], expected, rtol=1e-6)
    assert math.isclose(float(depth[5, 0]), math.sqrt(1.0 * 3.0), rel_tol=1e-6)


def test_flip_average_of_relative_output_is_the_mean():
    model = Ramp()
    model.spec = dataclasses.replace(Ramp.spec, output_kind=OutputKind.RELATIVE_INVERSE, train_focal=None)
    cam = CameraModel(64, 48, 52.09, 52.10, 31.5, 23.5)
    config = PipelineConfig(min_depth=0.0, max_depth=1000.0, flip_average=True)
    raw = DepthPipeline(model, config).process(Frame(np.zeros((48, 64, 3), np.uint8), cam, 1)).raw
    np.testing.assert_allclose(raw, 2.0, rtol=1e-6)  # (r(u) + r(W-1-u)) / 2 of a linear ramp 1..3
