"""Counters, rates and latency percentiles for diagnostics and benchmarks."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np


class RateMeter:
    """Events per second over a sliding window of wall-clock time."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: collections.deque[float] = collections.deque()
        self.total = 0

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        self.total += 1
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._expire(now)
        if len(self._times) < 2:
            return 0.0
        # (n - 1) intervals since the oldest event in the window; decays when events stop.
        return (len(self._times) - 1) / max(now - self._times[0], 1e-9)


class LatencyStats:
    """Keeps the last `size` samples (seconds) of a named stage."""

    def __init__(self, size: int = 200) -> None:
        self._samples: collections.deque[float] = collections.deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.fromiter(self._samples, float), q)) if self._samples else float("nan")

    def mean(self) -> float:
        return float(np.mean(np.fromiter(self._samples, float))) if self._samples else float("nan")


class NodeStats:
    """Everything a depth node reports on /diagnostics; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.input = RateMeter()
        self.output = RateMeter()
        self.latency = LatencyStats()  # image stamp received -> depth published
        self.inference = LatencyStats()
        self.errors: collections.Counter[str] = collections.Counter()
        self.last_error = ""
        self.last_error_kind = ""
        self.last_error_time = 0.0
        self.skipped_no_subscribers = 0

    def frame_in(self) -> None:
        with self._lock:
            self.input.tick()

    def frame_out(self, latency_s: float, inference_s: float) -> None:
        with self._lock:
            self.output.tick()
            self.latency.add(latency_s)
            self.inference.add(inference_s)

    def error(self, kind: str, message: str) -> None:
        with self._lock:
            self.errors[kind] += 1
            self.last_error = message
            self.last_error_kind = kind
            self.last_error_time = time.monotonic()

    def recent_error(self, within_s: float) -> bool:
        return bool(self.last_error) and time.monotonic() - self.last_error_time < within_s
