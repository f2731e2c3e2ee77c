"""Pictures of depth: colour maps and side-by-side previews (PNG, headless)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from depth_ros.optional import pyplot


def colorize_depth(depth: np.ndarray, vmin: float | None = None, vmax: float | None = None,
                   cmap: int = cv2.COLORMAP_TURBO) -> np.ndarray:
    """(H, W) depth -> (H, W, 3) uint8 RGB colour map; NaN pixels are black."""
    valid = np.isfinite(depth)
    if not valid.any():
        return np.zeros(depth.shape + (3,), np.uint8)
    lo = float(np.percentile(depth[valid], 2)) if vmin is None else vmin
    hi = float(np.percentile(depth[valid], 98)) if vmax is None else vmax
    norm = np.clip((np.nan_to_num(depth, nan=lo) - lo) / max(hi - lo, 1e-6), 0, 1)
    bgr = cv2.applyColorMap((255 - norm * 255).astype(np.uint8), cmap)
    bgr[~valid] = 0
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def save_preview(path: str | Path, rgb: np.ndarray, gt: np.ndarray | None, pred: np.ndarray,
                 title: str = "", confidence: np.ndarray | None = None) -> Path:
    """Save image | ground truth | prediction | abs-rel error (| confidence) as one PNG."""
    plt = pyplot("the preview images")

    panels = [("image", rgb, None)]
    valid = np.isfinite(pred)
    vmin = vmax = None
    if gt is not None and np.isfinite(gt).any():
        vmin, vmax = float(np.nanpercentile(gt, 2)), float(np.nanpercentile(gt, 98))
        panels.append(("ground truth (m)", gt, "turbo_r"))
    elif valid.any():
        vmin, vmax = float(np.nanpercentile(pred, 2)), float(np.nanpercentile(pred, 98))
    panels.append(("predicted depth (m)", pred, "turbo_r"))
    if gt is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.abs(pred - gt) / gt
        panels.append(("abs rel error", err, "magma"))
    if confidence is not None:
        panels.append(("confidence", confidence, "viridis"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    for ax, (name, img, cmap) in zip(np.atleast_1d(axes), panels):
        if cmap is None:
            ax.imshow(img)
        elif name.startswith("abs rel"):
            im = ax.imshow(img, cmap=cmap, vmin=0, vmax=0.5)
            fig.colorbar(im, ax=ax, fraction=0.035)
        elif name == "confidence":
            im = ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
            fig.colorbar(im, ax=ax, fraction=0.035)
        else:
            im = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax)
            fig.colorbar(im, ax=ax, fraction=0.035)
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
