"""The README's parameter tables, rendered from the parameter tables of depth_ros.ros.params.

`params_markdown()` is the README text from the "**Core**" line up to "## Repository layout";
test/test_params_schema.py compares the two, so the README cannot drift from the code. After
changing a parameter: `python -c "from depth_ros.ros.params_doc import update_readme; update_readme('README.md')"`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from depth_ros.core.errors import InvalidInputError
from depth_ros.ros.map_params import MAP_NODE_PARAMS
from depth_ros.ros.params import (
    DEPTH_NODE_DEFAULTS,
    DEPTH_NODE_PARAMS,
    FUSION_PARAMS,
    NAV_PARAMS,
    RADAR_NODE_DEFAULTS,
    TEMPORAL_PARAMS,
    ParamDef,
)

SECTIONS: tuple[tuple[str, tuple[ParamDef, ...]], ...] = (
    ("Core", DEPTH_NODE_PARAMS),
    ("Radar, IMU and scale", FUSION_PARAMS),
    ("Temporal depth", TEMPORAL_PARAMS),
    ("Navigation outputs", NAV_PARAMS),
    ("depth_map_node", MAP_NODE_PARAMS),
)
README_START = "**Core**"  # first line of the generated block in README.md
README_END = "## Repository layout"  # first line after it


def format_value(value: Any) -> str:
    """A default as the README writes it: `false`, `""`, `20`, `[0, 0, 0]`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return f"{value:g}"


def _row(p: ParamDef) -> str:
    own = DEPTH_NODE_DEFAULTS.get(p.name, p.default)
    radar = RADAR_NODE_DEFAULTS.get(p.name, p.default)
    default = format_value(own)
    if radar != own:
        default += f" ({format_value(radar)} in radar_depth_node)"
    if p.choices:
        bounds = ", ".join(p.choices)
    elif p.min is not None:
        bounds = f"{p.min:g} .. {p.max:g}"
    else:
        bounds = ""
    return f"| `{p.name}` | `{default}` | {bounds} | {p.description} |"


def params_markdown() -> str:
    """The parameter tables of depth_node (radar_depth_node's own defaults noted) and of depth_map_node,
    as in README.md."""
    blocks = []
    for title, table in SECTIONS:
        lines = [f"**{title}**", "", "| parameter | default | range / choices | description |", "|---|---|---|---|"]
        blocks.append("\n".join(lines + [_row(p) for p in table]) + "\n")
    return "\n".join(blocks) + "\n"


def readme_tables(readme: str) -> str:
    """The block of `readme` that `params_markdown` generates (from README_START to README_END)."""
    start = readme.find(f"\n{README_START}\n")
    end = readme.find(f"\n{README_END}\n", start + 1)
    if start < 0 or end < 0:
        raise InvalidInputError(f"README has no parameter block between {README_START!r} and {README_END!r}")
    return readme[start + 1:end + 1]


def update_readme(path: str | Path) -> bool:
    """Rewrite the parameter block of the README at `path` from the tables; True when it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    old = readme_tables(text)
    new = params_markdown()
    if old == new:
        return False
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return True
