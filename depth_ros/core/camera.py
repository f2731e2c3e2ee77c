"""Camera model built from sensor_msgs/CameraInfo fields, with a cached per-pixel ray grid.

Conventions (REP-103/REP-104): optical frame, x right, y down, z forward; depth is the z
coordinate (as in depth_image_proc), not the range along the ray.

Geometry of the delivered image: K and D describe the full-resolution sensor. A CameraInfo
with an ROI and/or binning describes an image that was cropped to the ROI and then binned;
`CameraModel.from_camera_info_fields` folds both into the intrinsics the way image_geometry
does (cx' = (cx - x_offset) / binning_x). Resizing an image (e.g. to a network's output size)
uses OpenCV's pixel-centre convention: cx' = (cx + 0.5) * s - 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from depth_ros.core.errors import CameraModelError

PLUMB_BOB = "plumb_bob"
RATIONAL_POLYNOMIAL = "rational_polynomial"
EQUIDISTANT = "equidistant"

# Number of coefficients each model uses, in CameraInfo order (= OpenCV order).
_COEFF_COUNT = {PLUMB_BOB: 5, RATIONAL_POLYNOMIAL: 8, EQUIDISTANT: 4}
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-9)


@dataclass(frozen=True)
class RayGrid:
    """Per-pixel normalised ray directions (x/z, y/z) of an image.

    For an undistorted camera the grid is separable and `x` has shape (1, W), `y` (H, 1);
    with distortion both are (H, W). Either way they broadcast against an (H, W) depth map.
    """

    x: np.ndarray
    y: np.ndarray

    @property
    def separable(self) -> bool:
        return self.x.shape[0] == 1 and self.y.shape[1] == 1


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Intrinsics of the image as delivered (after ROI, binning and any resize)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = ""
    D: tuple[float, ...] = ()
    _key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise CameraModelError(f"camera size must be positive, got {self.width}x{self.height}")
        for name in ("fx", "fy", "cx", "cy"):
            value = float(getattr(self, name))
            if not np.isfinite(value):
                raise CameraModelError(f"camera intrinsic {name} is not finite: {value}")
        if self.fx <= 0 or self.fy <= 0:
            raise CameraModelError(
                f"focal lengths must be positive (is CameraInfo.k all zeros?), got fx={self.fx} fy={self.fy}"
            )
        model = self.distortion_model
        coeffs = tuple(float(c) for c in self.D)
        if any(not np.isfinite(c) for c in coeffs):
            raise CameraModelError(f"distortion coefficients must be finite, got {coeffs}")
        if not any(coeffs):
            model, coeffs = "", ()
        elif model not in _COEFF_COUNT:
            raise CameraModelError(
                f"unsupported distortion_model '{model}' with non-zero D; "
                f"supported: {', '.join(sorted(_COEFF_COUNT))}"
            )
        else:
            need = _COEFF_COUNT[model]
            if len(coeffs) < need and not (model == PLUMB_BOB and len(coeffs) == 4):
                raise CameraModelError(
                    f"distortion_model '{model}' needs {need} coefficients in D, got {len(coeffs)}"
                )
            coeffs = (coeffs + (0.0,) * need)[:need]
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "distortion_model", model)
        object.__setattr__(self, "D", coeffs)
        object.__setattr__(
            self, "_key", (self.width, self.height, self.fx, self.fy, self.cx, self.cy, model, coeffs)
        )

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_camera_info_fields(
        cls,
        width: int,
        height: int,
        k: Sequence[float],
        d: Sequence[float] = (),
        distortion_model: str = "",
        binning_x: int = 0,
        binning_y: int = 0,
        roi: tuple[int, int, int, int] | None = None,
    ) -> CameraModel:
        """Build the model of the delivered image from CameraInfo fields.

        `roi` is (x_offset, y_offset, width, height) in full-resolution pixels; a zero-size ROI
        means the full image, as in CameraInfo. Binning 0 and 1 both mean no binning.
        """
        k = np.asarray(k, dtype=np.float64).reshape(-1)
        if k.size != 9:
            raise CameraModelError(f"K must have 9 elements, got {k.size}")
        fx, cx, fy, cy = k[0], k[2], k[4], k[5]
        w, h = int(width), int(height)
        if roi is not None and roi[2] > 0 and roi[3] > 0:
            x_off, y_off, w, h = (int(v) for v in roi)
            if x_off < 0 or y_off < 0 or x_off + w > width or y_off + h > height:
                raise CameraModelError(
                    f"ROI {roi} (x_offset, y_offset, width, height) lies outside the {width}x{height} sensor"
                )
            cx, cy = cx - x_off, cy - y_off
        bx, by = max(int(binning_x), 1), max(int(binning_y), 1)
        return cls(
            width=w // bx,
            height=h // by,
            fx=fx / bx,
            fy=fy / by,
            cx=cx / bx,
            cy=cy / by,
            distortion_model=distortion_model,
            D=tuple(float(v) for v in d),
        )

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera for the image resized to width x height (OpenCV pixel centres)."""
        if (width, height) == (self.width, self.height):
            return self
        if width <= 0 or height <= 0:
            raise CameraModelError(f"cannot scale a camera to {width}x{height}")
        sx, sy = width / self.width, height / self.height
        return CameraModel(
            width=width,
            height=height,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            distortion_model=self.distortion_model,
            D=self.D,
        )

    # -- properties -----------------------------------------------------------------------

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def is_distorted(self) -> bool:
        return bool(self.D)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.width, self.height

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CameraModel) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    # -- rays -----------------------------------------------------------------------------

    @cached_property
    def rays(self) -> RayGrid:
        """Undistorted normalised rays of every pixel centre, computed once per model."""
        us = np.arange(self.width, dtype=np.float64)
        vs = np.arange(self.height, dtype=np.float64)
        if not self.is_distorted:
            x = ((us - self.cx) / self.fx).astype(np.float32)[None, :]
            y = ((vs - self.cy) / self.fy).astype(np.float32)[:, None]
        else:
            uu, vv = np.meshgrid(us, vs)
            xy = self.undistort_pixels(np.stack([uu.ravel(), vv.ravel()], axis=1))
            x = xy[:, 0].reshape(self.height, self.width).astype(np.float32)
            y = xy[:, 1].reshape(self.height, self.width).astype(np.float32)
        x.setflags(write=False)
        y.setflags(write=False)
        return RayGrid(x=x, y=y)

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) -> undistorted normalised coordinates (N, 2), float64."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if len(uv) == 0:
            return np.empty((0, 2))
        if not self.is_distorted:
            return np.stack([(uv[:, 0] - self.cx) / self.fx, (uv[:, 1] - self.cy) / self.fy], axis=1)
        pts = uv.reshape(-1, 1, 2)
        D = np.asarray(self.D, dtype=np.float64)
        if self.distortion_model == EQUIDISTANT:
            out = cv2.fisheye.undistortPoints(pts, self.K, D, criteria=_UNDISTORT_CRITERIA)
        else:
            out = cv2.undistortPoints(pts, self.K, D, criteria=_UNDISTORT_CRITERIA)
        return out.reshape(-1, 2)

    # -- projection -----------------------------------------------------------------------

    def distort_normalised(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply the lens distortion to normalised coordinates (x/z, y/z)."""
        if not self.is_distorted:
            return x, y
        D = self.D
        if self.distortion_model == EQUIDISTANT:
            r = np.hypot(x, y)
            theta = np.arctan(r)
            t2 = theta * theta
            theta_d = theta * (1 + t2 * (D[0] + t2 * (D[1] + t2 * (D[2] + t2 * D[3]))))
            with np.errstate(invalid="ignore", divide="ignore"):
                s = np.where(r > 1e-12, theta_d / r, 1.0)
            return x * s, y * s
        k1, k2, p1, p2, k3 = D[:5]
        k4, k5, k6 = D[5:8] if self.distortion_model == RATIONAL_POLYNOMIAL else (0.0, 0.0, 0.0)
        r2 = x * x + y * y
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project optical-frame points (N, 3) to pixels.

        Returns (uv (N, 2) float64, in_front (N,) bool). Points with z <= 0 get NaN pixels.
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        z = p[:, 2]
        in_front = z > 1e-9
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(in_front, p[:, 0] / z, np.nan)
            y = np.where(in_front, p[:, 1] / z, np.nan)
        xd, yd = self.distort_normalised(x, y)
        uv = np.stack([self.fx * xd + self.cx, self.fy * yd + self.cy], axis=1)
        return uv, in_front

    def in_image(self, uv: np.ndarray) -> np.ndarray:
        """True where pixel coordinates fall inside the image (pixel centres at integers)."""
        u, v = uv[:, 0], uv[:, 1]
        with np.errstate(invalid="ignore"):
            return (u > -0.5) & (u < self.width - 0.5) & (v > -0.5) & (v < self.height - 0.5)

    def horizontal_fov(self) -> float:
        """Horizontal field of view in radians (undistorted pinhole approximation)."""
        return float(np.arctan((self.width - 0.5 - self.cx) / self.fx) + np.arctan((self.cx + 0.5) / self.fx))
