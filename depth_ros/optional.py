"""Optional dependencies: which extra installs each, and the one-line error when one is missing.

The runtime install (both nodes with their shipped models, bags, the evaluator's metrics) needs
none of them; `pip install depth_ros[tools]` adds plots, the simulator and benchmarks,
`[torch]` training, export and the torch models, `[transformers]` the Hugging Face models, `[map]`
depth_map_node's TSDF (Open3D), `[fleet]` depth-ros-eval over many bags on Ray, `[view]` depth-ros-view (Rerun).
"""

from __future__ import annotations

from depth_ros.core.errors import MissingDependencyError

# Top-level module -> the extra (setup.py extras_require) that installs it.
EXTRA_OF = {
    "torch": "torch",
    "safetensors": "torch",
    "onnx": "torch",
    "transformers": "transformers",
    "matplotlib": "tools",
    "scipy": "tools",
    "psutil": "tools",
    "open3d": "map",
    "rerun": "view",
    "ray": "fleet",
}


def missing_dependency(exc: ModuleNotFoundError, feature: str,
                       extra: str | None = None) -> MissingDependencyError | ModuleNotFoundError:
    """The error to raise for `exc`: a MissingDependencyError naming the extra when the missing module
    is an optional dependency, else `exc` itself (a real bug, not a missing extra).

    `extra`: the extra the feature needs as a whole, when it is larger than the missing module's own.
    """
    top = (exc.name or "").split(".")[0]
    if top not in EXTRA_OF:
        return exc
    extra = extra or EXTRA_OF[top]
    return MissingDependencyError(f"{feature} needs '{top}', which is not installed: "
                                  f"pip install 'depth_ros[{extra}]' (./scripts/setup_env.sh test installs every extra)")


def pyplot(feature: str):
    """matplotlib.pyplot on the file-only Agg backend, imported on first use (it is slow and optional)."""
    try:
        import matplotlib  # noqa: PLC0415 - optional and slow: only the tools that plot pay for it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc, feature) from exc
    return plt


def ray_module(feature: str):
    """The `ray` module, imported on first use (the [fleet] extra; its import takes about a second)."""
    try:
        import ray  # noqa: PLC0415 - optional and slow: only a fleet evaluation on Ray pays for it
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc, feature) from exc
    return ray
