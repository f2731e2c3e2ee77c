"""TCMonoDepth small (Li et al., ICCV-W 2021) in torch: the network, its state-dict loader and ONNX export.

Written from the architecture description in the weights' SOURCE.md (the original code is not
used). ShuffleNetV2 0.5x encoder without max-pool, a three-step decoder with 1x1 skip projections
and depthwise-separable fusion convolutions, a 3x3 head at 1/2 resolution upsampled bilinearly:

* ``encoder.first_conv``: 3x3 stride 2, 3 -> 24, BN, ReLU (r1, 1/2).
* ``encoder.features.0..15``: ShuffleNetV2 blocks in stages of 4, 8, 4 (48, 96, 192 channels), the
  first block of each stage with stride 2 (r2 1/4, r3 1/8, r4 1/16). Stride-1 blocks split the
  channels by parity: even ones pass through, odd ones go through ``branch_main``.
* ``decoder.decoder3/2/1``: high input resized to the low one (bilinear, align_corners False),
  concatenated with the 1x1-projected low input (high_channels / 4), then depthwise 3x3 + BN + ReLU,
  1x1, BN, ReLU.
* ``decoder.final``: 3x3 conv (24 -> 1, bias) + ReLU, bilinear x2 to the input size.

Input: (B, 3, H, W) RGB float in 0..255 (the network divides by 255), H and W multiples of 32.
Output: (B, 1, H, W) affine-invariant inverse depth, >= 0.

The training-only side heads ``decoder.final2`` / ``decoder.final3`` of the state dict are read
and ignored. This module is needed only to check the weights and to export the ONNX graph that
the runtime uses (`depth_ros.models.tcmonodepth_spec`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from depth_ros.core.errors import ModelLoadError
from depth_ros.models.base import DepthModel
from depth_ros.models.preprocess import Prepared
from depth_ros.models.spec import ModelSpec
from depth_ros.optional import missing_dependency

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ModuleNotFoundError as exc:  # an optional dependency: say which extra installs it
    raise missing_dependency(exc, "TCMonoDepth's torch network") from exc

STAGE_BLOCKS = (4, 8, 4)
STAGE_CHANNELS = (48, 96, 192)
STEM_CHANNELS = 24
UNUSED_PREFIXES = ("decoder.final2.", "decoder.final3.", "encoder.stage1.", "encoder.stage2.", "encoder.stage3.")


def _bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]


class ShuffleBlock(nn.Module):
    """ShuffleNetV2 unit; ``stride`` 2 feeds the whole input to both branches, 1 splits it by parity."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        main_in = cin if stride == 2 else cin // 2
        mid = cout // 2
        self.branch_main = nn.Sequential(
            nn.Conv2d(main_in, mid, 1, bias=False), *_bn_relu(mid),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
            nn.Conv2d(mid, cout - (cin if stride == 2 else main_in), 1, bias=False),
            *_bn_relu(cout - (cin if stride == 2 else main_in)),
        )
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, cin, 1, bias=False), *_bn_relu(cin),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        return torch.cat((x[:, 0::2], self.branch_main(x[:, 1::2])), 1)


class ShuffleEncoder(nn.Module):
    """Stem and 16 ShuffleNetV2 blocks; returns the features at 1/2, 1/4, 1/8 and 1/16."""

    def __init__(self) -> None:
        super().__init__()
        self.first_conv = nn.Sequential(nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False), *_bn_relu(STEM_CHANNELS))
        blocks: list[nn.Module] = []
        cin = STEM_CHANNELS
        for n, cout in zip(STAGE_BLOCKS, STAGE_CHANNELS):
            for i in range(n):
                blocks.append(ShuffleBlock(cin, cout, 2 if i == 0 else 1))
                cin = cout
        self.features = nn.Sequential(*blocks)
        self._stage_ends = tuple(int(sum(STAGE_BLOCKS[: k + 1])) for k in range(len(STAGE_BLOCKS)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.first_conv(x)
        out = [x]
        for i, block in enumerate(self.features):
            x = block(x)
            if i + 1 in self._stage_ends:
                out.append(x)
        return out


class _SeparableConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False), *_bn_relu(cin),
                                  nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class DecoderBlock(nn.Module):
    """Fuse a coarse (high) feature map into a finer (low) one."""

    def __init__(self, low_channels: int, high_channels: int, out_channels: int) -> None:
        super().__init__()
        skip = high_channels // 4
        self.skip_conv = nn.Sequential(nn.Conv2d(low_channels, skip, 1, bias=False), *_bn_relu(skip))
        self.last_conv = nn.Sequential(_SeparableConv(high_channels + skip, out_channels), *_bn_relu(out_channels))

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        high = F.interpolate(high, size=low.shape[2:], mode="bilinear", align_corners=False)
        return self.last_conv(torch.cat((high, self.skip_conv(low)), 1))


class TcDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        c1, (c2, c3, c4) = STEM_CHANNELS, STAGE_CHANNELS
        self.decoder3 = DecoderBlock(c3, c4, c3)
        self.decoder2 = DecoderBlock(c2, c3, c2)
        self.decoder1 = DecoderBlock(c1, c2, c1)
        self.final = nn.Conv2d(c1, 1, 3, 1, 1)

    def forward(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        r1, r2, r3, r4 = feats
        d = self.decoder1(r1, self.decoder2(r2, self.decoder3(r3, r4)))
        out = F.relu(self.final(d))
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)


class TCMonoDepthSmall(nn.Module):
    """(B, 3, H, W) RGB 0..255 -> (B, 1, H, W) relative inverse depth (see module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ShuffleEncoder()
        self.decoder = TcDecoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x / 255.0), (x.shape[2], x.shape[3]))


def load_tcmonodepth_state(path: str | Path) -> TCMonoDepthSmall:
    """The network with the weights of the state dict at ``path`` (``weights_only`` load), in eval mode.

    Raises `ModelLoadError` naming the file when it cannot be read or does not match the network.
    """
    path = Path(path)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many unrelated types for bad files
        raise ModelLoadError(f"cannot read TCMonoDepth weights {str(path)!r} ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(f"{str(path)!r} is not a state dict (got {type(state).__name__})")
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith(
        UNUSED_PREFIXES)}
    net = TCMonoDepthSmall()
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        raise ModelLoadError(f"{str(path)!r} does not hold TCMonoDepth small weights: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}, mis-shaped {wrong[:3]}")
    net.load_state_dict(state, strict=True)
    return net.eval()


def export_tcmonodepth_onnx(net: TCMonoDepthSmall, onnx_file: str | Path, opset: int = 17,
                            example_size: tuple[int, int] = (256, 352)) -> Path:
    """Export with dynamic height and width (any multiple of 32); returns the .onnx path."""
    onnx_file = Path(onnx_file)
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, *example_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shapes used as sizes: dynamic axes cover them
        torch.onnx.export(net.eval(), (dummy,), str(onnx_file), dynamo=False, opset_version=opset,
                          input_names=["pixel_values"], output_names=["inverse_depth"], do_constant_folding=True,
                          dynamic_axes={"pixel_values": {2: "height", 3: "width"},
                                        "inverse_depth": {2: "height", 3: "width"}})
    return onnx_file


class TcMonoDepthTorchModel(DepthModel):
    """`DepthModel` running the torch module on an original state dict (checks and export; the runtime is ONNX)."""

    def __init__(self, spec: ModelSpec, weights: str | Path, device: str = "cpu", fp16: bool = False,
                 num_threads: int | None = None) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"model {spec.name!r}: device {device!r} requested but CUDA is not available")
        if num_threads:
            torch.set_num_threads(int(num_threads))
        super().__init__(spec, device=device)
        self.path = str(weights)
        self.module = load_tcmonodepth_state(weights).to(device)
        self._dtype = torch.float16 if fp16 else torch.float32
        if fp16:
            self.module = self.module.half()

    def _infer(self, prepared: Prepared) -> np.ndarray:
        x = torch.from_numpy(prepared.nchw()).to(self.device, self._dtype)
        with torch.inference_mode():
            return self.module(x).float().cpu().numpy()

    def _release(self) -> None:
        self.module = None
