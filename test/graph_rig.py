"""The rig of the tests that run depth_node on the real ROS 2 graph: an in-process DepthNode, a
FrameClient in the same namespace and one MultiThreadedExecutor (two threads) for both.

Used by test/ros (depth, radar and navigation graphs) and test/reliability (lifecycle, faults,
fuzzing), usually through the `make_graph` fixture of test/conftest.py, which closes every rig it
made after the test. Closing order matters (a node destroyed while the executor still spins it can
hang): background spinning stops first, then the executor shuts down, then the node, then the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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


def spin(executor, seconds: float) -> None:
    """Spin `executor` for `seconds` (wall time), 20 ms at a time."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.02)


class Graph:
    """A DepthNode, a FrameClient (optionally recording /diagnostics and /rosout) and an executor for both.

    `params` become the node's parameter overrides, in order. The client is named
    `<namespace>_client` unless `client_name` is given; `want_points` and `extra_topics` go to it.
    `diagnostics` subscribes the client to /diagnostics (see `diagnostics()`), `rosout` to /rosout
    (see `logs()`).
    """

    def __init__(self, namespace: str, params: dict | None = None, node_name: str = "depth_node", *,
                 client_name: str | None = None, want_points: bool = True, extra_topics: dict | None = None,
                 diagnostics: bool = True, rosout: bool = False, threads: int = 2) -> None:
        self.node = DepthNode(node_name, namespace=namespace,
                              parameter_overrides=[Parameter(k, value=v) for k, v in (params or {}).items()])
        self.client = FrameClient(client_name or f"{namespace}_client", namespace=namespace,
                                  want_points=want_points, extra_topics=extra_topics)
        self._diag: list[tuple[float, DiagnosticArray]] = []  # (monotonic arrival, message)
        if diagnostics:
            self.client.create_subscription(DiagnosticArray, "/diagnostics",
                                            lambda m: self._diag.append((time.monotonic(), m)), OUTPUT_QOS)
        self.rosout: list[Log] = []
        if rosout:
            self.client.create_subscription(Log, "/rosout", self.rosout.append,
                                            QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        self.executor = MultiThreadedExecutor(num_threads=threads)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self.fqn = self.node.get_fully_qualified_name()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    # -- spinning ----------------------------------------------------------------------------

    def spin(self, seconds: float) -> None:
        spin(self.executor, seconds)

    def spin_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def spin_in_background(self, between: Callable[[], None] | None = None) -> None:
        """Spin on a daemon thread until `close()`, 50 ms at a time, calling `between` after each."""
        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.is_set():
                self.executor.spin_once(timeout_sec=0.05)
                if between is not None:
                    between()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(5)
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

    def latest_diagnostic(self) -> DiagnosticStatus | None:
        """This node's newest status received so far."""
        mine = self.diagnostics()
        return mine[-1] if mine else None

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
