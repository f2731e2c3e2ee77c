"""Process start-up shared by the nodes and the command-line tools: ROS arguments checked first.

rcl parses `--ros-args` (remaps, `-p`, `--params-file`) inside `rclpy.init`; a missing or
malformed params file makes it log its own error line and raise `RCLError`, which reaches the
user as a traceback. `init_ros` checks the params files first and turns every start-up failure
into an `InvalidInputError` whose message is one line naming the file, for the caller to print.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from depth_ros.core.errors import InvalidInputError


def params_files(args: list[str]) -> list[str]:
    """The files given with `--params-file` on a command line."""
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--params-file"]


def params_file_error(path: str) -> str:
    """Why a ROS 2 parameters file cannot be used, in one line ("" when it looks valid)."""

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        return f"cannot read params file '{path}': {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        return f"params file '{path}' is not text: {exc.reason} at byte {exc.start}"
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        reason = " ".join(str(getattr(exc, "problem", None) or exc).split())
        return f"params file '{path}' is not valid YAML{line}: {reason}"
    if not isinstance(data, dict) or not data:
        return f"params file '{path}' is not a mapping of node names to ros__parameters"
    error = _structure_error(data, [])
    return f"params file '{path}': {error}" if error else ""


def _structure_error(node: dict, keys: list[str]) -> str:
    """rcl's rule: every value sits below a `ros__parameters` mapping."""
    for key, value in node.items():
        here = "/".join([*keys, str(key)])
        if key == "ros__parameters":
            if not isinstance(value, dict):
                return f"'{here}' is not a mapping of parameters"
        elif isinstance(value, dict):
            error = _structure_error(value, [*keys, str(key)])
            if error:
                return error
        else:
            return f"'{here}' has a value before ros__parameters"
    return ""


def init_ros(args: list[str], **kwargs: Any) -> None:
    """`rclpy.init(args=args, **kwargs)`, with unusable ROS arguments as a one-line InvalidInputError."""
    import rclpy  # noqa: PLC0415
    from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy  # noqa: PLC0415

    for path in params_files(args):
        error = params_file_error(path)
        if error:
            raise InvalidInputError(error)
    try:
        rclpy.init(args=args, **kwargs)
    except _rclpy.RCLError as exc:  # rcl's message ends with C source locations: dropped
        message = re.sub(r",? at /\S+:\d+", "", str(exc))
        raise InvalidInputError(" ".join(message.split())) from exc
