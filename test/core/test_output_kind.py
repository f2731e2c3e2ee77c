"""`OutputKind`: one enum for specs and core, the old kind strings mapped onto it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.output_kind import OutputKind, as_output_kind

WEIGHTS = Path(__file__).resolve().parents[2] / "depth_ros" / "models" / "weights"


@pytest.mark.parametrize(("name", "member"), [
    ("metric", OutputKind.METRIC),
    ("METRIC", OutputKind.METRIC),
    ("inverse", OutputKind.RELATIVE_INVERSE),
    ("Inverse", OutputKind.RELATIVE_INVERSE),
    ("relative_inverse", OutputKind.RELATIVE_INVERSE),
])
def test_old_strings_map_onto_the_members(name: str, member: OutputKind) -> None:
    assert as_output_kind(name) is member
    assert as_output_kind(member) is member
    assert OutputKind(member.value) is member


@pytest.mark.parametrize("bad", ["disparity", "", "relative", None, 1, object()])
def test_anything_else_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="unknown depth kind"):
        as_output_kind(bad)  # type: ignore[arg-type]


def test_serialised_values_are_those_of_the_shipped_sidecars() -> None:
    """The values are a file format: every shipped sidecar's output_kind must parse, and both kinds occur."""
    values = {json.loads(f.read_text())["output_kind"] for f in WEIGHTS.glob("*/*.json") if "output_kind" in
              json.loads(f.read_text())}
    assert values == {"metric", "relative_inverse"}
    assert {OutputKind(v) for v in values} == set(OutputKind)


def test_models_spec_re_exports_the_core_enum_without_torch() -> None:
    code = ("import sys\n"
            "from depth_ros.core.output_kind import OutputKind as core\n"
            "from depth_ros.models.spec import OutputKind as spec\n"
            "from depth_ros.models import OutputKind as models\n"
            "assert core is spec is models\n"
            "print(','.join(m for m in ('torch', 'rclpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
