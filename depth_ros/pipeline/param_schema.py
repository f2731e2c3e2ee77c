"""ROS parameters declared on the config dataclasses: each field names the parameter it holds.

A field made with `param(default, "ros.name", "description", min=, max=, choices=)` is the value of
one ROS parameter with the same default; `converted(...)` makes a field that the ROS layer builds
from several parameters (an extrinsic from translation + rotation); `shared(default, "ros.name")`
holds a parameter that another config declares. `ros_params(cls)` lists the parameters of a config
in field order and `config_from_values(cls, values)` builds it from values keyed by ROS name, so
depth_ros.ros.params declares exactly what the configs hold. No rclpy here: the pipeline imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from depth_ros.core.errors import InvalidInputError

PARAM = "depth_ros.param"  # metadata key: the ParamDef of a field holding one parameter
CONVERTED = "depth_ros.converted"  # ... the ParamDefs a field is built from by hand
SHARED = "depth_ros.shared"  # ... the name of a parameter another config declares

C = TypeVar("C")


@dataclass(frozen=True)
class ParamDef:
    """One ROS parameter: its default also fixes its type; `min`/`max` or `choices` bound its value."""

    name: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def type(self) -> type:
        return type(self.default)


def param(default: Any, name: str, description: str, *, min: float | None = None, max: float | None = None,
          choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field holding ROS parameter `name`, whose default is the field's default."""
    return dataclasses.field(default=default,
                             metadata={PARAM: ParamDef(name, default, description, min, max, tuple(choices))})


def converted(*params: ParamDef, default: Any = dataclasses.MISSING,
              default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field built from `params` by the caller of `config_from_values` (not one-to-one)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={CONVERTED: params})


def shared(default: Any, name: str) -> Any:
    """A dataclass field holding parameter `name`, which another config declares (declared once)."""
    return dataclasses.field(default=default, metadata={SHARED: name})


def same_param(cls: type, field_name: str) -> Any:
    """A field declaring the same parameter, with the same default, as `cls.field_name`.

    For a config that lists another's parameters among its own (the node's table keeps its order).
    """
    f = next((f for f in dataclasses.fields(cls) if f.name == field_name), None)
    if f is None or PARAM not in f.metadata:
        raise InvalidInputError(f"{cls.__name__}.{field_name} is not a field holding a ROS parameter")
    return dataclasses.field(default=f.default, metadata=dict(f.metadata))


def ros_params(cls: type) -> tuple[ParamDef, ...]:
    """The parameters `cls` declares, in field order (shared ones excluded)."""
    out: list[ParamDef] = []
    for f in dataclasses.fields(cls):
        if PARAM in f.metadata:
            out.append(f.metadata[PARAM])
        out.extend(f.metadata.get(CONVERTED, ()))
    return tuple(out)


def param_name(f: dataclasses.Field) -> str | None:
    """The ROS parameter a field holds one-to-one (declared or shared); None for others."""
    if PARAM in f.metadata:
        return f.metadata[PARAM].name
    return f.metadata.get(SHARED)


def config_from_values(cls: type[C], values: dict[str, Any], **converted_fields: Any) -> C:
    """`cls` from parameter values by ROS name; fields made with `converted` are given as keywords."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        name = param_name(f)
        if name is not None:
            if f.name in converted_fields:
                raise InvalidInputError(f"{cls.__name__}.{f.name} is parameter {name}; it is not given by hand")
            if name not in values:
                raise InvalidInputError(f"no value for parameter {name} ({cls.__name__}.{f.name})")
            kwargs[f.name] = values[name]
        elif CONVERTED in f.metadata and f.name not in converted_fields:
            names = ", ".join(p.name for p in f.metadata[CONVERTED])
            raise InvalidInputError(f"{cls.__name__}.{f.name} is built from {names}: pass it converted")
    unknown = sorted(set(converted_fields) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise InvalidInputError(f"{cls.__name__} has no fields {unknown}")
    return cls(**kwargs, **converted_fields)
