"""sensor_msgs/CompressedImage <-> RGB numpy arrays.

`format` strings as image_transport's compressed plugin writes them:
"<raw encoding>; <jpeg|png> compressed <payload encoding>", e.g. "rgb8; jpeg compressed bgr8",
"mono8; png compressed mono8"; older publishers and cv_bridge write just "jpeg" or "png".
The plugin converts colour images to bgr8 before compressing, so the payload is taken as BGR
unless the payload encoding after "compressed" says rgb. compressedDepth payloads (a 12-byte
config header before the PNG) are a different transport and are rejected.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from depth_ros.core.errors import ConversionError
from depth_ros.ros.conversions.stamps import as_uint8, new_u8_buffer, resolve_header, sensor_msgs, set_uint8_data

_IMREAD_COLOR_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.10
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
# Deflate expands one byte into at most 1032 and a Huffman-coded JPEG needs well over a bit per
# 8x8 block, so no honest payload decodes to more pixels than this per byte of message.
MAX_PIXELS_PER_BYTE = 1100
MAX_PIXELS = 1 << 28


def _declared_size(raw: np.ndarray, fmt: str) -> tuple[int, int]:
    """(width, height) from a PNG IHDR or JPEG SOF header; ConversionError for anything else."""
    what = f"CompressedImage (format '{fmt}', {raw.size} bytes)"
    head = raw[:8].tobytes()
    if head.startswith(_PNG_SIGNATURE):
        if raw.size < 24 or raw[12:16].tobytes() != b"IHDR":
            raise ConversionError(f"{what} is a truncated PNG")
        return int.from_bytes(raw[16:20].tobytes(), "big"), int.from_bytes(raw[20:24].tobytes(), "big")
    if head.startswith(_JPEG_SIGNATURE):
        i = 2
        while i + 9 <= raw.size:
            if raw[i] != 0xFF:
                break
            marker = int(raw[i + 1])
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            length = int(raw[i + 2]) << 8 | int(raw[i + 3])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
                height = int(raw[i + 5]) << 8 | int(raw[i + 6])
                width = int(raw[i + 7]) << 8 | int(raw[i + 8])
                return width, height
            if marker == 0xDA or length < 2:  # start of scan before any frame header: broken
                break
            i += 2 + length
        raise ConversionError(f"{what} is a JPEG without a readable frame header")
    raise ConversionError(f"{what} holds neither PNG nor JPEG data (starts with {head[:4].hex()})")


def _payload_is_rgb(fmt: str) -> bool:
    """True when the compressed payload's channels are in RGB order."""
    _, sep, target = fmt.lower().partition("compressed")
    return bool(sep) and target.strip().startswith("rgb")


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB decoded from a CompressedImage (jpeg/png; mono is expanded to 3 channels).

    Only PNG and JPEG payloads are decoded, and only when the size in their header is plausible
    for the amount of data (decompression bombs are rejected before OpenCV allocates anything).
    """
    fmt = str(msg.format)
    if "compresseddepth" in fmt.lower().replace(" ", ""):
        raise ConversionError(f"CompressedImage format '{fmt}' is compressedDepth, not a colour image")
    if len(msg.data) == 0:
        raise ConversionError(f"CompressedImage (format '{fmt}') has no data")
    raw = as_uint8(msg.data)
    nbytes = raw.size
    width, height = _declared_size(raw, fmt)
    pixels = width * height
    # Checked before decoding: OpenCV allocates the whole image from the header alone.
    if pixels == 0 or pixels > MAX_PIXELS or pixels > MAX_PIXELS_PER_BYTE * nbytes:
        raise ConversionError(f"CompressedImage (format '{fmt}', {nbytes} bytes) claims a {width}x{height} image: "
                              f"empty, or more than {MAX_PIXELS_PER_BYTE} pixels per byte of data")
    if _payload_is_rgb(fmt):
        # imdecode thinks the payload is BGR; an RGB payload therefore comes out RGB.
        flags, swap = cv2.IMREAD_COLOR, False
    elif _IMREAD_COLOR_RGB is not None:
        flags, swap = _IMREAD_COLOR_RGB, False
    else:
        flags, swap = cv2.IMREAD_COLOR, True
    try:
        img = cv2.imdecode(raw, flags)
    except cv2.error as exc:
        raise ConversionError(f"cannot decode CompressedImage (format '{fmt}', {nbytes} bytes): {exc}") from exc
    if img is None or img.ndim != 3 or img.shape[2] != 3:
        raise ConversionError(f"cannot decode CompressedImage (format '{fmt}', {nbytes} bytes)")
    if swap:
        cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)
    return img


def rgb_to_compressed(
    rgb: np.ndarray,
    fmt: str = "jpeg",
    quality: int = 90,
    header: Any = None,
    frame_id: str | None = None,
    stamp: Any = None,
) -> Any:
    """(H, W, 3) uint8 RGB -> `sensor_msgs.msg.CompressedImage` as image_transport writes it.

    Format "rgb8; jpeg compressed bgr8" (or png): the payload is BGR. `quality` (1-100) applies
    to jpeg; png uses compression level 3 (image_transport's default).
    """
    kind = str(fmt).lower()
    kind = "jpeg" if kind == "jpg" else kind
    if kind not in ("jpeg", "png"):
        raise ConversionError(f"unsupported compression format '{fmt}'; use 'jpeg' or 'png'")
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ConversionError(f"expected an (H, W, 3) uint8 RGB image, got shape {rgb.shape} dtype {rgb.dtype}")
    if kind == "jpeg":
        if not 1 <= int(quality) <= 100:
            raise ConversionError(f"jpeg quality must be in [1, 100], got {quality}")
        ext, params = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    else:
        ext, params = ".png", [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ConversionError(f"OpenCV could not encode a {rgb.shape[1]}x{rgb.shape[0]} image as {kind}")
    buf = new_u8_buffer(0)
    buf.frombytes(encoded)
    msg = sensor_msgs().CompressedImage()
    msg.header = resolve_header(header, frame_id, stamp)
    msg.format = f"rgb8; {kind} compressed bgr8"
    set_uint8_data(msg, buf)
    return msg
