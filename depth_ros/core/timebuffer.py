"""Stamped buffers: keep recent items by time, look them up by stamp, reset on time jumps."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class TimeBuffer(Generic[T]):
    """Items sorted by stamp (nanoseconds), bounded by count and by age relative to the newest.

    Adding an item stamped more than `jump_back_ns` before the newest one means time went
    backwards (a bag loop, a restarted simulation): the buffer is cleared first and `resets`
    counts it. Thread-safe: callbacks add while a worker reads.
    """

    def __init__(self, max_items: int = 100, max_age_ns: int | None = None, jump_back_ns: int = 1_000_000_000) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.max_items = max_items
        self.max_age_ns = max_age_ns
        self.jump_back_ns = jump_back_ns
        self._stamps: list[int] = []
        self._items: list[T] = []
        self._lock = threading.Lock()
        self.resets = 0

    def __len__(self) -> int:
        return len(self._stamps)

    def add(self, stamp_ns: int, item: T) -> bool:
        """Insert an item; returns True when the buffer was reset by a backwards time jump."""
        reset = False
        with self._lock:
            if self._stamps and stamp_ns < self._stamps[-1] - self.jump_back_ns:
                self._stamps.clear()
                self._items.clear()
                self.resets += 1
                reset = True
            i = bisect.bisect_right(self._stamps, stamp_ns)
            self._stamps.insert(i, stamp_ns)
            self._items.insert(i, item)
            self._trim()
        return reset

    def _trim(self) -> None:
        drop = max(0, len(self._stamps) - self.max_items)
        if self.max_age_ns is not None and self._stamps:
            oldest_ok = self._stamps[-1] - self.max_age_ns
            drop = max(drop, bisect.bisect_left(self._stamps, oldest_ok))
        if drop:
            del self._stamps[:drop]
            del self._items[:drop]

    def clear(self) -> None:
        with self._lock:
            self._stamps.clear()
            self._items.clear()

    def latest(self) -> tuple[int, T] | None:
        with self._lock:
            return (self._stamps[-1], self._items[-1]) if self._stamps else None

    def nearest(self, stamp_ns: int, tolerance_ns: int) -> tuple[int, T] | None:
        """The item closest to `stamp_ns` within the tolerance, or None."""
        with self._lock:
            i = bisect.bisect_left(self._stamps, stamp_ns)
            best = None
            for j in (i - 1, i):
                if 0 <= j < len(self._stamps):
                    dt = abs(self._stamps[j] - stamp_ns)
                    if dt <= tolerance_ns and (best is None or dt < best[0]):
                        best = (dt, j)
            if best is None:
                return None
            return self._stamps[best[1]], self._items[best[1]]

    def window(self, start_ns: int, end_ns: int) -> list[tuple[int, T]]:
        """Items with start_ns <= stamp <= end_ns, oldest first."""
        with self._lock:
            lo = bisect.bisect_left(self._stamps, start_ns)
            hi = bisect.bisect_right(self._stamps, end_ns)
            return list(zip(self._stamps[lo:hi], self._items[lo:hi]))

    def __iter__(self) -> Iterator[tuple[int, T]]:
        with self._lock:
            return iter(list(zip(self._stamps, self._items)))
