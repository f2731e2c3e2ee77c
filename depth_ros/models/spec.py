"""What a depth network needs and what it returns: `ModelSpec` and `OutputKind` (defined in
`depth_ros.core.output_kind`, re-exported here).

A spec is plain data; it imports no ML framework. The preprocessing it describes is applied by
`depth_ros.models.preprocess` with OpenCV/NumPy for every backend.

Resize rules, chosen by the fields below (h, w is the input image size):

* ``input_size`` set, ``keep_aspect`` False: resize to exactly ``input_size`` (DPT, FastDepth).
* ``input_size`` set, ``keep_aspect`` True: scale both sides by the one of ``th/h``, ``tw/w``
  that is closer to 1 ("scale as little as possible", the rule of the transformers DPT and
  ZoeDepth image processors), then round each side to the nearest multiple of ``multiple_of``.
* ``input_size`` None, ``short_side`` set: scale so that the short side is ``short_side``
  (aspect kept), each side rounded to the nearest multiple of ``multiple_of`` (Depth Anything).
  For images whose short side is at least ``short_side`` (and for 640x480) this is exactly what
  the transformers image processor does with ``keep_aspect_ratio=True``; for smaller images that
  processor upscales less, the original Depth Anything code upscales as here.
* ``input_size`` None, ``short_side`` None: keep the size, each side floored to a multiple of
  ``multiple_of`` (GLPN).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.output_kind import OutputKind

__all__ = ["CHANNEL_ORDERS", "RESAMPLE_MODES", "ModelSpec", "OutputKind"]

RESAMPLE_MODES = ("bilinear", "bicubic", "nearest")
CHANNEL_ORDERS = ("RGB", "BGR")


@dataclass(frozen=True)
class ModelSpec:
    """Static description of a depth network: its input preprocessing and output meaning.

    Fields beyond the common ones:
      keep_aspect: with ``input_size``, fit it "scaling as little as possible" (see module doc).
      resample: "bilinear" | "bicubic" | "nearest", used unless both sides shrink, where
        ``cv2.INTER_AREA`` is used (an anti-aliased filter, close to what PIL does).
      align_corners: resize the float image with bilinear ``align_corners=True`` geometry (ZoeDepth's
        image processor resizes with ``torch.nn.functional.interpolate(..., align_corners=True)``).
      pad_reflect: ZoeDepth's reflect padding of ``int(sqrt(side / 2) * 3)`` pixels per border,
        applied before the resize and cropped away from the output.
      output_scale: the raw network output is multiplied by this (e.g. 0.001 for millimetres).
      env_subpath: path relative to ``$DEPTH_ROS_MODEL_DIR`` looked at when no path is given.
      transformers_class: class in ``transformers`` whose ``from_pretrained`` loads the weights;
        the Auto class picks the concrete class from ``config.json``.
      train_focal: (fx, fy) of the training camera in network-input pixels, for a metric model
        trained at one camera: the pipeline scales its depth by the frame's focal length in those
        pixels over this (`depth_ros.models.focal`); None: no such scaling.
    """

    name: str
    backend: str
    output_kind: OutputKind
    max_depth: float
    input_size: tuple[int, int] | None
    multiple_of: int = 1
    short_side: int | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = 1 / 255
    channel_order: str = "RGB"
    input_channels: int = 3
    default_path: str | None = None
    hub_id: str | None = None
    description: str = ""
    keep_aspect: bool = False
    resample: str = "bilinear"
    align_corners: bool = False
    pad_reflect: bool = False
    output_scale: float = 1.0
    env_subpath: str | None = None
    transformers_class: str = "AutoModelForDepthEstimation"
    train_focal: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.output_kind, OutputKind):
            raise InvalidInputError(f"{self.name}: output_kind must be an OutputKind, got {self.output_kind!r}")
        if not self.max_depth > 0:
            raise InvalidInputError(f"{self.name}: max_depth must be > 0, got {self.max_depth}")
        if self.input_size is not None:
            if len(self.input_size) != 2 or min(self.input_size) < 1:
                raise InvalidInputError(f"{self.name}: input_size must be (height, width) > 0, got {self.input_size}")
            object.__setattr__(self, "input_size", (int(self.input_size[0]), int(self.input_size[1])))
        if self.multiple_of < 1:
            raise InvalidInputError(f"{self.name}: multiple_of must be >= 1, got {self.multiple_of}")
        if self.short_side is not None and self.short_side < 1:
            raise InvalidInputError(f"{self.name}: short_side must be >= 1, got {self.short_side}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise InvalidInputError(f"{self.name}: mean/std need 3 values and std > 0, got {self.mean}, {self.std}")
        if self.channel_order not in CHANNEL_ORDERS:
            raise InvalidInputError(f"{self.name}: channel_order must be one of {CHANNEL_ORDERS}")
        if self.input_channels not in (3, 4):
            raise InvalidInputError(f"{self.name}: input_channels must be 3 or 4, got {self.input_channels}")
        if self.resample not in RESAMPLE_MODES:
            raise InvalidInputError(f"{self.name}: resample must be one of {RESAMPLE_MODES}, got {self.resample!r}")
        if self.train_focal is not None:
            if len(self.train_focal) != 2 or not all(math.isfinite(f) and f > 0 for f in self.train_focal):
                raise InvalidInputError(f"{self.name}: train_focal must be two focal lengths > 0, got {self.train_focal}")
            object.__setattr__(self, "train_focal", (float(self.train_focal[0]), float(self.train_focal[1])))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def with_input_size(self, input_size: tuple[int, int] | None) -> ModelSpec:
        """Return a copy that resizes every image to exactly ``input_size`` (None: unchanged)."""
        if input_size is None:
            return self
        if len(input_size) != 2 or min(input_size) < 1:
            raise InvalidInputError(f"{self.name}: input_size must be (height, width) > 0, got {input_size}")
        if any(int(v) % self.multiple_of for v in input_size):
            raise InvalidInputError(
                f"{self.name}: input_size {tuple(input_size)} must be multiples of {self.multiple_of}"
            )
        return dataclasses.replace(self, input_size=(int(input_size[0]), int(input_size[1])), keep_aspect=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (the format of an ONNX sidecar file)."""
        out = dataclasses.asdict(self)
        out["output_kind"] = self.output_kind.value
        out["input_size"] = list(self.input_size) if self.input_size is not None else None
        out["mean"] = list(self.mean)
        out["std"] = list(self.std)
        out["train_focal"] = list(self.train_focal) if self.train_focal is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Build a spec from `to_dict` output; unknown keys are an error, missing ones take defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"unknown model spec keys {unknown}; known: {sorted(known)}")
        values = dict(data)
        try:
            values["output_kind"] = OutputKind(values["output_kind"])
        except KeyError as exc:
            raise InvalidInputError(f"model spec needs {exc.args[0]!r}") from None
        except ValueError:
            raise InvalidInputError(
                f"output_kind must be one of {[k.value for k in OutputKind]}, got {values['output_kind']!r}"
            ) from None
        for key in ("input_size", "mean", "std", "train_focal"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except TypeError as exc:  # a required field is missing
            raise InvalidInputError(f"incomplete model spec: {exc}") from None
