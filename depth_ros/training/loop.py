"""The training loop: data loading, validation, AdamW with warm-up and cosine decay, checkpoints per epoch."""

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
from tqdm import tqdm

from depth_ros.core.metrics import aggregate, depth_metrics, median_scale
from depth_ros.datasets.rgbd import manifest_sets
from depth_ros.training.adapters import ADAPTERS
from depth_ros.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    PROG,
    jsonable_args,
    rng_state_from_plain,
    rng_state_plain,
    save_training_checkpoint,
)
from depth_ros.training.data import (
    Augment,
    frame_index,
    load_or_generate,
    make_batch,
    parse_rgbd_source,
    parse_runs,
    read_bag_record,
    rgbd_record,
)
from depth_ros.training.losses import MIN_DEPTH, depth_loss


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


def load_data(args: argparse.Namespace, progress: bool) -> tuple[list, list]:
    """(training records, validation records) from the options."""


    runs = parse_runs(args.generate, args.seconds, args.width, args.height) if args.generate else []
    val_runs = ([] if str(args.val).lower() == "none"
                else parse_runs(args.val, args.val_seconds, args.width, args.height))
    overlap = {(r.scene, r.seed) for r in runs} & {(r.scene, r.seed) for r in val_runs}
    if overlap:
        from depth_ros.core.errors import InvalidInputError  # noqa: PLC0415

        raise InvalidInputError(f"validation runs {sorted(overlap)} are also training runs")
    rgbd = [parse_rgbd_source(t) for t in args.rgbd]
    val_rgbd = [parse_rgbd_source(t) for t in args.val_rgbd]
    if not _disjoint_sets(rgbd, val_rgbd):
        from depth_ros.core.errors import InvalidInputError  # noqa: PLC0415

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
        from depth_ros.core.errors import InvalidInputError  # noqa: PLC0415

        raise InvalidInputError(f"all runs must have one image size, got {sorted(sizes)}")
    return train, val


def _disjoint_sets(train: list[tuple[Path, str | None]], val: list[tuple[Path, str | None]]) -> bool:
    """True when no validation source shares a manifest set with a training source."""

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


def train(args: argparse.Namespace, resume: dict | None = None, log: Any = None) -> dict:
    """Run (or continue) training; returns the history and the best validation result."""
    import torch  # noqa: PLC0415


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
        random.setstate(rng_state_from_plain(resume["rng"]["python"]))
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
            "args": jsonable_args(args), "model": module.state_dict(), "model_config": adapter.config(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch + 1,
            "step": step, "history": history, "best": best,
            "rng": {"data": data_rng.bit_generator.state, "torch": torch.get_rng_state(),
                    "python": rng_state_plain(random.getstate())},
        }
        save_training_checkpoint(out / f"epoch_{epoch + 1:03d}.pt", state)
        save_training_checkpoint(out / "last.pt", state)
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
