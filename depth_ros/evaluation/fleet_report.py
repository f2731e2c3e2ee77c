"""The report of a fleet evaluation, and depth-ros-eval's command for several bags.

Written into the report folder: `per_bag/<NNN_name>/` (each bag's own report, as `depth-ros-eval BAG`
writes it), `metrics.json` (`overall`: the published depth's metrics over every frame of every bag,
as if the bags were one; `overall_by_bag`: the mean of the bags' own means; `modes`, `per_tag` and
`per_bag`, worst bag first), `report.md`, `absrel_per_bag.png` and `run.json` (engine, workers and
seconds: what differs between runs; metrics.json does not).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.evaluation.fleet import BagOutcome, FleetRun, evaluate_fleet, expand_bags
from depth_ros.evaluation.report import METRIC_KEYS
from depth_ros.optional import pyplot

MODE_LABELS = {"fused": "depth_ros (published)", "network": "network alone", "oracle_median": "oracle median scale"}
PLOT = "absrel_per_bag.png"


def _frame_mean(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Mean over frames of each metric (frames without a finite value left out), as a bag's report does."""
    out: dict[str, Any] = {}
    for key in METRIC_KEYS:
        vals = [r[key] for r in rows if key in r and math.isfinite(r[key])]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    out["frames"] = len(rows)
    return out


def _bag_mean(outcomes: list[BagOutcome]) -> dict[str, Any]:
    """Mean over bags of each bag's own mean (every bag weighs the same)."""
    out: dict[str, Any] = {}
    for key in METRIC_KEYS:
        vals = [o.summary["overall"][key] for o in outcomes if math.isfinite(o.summary["overall"][key])]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    out["bags"] = len(outcomes)
    out["frames"] = sum(o.summary["overall"]["frames"] for o in outcomes)
    return out


def _by_frame(outcomes: list[BagOutcome], mode: str) -> dict[str, Any]:
    return _frame_mean([f[mode] for o in outcomes for f in o.frame_metrics if mode in f])


def folder_name(outcome: BagOutcome, count: int) -> str:
    """`per_bag/` folder of a bag: its input position and the last two parts of its path."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(Path(outcome.bag).parts[-2:])).strip("_.")[-60:]
    return f"{outcome.index:0{max(3, len(str(count - 1)))}d}_{slug or 'bag'}"


def _worst_first(outcome: BagOutcome) -> tuple:
    if not outcome.ok:
        return (0, 0.0, outcome.index)
    absrel = outcome.summary["overall"]["absrel"]
    return (1, 0.0, outcome.index) if not math.isfinite(absrel) else (2, -absrel, outcome.index)


def _row(outcome: BagOutcome, count: int) -> dict[str, Any]:
    row: dict[str, Any] = {"bag": outcome.bag, "tag": outcome.tag, "status": "ok" if outcome.ok else "failed",
                           "error": outcome.error}
    if not outcome.ok:
        return {**row, **dict.fromkeys(METRIC_KEYS), "frames": 0}
    s = outcome.summary
    row["report"] = f"per_bag/{folder_name(outcome, count)}"
    row.update({k: s["overall"][k] for k in METRIC_KEYS})
    row["frames"] = s["overall"]["frames"]
    row["metric"] = s["overall"]["metric"]
    for mode in ("network", "oracle_median"):
        if mode in s["modes"]:
            row[f"{mode}_absrel"] = s["modes"][mode]["absrel"]
    row["frames_per_scale_source"] = {src: m["frames"] for src, m in s["per_scale_source"].items()}
    row["model"], row["node"] = s["context"]["model"], s["context"]["node"]
    return row


def aggregate(outcomes: list[BagOutcome]) -> dict[str, Any]:
    """The content of the fleet's metrics.json (module doc); deterministic for the same outcomes."""
    ok = [o for o in outcomes if o.ok]
    modes = sorted({m for o in ok for f in o.frame_metrics for m in f})
    by_frame = {m: _by_frame(ok, m) for m in modes}
    overall = {**by_frame.get("fused", _frame_mean([])), "bags": len(ok), "failed": len(outcomes) - len(ok),
               "metric": all(o.summary["overall"]["metric"] for o in ok)}
    per_tag = {}
    for tag in sorted({o.tag for o in ok if o.tag is not None}):
        group = [o for o in ok if o.tag == tag]
        per_tag[tag] = {"by_frame": _by_frame(group, "fused"), "by_bag": _bag_mean(group)}
    return {
        "context": {"bags": len(outcomes), "evaluated": len(ok), "failed": len(outcomes) - len(ok),
                    "models": sorted({o.summary["context"]["model"] for o in ok}),
                    "nodes": sorted({o.summary["context"]["node"] for o in ok})},
        "overall": overall,
        "overall_by_bag": _bag_mean(ok),
        "modes": by_frame,
        "per_tag": per_tag,
        "per_bag": [_row(o, len(outcomes)) for o in sorted(outcomes, key=_worst_first)],
        "plots": [PLOT],
    }


def write_fleet_report(folder: Path, run: FleetRun) -> dict[str, Any]:
    """Write the fleet report (module doc) and return the content of its metrics.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for outcome in run.outcomes:
        if outcome.ok:
            target = folder / "per_bag" / folder_name(outcome, len(run.outcomes))
            target.mkdir(parents=True, exist_ok=True)
            for name, data in outcome.files.items():
                (target / name).write_bytes(data)
    summary = aggregate(run.outcomes)
    _plot(folder / PLOT, summary)
    (folder / "metrics.json").write_text(json.dumps(summary, indent=1))
    (folder / "run.json").write_text(json.dumps(run_info(run), indent=1))
    (folder / "report.md").write_text(_markdown(summary, run))
    return summary


def run_info(run: FleetRun) -> dict[str, Any]:
    """How the fleet ran: engine, workers, threads and seconds (run.json)."""
    return {"engine": run.engine, "workers": run.workers, "threads_per_bag": run.threads,
            "seconds": round(run.seconds, 3), "ray_startup_seconds": round(run.startup_seconds, 3),
            "per_bag": [{"bag": o.bag, "seconds": round(o.seconds, 3), "worker": o.worker} for o in run.outcomes]}


def _plot(path: Path, summary: dict[str, Any]) -> None:
    plt = pyplot("the report plots")
    rows = summary["per_bag"]
    fig, ax = plt.subplots(figsize=(7, min(40.0, 1.5 + 0.28 * len(rows))))
    tags = sorted({r["tag"] or "" for r in rows})
    colours = {t: plt.get_cmap("tab10")(i % 10) for i, t in enumerate(tags)}
    y = np.arange(len(rows))[::-1]  # worst bag on top
    values = [r["absrel"] if r["status"] == "ok" and r["absrel"] is not None else 0.0 for r in rows]
    ax.barh(y, values, color=[colours[r["tag"] or ""] for r in rows])
    for yi, r in zip(y, rows):
        if r["status"] != "ok":
            ax.text(0.0, yi, "  failed", va="center", color="tab:red", fontsize=7)
    ax.set_yticks(y, [Path(r["bag"]).parent.name + "/" + Path(r["bag"]).name for r in rows], fontsize=7)
    from matplotlib.patches import Patch  # noqa: PLC0415 - matplotlib is loaded by pyplot() above

    handles = []
    for key, style, label in (("overall", "--", "by frame"), ("overall_by_bag", ":", "by bag")):
        if math.isfinite(summary[key]["absrel"]):
            handles.append(ax.axvline(summary[key]["absrel"], color="k", ls=style, lw=1, label=f"overall {label}"))
    handles += [Patch(color=colours[t], label=t) for t in tags if t]
    ax.legend(handles=handles, fontsize=7)
    ax.set_xlabel("AbsRel (published depth, mean over the bag's frames)")
    ax.set_title("AbsRel per bag, worst first")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fmt(value: Any, width: int = 9) -> str:
    return f"{value:{width}.4f}" if isinstance(value, float) else f"{'-':>{width}}"


def print_fleet_table(summary: dict[str, Any], run: FleetRun) -> None:
    """The console table: one row per bag (worst first), overall by frame and by bag, per tag."""
    ctx = summary["context"]
    engine = f"Ray, {run.workers} workers" if run.engine == "ray" else "in process"
    print(f"\nfleet: {ctx['bags']} bags ({ctx['evaluated']} evaluated, {ctx['failed']} failed), model "
          f"{', '.join(ctx['models']) or '-'}, {engine}, {run.threads} thread(s) per bag, {run.seconds:.1f} s")
    keys = ("absrel", "sqrel", "rmse", "rmse_log", "delta1")
    print(f"{'':<24}" + "".join(f"{k:>9}" for k in keys) + f"{'frames':>8}  {'tag':<8} bag")
    for i, r in enumerate(summary["per_bag"], 1):
        if r["status"] == "ok":
            print(f"{f'#{i}':<24}" + "".join(_fmt(r[k]) for k in keys) + f"{r['frames']:8d}  {r['tag'] or '-':<8} {r['bag']}")
        else:
            print(f"{f'#{i} FAILED':<24}{r['bag']}: {r['error']}")
    print()
    for name, m in summary["modes"].items():
        print(f"{'all frames, ' + name:<24}" + "".join(_fmt(m[k]) for k in keys) + f"{m['frames']:8d}  "
              f"({MODE_LABELS.get(name, name)})")
    m = summary["overall_by_bag"]
    print(f"{'mean of bags, fused':<24}" + "".join(_fmt(m[k]) for k in keys) + f"{m['frames']:8d}  ({m['bags']} bags)")
    if summary["per_tag"]:
        print("\nper tag (published depth): by frame | by bag")
        for tag, t in summary["per_tag"].items():
            print(f"{tag:<24}" + "".join(_fmt(t["by_frame"][k]) for k in keys) + f"{t['by_frame']['frames']:8d}  | "
                  f"AbsRel {_fmt(t['by_bag']['absrel'], 0)} over {t['by_bag']['bags']} bags")


def _markdown(summary: dict[str, Any], run: FleetRun) -> str:
    ctx, keys = summary["context"], METRIC_KEYS
    head = "| | " + " | ".join(keys) + " | frames |"
    sep = "|---" * (len(keys) + 2) + "|"
    lines = [f"# depth_ros fleet evaluation: {ctx['bags']} bags", "",
             f"- {ctx['evaluated']} evaluated, {ctx['failed']} failed; model {', '.join(ctx['models']) or '-'}, "
             f"node parameters of {', '.join(ctx['nodes']) or '-'}",
             f"- {run.engine}, {run.workers} worker(s), {run.threads} thread(s) per bag, {run.seconds:.1f} s",
             "", "## Overall", "", "Over every frame of every bag, and as the mean of the bags' own means.", "",
             head, sep]
    for name, m in summary["modes"].items():
        lines.append(f"| all frames, {name} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + f" | {m['frames']} |")
    m = summary["overall_by_bag"]
    lines.append("| mean of bags, fused | " + " | ".join(f"{m[k]:.4f}" for k in keys) + f" | {m['frames']} |")
    if summary["per_tag"]:
        lines += ["", "## Per tag (published depth, over its frames)", "", head.replace("| |", "| tag |"), sep]
        for tag, t in summary["per_tag"].items():
            lines.append(f"| {tag} | " + " | ".join(f"{t['by_frame'][k]:.4f}" for k in keys)
                         + f" | {t['by_frame']['frames']} |")
    lines += ["", "## Per bag, worst first", "", "| # | bag | tag | AbsRel | RMSE | delta1 | frames | report |",
              "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(summary["per_bag"], 1):
        if r["status"] == "ok":
            lines.append(f"| {i} | `{r['bag']}` | {r['tag'] or '-'} | {r['absrel']:.4f} | {r['rmse']:.4f} | "
                         f"{r['delta1']:.4f} | {r['frames']} | [{r['report']}]({r['report']}/report.md) |")
        else:
            lines.append(f"| {i} | `{r['bag']}` | {r['tag'] or '-'} | failed: {r['error']} | | | 0 | |")
    lines += ["", "## Plot", "", f"![{PLOT}]({PLOT})"]
    return "\n".join(lines) + "\n"


def run_fleet_evaluation(args: argparse.Namespace) -> int:
    """depth-ros-eval over several bags (or --bags): evaluate, write the report, print its table.

    Returns 1 when a bag failed (its row says why), else 0.
    """
    bags = expand_bags(args.bag_list, args.bags)
    pyplot("the report plots")  # fail before the work, not after it
    use_ray = not args.no_ray and (len(bags) > 1 or args.ray_address is not None)
    run = evaluate_fleet(bags, args, use_ray, args.workers, args.ray_address, args.threads_per_bag,
                         not args.no_progress)
    report_dir = Path(args.report)
    summary = write_fleet_report(report_dir, run)
    print_fleet_table(summary, run)
    print(f"\nreport: {report_dir / 'report.md'}  metrics: {report_dir / 'metrics.json'}")
    failed = summary["context"]["failed"]
    if failed:
        print(f"depth-ros-eval: {failed} of {len(bags)} bags failed (their rows say why)", file=sys.stderr)
        return 1
    return 0
