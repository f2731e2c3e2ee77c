"""Training losses on log depth: SILog (Eigen et al. 2014, BTS/AdaBins form) plus an L1 term that ties the scale."""

from __future__ import annotations

from typing import Any

MIN_DEPTH = 0.1


def silog_loss(log_pred: Any, log_gt: Any, mask: Any, lam: float = 0.85, scale: float = 10.0) -> Any:
    """``scale * sqrt(mean(d^2) - lam * mean(d)^2)``, d = log_pred - log_gt over ``mask`` (batch pooled)."""
    import torch  # noqa: PLC0415

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
    import torch  # noqa: PLC0415

    mask = torch.isfinite(depth_gt) & (depth_gt > MIN_DEPTH) & (depth_gt <= max_depth)
    log_gt = torch.log(torch.where(mask, depth_gt, torch.ones_like(depth_gt)))
    return silog_loss(log_pred, log_gt, mask, lam) + l1_weight * log_l1_loss(log_pred, log_gt, mask)
