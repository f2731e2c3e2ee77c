"""Table-driven preprocessing and the 8-bit TFLite input/output paths against the plain float formulas."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from depth_ros.models import ModelSpec, OutputKind, get_spec
from depth_ros.models.preprocess import Prepared, network_size, postprocess, preprocess, resize_image
from depth_ros.models.tflite_backend import _input_tables, _output_table, _quantise, quantised_input


def _float_reference(rgb: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """(h, w, 3) float32 via the per-pixel formula: resize uint8, * scale, - mean, / std, channel order."""
    small = resize_image(np.ascontiguousarray(rgb), network_size(spec, *rgb.shape[:2]), spec.resample)
    x = small.astype(np.float32) * np.float32(spec.scale)
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return x[:, :, ::-1] if spec.channel_order == "BGR" else x


def _image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape + (3,), dtype=np.uint8)


@pytest.mark.parametrize("order", ["RGB", "BGR"])
@pytest.mark.parametrize("name", ["depth_anything_v2_small", "dpt_large", "fastdepth_tflite", "glpn_nyu"])
def test_tables_give_the_float_formula_bit_for_bit(name: str, order: str) -> None:
    spec = dataclasses.replace(get_spec(name), channel_order=order)
    for shape in ((480, 640), (37, 53)):
        rgb = _image(shape)
        prepared = preprocess(rgb, spec)
        np.testing.assert_array_equal(prepared.image, _float_reference(rgb, spec))
        nchw = prepared.nchw()
        assert nchw.flags.c_contiguous and np.shares_memory(nchw, prepared.image)  # no copy for the runtime


def test_prior_channel_and_in_place_writes_reach_nchw() -> None:
    spec = dataclasses.replace(get_spec("depth_anything_v2_small"), input_channels=4, input_size=(28, 42))
    rgb = _image((30, 40))
    prepared = preprocess(rgb, spec, np.full((30, 40), 2.5, np.float32))
    assert prepared.image.shape == (28, 42, 4) and (prepared.image[:, :, 3] == 2.5).all()
    prepared.image[:, :, 3] = 7.0  # a write into the (h, w, C) view
    assert (prepared.nchw()[0, 3] == 7.0).all()
    assert not preprocess(rgb, spec).image[:, :, 3].any()


QUANT = [
    # input dtype, scale, zero point, mean, std, channel order
    (np.uint8, 1 / 255, 0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "RGB"),  # FastDepth: identity
    (np.uint8, 0.0078125, 128, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "RGB"),
    (np.int8, 0.0187, -3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "BGR"),
]


@pytest.mark.parametrize(("dtype", "scale", "zero", "mean", "std", "order"), QUANT)
def test_quantised_input_equals_quantising_the_float_input(dtype, scale, zero, mean, std, order) -> None:
    spec = ModelSpec("q", "tflite", OutputKind.METRIC, 10.0, (24, 32), mean=mean, std=std, channel_order=order)
    dtype = np.dtype(dtype)
    tables = _input_tables(spec, dtype, scale, zero)
    identity = dtype == np.uint8 and all(np.array_equal(tables[:, c], np.arange(256)) for c in range(3))
    assert identity == (zero == 0 and scale == 1 / 255)
    lut = None if identity else np.ascontiguousarray(tables.view(np.uint8)[None])
    for shape in ((48, 64), (20, 30)):
        rgb = _image(shape, seed=shape[0])
        ours = quantised_input(rgb, spec, dtype, lut)
        expected = _quantise(preprocess(rgb, spec).nhwc(), dtype, scale, zero)[0]
        assert ours.dtype == dtype and ours.flags.c_contiguous
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize(("dtype", "scale", "zero"), [(np.uint8, 0.0717, 0), (np.int8, 0.05, -7), (np.uint8, 0.1, 200)])
def test_output_table_equals_dequantisation(dtype, scale, zero) -> None:
    table = _output_table(np.dtype(dtype), scale, zero)
    raw = np.arange(256, dtype=np.uint8).view(dtype).reshape(1, 16, 16, 1)
    expected = (raw.astype(np.float32) - np.float32(zero)) * np.float32(scale)
    np.testing.assert_array_equal(table[raw.view(np.uint8)], expected)
    assert _output_table(np.dtype(np.float32), scale, zero) is None


def test_postprocess_never_writes_into_the_raw_output() -> None:
    spec = dataclasses.replace(get_spec("glpn_nyu"), max_depth=3.0)
    raw = np.linspace(-1, 5, 80, dtype=np.float32).reshape(1, 8, 10)
    before = raw.copy()
    out = postprocess(raw, Prepared(np.zeros((8, 10, 3), np.float32), (8, 10)), spec)  # no resize
    np.testing.assert_array_equal(raw, before)
    assert not np.shares_memory(out, raw) and out.min() == 0 and out.max() == 3.0
    relative = dataclasses.replace(spec, output_kind=OutputKind.RELATIVE_INVERSE)
    out = postprocess(raw, Prepared(np.zeros((8, 10, 3), np.float32), (16, 20)), relative)  # resized
    np.testing.assert_array_equal(raw, before)
    assert out.shape == (16, 20) and out.flags.c_contiguous and out.min() == 0 and out.max() == pytest.approx(5.0)
