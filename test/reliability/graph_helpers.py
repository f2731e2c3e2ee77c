"""Helpers for the reliability tests that run depth_node on the real ROS 2 graph (in-process nodes,
one MultiThreadedExecutor), shared by test_lifecycle.py and test_faults.py."""

from __future__ import annotations

import time
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Log
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy

from depth_ros.ros.depth_node import DepthNode
from depth_ros.ros.node_process import FrameClient
from depth_ros.ros.qos import OUTPUT_QOS

LEVEL = {DiagnosticStatus.OK: "OK", DiagnosticStatus.WARN: "WARN", DiagnosticStatus.ERROR: "ERROR",
         DiagnosticStatus.STALE: "STALE"}
TRANSITIONS = {"configure": Transition.TRANSITION_CONFIGURE, "activate": Transition.TRANSITION_ACTIVATE,
               "deactivate": Transition.TRANSITION_DEACTIVATE, "cleanup": Transition.TRANSITION_CLEANUP,
               "shutdown": Transition.TRANSITION_UNCONFIGURED_SHUTDOWN}


class Graph:
    """A DepthNode, a FrameClient (with /diagnostics and /rosout) and an executor for both."""

    def __init__(self, node_name: str, namespace: str, params: dict, want_points: bool = True,
                 extra_topics: dict | None = None) -> None:
        self.node = DepthNode(node_name, namespace=namespace,
                              parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.client = FrameClient(f"{namespace}_client", namespace=namespace, want_points=want_points,
                                  extra_topics=extra_topics)
        self._diag: list[tuple[float, DiagnosticArray]] = []  # (monotonic arrival, message)
        self.client.create_subscription(DiagnosticArray, "/diagnostics",
                                        lambda m: self._diag.append((time.monotonic(), m)), OUTPUT_QOS)
        self.rosout: list[Log] = []
        self.client.create_subscription(Log, "/rosout", self.rosout.append,
                                        QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        self.executor = MultiThreadedExecutor(num_threads=2)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self.fqn = self.node.get_fully_qualified_name()

    # -- spinning ----------------------------------------------------------------------------

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def spin_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.client.destroy_node()

    # -- lifecycle services --------------------------------------------------------------------

    def _call(self, srv_type, name: str, request, timeout: float = 30.0):
        client = self.client.create_client(srv_type, f"{self.fqn}/{name}")
        try:
            assert self.spin_until(client.service_is_ready, 10), f"service {self.fqn}/{name} not available"
            future = client.call_async(request)
            assert self.spin_until(future.done, timeout), f"{name} did not answer"
            return future.result()
        finally:
            self.client.destroy_client(client)

    def transition(self, name: str) -> bool:
        request = ChangeState.Request()
        request.transition.id = TRANSITIONS[name]
        return self._call(ChangeState, "change_state", request).success

    def state(self) -> str:
        return self._call(GetState, "get_state", GetState.Request()).current_state.label

    # -- graph introspection, outputs, logs ---------------------------------------------------

    def subscribers(self, relative_topic: str) -> int:
        return self.client.count_subscribers(f"{self.fqn.rsplit('/', 1)[0]}/{relative_topic}".replace("//", "/"))

    def publishers(self, relative_topic: str) -> int:
        return self.client.count_publishers(f"{self.fqn.rsplit('/', 1)[0]}/{relative_topic}".replace("//", "/"))

    def diagnostics(self, since: float = 0.0) -> list[DiagnosticStatus]:
        """This node's statuses, oldest first (those received after monotonic time `since`)."""
        name = self.fqn.lstrip("/")
        return [s for stamp, m in list(self._diag) if stamp >= since for s in m.status if s.name.startswith(name)]

    def wait_diagnostic(self, predicate: Callable[[DiagnosticStatus], bool], timeout: float = 5.0,
                        since: float | None = None) -> DiagnosticStatus | None:
        """The first status of this node (received after `since`, default now) that satisfies `predicate`."""
        since = time.monotonic() if since is None else since
        found: list[DiagnosticStatus] = []

        def check() -> bool:
            found[:] = [s for s in self.diagnostics(since) if predicate(s)]
            return bool(found)

        self.spin_until(check, timeout)
        return found[0] if found else None

    def logs(self, level: int | None = None, contains: str = "") -> list[Log]:
        name = self.fqn.lstrip("/").replace("/", ".")
        return [m for m in self.rosout if m.name == name and (level is None or m.level == level) and contains in m.msg]


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def level(status: DiagnosticStatus) -> str:
    return LEVEL[status.level]
