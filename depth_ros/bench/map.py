"""Map benchmark: the TSDF and occupancy grid built from radar-fused depth, from the network alone and
from ground-truth depth, on fresh synthetic `hall` and `yard` runs with their exact camera poses.

For each scene: `compact_depth` runs through the pipeline twice over the same run, with radar and
IMU (published depth) and with no scale source (the network alone); each depth stream and the
ground-truth depth are integrated by their own `DepthMapper` with the ground-truth poses (so the
map error is the depth's, not the poses'). The reference surface is the ground-truth depth of every
frame back-projected and thinned to 2.5 cm. Reported per scene: F-score at 10 cm of each map's
TSDF surface against it (precision: share of map points within 10 cm of the reference; recall:
share of reference points within 10 cm of the map), and the occupancy IoU of the fused grid
against the grid from ground-truth depth; over both, the integration time (TSDF + grid) per frame
and its ratio to the camera's frame period.

Last line: ``RESULT fscore10_fused_hall=<> fscore10_network_hall=<> fscore10_gt_depth_hall=<>
fscore10_gain_hall=<fused - network> grid_iou_fused_hall=<> ... (the same for yard)
integrate_ms_per_frame=<> frame_period_ratio=<>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from depth_ros.bench.scene_runs import parse_scene_runs, scene_run_parser
from depth_ros.core.cloud import depth_to_points
from depth_ros.core.errors import DepthRosError
from depth_ros.mapping.mapper import DepthMapper
from depth_ros.mapping.metrics import fscore, grid_iou, thin
from depth_ros.mapping.occupancy import GridConfig
from depth_ros.mapping.tsdf import TsdfConfig

PROG = "depth-ros-bench map"
TOLERANCE = 0.10  # m, of the F-score
MIN_CONFIDENCE = 0.3  # depth_map_node's default tsdf.min_confidence


def run_scene(scene: str, seconds: float, seed: int, model: Any,
              out=print) -> tuple[dict[str, float], list[float], float]:
    """The three maps of one fresh run (module doc): its numbers, the fused integration times (s) and
    the camera's frame period (s)."""
    from depth_ros.datasets.sequences import play_sequence, sequence_fusion_config  # noqa: PLC0415
    from depth_ros.pipeline.fusion import FusionConfig  # noqa: PLC0415
    from depth_ros.pipeline.pipeline import DepthPipeline, PipelineConfig  # noqa: PLC0415
    from depth_ros.sim.world import generate_sequence  # noqa: PLC0415

    seq = generate_sequence(scene, seconds=seconds, seed=seed, width=320, height=240)
    config = PipelineConfig(min_depth=0.1, max_depth=model.spec.max_depth)
    fused = play_sequence(DepthPipeline(model, config, sequence_fusion_config(seq)), seq)
    alone = play_sequence(DepthPipeline(model, config, FusionConfig()), seq)
    mappers = {name: DepthMapper(TsdfConfig(voxel_size=0.05, max_depth=8.0, min_confidence=MIN_CONFIDENCE),
                                 GridConfig(resolution=0.05, size=60.0))
               for name in ("fused", "network", "gt_depth")}
    reference, times = [], []
    for (item, f), (_, a) in zip(fused, alone):
        T = item.T_world_cam.as_matrix()
        started = time.perf_counter()
        mappers["fused"].add(f.depth, seq.camera, T, f.confidence)
        times.append(time.perf_counter() - started)
        mappers["network"].add(a.depth, seq.camera, T)
        mappers["gt_depth"].add(item.depth, seq.camera, T)
        p = depth_to_points(item.depth, seq.camera, 0.0, 8.0, step=2).reshape(-1, 3)
        reference.append(p[np.isfinite(p[:, 2])] @ T[:3, :3].T + T[:3, 3])
    ref = thin(np.concatenate(reference), 0.025)
    result: dict[str, float] = {}
    for name, mapper in mappers.items():
        p, r, f = fscore(mapper.surface_points(), ref, TOLERANCE)
        out(f"  {scene:<5} {name:<9} precision {p:.3f}  recall {r:.3f}  F@10cm {f:.3f}  "
            f"blocks {mapper.tsdf.blocks}")
        result[f"fscore10_{name}_{scene}"] = f
    result[f"fscore10_gain_{scene}"] = result[f"fscore10_fused_{scene}"] - result[f"fscore10_network_{scene}"]
    result[f"grid_iou_fused_{scene}"] = grid_iou(mappers["fused"].grid(), mappers["gt_depth"].grid())
    out(f"  {scene:<5} occupancy IoU fused vs ground-truth depth {result[f'grid_iou_fused_{scene}']:.3f}")
    return result, times, 1.0 / seq.world.camera_hz


def build_parser() -> argparse.ArgumentParser:
    return scene_run_parser(PROG, __doc__.split("\n\n")[0], seed=1007)


def main(argv: list[str] | None = None) -> int:
    args, scenes = parse_scene_runs(build_parser(), argv)
    try:
        from depth_ros.models.registry import load_model  # noqa: PLC0415

        model = load_model(args.model)
        result: dict[str, float] = {}
        times: list[float] = []
        for scene in scenes:
            r, t, period = run_scene(scene, args.seconds, args.seed, model)
            times += t
            result.update(r)
    except DepthRosError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    ms = 1e3 * float(np.median(times))
    result["integrate_ms_per_frame"] = ms
    result["frame_period_ratio"] = ms / (1e3 * period)
    print(f"integration (TSDF + grid, 320x240): {ms:.1f} ms per frame, {result['frame_period_ratio']:.2f} of the "
          f"frame period")
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
