"""Build the depth pipeline (and its message feeder) from node parameter values.

The node's configure step and the bag evaluator both call this, so the same parameters give
the same pipeline object in both places.
"""

from __future__ import annotations

from typing import Any

from depth_ros.models.registry import load_model
from depth_ros.pipeline.pipeline import DepthPipeline, PipelineConfig
from depth_ros.ros.message_feeder import MessageFeeder, Report
from depth_ros.ros.params import fusion_config_from_values


def build_pipeline(values: dict[str, Any], report: Report, model: Any = None) -> tuple[DepthPipeline, MessageFeeder]:
    """Load the model named in `values` (unless given) and wire pipeline + feeder."""
    if model is None:
        input_size = (values["input_height"], values["input_width"]) if values["input_width"] and values["input_height"] else None
        model = load_model(values["model"], path=values["model_path"] or None, device=values["device"],
                           fp16=values["fp16"], input_size=input_size, num_threads=values["num_threads"] or None)
        try:
            model.warmup()
        except Exception:
            model.close()  # a model that loads but cannot run is not kept
            raise
    pipeline = DepthPipeline(
        model,
        PipelineConfig(min_depth=values["min_depth"], max_depth=values["max_depth"],
                       cloud_decimation=values["cloud_decimation"], cloud_rgb=values["cloud_rgb"],
                       cloud_confidence=values["cloud_confidence"]),
        fusion_config_from_values(values),
    )
    feeder = MessageFeeder(pipeline, report, values["camera_info_slop"], values["radar.max_points"])
    return pipeline, feeder
