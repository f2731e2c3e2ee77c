"""depth-ros-train: train or fine-tune ``compact_depth`` (or the radar fusion model) on simulated runs.

Data: runs generated in-process (``--generate hall:0-9,yard:0-9 --seconds 20``, cached as .npz under
``--cache``) and/or bags written by depth-ros-simulate (``--bags``). Each frame gets the radar points
the pipeline would use for it (see `depth_ros.tools.train_data`); the prior channel is rasterised
from them per sample after augmentation: horizontal flip (image, depth and prior together), colour
jitter (brightness, contrast, saturation, per-channel gain), pixel noise, prior dropout (an
all-zero prior, as without radar) and sparsification (a random share of the radar points dropped).

Loss: SILog (Eigen et al. 2014, in the BTS/AdaBins form ``10 * sqrt(mean(d^2) - 0.85 mean(d)^2)``,
d = log(pred) - log(gt) over the pixels with ground truth in (0.1, max_depth], pooled over the
batch) plus ``--l1-weight`` times mean(|d|), which ties the absolute scale. AdamW, linear warm-up
then cosine decay per step.

Every epoch: validation on held-out runs (``--val``, seeds not used in training): AbsRel, delta1,
SILog and median-scaled AbsRel of the raw network output with the full radar prior and with none
(`validate`); a full checkpoint
``--out/epoch_NNN.pt`` and ``--out/last.pt`` (model, optimizer, scheduler, epoch, step, RNG states,
options, history), ``--out/history.json``, and the weights of the best epoch (lowest mean of the raw and
scaled AbsRels) in ``--out/best/`` (for compact_depth: config.json + model.safetensors, loadable with
``load_model("compact_depth", path=...)`` on torch). After the last epoch ``--out/final/`` gets the
last weights, and for compact_depth both folders get the ONNX graph with its sidecar (the runtime
of the shipped model) unless ``--no-onnx``. ``--resume`` continues a run exactly where its last
checkpoint ended (same data, options and random streams), so an interrupted run ends with the same
weights as an uninterrupted one.

``--model radar_fusion`` trains the Radar-Meets-Vision model of `depth_ros.models.radar_fusion`
instead, from a tiny random configuration (default), a DepthAnythingConfig JSON (``--model-config``)
or a checkpoint (``--init``); inputs are resized to multiples of 14. It is meant to show the
pipeline end to end for a few steps on the CPU, not to reach the compact model's accuracy; its
weights are written with `save_checkpoint`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.package_data import user_cache_dir
from depth_ros.tools.cli import ArgumentParser, HelpFormatter

PROG = "depth-ros-train"
MODELS = ("compact_depth", "radar_fusion")
CHECKPOINT_FORMAT = "depth_ros.train"
CHECKPOINT_VERSION = 1
MIN_DEPTH = 0.1
SHIPPED = "shipped"
DEFAULT_CACHE = user_cache_dir("train")
DEFAULT_THREADS = 2
DEFAULT_EPOCHS = 20
# Options a resumed run may change; every other option comes from the checkpoint.
RESUME_OPTIONS = ("resume", "out", "epochs", "stop_after", "threads", "no_progress", "cache")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (``--help`` explains each)."""
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].replace("``", ""),
                        epilog="Details (data, augmentation, loss, checkpoints, resume): the module docstring of "
                               "depth_ros.tools.train.",
                        formatter_class=HelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--generate", metavar="RUNS", default=None,
                   help="runs to generate, SCENE:SEED or SCENE:FIRST-LAST joined by commas, each optionally "
                        "with @SECONDS (default --seconds), e.g. hall:0-9,yard:0-9,hall:10-29@8 (scenes: hall, yard)")
    g.add_argument("--bags", nargs="+", type=Path, default=[], metavar="BAG",
                   help="bags written by depth-ros-simulate (image, depth ground truth, camera_info, radar, IMU, "
                        "/tf_static); image and depth are paired by header stamp")
    g.add_argument("--rgbd", nargs="+", default=[], metavar="MANIFEST[@SETS]",
                   help="real RGB-D frames: a manifest.json (layout of shared/data/rgbd), optionally only some of its "
                        "sets (MANIFEST@set_a,set_b); radar is simulated from each frame's ground truth. Their image "
                        "size must match the other runs (320x240 for the default --width/--height)")
    g.add_argument("--rgbd-repeat", type=int, default=1, metavar="K",
                   help="use each --rgbd source K times, each with its own radar draw (weights real frames "
                        "against generated ones)")
    g.add_argument("--val-rgbd", nargs="+", default=[], metavar="MANIFEST[@SETS]",
                   help="real RGB-D frames for validation (never frames that --rgbd trains on)")
    g.add_argument("--seconds", type=float, default=20.0, help="length of each generated run (s)")
    g.add_argument("--width", type=int, default=320, help="image width of generated runs")
    g.add_argument("--height", type=int, default=240, help="image height of generated runs")
    g.add_argument("--frame-stride", type=int, default=1, help="use every n-th frame of each training run")
    g.add_argument("--cache", type=Path, default=None,
                   help=f"folder of the generated runs (.npz); a cached run is not generated again "
                        f"(default: {DEFAULT_CACHE})")
    g.add_argument("--val", metavar="RUNS", default="hall:900,yard:900",
                   help="held-out runs generated for validation (same syntax as --generate); 'none' to skip")
    g.add_argument("--val-seconds", type=float, default=10.0, help="length of each validation run (s)")
    g.add_argument("--val-stride", type=int, default=5, help="validate on every n-th frame of the validation runs")
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=MODELS, default="compact_depth",
                   help="network to train: compact_depth (depth_ros.models.compact) or radar_fusion "
                        "(Depth Anything V2 + radar channel, depth_ros.models.radar_fusion)")
    g.add_argument("--init", default=None, metavar="PATH",
                   help=f"start from these weights (fine-tuning): compact_depth: a directory with config.json + "
                        f"model.safetensors or '{SHIPPED}' for the weights in the package; radar_fusion: any "
                        f"checkpoint load_checkpoint reads. Default: random initialisation")
    g.add_argument("--model-config", type=Path, default=None, metavar="JSON",
                   help="architecture of a new network: compact_depth: CompactConfig fields; radar_fusion: a "
                        "DepthAnythingConfig dict (default: a tiny 4-layer DINOv2)")
    g.add_argument("--width-mult", type=float, default=0.5, help="compact_depth encoder width multiplier")
    g.add_argument("--max-depth", type=float, default=40.0,
                   help="metric range of a new network (m); also the largest ground truth used by loss and metrics")
    g.add_argument("--no-prior", action="store_true",
                   help="compact_depth: a 3-channel network without the radar prior input")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=None,
                   help=f"epochs in total (default {DEFAULT_EPOCHS}; on --resume: the run's)")
    g.add_argument("--steps-per-epoch", type=int, default=0,
                   help="optimizer steps per epoch; 0 = training frames // batch size")
    g.add_argument("--batch-size", type=int, default=8, help="frames per step")
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW)")
    g.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (not on biases and norms)")
    g.add_argument("--warmup-steps", type=int, default=200, help="linear learning-rate warm-up steps")
    g.add_argument("--min-lr-ratio", type=float, default=0.02, help="final learning rate / peak of the cosine decay")
    g.add_argument("--grad-clip", type=float, default=1.0, help="gradient norm clip; 0 = none")
    g.add_argument("--silog-lambda", type=float, default=0.85, help="variance focus of the SILog loss")
    g.add_argument("--l1-weight", type=float, default=1.0, help="weight of the L1 loss on log depth")
    g.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling and augmentation")
    g.add_argument("--threads", type=int, default=None,
                   help=f"CPU threads of torch (default {DEFAULT_THREADS}; on --resume: the run's). On a machine "
                        f"shared with other jobs use 1 (or set OMP_WAIT_POLICY=PASSIVE): spinning OpenMP threads "
                        f"can make a step several times slower. Results are bitwise reproducible with 1 thread; "
                        f"with more, parallel reductions may differ in the last bits from run to run")
    g = p.add_argument_group("augmentation")
    g.add_argument("--no-augment", action="store_true", help="no flip, jitter or noise (prior dropout still applies)")
    g.add_argument("--jitter", type=float, default=0.2, help="brightness, contrast and saturation jitter range")
    g.add_argument("--prior-dropout", type=float, default=0.3, help="probability of training a frame without radar")
    g.add_argument("--keep-min", type=float, default=0.4,
                   help="each radar point is kept with a probability drawn from U(keep-min, 1) per frame")
    g.add_argument("--prior-radius", type=int, default=3, help="disc radius of the rasterised prior (pixels), "
                   "as FusionConfig.prior_radius_px")
    g = p.add_argument_group("output")
    g.add_argument("--out", type=Path, default=None, help="folder for checkpoints, history and weights (required "
                   "unless --resume names a checkpoint)")
    g.add_argument("--resume", type=Path, default=None, metavar="CKPT",
                   help="continue from a checkpoint (.pt) or an --out folder (its last.pt); options other than "
                        + ", ".join(f"--{o.replace('_', '-')}" for o in RESUME_OPTIONS[1:]) + " come from it")
    g.add_argument("--stop-after", type=int, default=0, metavar="N",
                   help="end this invocation after N epochs (the schedule still spans --epochs); 0 = run to the end")
    g.add_argument("--no-onnx", action="store_true",
                   help="compact_depth: do not export best/ and final/ to ONNX at the end of the run")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


# -- losses -----------------------------------------------------------------------------------


def silog_loss(log_pred: Any, log_gt: Any, mask: Any, lam: float = 0.85, scale: float = 10.0) -> Any:
    """``scale * sqrt(mean(d^2) - lam * mean(d)^2)``, d = log_pred - log_gt over ``mask`` (batch pooled)."""
    import torch

    d = log_pred[mask] - log_gt[mask]
    if d.numel() == 0:
        return log_pred.sum() * 0.0
    return scale * torch.sqrt(torch.clamp((d * d).mean() - lam * d.mean() ** 2, min=1e-12))


def log_l1_loss(log_pred: Any, log_gt: Any, mask: Any) -> Any:
    """mean(|log_pred - log_gt|) over ``mask``."""
    d = log_pred[mask] - log_gt[mask]
    return d.abs().mean() if d.numel() else log_pred.sum() * 0.0


def depth_loss(log_pred: Any, depth_gt: Any, max_depth: float, lam: float = 0.85, l1_weight: float = 1.0) -> Any:
    """SILog + ``l1_weight`` * L1 on log depth over ground truth in (MIN_DEPTH, max_depth]."""
    import torch

    mask = torch.isfinite(depth_gt) & (depth_gt > MIN_DEPTH) & (depth_gt <= max_depth)
    log_gt = torch.log(torch.where(mask, depth_gt, torch.ones_like(depth_gt)))
    return silog_loss(log_pred, log_gt, mask, lam) + l1_weight * log_l1_loss(log_pred, log_gt, mask)


# -- models -----------------------------------------------------------------------------------


class CompactAdapter:
    """Training interface of `CompactDepthNet`: batch -> input tensor, log depth, saving."""

    name = "compact_depth"

    def __init__(self, module: Any) -> None:
        self.module = module
        self.max_depth = module.max_depth

    @classmethod
    def build(cls, args: argparse.Namespace, size: tuple[int, int], config: dict | None = None) -> CompactAdapter:
        from depth_ros.models.compact import CompactConfig, CompactDepthNet, load_compact_checkpoint

        if config is not None:
            return cls(CompactDepthNet(CompactConfig.from_dict(config)))
        if args.init:
            from depth_ros.models.compact_spec import WEIGHTS_DIR

            return cls(load_compact_checkpoint(WEIGHTS_DIR if args.init == SHIPPED else args.init).train())
        values: dict[str, Any] = {"width_mult": args.width_mult, "max_depth": args.max_depth,
                                  "input_channels": 3 if args.no_prior else 4, "input_size": list(size)}
        if args.model_config is not None:
            values.update(_read_json(args.model_config))
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
        import torch

        with torch.inference_mode():
            return self.module(self.inputs(rgb, prior)).numpy()

    def save(self, folder: Path, onnx: bool = False) -> None:
        from depth_ros.models.compact import export_onnx, save_compact

        save_compact(self.module, folder)
        if onnx:
            export_onnx(self.module, folder)

    def export_saved(self, folder: Path) -> None:
        """Add the ONNX graph (with sidecar) to a `save` folder."""
        from depth_ros.models.compact import export_onnx, load_compact_checkpoint

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
        from transformers import DepthAnythingConfig, Dinov2Config

        backbone = Dinov2Config(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=4,
                                num_attention_heads=2, mlp_ratio=2, out_indices=[1, 2, 3, 4], apply_layernorm=True,
                                reshape_hidden_states=False)
        return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                                   reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[8, 16, 16, 32],
                                   fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="metric",
                                   max_depth=20).to_dict()

    @classmethod
    def build(cls, args: argparse.Namespace, size: tuple[int, int], config: dict | None = None) -> RadarFusionAdapter:
        from transformers import DepthAnythingConfig

        from depth_ros.models.radar_fusion import RadarDepthAnything, load_checkpoint

        if config is not None:
            values = dict(config)
            max_depth = float(values.pop("_max_depth"))
            return cls(RadarDepthAnything(DepthAnythingConfig.from_dict(values), max_depth=max_depth), size)
        if args.init:
            return cls(load_checkpoint(args.init, default_max_depth=args.max_depth).train(), size)
        values = _read_json(args.model_config) if args.model_config is not None else cls.tiny_config()
        values.pop("radar_fusion", None)
        return cls(RadarDepthAnything(DepthAnythingConfig.from_dict(values), max_depth=args.max_depth), size)

    def config(self) -> dict:
        return {**self.module.config.to_dict(), "_max_depth": self.module.max_depth}

    def inputs(self, rgb: np.ndarray, prior: np.ndarray) -> Any:
        from depth_ros.tools.train_data import resize_batch

        rgb, prior, _ = resize_batch(rgb, prior, prior, self.size)
        return _aligned(np.concatenate([rgb.transpose(0, 3, 1, 2) / np.float32(255), prior[:, None]], axis=1))

    def target(self, depth: np.ndarray) -> Any:
        import cv2

        h, w = self.size
        return _aligned(np.stack([cv2.resize(d, (w, h), interpolation=cv2.INTER_NEAREST)
                                  for d in depth.astype(np.float32)]))

    def log_depth(self, x: Any) -> Any:
        import torch

        return torch.log(self.module(x).depth.clamp(min=1e-3))

    def predict(self, rgb: np.ndarray, prior: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            depth = self.module(self.inputs(rgb, prior)).depth
            return F.interpolate(depth[:, None], size=rgb.shape[1:3], mode="bilinear")[:, 0].numpy()

    def save(self, folder: Path, onnx: bool = False) -> None:
        from depth_ros.models.radar_fusion import save_checkpoint

        save_checkpoint(self.module, folder)

    def export_saved(self, folder: Path) -> None:
        """No ONNX export for this model (it runs with torch)."""


ADAPTERS = {"compact_depth": CompactAdapter, "radar_fusion": RadarFusionAdapter}


# -- helpers ----------------------------------------------------------------------------------


def _aligned(array: np.ndarray) -> Any:
    """A float32 tensor in torch-allocated memory.

    Tensors sharing NumPy memory start at varying 16-byte offsets; vectorised CPU kernels then
    split their reductions differently and results differ in the last bits from run to run,
    which would break the exact continuation of a resumed run.
    """
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, np.float32)).clone()


def _read_json(path: Path) -> dict:
    from depth_ros.core.errors import InvalidInputError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} is not a JSON object")
    return data


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from 1 to ``min_ratio`` at ``total``."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    t = min(max(step, 0), total) / max(total, 1)
    return warm * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def _param_groups(module: Any, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in module.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def check_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Reject bad option values with a one-line error (exit 1)."""
    if not a.generate and not a.bags and not a.rgbd:
        p.error("no training data: give --generate RUNS, --bags BAG ... and/or --rgbd MANIFEST ...")
    for bag in a.bags:
        if not Path(bag).exists():
            p.error(f"--bags {bag}: no such bag")
    for option, sources in (("--rgbd", a.rgbd), ("--val-rgbd", a.val_rgbd)):
        for source in sources:
            if not Path(str(source).partition("@")[0]).is_file():
                p.error(f"{option} {source}: no such manifest file")
    if a.rgbd_repeat < 1:
        p.error(f"--rgbd-repeat must be >= 1, got {a.rgbd_repeat}")
    for name in ("seconds", "val_seconds", "lr", "max_depth"):
        value = getattr(a, name)
        if not (math.isfinite(value) and value > 0):
            p.error(f"--{name.replace('_', '-')} must be a finite value > 0, got {value}")
    for name, low in (("epochs", 1), ("batch_size", 1), ("frame_stride", 1), ("val_stride", 1), ("threads", 1),
                      ("steps_per_epoch", 0), ("warmup_steps", 0), ("stop_after", 0), ("prior_radius", 0),
                      ("seed", 0)):
        if getattr(a, name) < low:
            p.error(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(a, name)}")
    if not (8 <= a.width <= 4096 and 8 <= a.height <= 4096):
        p.error(f"--width/--height must be in [8, 4096], got {a.width}x{a.height}")
    for name in ("prior_dropout", "keep_min", "min_lr_ratio", "silog_lambda"):
        if not 0 <= getattr(a, name) <= 1:
            p.error(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(a, name)}")
    for name in ("weight_decay", "grad_clip", "l1_weight", "jitter"):
        if not (math.isfinite(getattr(a, name)) and getattr(a, name) >= 0):
            p.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(a, name)}")
    if a.init and a.init != SHIPPED and not Path(a.init).exists():
        p.error(f"--init {a.init}: no such file or folder")
    if a.model_config is not None and not a.model_config.is_file():
        p.error(f"--model-config {a.model_config}: no such file")
    if a.out is None:
        p.error("--out is required")


def _jsonable(args: argparse.Namespace) -> dict:
    return {k: ([str(x) for x in v] if isinstance(v, list) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()}


def _restore_args(args: argparse.Namespace, saved: dict) -> argparse.Namespace:
    """Options of the checkpoint, with those a resumed run may change taken from the command line."""
    merged = dict(saved)
    for key in RESUME_OPTIONS:
        if getattr(args, key) is not None:
            merged[key] = getattr(args, key)
    out = argparse.Namespace(**merged)
    out.bags = [Path(b) for b in out.bags]
    for key in ("cache", "out", "model_config"):
        if getattr(out, key) is not None:
            setattr(out, key, Path(getattr(out, key)))
    return out


def load_data(args: argparse.Namespace, progress: bool) -> tuple[list, list]:
    """(training records, validation records) from the options."""
    from tqdm import tqdm

    from depth_ros.tools.train_data import load_or_generate, parse_rgbd_source, parse_runs, read_bag_record, rgbd_record

    runs = parse_runs(args.generate, args.seconds, args.width, args.height) if args.generate else []
    val_runs = ([] if str(args.val).lower() == "none"
                else parse_runs(args.val, args.val_seconds, args.width, args.height))
    overlap = {(r.scene, r.seed) for r in runs} & {(r.scene, r.seed) for r in val_runs}
    if overlap:
        from depth_ros.core.errors import InvalidInputError

        raise InvalidInputError(f"validation runs {sorted(overlap)} are also training runs")
    rgbd = [parse_rgbd_source(t) for t in args.rgbd]
    val_rgbd = [parse_rgbd_source(t) for t in args.val_rgbd]
    if not _disjoint_sets(rgbd, val_rgbd):
        from depth_ros.core.errors import InvalidInputError

        raise InvalidInputError("--val-rgbd names frames that --rgbd trains on")
    train, val = [], []
    total = len(runs) + len(args.bags) + len(val_runs) + len(rgbd) * args.rgbd_repeat + len(val_rgbd)
    with tqdm(total=total, desc="data", unit="run", disable=not progress, file=sys.stderr, leave=False) as bar:
        for run in runs:
            bar.set_postfix_str(run.name)
            train.append(load_or_generate(run, args.cache, args.max_depth).subsample(args.frame_stride))
            bar.update(1)
        for bag in args.bags:
            bar.set_postfix_str(str(bag))
            train.append(read_bag_record(Path(bag), args.max_depth).subsample(args.frame_stride))
            bar.update(1)
        for manifest, sets in rgbd:
            for k in range(args.rgbd_repeat):
                bar.set_postfix_str(f"rgbd {manifest.parent.name}")
                train.append(rgbd_record(manifest, sets, seed=args.seed + k, max_depth=args.max_depth))
                bar.update(1)
        for run in val_runs:
            bar.set_postfix_str(f"val {run.name}")
            val.append(load_or_generate(run, args.cache, args.max_depth).subsample(args.val_stride))
            bar.update(1)
        for manifest, sets in val_rgbd:
            bar.set_postfix_str(f"val rgbd {manifest.parent.name}")
            val.append(rgbd_record(manifest, sets, seed=10_000, max_depth=args.max_depth))
            bar.update(1)
    sizes = {r.rgb.shape[1:3] for r in train + val}
    if len(sizes) != 1:
        from depth_ros.core.errors import InvalidInputError

        raise InvalidInputError(f"all runs must have one image size, got {sorted(sizes)}")
    return train, val


def _disjoint_sets(train: list[tuple[Path, str | None]], val: list[tuple[Path, str | None]]) -> bool:
    """True when no validation source shares a manifest set with a training source."""
    from depth_ros.tools.rgbd_dataset import manifest_sets

    def sets_of(manifest: Path, sets: str | None) -> set[str]:
        return set(sets.split(",")) if sets else manifest_sets(manifest)

    for m, sets in train:
        for vm, vsets in val:
            if m.resolve() == vm.resolve() and sets_of(m, sets) & sets_of(vm, vsets):
                return False
    return True


def validate(adapter: Any, records: list, radius: int, max_depth: float, batch: int = 8) -> dict[str, float]:
    """Frame-mean metrics of the raw network output, with the full radar prior and without.

    Per prior mode: ``absrel``, ``delta1``, ``silog`` and ``absrel_scaled`` (AbsRel after scaling each
    frame by its median ratio to the ground truth: the structure error that radar or ground scale
    alignment cannot remove). ``score`` (lower is better, picks ``best/``) is the mean of the raw and
    the scaled AbsRels.
    """
    from depth_ros.core.metrics import aggregate, depth_metrics, median_scale
    from depth_ros.tools.train_data import Augment, frame_index, make_batch

    if not records:
        return {}
    adapter.module.eval()
    index = frame_index(records)
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for label, use_prior in (("prior", True), ("noprior", False)):
        if label == "prior" and not adapter.uses_prior:
            continue
        metrics = []
        for start in range(0, len(index), batch):
            rgb, prior, depth = make_batch(records, index[start:start + batch], rng, Augment.none(), radius, use_prior)
            pred = adapter.predict(rgb, prior)
            for p, g in zip(pred, depth):
                raw = depth_metrics(p, g, min_depth=MIN_DEPTH, max_depth=max_depth)
                scale = median_scale(p, g, min_depth=MIN_DEPTH, max_depth=max_depth)
                scaled = depth_metrics(p * np.float32(scale), g, min_depth=MIN_DEPTH, max_depth=max_depth)
                metrics.append((raw, scaled))
        raw = aggregate([m[0] for m in metrics])
        out[f"absrel_{label}"], out[f"delta1_{label}"], out[f"silog_{label}"] = raw.absrel, raw.delta1, raw.silog
        out[f"absrel_scaled_{label}"] = aggregate([m[1] for m in metrics]).absrel
    adapter.module.train()
    out["score"] = float(np.mean([v for k, v in out.items() if k.startswith("absrel_")]))
    return out


def _save_checkpoint(path: Path, state: dict) -> None:
    import torch

    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    tmp.replace(path)


def load_training_checkpoint(path: Path) -> dict:
    """A checkpoint written by this tool (``weights_only`` loading: tensors and plain data only)."""
    import torch

    from depth_ros.core.errors import InvalidInputError

    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise InvalidInputError(f"--resume {path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise InvalidInputError(f"--resume {path}: cannot read the checkpoint: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InvalidInputError(f"--resume {path}: not a {PROG} checkpoint")
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise InvalidInputError(f"--resume {path}: checkpoint version {state.get('version')} is newer than this tool")
    state["path"] = str(path)
    return state


# -- training ---------------------------------------------------------------------------------


def train(args: argparse.Namespace, resume: dict | None = None, log: Any = None) -> dict:
    """Run (or continue) training; returns the history and the best validation result."""
    import torch
    from tqdm import tqdm

    from depth_ros.tools.train_data import Augment, frame_index, make_batch

    progress = not args.no_progress
    log = log or (lambda text: tqdm.write(text, file=sys.stderr))
    train_records, val_records = load_data(args, progress)
    # After the data: the renderer's numba threads (OpenMP) reset the thread count torch's kernels see.
    torch.set_num_threads(int(args.threads))
    size = tuple(train_records[0].rgb.shape[1:3])
    index = frame_index(train_records)
    steps_per_epoch = args.steps_per_epoch or max(1, len(index) // args.batch_size)
    total_steps = args.epochs * steps_per_epoch

    torch.manual_seed(args.seed)
    adapter_cls = ADAPTERS[args.model]
    adapter = adapter_cls.build(args, size, resume["model_config"] if resume else None)
    module = adapter.module.train()
    optimizer = torch.optim.AdamW(_param_groups(module, args.weight_decay), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, args.warmup_steps, args.min_lr_ratio))
    data_rng = np.random.default_rng(args.seed)
    history: list[dict] = []
    best: dict = {}
    start_epoch, step = 0, 0
    if resume is not None:
        module.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        start_epoch, step = int(resume["epoch"]), int(resume["step"])
        history, best = list(resume["history"]), dict(resume["best"])
        data_rng.bit_generator.state = resume["rng"]["data"]
        torch.set_rng_state(resume["rng"]["torch"])
        random.setstate(_python_rng_state(resume["rng"]["python"]))
        log(f"{PROG}: resumed {resume['path']} after epoch {start_epoch} (step {step})")
    aug = Augment.none() if args.no_augment else Augment(brightness=args.jitter, contrast=args.jitter,
                                                          saturation=args.jitter)
    aug = Augment(**{**aug.__dict__, "prior_dropout": args.prior_dropout, "keep_min": args.keep_min})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"{PROG}: {adapter.name} with {sum(p.numel() for p in module.parameters()):,} parameters; "
        f"{len(index)} training frames from {len(train_records)} runs, {sum(len(r) for r in val_records)} "
        f"validation frames; {steps_per_epoch} steps x {args.batch_size} per epoch, epochs {start_epoch + 1}.."
        f"{args.epochs}")
    end_epoch = args.epochs if not args.stop_after else min(args.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, end_epoch):
        t0 = time.perf_counter()
        order = data_rng.permutation(len(index))
        losses = []
        with tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{args.epochs}", disable=not progress,
                  file=sys.stderr, leave=False) as bar:
            for s in range(steps_per_epoch):
                rows = order[np.arange(s * args.batch_size, (s + 1) * args.batch_size) % len(order)]
                rgb, prior, depth = make_batch(train_records, index[rows], data_rng, aug, args.prior_radius,
                                               adapter.uses_prior)
                log_pred = adapter.log_depth(adapter.inputs(rgb, prior))
                loss = depth_loss(log_pred, adapter.target(depth), adapter.max_depth, args.silog_lambda,
                                  args.l1_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if args.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), args.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
        val = validate(adapter, val_records, args.prior_radius, adapter.max_depth)
        entry = {"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)), "lr": scheduler.get_last_lr()[0],
                 "seconds": time.perf_counter() - t0, **val}
        history.append(entry)
        improved = bool(val) and (not best or val["score"] < best["score"])
        if improved or not val_records:
            best = dict(entry)
            adapter.save(out / "best")
        state = {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model_name": adapter.name,
            "args": _jsonable(args), "model": module.state_dict(), "model_config": adapter.config(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch + 1,
            "step": step, "history": history, "best": best,
            "rng": {"data": data_rng.bit_generator.state, "torch": torch.get_rng_state(),
                    "python": _python_rng_plain(random.getstate())},
        }
        _save_checkpoint(out / f"epoch_{epoch + 1:03d}.pt", state)
        _save_checkpoint(out / "last.pt", state)
        (out / "history.json").write_text(json.dumps({"history": history, "best": best}, indent=2) + "\n")
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in val.items() if k != "score")
        log(f"epoch {epoch + 1}/{args.epochs}: loss {entry['loss']:.4f}  {metrics}  "
            f"({entry['seconds']:.0f} s){'  *best*' if improved else ''}")
    if end_epoch == args.epochs:
        adapter.module.eval()
        adapter.save(out / "final", onnx=not args.no_onnx)
        if not args.no_onnx and (out / "best").is_dir():
            adapter.export_saved(out / "best")
    return {"history": history, "best": best, "epochs_done": end_epoch}


def _python_rng_plain(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_rng_state(plain: list) -> tuple:
    version, internal, gauss = plain
    return version, tuple(internal), gauss


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from depth_ros.core.errors import DepthRosError

    try:
        resume = None
        if args.resume is not None:
            resume = load_training_checkpoint(args.resume)
            if args.out is None:
                args.out = Path(resume["path"]).parent
            args = _restore_args(args, resume["args"])
        for key, default in (("epochs", DEFAULT_EPOCHS), ("threads", DEFAULT_THREADS), ("cache", DEFAULT_CACHE)):
            if getattr(args, key) is None:
                setattr(args, key, default)
        check_args(parser, args)
        if resume is None and (Path(args.out) / "last.pt").exists():
            parser.error(f"--out {args.out} holds a run already (last.pt); continue it with --resume {args.out}")
        if args.model == "radar_fusion" and args.no_prior:
            parser.error("--no-prior applies to compact_depth only")
        result = train(args, resume)
    except (DepthRosError, OSError, ValueError, KeyError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    best = result["best"]
    if best:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in best.items() if k.startswith(("absrel", "delta1")))
        print(f"{PROG}: {result['epochs_done']} epochs done; best epoch {best['epoch']}: {metrics}; "
              f"weights in {Path(args.out) / 'best'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
