"""The report of an evaluation: metrics.json, report.md and PNG plots, plus the console table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.metrics import DepthMetrics
from depth_ros.evaluation.preview import save_preview
from depth_ros.evaluation.scoring import Evaluation
from depth_ros.optional import pyplot

METRIC_KEYS = ("absrel", "sqrel", "rmse", "rmse_log", "silog", "delta1", "delta2", "delta3")
STAGES = ("model_preprocess", "model_inference", "model_postprocess", "fusion", "total")


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean over frames of each metric (NaN frames, e.g. without valid pixels, left out)."""
    out = {}
    for key in METRIC_KEYS:
        vals = [r[key] for r in rows if key in r and math.isfinite(r[key])]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    out["frames"] = len(rows)
    return out


def summarize(ev: Evaluation, context: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    modes = sorted({m for f in ev.frames for m in f.metrics})
    per_mode = {m: _mean([f.metrics[m] for f in ev.frames if m in f.metrics]) for m in modes}
    bins: dict[tuple[float, float], list[dict]] = {}
    for f in ev.frames:
        for b in f.bins:
            if b["count"] > 0:
                bins.setdefault((b["lo"], b["hi"]), []).append(b)
    per_bin = [{"range_m": [lo, None if math.isinf(hi) else hi], **_mean(rows)} for (lo, hi), rows in sorted(bins.items())]
    sources: dict[str, list] = {}
    for f in ev.frames:
        sources.setdefault(f.scale_source, []).append(f.metrics["fused"])
    latency = {}
    for stage in STAGES:
        vals = [f.timings[stage] for f in ev.frames if stage in f.timings]
        if vals:
            latency[stage] = {"median_ms": 1e3 * float(np.median(vals)), "p95_ms": 1e3 * float(np.percentile(vals, 95))}
    return {
        "context": context,
        "overall": {**per_mode["fused"], "metric": ev.metric},
        "modes": per_mode,
        "per_range_bin": per_bin,
        "per_scale_source": {k: _mean(v) for k, v in sorted(sources.items())},
        "latency": latency,
        "input_errors": ev.errors,
        "live": live,
        "per_frame": [{"stamp_ns": f.stamp_ns, "scale_source": f.scale_source, **f.metrics["fused"],
                       **{k: v for k, v in f.info.items() if isinstance(v, (int, float, str))}} for f in ev.frames],
    }


def print_table(summary: dict[str, Any]) -> None:
    ctx = summary["context"]
    print(f"\n{ctx['bag']}  model {ctx['model']}  node {ctx['node']}  radar {'on' if ctx['radar'] else 'off'}  "
          f"imu {'on' if ctx['imu'] else 'off'}  scale {ctx['scale_mode']}")
    header = f"{'':<22}" + "".join(f"{k:>10}" for k in METRIC_KEYS) + f"{'frames':>8}"
    print(header)
    for name, m in summary["modes"].items():
        labels = {"fused": "depth_ros (published)", "network": "network alone", "oracle_median": "oracle median scale"}
        label = labels.get(name, name)
        print(f"{label:<22}" + "".join(f"{m[k]:10.4f}" for k in METRIC_KEYS) + f"{m['frames']:8d}")
    print("\nper ground-truth range (published depth):")
    for b in summary["per_range_bin"]:
        lo, hi = b["range_m"]
        label = f"{lo:g}-{hi:g} m" if hi is not None else f">{lo:g} m"
        print(f"{label:<22}" + "".join(f"{b[k]:10.4f}" for k in METRIC_KEYS) + f"{b['frames']:8d}")
    if len(summary["per_scale_source"]) > 1 or "radar" in summary["per_scale_source"]:
        print("\nper scale source (published depth):")
        for src, m in summary["per_scale_source"].items():
            print(f"{src:<22}" + "".join(f"{m[k]:10.4f}" for k in METRIC_KEYS) + f"{m['frames']:8d}")
    print("\nlatency per frame (ms):  " + "  ".join(f"{k} {v['median_ms']:.2f} (p95 {v['p95_ms']:.2f})"
                                              for k, v in summary["latency"].items()))
    if summary["input_errors"]:
        print(f"input problems reported: {summary['input_errors']}")
    live = summary.get("live")
    if live:
        if live.get("frames"):
            print(f"live (node process over DDS): {live['frames']} frames, AbsRel {live['absrel_live']:.4f} vs offline "
                  f"{live['absrel_offline_same_frames']:.4f} on the same frames (difference {live['absrel_difference']:.4f})")
        else:
            print(f"live: {live.get('note')}")


def write_report(folder: Path, ev: Evaluation, context: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """Write metrics.json, report.md and the plots; returns the summary."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize(ev, context, live)
    plots = _plots(folder, ev, summary)
    summary["plots"] = plots
    (folder / "metrics.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    (folder / "report.md").write_text(_markdown(summary))
    return summary


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, DepthMetrics):
        return obj.to_dict()
    return str(obj)


def _plots(folder: Path, ev: Evaluation, summary: dict[str, Any]) -> list[str]:
    plt = pyplot("the report plots")


    names = []
    for i, (stamp, rgb, gt, depth, conf) in enumerate(ev.samples):
        name = f"sample_{i}.png"
        save_preview(folder / name, rgb, gt, depth, title=f"stamp {stamp * 1e-9:.2f} s", confidence=conf)
        names.append(name)
    bins = summary["per_range_bin"]
    if bins:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        labels = [f"{b['range_m'][0]:g}-{b['range_m'][1]:g}" if b["range_m"][1] is not None else f">{b['range_m'][0]:g}"
                  for b in bins]
        ax.bar(labels, [b["absrel"] for b in bins], color="tab:blue")
        ax.set_xlabel("ground-truth depth (m)")
        ax.set_ylabel("AbsRel")
        ax.set_title("error vs range (published depth)")
        fig.tight_layout()
        fig.savefig(folder / "error_vs_range.png", dpi=90)
        plt.close(fig)
        names.append("error_vs_range.png")
    t0 = ev.frames[0].stamp_ns
    times = [(f.stamp_ns - t0) * 1e-9 for f in ev.frames]
    scales = [f.info.get("scale", np.nan) for f in ev.frames]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    ax1.plot(times, scales, ".-", label="scale")
    ax1.set_ylabel("scale (after filter)")
    ax1.set_title("scale over time")
    sources = sorted({f.scale_source for f in ev.frames})
    for src in sources:
        idx = [i for i, f in enumerate(ev.frames) if f.scale_source == src]
        ax1.plot([times[i] for i in idx], [scales[i] for i in idx], "o", ms=3, label=src)
    ax1.legend(fontsize=7)
    ax2.plot(times, [f.metrics["fused"]["absrel"] for f in ev.frames], label="depth_ros")
    if any("network" in f.metrics for f in ev.frames):
        ax2.plot(times, [f.metrics.get("network", {}).get("absrel", np.nan) for f in ev.frames], label="network alone")
    ax2.set_ylabel("AbsRel")
    ax2.set_xlabel("time (s)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "scale_over_time.png", dpi=90)
    plt.close(fig)
    names.append("scale_over_time.png")
    return names


def _markdown(summary: dict[str, Any]) -> str:
    ctx = summary["context"]
    lines = [f"# depth_ros evaluation: {Path(ctx['bag']).name}", "",
             f"- model: `{ctx['model']}` ({'metric' if summary['overall']['metric'] else 'RELATIVE'} output), node "
             f"parameters of `{ctx['node']}`{' from ' + ctx['params_file'] if ctx['params_file'] else ''}",
             f"- radar {'on' if ctx['radar'] else 'off'}, IMU {'on' if ctx['imu'] else 'off'}, scale mode "
             f"`{ctx['scale_mode']}`; topics: "
             + ", ".join(f"{k} `{v}`" for k, v in ctx["topics"].items() if v and k != "gt_is_lidar"),
             "", "## Metrics (mean over frames)", "",
             "| | " + " | ".join(METRIC_KEYS) + " | frames |", "|---" * (len(METRIC_KEYS) + 2) + "|"]
    for name, m in summary["modes"].items():
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.4f}" for k in METRIC_KEYS) + f" | {m['frames']} |")
    lines += ["", "## Per ground-truth range", "", "| range (m) | " + " | ".join(METRIC_KEYS) + " | frames |",
              "|---" * (len(METRIC_KEYS) + 2) + "|"]
    for b in summary["per_range_bin"]:
        lo, hi = b["range_m"]
        lines.append(f"| {lo:g}-{hi if hi is not None else 'inf'} | " + " | ".join(f"{b[k]:.4f}" for k in METRIC_KEYS)
                     + f" | {b['frames']} |")
    lines += ["", "## Per scale source", ""]
    for src, m in summary["per_scale_source"].items():
        lines.append(f"- {src}: AbsRel {m['absrel']:.4f}, delta1 {m['delta1']:.4f} over {m['frames']} frames")
    lines += ["", "## Latency per frame", "", "| stage | median ms | p95 ms |", "|---|---|---|"]
    lines += [f"| {k} | {v['median_ms']:.2f} | {v['p95_ms']:.2f} |" for k, v in summary["latency"].items()]
    if summary["live"]:
        lines += ["", "## Live run (node process, bag over DDS)", "", "```", json.dumps(summary["live"], indent=1), "```"]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in summary.get("plots", [])]
    return "\n".join(lines) + "\n"
