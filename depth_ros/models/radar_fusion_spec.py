"""Spec and runtime factory name of the Radar-Meets-Vision fusion model, importable without torch.

The network itself lives in `depth_ros.models.radar_fusion` (imports torch and transformers).
"""

from __future__ import annotations

from depth_ros.models.spec import ModelSpec, OutputKind

NAME = "radar_fusion_dav2_small"
FACTORY_MODULE = "depth_ros.models.radar_fusion"
FACTORY_FUNCTION = "load_radar_fusion"
DEFAULT_MAX_DEPTH = 20.0

# Input: RGB / 255 without ImageNet mean/std, plus the radar prior in metres as a 4th channel.
SPEC = ModelSpec(
    NAME, "torch", OutputKind.METRIC, DEFAULT_MAX_DEPTH, None, multiple_of=14, short_side=518,
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), scale=1 / 255, input_channels=4, resample="bicubic",
    env_subpath=NAME,
    description="Radar-Meets-Vision fusion: Depth Anything V2 Small with the radar prior (metres) as a 4th input "
                "channel and a depth + confidence head; output = depth * conf + mean radar depth * (1 - conf); "
                "weights: an original DAv2 .pth/.safetensors or a directory written by save_checkpoint",
)
