"""Minimal stand-ins for the `launch` / `launch_ros` packages (not installable from PyPI).

They record what a launch file builds (arguments, nodes, parameters, remappings, conditions) so
that tests can check a launch file against the package without `ros2 launch`. Only the API our
launch files use is provided; anything else fails loudly with AttributeError.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LaunchConfiguration:
    name: str
    default: Any = None


@dataclass
class PythonExpression:
    parts: list


@dataclass
class DeclareLaunchArgument:
    name: str
    default_value: Any = None
    description: str = ""
    choices: list | None = None


@dataclass
class Condition:
    expression: Any
    negate: bool = False


@dataclass
class Node:
    package: str = ""
    executable: str = ""
    name: str | None = None
    namespace: Any = None
    parameters: list = field(default_factory=list)
    remappings: list = field(default_factory=list)
    arguments: list = field(default_factory=list)
    output: str = "log"
    condition: Condition | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class LaunchDescription:
    entities: list

    def add_action(self, action) -> None:  # launch.LaunchDescription.add_action
        self.entities.append(action)


def install(share_dirs: dict[str, str]) -> None:
    """Register the stub modules; `share_dirs` maps package name -> share directory."""
    launch = types.ModuleType("launch")
    launch.LaunchDescription = LaunchDescription
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = DeclareLaunchArgument
    conditions = types.ModuleType("launch.conditions")
    conditions.IfCondition = lambda expr: Condition(expr, False)
    conditions.UnlessCondition = lambda expr: Condition(expr, True)
    substitutions = types.ModuleType("launch.substitutions")
    substitutions.LaunchConfiguration = LaunchConfiguration
    substitutions.PythonExpression = PythonExpression
    launch_ros = types.ModuleType("launch_ros")
    launch_ros_actions = types.ModuleType("launch_ros.actions")

    def make_node(**kwargs):
        known = {k: kwargs.pop(k) for k in list(kwargs) if k in Node.__dataclass_fields__}
        return Node(**known, extra=kwargs)

    launch_ros_actions.Node = make_node
    ament = types.ModuleType("ament_index_python")
    ament_packages = types.ModuleType("ament_index_python.packages")
    ament_packages.get_package_share_directory = lambda pkg: share_dirs[pkg]
    for name, mod in {
        "launch": launch, "launch.actions": actions, "launch.conditions": conditions,
        "launch.substitutions": substitutions, "launch_ros": launch_ros, "launch_ros.actions": launch_ros_actions,
        "ament_index_python": ament, "ament_index_python.packages": ament_packages,
    }.items():
        sys.modules[name] = mod
