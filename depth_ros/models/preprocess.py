"""Input checks, network-input preparation and output postprocessing with OpenCV/NumPy/numba only.

Every backend shares these so that a model behaves the same whichever runtime executes it.

Speed: the image is resized as uint8, so each normalised value depends on one uint8 pixel value
only; `preprocess` therefore normalises through a 256-entry float32 table per channel (the same
float32 arithmetic as ``(x * scale - mean) / std``, bit for bit) and writes straight into the
(1, C, h, w) buffer the runtimes take: `Prepared.nchw` returns that buffer without a copy and
`Prepared.image` is an (h, w, C) view of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

import cv2
import numpy as np

from depth_ros.core.errors import InvalidInputError, ModelOutputError
from depth_ros.models.spec import ModelSpec, OutputKind

_CV2_RESAMPLE = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}


@dataclass(frozen=True)
class Prepared:
    """A network input and what is needed to map the output back to the image.

    image: (h, w, C) float32, normalised, channels in the spec's order (plus the prior channel).
    source_size: (height, width) of the image given to `predict`.
    pad: (rows, cols) of reflect padding added on each border before resizing.
    """

    image: np.ndarray
    source_size: tuple[int, int]
    pad: tuple[int, int] = (0, 0)

    def nchw(self) -> np.ndarray:
        """The input as a contiguous (1, C, h, w) float32 array (no copy when `preprocess` made it)."""
        return np.ascontiguousarray(self.image.transpose(2, 0, 1)[None])

    def nhwc(self) -> np.ndarray:
        """The input as a contiguous (1, h, w, C) float32 array."""
        return np.ascontiguousarray(self.image[None])


def check_rgb(rgb: object) -> np.ndarray:
    """Return ``rgb`` if it is an (H, W, 3) uint8 array, else raise `InvalidInputError`."""
    if not isinstance(rgb, np.ndarray):
        raise InvalidInputError(f"rgb must be a numpy array, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidInputError(f"rgb must be (H, W, 3) uint8, got shape {rgb.shape} dtype {rgb.dtype}")
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise InvalidInputError(f"rgb must be at least 2x2 pixels, got {rgb.shape[:2]}")
    return rgb


def check_prior(prior: object, image_size: tuple[int, int]) -> np.ndarray:
    """Return ``prior`` as float32 if it is an (H, W) array matching the image, else raise."""
    if not isinstance(prior, np.ndarray) or prior.ndim != 2 or prior.shape != tuple(image_size):
        shape = getattr(prior, "shape", type(prior).__name__)
        raise InvalidInputError(f"prior must be an (H, W) array of the image size {tuple(image_size)}, got {shape}")
    if not np.issubdtype(prior.dtype, np.number):
        raise InvalidInputError(f"prior must be numeric, got dtype {prior.dtype}")
    return prior.astype(np.float32, copy=False)


def _round_to_multiple(value: float, multiple: int) -> int:
    # Same rounding as transformers' DPT/ZoeDepth processors (Python round), never below one multiple.
    out = round(value / multiple) * multiple
    return int(max(out, multiple))


def network_size(spec: ModelSpec, height: int, width: int) -> tuple[int, int]:
    """(height, width) the network input gets for an image of ``height`` x ``width`` (see spec doc)."""
    m = spec.multiple_of
    if spec.input_size is not None:
        th, tw = spec.input_size
        if not spec.keep_aspect:
            return th, tw
        sh, sw = th / height, tw / width
        if abs(1 - sw) < abs(1 - sh):
            sh = sw
        else:
            sw = sh
        return _round_to_multiple(sh * height, m), _round_to_multiple(sw * width, m)
    if spec.short_side is not None:
        s = spec.short_side / min(height, width)
        th, tw = _round_to_multiple(s * height, m), _round_to_multiple(s * width, m)
        # The short side must not fall below short_side (the original "lower bound" rule).
        if height <= width and th < spec.short_side:
            th = math.ceil(s * height / m) * m
        if width <= height and tw < spec.short_side:
            tw = math.ceil(s * width / m) * m
        return th, tw
    return max(height // m * m, m), max(width // m * m, m)


def resize_image(image: np.ndarray, size: tuple[int, int], resample: str) -> np.ndarray:
    """Resize an (H, W[, C]) image to ``size`` = (height, width) with OpenCV.

    When both sides shrink, ``cv2.INTER_AREA`` is used (anti-aliased); otherwise ``resample``.
    """
    h, w = image.shape[:2]
    th, tw = size
    if (h, w) == (th, tw):
        return image
    interp = cv2.INTER_AREA if th <= h and tw <= w else _CV2_RESAMPLE[resample]
    out = cv2.resize(image, (tw, th), interpolation=interp)
    if out.ndim == 2 and image.ndim == 3:  # cv2 drops a single channel axis
        out = out[:, :, None]
    return out


def resize_align_corners(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize with ``align_corners=True`` geometry (corner pixel centres map onto each other).

    OpenCV has no such mode and its warpAffine quantises coordinates, so this is done in NumPy.
    """
    h, w = image.shape[:2]
    th, tw = size

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.arange(n_out, dtype=np.float64) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        i0 = np.clip(np.floor(pos).astype(np.intp), 0, n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (pos - i0).astype(np.float32)

    y0, y1, wy = axis(h, th)
    x0, x1, wx = axis(w, tw)
    img = image.astype(np.float32, copy=False)
    wy = wy.reshape(-1, *([1] * (img.ndim - 1)))
    rows = img[y0] * (1 - wy) + img[y1] * wy
    wx = wx.reshape(1, -1, *([1] * (img.ndim - 2)))
    return rows[:, x0] * (1 - wx) + rows[:, x1] * wx


def reflect_pad_size(height: int, width: int) -> tuple[int, int]:
    """ZoeDepth's border padding: ``int(sqrt(side / 2) * 3)`` rows and columns."""
    return int(np.sqrt(height / 2) * 3), int(np.sqrt(width / 2) * 3)


@lru_cache(maxsize=16)
def _normalise_tables(scale: float, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(3, 256) float32: the normalised value of each uint8 level per channel, computed exactly as the
    per-pixel float32 formula ``(x * scale - mean) / std`` would."""
    levels = np.arange(256, dtype=np.float32)[None, :] * np.float32(scale)
    tables = (levels - np.asarray(mean, np.float32)[:, None]) / np.asarray(std, np.float32)[:, None]
    tables.setflags(write=False)
    return tables


def _normalise_nchw_py(image, tables, source_channel, out):
    """out[0, k, i, j] = tables[c, image[i, j, c]] with c = source_channel[k], for k < 3."""
    h, w = image.shape[0], image.shape[1]
    for k in range(3):
        c = source_channel[k]
        table = tables[c]
        plane = out[0, k]
        for i in range(h):
            for j in range(w):
                plane[i, j] = table[image[i, j, c]]


@cache
def _normalise_nchw():
    # numba is imported on first use, so that `import depth_ros.models` stays light.
    import numba  # noqa: PLC0415

    return numba.njit(cache=True, nogil=True)(_normalise_nchw_py)


_RGB_ORDER = np.array([0, 1, 2], np.int64)
_BGR_ORDER = np.array([2, 1, 0], np.int64)


def preprocess(rgb: np.ndarray, spec: ModelSpec, prior: np.ndarray | None = None) -> Prepared:
    """Turn an (H, W, 3) uint8 RGB image (and optional prior, metres) into the network input.

    A 4-channel spec gets the prior resized by `resize_sparse_prior` (zeros without a prior).
    """
    source_size = (int(rgb.shape[0]), int(rgb.shape[1]))
    image = np.ascontiguousarray(rgb)  # OpenCV rejects negative-stride views such as bgr[:, :, ::-1]
    pad = (0, 0)
    if spec.pad_reflect:
        pad = reflect_pad_size(*source_size)
        image = np.pad(image, ((pad[0], pad[0]), (pad[1], pad[1]), (0, 0)), mode="reflect")
    size = network_size(spec, image.shape[0], image.shape[1])
    out = np.empty((1, spec.input_channels, size[0], size[1]), np.float32)
    if spec.align_corners:
        x = resize_align_corners(image.astype(np.float32) * np.float32(spec.scale), size)
        x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
        if spec.channel_order == "BGR":
            x = x[:, :, ::-1]
        out[0, :3] = x.transpose(2, 0, 1)
    else:
        small = np.ascontiguousarray(resize_image(image, size, spec.resample))
        order = _BGR_ORDER if spec.channel_order == "BGR" else _RGB_ORDER
        _normalise_nchw()(small, _normalise_tables(spec.scale, spec.mean, spec.std), order, out)
    if spec.input_channels == 4:
        if prior is None:
            out[0, 3] = 0.0
        else:
            if spec.pad_reflect:
                prior = np.pad(prior, ((pad[0], pad[0]), (pad[1], pad[1])), mode="reflect")
            out[0, 3] = resize_sparse_prior(prior, size)
    return Prepared(out[0].transpose(1, 2, 0), source_size, pad)


def postprocess(raw: np.ndarray, prepared: Prepared, spec: ModelSpec) -> np.ndarray:
    """Map a raw network output back to the input image: float32 (H, W), clipped to the spec's range.

    ``raw`` may carry leading/trailing singleton axes ((1, h, w), (1, h, w, 1), ...). NaN or inf
    raise `ModelOutputError`.
    """
    depth = np.asarray(raw)
    if depth.ndim > 2:
        depth = depth.reshape([d for d in depth.shape if d != 1] or [1, 1])
    if depth.ndim != 2:
        raise ModelOutputError(f"{spec.name}: expected a single (h, w) depth map, got output shape {np.shape(raw)}")
    depth = depth.astype(np.float32, copy=False)
    if not np.isfinite(depth).all():
        bad = int(np.count_nonzero(~np.isfinite(depth)))
        raise ModelOutputError(f"{spec.name}: model output has {bad} NaN/inf values")
    owned = False  # True once `depth` is an array made here (safe to clip in place)
    if spec.output_scale != 1.0:
        depth = depth * np.float32(spec.output_scale)
        owned = True
    h, w = prepared.source_size
    ph, pw = prepared.pad
    if ph or pw:
        depth = cv2.resize(depth, (w + 2 * pw, h + 2 * ph), interpolation=cv2.INTER_LINEAR)
        depth = depth[ph : ph + h, pw : pw + w]
        owned = True
    if depth.shape != (h, w):
        depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_LINEAR)
        owned = True
    out = depth if owned and depth.flags.c_contiguous else None  # else one new array, in one pass
    if spec.output_kind is OutputKind.METRIC:
        depth = np.clip(depth, np.float32(0.0), np.float32(spec.max_depth), out=out)
    else:
        depth = np.maximum(depth, np.float32(0.0), out=out)
    return np.ascontiguousarray(depth, dtype=np.float32)


def resize_sparse_prior(prior: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a sparse (H, W) prior in metres (0 = none) to ``size`` = (height, width) without blending.

    Shrinking axes keep every sample, the smallest positive one per output pixel (a z-buffer);
    growing axes use nearest sampling. Non-finite and negative values become 0. Interpolation would
    smear single radar returns into depths that no surface has, and nearest resizing would drop
    samples that fall between the sampled source pixels. Every 4-channel model resizes its prior
    with this (`preprocess`).
    """
    p = np.asarray(prior, dtype=np.float32)
    p = np.where(np.isfinite(p) & (p > 0), p, np.float32(0))
    p = _min_pool_axis(p, int(size[0]), axis=0)
    return np.ascontiguousarray(_min_pool_axis(p, int(size[1]), axis=1), dtype=np.float32)


def _min_pool_axis(p: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    n_in = p.shape[axis]
    if n_out == n_in:
        return p
    if n_out > n_in:
        return np.take(p, (np.arange(n_out) * n_in) // n_out, axis=axis)
    # Source index i falls into output cell floor(i * n_out / n_in); cell j starts at ceil(j * n_in / n_out).
    starts = (np.arange(n_out) * n_in + n_out - 1) // n_out
    q = np.minimum.reduceat(np.where(p > 0, p, np.float32(np.inf)), starts, axis=axis)
    return np.where(np.isinf(q), np.float32(0), q)
