"""A worker thread that processes the newest item (or a bounded FIFO) off the executor thread."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FrameWorker(Generic[T]):
    """Runs `handler(item)` on its own thread.

    policy "newest": a one-slot mailbox; an item arriving while another waits replaces it and
    the replaced one is counted in `dropped`. policy "fifo": up to `queue_size` items wait; the
    oldest is dropped when full. Exceptions from the handler go to `on_error` and the worker
    keeps running.
    """

    def __init__(
        self,
        handler: Callable[[T], None],
        on_error: Callable[[BaseException], None],
        policy: str = "newest",
        queue_size: int = 1,
        name: str = "depth-worker",
    ) -> None:
        if policy not in ("newest", "fifo"):
            raise ValueError(f"queue policy must be 'newest' or 'fifo', got {policy!r}")
        self._handler = handler
        self._on_error = on_error
        self._queue: collections.deque[T] = collections.deque()
        self._capacity = 1 if policy == "newest" else max(1, int(queue_size))
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self.dropped = 0
        self.processed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        with self._cond:
            if len(self._queue) >= self._capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(item)
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._queue and not self._busy

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._queue.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                item = self._queue.popleft()
                self._busy = True
            try:
                self._handler(item)
            except Exception as exc:  # the worker must survive anything a frame does
                self._on_error(exc)
            finally:
                with self._cond:
                    self._busy = False
                    self.processed += 1
