"""depth-ros-train: train or fine-tune ``compact_depth`` (or the radar fusion model) on simulated runs.

Data: runs generated in-process (``--generate hall:0-9,yard:0-9 --seconds 20``, cached as .npz under
``--cache``) and/or bags written by depth-ros-simulate (``--bags``). Each frame gets the radar points
the pipeline would use for it (see `depth_ros.training.data`); the prior channel is rasterised
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
import math
import sys
from pathlib import Path

from depth_ros.cli import ArgumentParser, HelpFormatter
from depth_ros.core.errors import DepthRosError
from depth_ros.package_data import user_cache_dir
from depth_ros.training.adapters import SHIPPED
from depth_ros.training.checkpoint import PROG, load_training_checkpoint
from depth_ros.training.loop import train

MODELS = ("compact_depth", "radar_fusion")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

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
