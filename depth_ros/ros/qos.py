"""QoS profiles: sensor-data inputs, outputs that RViz's default (reliable) subscriptions receive."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

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

try:  # rclpy Iron and later
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks

# rclpy's default QoS event handlers are waitables, and destroying an entity that has them while a
# MultiThreadedExecutor builds its wait set raises InvalidHandle inside the executor (ros2/rclpy#1284).
# The lifecycle node creates and destroys its entities on every transition, so it creates them without
# those handlers; it loses nothing, since best-effort volatile inputs and reliable volatile outputs
# are compatible with every peer except transient-local subscribers.
NO_SUBSCRIPTION_EVENTS = SubscriptionEventCallbacks(use_default_callbacks=False)
NO_PUBLISHER_EVENTS = PublisherEventCallbacks(use_default_callbacks=False)
