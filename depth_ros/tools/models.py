"""depth-ros-models: list the registered depth models and their specs."""

from __future__ import annotations

import sys

from depth_ros.cli import ArgumentParser
from depth_ros.models.registry import available_models, get_spec


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="depth-ros-models", description="List the depth models depth_ros can load "
                                "(the values of the `model` parameter) with backend, output kind and input size.")
    p.add_argument("--json", action="store_true", help="print the full specs as JSON")
    args = p.parse_args(argv)

    if args.json:
        import json  # noqa: PLC0415

        print(json.dumps({n: get_spec(n).to_dict() for n in available_models()}, indent=1, default=str))
        return 0
    print(f"{'model':<42}{'backend':<14}{'output':<18}{'max m':>6}  input")
    for name in available_models():
        s = get_spec(name)
        size = f"{s.input_size[1]}x{s.input_size[0]}" if s.input_size else f"short side {s.short_side or 'any'}, x{s.multiple_of}"
        print(f"{name:<42}{s.backend:<14}{s.output_kind.value:<18}{s.max_depth:6g}  {size}"
              + (f"  ({s.input_channels} channels)" if s.input_channels != 3 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
