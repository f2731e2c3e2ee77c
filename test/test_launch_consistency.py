"""Launch files and configs against the package (ros2 launch is not installable here).

Every executable a launch file starts is a console_script; every file it references exists and is
installed by setup.py; every parameter in depth_ros/config/*.yaml is one the node really declares (checked
on a real rclpy node), with the right type and inside its declared range; every launch argument
has a description and every LaunchConfiguration refers to a declared argument; each node's shipped config
lists every parameter it declares, in order, with its default and description.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import shutil
import sys
from glob import glob
from pathlib import Path
from unittest import mock

import launch_stubs
import pytest
import yaml

from depth_ros.ros.params import params_for

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted(REPO.glob("launch/*.launch.py"))


@pytest.fixture(scope="module")
def setup_kwargs():
    captured = {}
    with mock.patch("setuptools.setup", lambda **kw: captured.update(kw)):
        cwd = Path.cwd()
        try:
            os.chdir(REPO)
            runpy.run_path(str(REPO / "setup.py"), run_name="__main__")
        finally:
            os.chdir(cwd)
    return captured


@pytest.fixture(scope="module")
def console_scripts(setup_kwargs):
    return {line.split("=")[0].strip(): line.split("=")[1].strip()
            for line in setup_kwargs["entry_points"]["console_scripts"]}


@pytest.fixture(scope="module")
def share_dir(setup_kwargs, tmp_path_factory) -> Path:
    """share/depth_ros as an install lays it out from setup.py's data_files (what colcon installs)."""
    prefix = tmp_path_factory.mktemp("install")
    for dest, files in setup_kwargs["data_files"]:
        (prefix / dest).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(REPO / f, prefix / dest)
    return prefix / "share" / "depth_ros"


@pytest.fixture(scope="module")
def launch_descriptions(share_dir):
    saved = {k: sys.modules.get(k) for k in ("launch", "launch.actions", "launch.conditions", "launch.substitutions",
                                             "launch_ros", "launch_ros.actions", "ament_index_python",
                                             "ament_index_python.packages")}
    launch_stubs.install({"depth_ros": str(share_dir)})
    try:
        out = {}
        for path in LAUNCH_FILES:
            spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            out[path.name] = module.generate_launch_description()
        return out
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _nodes(desc):
    return [e for e in desc.entities if isinstance(e, launch_stubs.Node)]


def _args(desc):
    return {e.name: e for e in desc.entities if isinstance(e, launch_stubs.DeclareLaunchArgument)}


def _configs_used(obj):
    if isinstance(obj, launch_stubs.LaunchConfiguration):
        yield obj.name
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _configs_used(x)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _configs_used(k)
            yield from _configs_used(v)
    elif isinstance(obj, launch_stubs.PythonExpression):
        yield from _configs_used(obj.parts)
    elif isinstance(obj, launch_stubs.Condition):
        yield from _configs_used(obj.expression)


def test_there_are_launch_files():
    assert {p.name for p in LAUNCH_FILES} >= {"depth.launch.py", "radar_depth.launch.py"}


def test_setup_installs_launch_config_resource_and_manifest(setup_kwargs):
    installed = {Path(f).as_posix() for _, files in setup_kwargs["data_files"] for f in files}
    for path in LAUNCH_FILES:
        assert f"launch/{path.name}" in installed
    for path in glob(str(REPO / "depth_ros" / "config" / "*")):
        assert f"depth_ros/config/{Path(path).name}" in installed
    assert "resource/depth_ros" in installed and "package.xml" in installed
    assert (REPO / "resource" / "depth_ros").is_file()


def test_executables_are_console_scripts(launch_descriptions, console_scripts):
    for name, desc in launch_descriptions.items():
        nodes = _nodes(desc)
        assert nodes, name
        for node in nodes:
            assert node.package == "depth_ros", name
            assert node.executable in console_scripts, f"{name}: {node.executable} is not a console_script"
            module, func = console_scripts[node.executable].split(":")
            assert hasattr(importlib.import_module(module), func)


def test_launch_arguments_are_described_and_declared(launch_descriptions):
    for name, desc in launch_descriptions.items():
        args = _args(desc)
        for arg in args.values():
            assert arg.description.strip(), f"{name}: argument {arg.name} has no description"
        for node in _nodes(desc):
            used = set(_configs_used([node.parameters, node.remappings, node.namespace, node.arguments,
                                      node.condition]))
            assert used <= set(args), f"{name}: undeclared launch arguments {used - set(args)}"
        for required in ("params_file", "namespace", "use_sim_time", "log_level", "model"):
            assert required in args, f"{name} lacks the {required} argument"


def test_referenced_files_exist(launch_descriptions):
    for name, desc in launch_descriptions.items():
        for arg in _args(desc).values():
            if arg.name.endswith("_file") or arg.name.endswith("config"):
                assert Path(arg.default_value).is_file(), f"{name}: {arg.name} -> {arg.default_value} missing"


def _flatten(params, prefix=""):
    """Nested YAML dicts -> ROS 2's dotted parameter names."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _declared_parameters(executable):
    # rclpy and the node only in the tests that start one (the others run without ROS).
    import rclpy  # noqa: PLC0415
    from rclpy.parameter import Parameter  # noqa: PLC0415

    from depth_ros.ros.depth_node import NODE_FACTORIES  # noqa: PLC0415

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = NODE_FACTORIES[executable](context=ctx, parameter_overrides=[Parameter("autostart", value=False)])
        try:
            return {name: (node.get_parameter(name).type_, node.describe_parameter(name))
                    for name in node._parameters}
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)


def test_config_parameters_are_declared_by_the_node(launch_descriptions):
    from rclpy.parameter import Parameter  # noqa: PLC0415

    checked = 0
    for name, desc in launch_descriptions.items():
        for node in _nodes(desc):
            declared = _declared_parameters(node.executable)
            files = [p for p in node.parameters if isinstance(p, launch_stubs.LaunchConfiguration)]
            paths = [Path(_args(desc)[lc.name].default_value) for lc in files]
            paths += [Path(p) for p in node.parameters if isinstance(p, str)]  # files loaded before the params file
            for yaml_path in paths:
                content = yaml.safe_load(yaml_path.read_text())
                key = next((k for k in content if k.split("/")[-1] == node.name), None)
                if key is None:  # a params file may carry only other nodes' sections (mapping.launch.py)
                    continue
                assert key in (node.name, f"/**/{node.name}"), f"{yaml_path}: key {key}"
                for pname, value in _flatten(content[key]["ros__parameters"]).items():
                    assert pname in declared, f"{yaml_path.name}: {pname} is not declared by {node.executable}"
                    ptype, descriptor = declared[pname]
                    assert Parameter.Type.from_parameter_value(value) == ptype, f"{yaml_path.name}: {pname} type"
                    assert descriptor.description, f"{pname} has no description"
                    for rng in list(descriptor.floating_point_range) + list(descriptor.integer_range):
                        assert rng.from_value <= value <= rng.to_value, f"{pname}={value} outside its range"
                    checked += 1
            for overrides in (p for p in node.parameters if isinstance(p, dict)):
                for pname in overrides:
                    assert pname in declared or pname == "use_sim_time", f"{name}: {pname} not declared"
    assert checked >= 40


# Values a shipped config sets on purpose instead of the node's default (an example mounting to edit).
EXAMPLE_VALUES = {("radar_depth_node", "radar.translation")}


def _table(node):
    if node == "depth_map_node":
        from depth_ros.ros.map_params import MAP_NODE_PARAMS  # noqa: PLC0415

        return MAP_NODE_PARAMS
    return params_for(node)


def _commented_parameters(text):
    """(dotted name, value text, comment line above it) of each parameter in a params YAML, in file order."""
    out, stack, comment = [], [], None
    for line in text.splitlines():
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if stripped.startswith("#"):
            comment = stripped[1:].strip()
            continue
        key, sep, rest = stripped.partition(":")
        if not sep:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if rest.strip():
            out.append((".".join([k for _, k in stack[2:]] + [key]), rest.strip(), comment))  # below ros__parameters
        else:
            stack.append((indent, key))
        comment = None
    return out


@pytest.mark.parametrize("node", ["depth_node", "radar_depth_node", "depth_map_node"])
def test_shipped_config_lists_every_parameter_with_its_default(node):
    """depth_ros/config/<node>.yaml: every declared parameter in declaration order, the node's default, and its
    description (what `ros2 param describe` prints) as the comment above it."""
    path = REPO / "depth_ros" / "config" / f"{node}.yaml"
    listed = _commented_parameters(path.read_text())
    flat = _flatten(yaml.safe_load(path.read_text())[f"/**/{node}"]["ros__parameters"])
    table = _table(node)
    assert [name for name, _, _ in listed] == [p.name for p in table] == list(flat), f"{path.name}: names or order"
    for p, (name, text, comment) in zip(table, listed):
        if (node, p.name) not in EXAMPLE_VALUES:
            assert flat[name] == p.default and type(flat[name]) is type(p.default), f"{path.name}: {name}={text}"
        choices = f" One of: {', '.join(p.choices)}." if p.choices else ""
        assert comment == p.description + choices, f"{path.name}: comment above {name}"


def test_remapped_topics_are_node_inputs(launch_descriptions):
    from depth_ros.ros.depth_node import INPUT_TOPICS  # noqa: PLC0415

    for name, desc in launch_descriptions.items():
        for node in _nodes(desc):
            for src, _ in node.remappings:
                assert src in INPUT_TOPICS[node.executable], f"{name}: remaps {src}, which {node.executable} never uses"


def _value(obj, values):
    """A launch substitution evaluated the way launch does, for the stubbed entities."""
    if isinstance(obj, launch_stubs.LaunchConfiguration):
        return values[obj.name]
    if isinstance(obj, (list, tuple)):
        return "".join(str(_value(x, values)) for x in obj)
    if isinstance(obj, launch_stubs.PythonExpression):
        return eval(_value(obj.parts, values))  # noqa: S307 - launch's own PythonExpression semantics
    return obj


def _launched_parameters(desc, **given):
    """Parameters the one node whose condition holds would start with (params file, then overrides)."""
    values = {name: arg.default_value for name, arg in _args(desc).items()} | given
    running = [n for n in _nodes(desc) if n.executable != "depth_map_node"
               and (n.condition is None or bool(_value(n.condition.expression, values)) != n.condition.negate)]
    assert len(running) == 1, f"{len(running)} depth nodes would start for {given}"
    node, params = running[0], {}
    for entry in node.parameters:
        if isinstance(entry, (str, launch_stubs.LaunchConfiguration)):
            path = entry if isinstance(entry, str) else values[entry.name]
            content = yaml.safe_load(Path(path).read_text())
            key = next((k for k in content if k.split("/")[-1] == node.name), None)
            if key is not None:
                params.update(_flatten(content[key]["ros__parameters"]))
        else:
            params.update({k: _value(v, values) for k, v in entry.items()})
    return params


def test_launch_keeps_the_params_file_model_unless_model_is_given(launch_descriptions, tmp_path):
    for name, desc in launch_descriptions.items():
        node = _nodes(desc)[0].name
        own = tmp_path / f"{node}.yaml"
        own.write_text(yaml.safe_dump({f"/**/{node}": {"ros__parameters": {"model": "glpn_nyu", "model_path": "/w"}}}))
        assert _launched_parameters(desc, params_file=str(own))["model"] == "glpn_nyu", name
        assert _launched_parameters(desc, params_file=str(own))["model_path"] == "/w", name
        given = _launched_parameters(desc, params_file=str(own), model="zoedepth_nyu_kitti", model_path="/x")
        assert (given["model"], given["model_path"]) == ("zoedepth_nyu_kitti", "/x"), name
        shipped = _launched_parameters(desc)
        assert shipped["model"] == yaml.safe_load((REPO / "depth_ros" / "config" / f"{node}.yaml").read_text())[
            f"/**/{node}"]["ros__parameters"]["model"]
