"""What the nodes that run work on a `FrameWorker` share: stopping it on shutdown and destruction."""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn


class WorkerOwner:
    """Mixin before LifecycleNode: `_worker` (a FrameWorker or None) is stopped on shutdown and on
    destroy_node; subclasses set `self._worker = None` first thing in __init__ (destroy_node may run
    on a half-built node when a parameter is refused)."""

    _worker: Any = None

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self._stop_worker()
        super().destroy_node()
