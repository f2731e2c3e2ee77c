"""The Rerun SDK (the `view` extra), imported on first use so that the rest of depth_ros never needs it."""

from __future__ import annotations

from types import ModuleType

from depth_ros.optional import missing_dependency

FEATURE = "the Rerun view"


def rerun() -> ModuleType:
    """`rerun` (rerun-sdk), or a MissingDependencyError naming `pip install 'depth_ros[view]'`."""
    try:
        import rerun as rr  # noqa: PLC0415 - optional and large: only the view pays for it
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc, FEATURE) from exc
    return rr


def blueprint_module() -> ModuleType:
    """`rerun.blueprint` (the layout API)."""
    rerun()
    import rerun.blueprint as rrb  # noqa: PLC0415

    return rrb
