"""Build the depth pipeline (and its message feeder) from node parameter values.

The node's configure step and the bag evaluator both call this, so the same parameters give
the same pipeline object in both places.
"""

from __future__ import annotations

from typing import Any

from depth_ros.models.registry import load_model
from depth_ros.pipeline.pipeline import DepthPipeline
from depth_ros.ros.message_feeder import MessageFeeder, Report
from depth_ros.ros.params import (
    DepthNodeConfig,
    fusion_config_from_values,
    pipeline_config_from_values,
    temporal_config_from_values,
)


def build_pipeline(values: dict[str, Any], report: Report, model: Any = None) -> tuple[DepthPipeline, MessageFeeder]:
    """Load the model named in `values` (unless given) and wire pipeline + feeder."""
    node = DepthNodeConfig.from_values(values)
    if model is None:
        input_size = (node.input_height, node.input_width) if node.input_width and node.input_height else None
        model = load_model(node.model, path=node.model_path or None, device=node.device, fp16=node.fp16,
                           input_size=input_size, num_threads=node.num_threads or None)
        try:
            model.warmup()
        except Exception:
            model.close()  # a model that loads but cannot run is not kept
            raise
    config = pipeline_config_from_values(values)
    fusion = fusion_config_from_values(values)
    pipeline = DepthPipeline(model, config, fusion, temporal_config_from_values(values))
    feeder = MessageFeeder(pipeline, report, node.camera_info_slop, fusion.radar_max_points)
    return pipeline, feeder
