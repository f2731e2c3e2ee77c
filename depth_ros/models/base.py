"""`DepthModel`: the interface every backend implements, with the shared predict pipeline."""

from __future__ import annotations

import abc
import time

import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError, ModelError
from depth_ros.models.focal import focal_scale
from depth_ros.models.preprocess import Prepared, check_prior, check_rgb, postprocess, preprocess
from depth_ros.models.spec import ModelSpec

_WARMUP_SIZE = (480, 640)


def check_device(device: str, fp16: bool, supported: tuple[str, ...]) -> None:
    """Validate the device string and the fp16 rule: fp16 runs only on CUDA, asking for it elsewhere is an error."""
    kind = device.split(":", 1)[0]
    if kind not in supported:
        raise InvalidInputError(f"device {device!r} is not supported by this backend; use one of {list(supported)}")
    if fp16 and kind != "cuda":
        raise InvalidInputError(f"fp16 needs a CUDA device, got device {device!r}; set fp16 to false")


class DepthModel(abc.ABC):
    """A loaded depth network.

    `predict` takes an (H, W, 3) uint8 RGB image of any size and returns float32 (H, W) at the same
    resolution: metres for `OutputKind.METRIC`, inverse relative depth (>= 0, larger = nearer) for
    `OutputKind.RELATIVE_INVERSE`. Subclasses implement `_infer` (and may override `_prepare` and
    `_finish` when their runtime needs another input format).
    """

    def __init__(self, spec: ModelSpec, device: str = "cpu") -> None:
        self.spec = spec
        self._device = device
        self._timings: dict[str, float] = {}
        self._closed = False

    @property
    def device(self) -> str:
        """Device the network runs on ("cpu", "cuda", "cuda:1", ...)."""
        return self._device

    @property
    def last_timings(self) -> dict[str, float]:
        """Seconds spent in "preprocess", "inference" and "postprocess" by the last `predict`."""
        return dict(self._timings)

    def predict(self, rgb: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        """Depth for one image; ``prior`` (H, W) metres, 0 = none, is used only by 4-channel models."""
        if self._closed:
            raise ModelError(f"model {self.spec.name!r} is closed")
        check_rgb(rgb)
        if prior is not None and self.spec.input_channels == 4:
            prior = check_prior(prior, rgb.shape[:2])
        else:
            prior = None
        t0 = time.perf_counter()
        prepared = self._prepare(rgb, prior)
        t1 = time.perf_counter()
        raw = self._infer(prepared)
        t2 = time.perf_counter()
        depth = self._finish(raw, prepared)
        t3 = time.perf_counter()
        self._timings = {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": t3 - t2}
        return depth

    def focal_scale(self, camera: CameraModel | None, height: int, width: int) -> float:
        """Factor for this metric model's depth on a frame of ``camera`` (`depth_ros.models.focal`)."""
        return focal_scale(self.spec, camera, height, width)

    def warmup(self) -> None:
        """Run one prediction on a blank image so that lazy initialisation happens now."""
        size = self.spec.input_size or _WARMUP_SIZE
        self.predict(np.zeros((size[0], size[1], 3), np.uint8))

    def close(self) -> None:
        """Release the runtime's resources; `predict` raises `ModelError` afterwards."""
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self) -> DepthModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, device={self.device!r})"

    def _prepare(self, rgb: np.ndarray, prior: np.ndarray | None) -> Prepared:
        return preprocess(rgb, self.spec, prior)

    @abc.abstractmethod
    def _infer(self, prepared: Prepared) -> np.ndarray:
        """Run the network; return its raw depth output (singleton axes allowed)."""

    def _release(self) -> None:  # noqa: B027 - optional hook: most backends hold nothing to free
        """Free backend resources (called once by `close`)."""

    def _finish(self, raw: np.ndarray, prepared: Prepared) -> np.ndarray:
        return postprocess(raw, prepared, self.spec)
