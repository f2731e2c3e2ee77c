"""Our OpenCV preprocessing against the transformers image processors, and the postprocessing rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError, ModelOutputError
from depth_ros.models import OutputKind, get_spec
from depth_ros.models.preprocess import (
    Prepared,
    check_prior,
    check_rgb,
    network_size,
    postprocess,
    preprocess,
    resize_align_corners,
    resize_sparse_prior,
)
from depth_ros.models.spec import ModelSpec

RGBD = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rgbd"


def _scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A camera-like test image: smooth shading, hard edges and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([120 + 80 * np.sin(xx / 23.0), 100 + 90 * np.cos(yy / 17.0), 60 + 0.2 * (xx + yy)], axis=2)
    img[height // 4 : height // 2, width // 3 : width // 2] = (250, 30, 40)
    cv2.circle(img, (width * 2 // 3, height * 2 // 3), max(3, height // 6), (10, 200, 220), -1)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Synthetic scenes, plus three real frames (one per set) when ../shared is there."""
    imgs = [_scene(480, 640), _scene(720, 1280, seed=1), _scene(501, 355, seed=2)]
    for name in ("tum_fr1/rgb_1.png", "icl_nuim_livingroom/rgb_1.png", "redwood_livingroom/rgb_1.png"):
        if (RGBD / name).is_file():
            imgs.append(cv2.cvtColor(cv2.imread(str(RGBD / name)), cv2.COLOR_BGR2RGB))
    return imgs


def _processor_rule_agrees(spec: ModelSpec, height: int, width: int) -> bool:
    """Whether the processor's "scale as little as possible" also makes the short side ``short_side``."""
    if spec.short_side is None:
        return True
    short, long = min(height, width), max(height, width)
    return abs(1 - spec.short_side / short) <= abs(1 - spec.short_side / long)


def _processor_for(name: str):
    """A transformers image processor (PIL backend) configured like the hub checkpoint of ``name``."""
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil
    from transformers.models.glpn.image_processing_pil_glpn import GLPNImageProcessorPil
    from transformers.models.zoedepth.image_processing_pil_zoedepth import ZoeDepthImageProcessorPil

    spec = get_spec(name)
    if name.startswith("depth_anything_v2"):
        return DPTImageProcessorPil(size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                                    ensure_multiple_of=14, resample=3, image_mean=list(spec.mean),
                                    image_std=list(spec.std))
    if name.startswith("dpt"):
        return DPTImageProcessorPil(size={"height": 384, "width": 384}, resample=3, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3)
    if name == "zoedepth_nyu_kitti":
        return ZoeDepthImageProcessorPil(size={"height": 384, "width": 512}, keep_aspect_ratio=True,
                                         ensure_multiple_of=32, resample=2, do_pad=True, image_mean=[0.5] * 3,
                                         image_std=[0.5] * 3)
    if name == "glpn_nyu":
        return GLPNImageProcessorPil(size_divisor=32, resample=2)
    raise AssertionError(name)


# (mean |diff|, 99th percentile |diff|) allowed, in normalised units. Bicubic/area in OpenCV differ
# from PIL's filters at edges; pure geometry (ZoeDepth, GLPN) must match to float rounding.
TOLERANCE = {
    "depth_anything_v2_small": (0.015, 0.12),
    "depth_anything_v2_metric_indoor_small": (0.015, 0.12),
    "dpt_large": (0.015, 0.12),
    "dpt_hybrid_midas": (0.015, 0.12),
    "zoedepth_nyu_kitti": (1e-5, 1e-5),
    "glpn_nyu": (2e-3, 0.01),
}


@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_matches_transformers_image_processor(name: str, images: list[np.ndarray]) -> None:
    spec = get_spec(name)
    processor = _processor_for(name)
    mean_tol, p99_tol = TOLERANCE[name]
    for rgb in images:
        if not _processor_rule_agrees(spec, *rgb.shape[:2]):
            continue  # the processor upscales small images less than our lower-bound rule (spec doc)
        ours = preprocess(rgb, spec).nchw()
        theirs = processor(images=rgb, return_tensors="np")["pixel_values"].astype(np.float32)
        assert ours.shape == theirs.shape, (name, rgb.shape)
        diff = np.abs(ours - theirs)
        assert diff.mean() < mean_tol and np.percentile(diff, 99) < p99_tol, (name, rgb.shape, diff.mean())


def test_a_wrong_normalisation_would_be_caught(images: list[np.ndarray]) -> None:
    spec = dataclasses.replace(get_spec("depth_anything_v2_small"), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    theirs = _processor_for("depth_anything_v2_small")(images=images[0], return_tensors="np")["pixel_values"]
    assert np.abs(preprocess(images[0], spec).nchw() - theirs).mean() > TOLERANCE["depth_anything_v2_small"][0]


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        ("depth_anything_v2_small", (480, 640), (518, 686)),  # 640 * 518 / 480 = 690.7 -> 49 * 14
        ("depth_anything_v2_small", (720, 1280), (518, 924)),  # 920.9 -> 66 * 14
        ("depth_anything_v2_small", (240, 320), (518, 686)),  # short side up to 518 (lower bound)
        ("depth_anything_v2_small", (640, 480), (686, 518)),
        ("dpt_large", (480, 640), (384, 384)),
        ("fastdepth_tflite", (1080, 1920), (224, 224)),
        ("glpn_nyu", (481, 645), (480, 640)),  # floored to multiples of 32
        ("zoedepth_nyu_kitti", (572, 746), (384, 512)),  # 640x480 after ZoeDepth's padding; fits width
        ("zoedepth_nyu_kitti", (812, 1460), (384, 704)),  # fits height: 1460 * 384 / 812 = 690.4 -> 22 * 32
    ],
)
def test_network_size_rules(name: str, size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert network_size(get_spec(name), *size) == expected


def test_input_size_override_must_respect_multiple() -> None:
    spec = get_spec("depth_anything_v2_small")
    assert network_size(spec.with_input_size((364, 490)), 480, 640) == (364, 490)
    with pytest.raises(InvalidInputError, match="multiples of 14"):
        spec.with_input_size((360, 480))


def test_align_corners_resize_matches_torch() -> None:
    import torch

    img = np.random.default_rng(3).random((57, 83, 3), dtype=np.float32)
    ours = resize_align_corners(img, (40, 121))
    ref = torch.nn.functional.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None], size=(40, 121),
                                          mode="bilinear", align_corners=True)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_channel_order_and_prior_channel() -> None:
    rgb = _scene(60, 80)
    spec = dataclasses.replace(get_spec("fastdepth_tflite"), input_size=(30, 40))
    base = preprocess(rgb, spec).image
    bgr = preprocess(rgb, dataclasses.replace(spec, channel_order="BGR")).image
    np.testing.assert_array_equal(bgr, base[:, :, ::-1])
    expected = cv2.resize(rgb, (40, 30), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    np.testing.assert_allclose(base, expected, atol=1e-6)

    four = dataclasses.replace(spec, input_channels=4)
    # Halving: source pixel (r, c) lands in network pixel (r // 2, c // 2). Odd coordinates are the
    # ones nearest resizing skips; two samples in one pixel keep the nearer; NaN / negative = none.
    prior = _points((60, 80), {(1, 3): 4.0, (2, 2): 6.0, (3, 3): 2.5, (59, 79): 9.0, (11, 20): np.nan,
                               (20, 41): -2.0})
    out = preprocess(rgb, four, prior).image
    assert out.shape == (30, 40, 4)
    np.testing.assert_array_equal(out[:, :, :3], base)
    np.testing.assert_array_equal(out[:, :, 3], _points((30, 40), {(0, 1): 4.0, (1, 1): 2.5, (29, 39): 9.0}))
    assert not preprocess(rgb, four).image[:, :, 3].any()


def _points(shape: tuple[int, int], values: dict[tuple[int, int], float]) -> np.ndarray:
    prior = np.zeros(shape, np.float32)
    for (y, x), value in values.items():
        prior[y, x] = value
    return prior


def test_resize_sparse_prior_keeps_sparse_samples() -> None:
    prior = _points((100, 150), {(0, 0): 7.0, (2, 3): 3.0, (51, 77): 12.5, (99, 149): 0.4, (60, 10): np.nan})
    small = resize_sparse_prior(prior, (20, 30))
    assert small.shape == (20, 30) and small.dtype == np.float32
    assert small[0, 0] == 3.0  # two samples in one 5x5 cell: the nearest wins
    assert small[10, 15] == 12.5 and small[19, 29] == np.float32(0.4)
    assert np.count_nonzero(small) == 3  # nothing blended, NaN dropped
    grid = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(resize_sparse_prior(grid, (6, 8)), np.repeat(np.repeat(grid, 2, 0), 2, 1))
    mixed = resize_sparse_prior(_points((10, 40), {(3, 21): 2.0}), (20, 10))
    assert set(np.unique(mixed)) == {0.0, 2.0} and np.count_nonzero(mixed) == 2


def test_resize_sparse_prior_at_a_non_integer_ratio() -> None:
    # 7 x 10 -> 3 x 4: source row r goes to floor(3 r / 7): rows 0-2 -> 0, 3-4 -> 1, 5-6 -> 2;
    # source column c to floor(4 c / 10): columns 0-2 -> 0, 3-4 -> 1, 5-7 -> 2, 8-9 -> 3.
    prior = _points((7, 10), {(2, 2): 5.0, (3, 4): 2.0, (6, 9): 9.0, (5, 5): 4.0, (6, 7): 3.0,
                              (0, 9): np.inf, (4, 0): -1.0})
    expected = np.array([[5.0, 0.0, 0.0, 0.0],
                         [0.0, 2.0, 0.0, 0.0],
                         [0.0, 0.0, 3.0, 9.0]], np.float32)
    np.testing.assert_array_equal(resize_sparse_prior(prior, (3, 4)), expected)
    # Shrinking one axis and growing the other: rows pooled as above, 10 columns -> 20 (each one twice).
    rows = np.array([[0, 0, 5, 0, 0, 0, 0, 0, 0, 0],
                     [0, 0, 0, 0, 2, 0, 0, 0, 0, 0],
                     [0, 0, 0, 0, 0, 4, 0, 3, 0, 9]], np.float32)
    np.testing.assert_array_equal(resize_sparse_prior(prior, (3, 20)), np.repeat(rows, 2, axis=1))


def test_views_are_accepted() -> None:
    bgr = _scene(50, 70)
    view = bgr[:, :, ::-1]
    spec = get_spec("depth_anything_v2_small")
    np.testing.assert_array_equal(preprocess(view, spec).image, preprocess(view.copy(), spec).image)


def test_input_checks() -> None:
    good = np.zeros((4, 5, 3), np.uint8)
    assert check_rgb(good) is good
    for bad in (good.astype(np.float32), good[:, :, 0], np.zeros((4, 5, 4), np.uint8), [[0]], good[:1]):
        with pytest.raises(InvalidInputError):
            check_rgb(bad)
    assert check_prior(np.ones((4, 5), np.float64), (4, 5)).dtype == np.float32
    for bad in (np.ones((5, 4)), np.ones((4, 5, 1)), None, np.array([["a"] * 5] * 4)):
        with pytest.raises(InvalidInputError):
            check_prior(bad, (4, 5))


def test_postprocess_resizes_clips_and_rejects_nan() -> None:
    metric = dataclasses.replace(get_spec("glpn_nyu"), max_depth=3.0)
    prepared = Prepared(np.zeros((8, 10, 3), np.float32), source_size=(16, 20))
    raw = np.linspace(-1, 5, 80, dtype=np.float32).reshape(1, 8, 10)
    out = postprocess(raw, prepared, metric)
    expected = np.clip(cv2.resize(raw[0], (20, 16), interpolation=cv2.INTER_LINEAR), 0, 3.0)
    assert out.dtype == np.float32 and out.shape == (16, 20)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    relative = dataclasses.replace(metric, output_kind=OutputKind.RELATIVE_INVERSE)
    out = postprocess(raw[..., None], prepared, relative)
    assert out.min() == 0 and out.max() == pytest.approx(5.0, abs=0.2)
    for bad in (np.nan, np.inf):
        broken = raw.copy()
        broken[0, 3, 4] = bad
        with pytest.raises(ModelOutputError, match="NaN/inf"):
            postprocess(broken, prepared, metric)
    with pytest.raises(ModelOutputError, match="shape"):
        postprocess(np.zeros((2, 8, 10), np.float32), prepared, metric)


def test_postprocess_removes_reflect_padding() -> None:
    spec = get_spec("zoedepth_nyu_kitti")
    rgb = _scene(48, 64)
    prepared = preprocess(rgb, spec)
    ph, pw = prepared.pad
    assert (ph, pw) == (int(np.sqrt(24) * 3), int(np.sqrt(32) * 3))
    # A depth that is the padded image's row index: after cropping, row 0 of the output is row ph.
    h, w = 48 + 2 * ph, 64 + 2 * pw
    rows = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
    out = postprocess(rows, prepared, dataclasses.replace(spec, max_depth=1e3))
    np.testing.assert_allclose(out[:, 0], np.arange(ph, ph + 48), atol=1e-4)
