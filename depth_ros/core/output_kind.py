"""What the values of a depth network's output mean: `OutputKind`, the one kind vocabulary.

Model specs (`depth_ros.models.spec`) declare it, and the scale fitting, filtering, ground, radar
and confidence code of `depth_ros.core` branches on it. Public core functions also take the
strings ``"metric"``, ``"inverse"`` and ``"relative_inverse"`` (any case), converted by
`as_output_kind` at the entry point.
"""

from __future__ import annotations

import enum

from depth_ros.core.errors import InvalidInputError


class OutputKind(enum.Enum):
    """Meaning of the values a model returns."""

    METRIC = "metric"  # metres along the optical axis
    RELATIVE_INVERSE = "relative_inverse"  # affine-invariant inverse depth, larger = nearer, >= 0


_NAMES = {"metric": OutputKind.METRIC, "inverse": OutputKind.RELATIVE_INVERSE,
          "relative_inverse": OutputKind.RELATIVE_INVERSE}


def as_output_kind(kind: OutputKind | str) -> OutputKind:
    """``kind`` itself, or the member a string names ("metric", "inverse" / "relative_inverse", any case)."""
    if isinstance(kind, OutputKind):
        return kind
    if isinstance(kind, str) and kind.lower() in _NAMES:
        return _NAMES[kind.lower()]
    raise InvalidInputError(f"unknown depth kind {kind!r}; expected an OutputKind or 'metric', 'inverse' "
                            "('relative_inverse')")
