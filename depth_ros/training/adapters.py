"""Training interfaces of the trainable networks: batch -> input tensor, log depth, saving and export."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.training.data import resize_batch

SHIPPED = "shipped"


class CompactAdapter:
    """Training interface of `CompactDepthNet`: batch -> input tensor, log depth, saving."""

    name = "compact_depth"

    def __init__(self, module: Any) -> None:
        self.module = module
        self.max_depth = module.max_depth

    @classmethod
    def build(cls, args: argparse.Namespace, size: tuple[int, int], config: dict | None = None) -> CompactAdapter:
        from depth_ros.models.compact import CompactConfig, CompactDepthNet, load_compact_checkpoint  # noqa: PLC0415

        if config is not None:
            return cls(CompactDepthNet(CompactConfig.from_dict(config)))
        if args.init:
            from depth_ros.models.compact_spec import WEIGHTS_DIR  # noqa: PLC0415

            return cls(load_compact_checkpoint(WEIGHTS_DIR if args.init == SHIPPED else args.init).train())
        values: dict[str, Any] = {"width_mult": args.width_mult, "max_depth": args.max_depth,
                                  "input_channels": 3 if args.no_prior else 4, "input_size": list(size)}
        if args.model_config is not None:
            values.update(read_json_object(args.model_config))
        return cls(CompactDepthNet(CompactConfig.from_dict(values)))

    def config(self) -> dict:
        return self.module.config.to_dict()

    @property
    def uses_prior(self) -> bool:
        return self.module.config.input_channels == 4

    def inputs(self, rgb: np.ndarray, prior: np.ndarray) -> Any:
        cfg = self.module.config
        x = (rgb / np.float32(255) - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
        parts = [x.transpose(0, 3, 1, 2)]
        if self.uses_prior:
            parts.append(prior[:, None])
        return _aligned(np.concatenate(parts, axis=1))

    def target(self, depth: np.ndarray) -> Any:
        return _aligned(depth)

    def log_depth(self, x: Any) -> Any:
        return self.module.log_depth(x)

    def predict(self, rgb: np.ndarray, prior: np.ndarray) -> np.ndarray:
        import torch  # noqa: PLC0415

        with torch.inference_mode():
            return self.module(self.inputs(rgb, prior)).numpy()

    def save(self, folder: Path, onnx: bool = False) -> None:
        from depth_ros.models.compact import export_onnx, save_compact  # noqa: PLC0415

        save_compact(self.module, folder)
        if onnx:
            export_onnx(self.module, folder)

    def export_saved(self, folder: Path) -> None:
        """Add the ONNX graph (with sidecar) to a `save` folder."""
        from depth_ros.models.compact import export_onnx, load_compact_checkpoint  # noqa: PLC0415

        export_onnx(load_compact_checkpoint(folder), folder)


class RadarFusionAdapter:
    """Training interface of `RadarDepthAnything` (inputs resized to multiples of 14)."""

    name = "radar_fusion"

    def __init__(self, module: Any, size: tuple[int, int]) -> None:
        self.module = module
        self.max_depth = module.max_depth
        p = module.patch_size
        self.size = (max(p, round(size[0] / p) * p), max(p, round(size[1] / p) * p))
        self.uses_prior = True

    @staticmethod
    def tiny_config() -> dict:
        """A 4-layer, 32-wide DINOv2 + small DPT (CPU-sized, for end-to-end checks)."""
        from transformers import DepthAnythingConfig, Dinov2Config  # noqa: PLC0415

        backbone = Dinov2Config(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=4,
                                num_attention_heads=2, mlp_ratio=2, out_indices=[1, 2, 3, 4], apply_layernorm=True,
                                reshape_hidden_states=False)
        return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                                   reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[8, 16, 16, 32],
                                   fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="metric",
                                   max_depth=20).to_dict()

    @classmethod
    def build(cls, args: argparse.Namespace, size: tuple[int, int], config: dict | None = None) -> RadarFusionAdapter:
        from transformers import DepthAnythingConfig  # noqa: PLC0415

        from depth_ros.models.radar_fusion import RadarDepthAnything, load_checkpoint  # noqa: PLC0415

        if config is not None:
            values = dict(config)
            max_depth = float(values.pop("_max_depth"))
            return cls(RadarDepthAnything(DepthAnythingConfig.from_dict(values), max_depth=max_depth), size)
        if args.init:
            return cls(load_checkpoint(args.init, default_max_depth=args.max_depth).train(), size)
        values = read_json_object(args.model_config) if args.model_config is not None else cls.tiny_config()
        values.pop("radar_fusion", None)
        return cls(RadarDepthAnything(DepthAnythingConfig.from_dict(values), max_depth=args.max_depth), size)

    def config(self) -> dict:
        return {**self.module.config.to_dict(), "_max_depth": self.module.max_depth}

    def inputs(self, rgb: np.ndarray, prior: np.ndarray) -> Any:
        rgb, prior, _ = resize_batch(rgb, prior, prior, self.size)
        return _aligned(np.concatenate([rgb.transpose(0, 3, 1, 2) / np.float32(255), prior[:, None]], axis=1))

    def target(self, depth: np.ndarray) -> Any:
        h, w = self.size
        return _aligned(np.stack([cv2.resize(d, (w, h), interpolation=cv2.INTER_NEAREST)
                                  for d in depth.astype(np.float32)]))

    def log_depth(self, x: Any) -> Any:
        import torch  # noqa: PLC0415

        return torch.log(self.module(x).depth.clamp(min=1e-3))

    def predict(self, rgb: np.ndarray, prior: np.ndarray) -> np.ndarray:
        import torch  # noqa: PLC0415
        import torch.nn.functional as F  # noqa: PLC0415

        with torch.inference_mode():
            depth = self.module(self.inputs(rgb, prior)).depth
            return F.interpolate(depth[:, None], size=rgb.shape[1:3], mode="bilinear")[:, 0].numpy()

    def save(self, folder: Path, onnx: bool = False) -> None:
        from depth_ros.models.radar_fusion import save_checkpoint  # noqa: PLC0415

        save_checkpoint(self.module, folder)

    def export_saved(self, folder: Path) -> None:
        """No ONNX export for this model (it runs with torch)."""

ADAPTERS = {"compact_depth": CompactAdapter, "radar_fusion": RadarFusionAdapter}


def _aligned(array: np.ndarray) -> Any:
    """A float32 tensor in torch-allocated memory.

    Tensors sharing NumPy memory start at varying 16-byte offsets; vectorised CPU kernels then
    split their reductions differently and results differ in the last bits from run to run,
    which would break the exact continuation of a resumed run.
    """
    import torch  # noqa: PLC0415

    return torch.from_numpy(np.ascontiguousarray(array, np.float32)).clone()


def read_json_object(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} is not a JSON object")
    return data
