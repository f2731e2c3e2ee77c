"""/diagnostics messages (diagnostic_msgs/DiagnosticArray) from a node's statistics."""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from depth_ros.pipeline.stats import NodeStats

# Error kinds that make the node's output unusable (level ERROR); other kinds are bad input (WARN).
ERROR_KINDS = ("model", "internal")


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, float):
        value = f"{value:.4g}"
    return KeyValue(key=key, value=str(value))


def scale_source_warning(info: dict[str, Any], radar_enabled: bool, imu_enabled: bool,
                         radar_max_age_s: float, imu_max_age_s: float) -> str:
    """Why the last frame was not scaled by the sources the node is configured with ("" when it was).

    `info` is the last result's info (with "scale_source", "radar_scans", "imu_fresh", "fallback",
    "radar_warning"). A published depth that most live radar points contradict is always a warning.
    """
    if not info:
        return ""
    source = info.get("scale_source", "none")
    reasons = []
    if info.get("radar_warning"):
        reasons.append(str(info["radar_warning"]))
    if radar_enabled and info.get("radar_scans") == 0:
        reasons.append(f"no radar in the last {radar_max_age_s:g} s")
    elif radar_enabled and source != "radar" and info.get("fallback"):
        reasons.append(str(info["fallback"]))
    if imu_enabled and info.get("imu_fresh") is False:
        reasons.append(f"no IMU in the last {imu_max_age_s:g} s")
    return f"{'; '.join(reasons)}: using {source}" if reasons else ""


def build_diagnostics(
    node_name: str,
    stats: NodeStats,
    model_name: str,
    metric: bool,
    dropped: int,
    stamp: Any,
    stale_after_s: float = 5.0,
    extra: dict[str, Any] | None = None,
    warning: str = "",
) -> DiagnosticArray:
    """One DiagnosticStatus for the node: rates, drops, latency, model, errors.

    Level: ERROR when a model error happened recently; WARN for a degraded state (`warning`, e.g.
    a scale-source fallback), recent bad input or relative (unscaled) output; OK otherwise.
    """
    status = DiagnosticStatus(name=f"{node_name.lstrip('/')}: depth", hardware_id=model_name)
    in_rate, out_rate = stats.input.rate(), stats.output.rate()
    recent = stats.recent_error(stale_after_s)
    if recent and stats.last_error_kind in ERROR_KINDS:
        status.level, status.message = DiagnosticStatus.ERROR, stats.last_error
    elif warning:
        status.level, status.message = DiagnosticStatus.WARN, warning
    elif recent:
        status.level, status.message = DiagnosticStatus.WARN, stats.last_error
    elif not metric:
        status.level, status.message = DiagnosticStatus.WARN, "depth is RELATIVE (no metric scale source)"
    elif stats.input.total == 0:
        status.level, status.message = DiagnosticStatus.OK, "waiting for images"
    else:
        status.level, status.message = DiagnosticStatus.OK, f"{out_rate:.1f} Hz"
    values = [
        _kv("model", model_name),
        _kv("depth_kind", "metric" if metric else "relative"),
        _kv("input_rate_hz", in_rate),
        _kv("output_rate_hz", out_rate),
        _kv("frames_in", stats.input.total),
        _kv("frames_out", stats.output.total),
        _kv("dropped_frames", dropped),
        _kv("skipped_no_subscribers", stats.skipped_no_subscribers),
        _kv("inference_ms_mean", stats.inference.mean() * 1e3),
        _kv("inference_ms_p95", stats.inference.percentile(95) * 1e3),
        _kv("latency_ms_p95", stats.latency.percentile(95) * 1e3),
    ]
    for kind, count in sorted(stats.errors.items()):
        values.append(_kv(f"errors_{kind}", count))
    if stats.last_error:
        values.append(_kv("last_error", stats.last_error))
    for key, value in (extra or {}).items():
        values.append(_kv(key, value))
    status.values = values
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg
