"""QoS profiles: sensor-data inputs, outputs that RViz's default (reliable) subscriptions receive."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

SENSOR_QOS: QoSProfile = qos_profile_sensor_data

# Reliable + volatile matches both reliable and best-effort subscribers; a shallow history keeps
# a slow subscriber from building up a backlog of old depth frames.
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=2,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

DIAGNOSTICS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
