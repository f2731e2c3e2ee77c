"""TF lookups where tf2_ros is importable: a ROS 2 install has it, the PyPI wheels do not."""

from __future__ import annotations

from typing import Any


def make_tf_buffer(node: Any) -> tuple[Any, Any] | None:
    """A tf2 Buffer and the TransformListener filling it for `node`, or None without tf2_ros."""
    try:
        import tf2_ros  # noqa: PLC0415 - not on PyPI: only inside a ROS 2 install
    except ImportError:
        return None
    buffer = tf2_ros.Buffer()
    return buffer, tf2_ros.TransformListener(buffer, node)
