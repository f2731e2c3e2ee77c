"""Temporal Kalman filter of the global depth alignment (random walk on the fit parameters).

State: ``x = (log s, t)``; ``t`` stays 0 and unfiltered for metric models.

Why log s: scale errors are multiplicative (0.8x is as wrong as 1.25x), the log keeps s > 0,
and `fit_scale` residuals and covariances are already in log-depth units.

Why the inverse kind filters (log s, t) jointly, rather than one global multiplier applied after
each frame's own affine fit: in a single frame s and t are strongly anti-correlated (radar
points spanning a narrow depth band pin down only one combination of them). The joint filter
weighs each frame by the full covariance `fit_scale` reports, so the well-measured combination
follows the measurement while the poorly measured one is carried by history. A multiplier on
top of per-frame (s, t) would smooth the scale only and let the shift noise through, which is
what makes far depths of relative models flicker. Process noise on both states lets the filter
follow the drift of a relative network's arbitrary affine output as the scene changes.

Each `update`: predict (process noise variance ∝ elapsed time); then, for a usable fit
(``ok``), an innovation gate (``gate_sigma``; chi-square for 1 or 2 degrees of freedom) and a
standard Kalman update with measurement noise ``fit.cov`` plus a floor. ``max_rejections``
consecutive gated-out fits mean the scene changed (a step): the filter re-initialises on the
latest fit. Without a usable fit it only predicts (variance grows) and reports ``"stale"``
once the last accepted fit is older than ``stale_after_s``. Time going backwards by more than
``jump_back_ns`` (bag loop, restarted simulation) resets the filter, as `TimeBuffer` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.output_kind import OutputKind, as_output_kind
from depth_ros.core.scale import ScaleFit

Source = Literal["fit", "rejected", "predict", "stale", "none"]


@dataclass(frozen=True)
class FilteredScale:
    """Filtered alignment; usable by `apply_fit` whenever ``scale`` is finite.

    ``variance`` is the variance of log scale. ``source``: "fit" (a measurement was used),
    "rejected" (this frame's fit failed the gate), "predict" (no usable fit this frame),
    "stale" (no accepted fit for longer than the timeout), "none" (never initialised: scale
    and shift NaN). ``age_s`` is the time since the last accepted fit (inf when none).
    """

    scale: float
    shift: float
    variance: float
    source: Source
    kind: OutputKind
    age_s: float
    resets: int = 0

    @property
    def usable(self) -> bool:
        """True when the estimate exists and is not stale."""
        return self.source in ("fit", "rejected", "predict")


class ScaleFilter:
    """Kalman filter on (log scale, shift) of a stream of `ScaleFit` results.

    Parameters:
      kind: an `OutputKind` (or "metric" / "inverse"); fits of the other kind are refused.
      process_noise: random-walk std of log scale per sqrt(second) (0.02 ≈ 2 %/√s).
      shift_process_noise: random-walk std of the inverse-depth shift per sqrt(second), 1/m.
      stale_after_s: age of the last accepted fit after which the estimate is "stale".
      gate_sigma: innovation gate, in standard deviations (1-D equivalent).
      max_rejections: consecutive gated-out fits that re-initialise the filter.
      min_measurement_std: floor added to the log-scale measurement std (radar errors are
        correlated, so a fit's own covariance is optimistic).
      min_shift_std: the same floor for the shift (1/m).
      jump_back_ns: a stamp this much older than the newest resets the filter; smaller
        backwards steps are taken as simultaneous (dt = 0).
    """

    def __init__(
        self,
        kind: OutputKind | str,
        process_noise: float = 0.02,
        shift_process_noise: float = 0.01,
        stale_after_s: float = 1.0,
        gate_sigma: float = 3.0,
        max_rejections: int = 3,
        min_measurement_std: float = 0.01,
        min_shift_std: float = 0.002,
        jump_back_ns: int = 1_000_000_000,
    ) -> None:
        self.kind: OutputKind = as_output_kind(kind)
        for name, value in (
            ("process_noise", process_noise),
            ("shift_process_noise", shift_process_noise),
            ("min_measurement_std", min_measurement_std),
            ("min_shift_std", min_shift_std),
        ):
            if not (value >= 0 and math.isfinite(value)):
                raise InvalidInputError(f"{name} must be finite and >= 0, got {value}")
        if not stale_after_s > 0:
            raise InvalidInputError(f"stale_after_s must be > 0, got {stale_after_s}")
        if not gate_sigma > 0:
            raise InvalidInputError(f"gate_sigma must be > 0, got {gate_sigma}")
        if max_rejections < 1:
            raise InvalidInputError(f"max_rejections must be >= 1, got {max_rejections}")
        if jump_back_ns < 0:
            raise InvalidInputError(f"jump_back_ns must be >= 0, got {jump_back_ns}")
        self.process_noise = float(process_noise)
        self.shift_process_noise = float(shift_process_noise)
        self.stale_after_s = float(stale_after_s)
        self.gate_sigma = float(gate_sigma)
        self.max_rejections = int(max_rejections)
        self.min_measurement_std = float(min_measurement_std)
        self.min_shift_std = float(min_shift_std)
        self.jump_back_ns = int(jump_back_ns)
        self._dim = 1 if self.kind is OutputKind.METRIC else 2
        # The 1-D gate as a tail probability, then the chi-square quantile for the state's dof.
        tail = math.erfc(self.gate_sigma / math.sqrt(2.0))
        self._gate2 = self.gate_sigma**2 if self._dim == 1 else -2.0 * math.log(tail)
        self.resets = 0
        self.reset()

    def reset(self) -> None:
        """Forget the estimate (the next usable fit initialises the filter)."""
        self._x: np.ndarray | None = None
        self._p = np.zeros((self._dim, self._dim))
        self._stamp: int | None = None
        self._meas_stamp: int | None = None
        self._rejections = 0

    def _measurement(self, fit: ScaleFit) -> tuple[np.ndarray, np.ndarray]:
        z = np.array([math.log(fit.scale), fit.shift])[: self._dim]
        cov = np.asarray(fit.cov, dtype=np.float64)
        if cov.shape == (2, 2) and np.all(np.isfinite(cov)):
            r = cov[: self._dim, : self._dim].copy()
        else:  # a hand-made fit without covariance: std error of a mean, shift barely known
            var = (fit.residual if math.isfinite(fit.residual) else 0.1) ** 2 / max(fit.n_inliers, 1)
            r = np.diag([var, max(abs(fit.shift), self.min_shift_std) ** 2][: self._dim])
        r[0, 0] += self.min_measurement_std**2
        if self._dim == 2:
            r[1, 1] += self.min_shift_std**2
        return z, r

    def _result(self, source: Source, stamp_ns: int) -> FilteredScale:
        if self._x is None:
            return FilteredScale(math.nan, math.nan, math.inf, "none", self.kind, math.inf, self.resets)
        age = math.inf if self._meas_stamp is None else max(0.0, (stamp_ns - self._meas_stamp) * 1e-9)
        if age > self.stale_after_s:
            source = "stale"
        shift = float(self._x[1]) if self._dim == 2 else 0.0
        return FilteredScale(math.exp(self._x[0]), shift, float(self._p[0, 0]), source, self.kind, age, self.resets)

    def update(self, stamp_ns: int, fit: ScaleFit | None) -> FilteredScale:
        """Advance to ``stamp_ns`` and fold in ``fit`` when it is usable (``ok``)."""
        stamp_ns = int(stamp_ns)
        if fit is not None and fit.kind is not self.kind:
            raise InvalidInputError(f"fit of kind {fit.kind.value!r} given to a {self.kind.value!r} scale filter")
        if self._stamp is not None and stamp_ns < self._stamp - self.jump_back_ns:
            self.reset()
            self.resets += 1
        if self._x is not None and self._stamp is not None:
            dt = max(0.0, (stamp_ns - self._stamp) * 1e-9)
            q = np.array([self.process_noise**2, self.shift_process_noise**2][: self._dim]) * dt
            self._p = self._p + np.diag(q)
        self._stamp = stamp_ns if self._stamp is None else max(self._stamp, stamp_ns)

        if fit is None or not (fit.ok and math.isfinite(fit.scale) and fit.scale > 0 and math.isfinite(fit.shift)):
            return self._result("predict", stamp_ns)
        z, r = self._measurement(fit)
        if self._x is None:
            self._init(z, r, stamp_ns)
            return self._result("fit", stamp_ns)
        nu = z - self._x
        s = self._p + r
        s_inv = np.linalg.inv(s)
        if float(nu @ s_inv @ nu) > self._gate2:
            self._rejections += 1
            if self._rejections < self.max_rejections:
                return self._result("rejected", stamp_ns)
            self._init(z, r, stamp_ns)  # persistent disagreement: the scene's scale changed
            return self._result("fit", stamp_ns)
        gain = self._p @ s_inv
        self._x = self._x + gain @ nu
        i_k = np.eye(self._dim) - gain
        self._p = i_k @ self._p @ i_k.T + gain @ r @ gain.T  # Joseph form: stays symmetric PSD
        self._meas_stamp = stamp_ns
        self._rejections = 0
        return self._result("fit", stamp_ns)

    def _init(self, z: np.ndarray, r: np.ndarray, stamp_ns: int) -> None:
        self._x = z.copy()
        self._p = r.copy()
        self._meas_stamp = stamp_ns
        self._rejections = 0
