"""The package layout holds: no import cycles between modules (imports inside functions included),
and each package imports only the layers below it (README "Repository layout").

The imports are read from the source with `ast`, so a cycle that only closes inside a function
(and would only show at run time) is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "depth_ros"

# Package -> the depth_ros packages it may import (besides itself). Top-level modules count as packages.
ALLOWED = {
    "core": set(),
    "optional": {"core"},
    "package_data": set(),
    "cli": set(),
    "models": {"core", "optional", "package_data"},
    "sim": {"core", "optional"},
    "pipeline": {"core"},
    "bags": {"core"},
    "mapping": {"core", "optional"},
    "ros": {"core", "models", "pipeline", "bags", "package_data", "mapping"},
    "datasets": {"mapping", "core", "sim", "pipeline", "bags", "ros"},
    "evaluation": {"mapping", "core", "optional", "models", "sim", "pipeline", "bags", "ros", "datasets"},
    "training": {"mapping", "core", "optional", "models", "sim", "pipeline", "bags", "ros", "datasets", "evaluation"},
    "bench": {"mapping", "core", "optional", "package_data", "cli", "models", "sim", "pipeline", "bags", "ros", "datasets",
              "evaluation", "training"},
    "view": {"mapping", "core", "optional", "package_data", "models", "sim", "pipeline", "bags", "ros", "datasets",
             "evaluation"},
    "tools": {"mapping", "core", "optional", "package_data", "cli", "models", "sim", "pipeline", "bags", "ros", "datasets",
              "evaluation", "training", "bench", "view"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """depth_ros modules that `module` imports anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name) if name.startswith("depth_ros.") else None
            # `from depth_ros.x import y` also names the package depth_ros.x, and a module's own parent
            # packages are initialised before it anyway: neither is an edge.
            if (target and target != module and not module.startswith(f"{target}.")
                    and not (MODULES[target].name == "__init__.py" and f"{target}." in name)):
                found.add(target)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_the_checker_sees_imports_inside_functions():
    # eval_compact's CLI imports the model registry inside main(): the graph must have that edge.
    assert "depth_ros.models.registry" in GRAPH["depth_ros.tools.eval_compact"]


def test_no_import_cycles_between_modules():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, cycles


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below(package):
    wrong = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if _package(m) == package for t in targets
                   if _package(t) != package and _package(t) not in ALLOWED[package])
    assert not wrong, wrong


def test_every_package_has_a_layer():
    packages = {_package(m) for m in MODULES if m != "depth_ros"}
    assert packages <= set(ALLOWED), packages - set(ALLOWED)
