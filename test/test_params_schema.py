"""One parameter schema: the config dataclasses declare the ROS parameters, the node's tables and the
README are built from them, and values by ROS name land in the right fields."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from depth_ros.core.errors import InvalidInputError
from depth_ros.pipeline.fusion import FusionConfig
from depth_ros.pipeline.nav import NavConfig
from depth_ros.pipeline.param_schema import CONVERTED, config_from_values, param, param_name, ros_params
from depth_ros.pipeline.pipeline import PipelineConfig
from depth_ros.pipeline.temporal import TemporalConfig
from depth_ros.ros.params import (
    DEPTH_NODE_DEFAULTS,
    DEPTH_NODE_PARAMS,
    FUSION_PARAMS,
    NAV_PARAMS,
    RADAR_NODE_DEFAULTS,
    TEMPORAL_PARAMS,
    DepthNodeConfig,
    fusion_config_from_values,
    nav_config_from_values,
    params_for,
    pipeline_config_from_values,
    resolve_values,
    temporal_config_from_values,
)
from depth_ros.ros.params_doc import params_markdown, readme_tables, update_readme

REPO = Path(__file__).resolve().parents[1]
CONFIGS = (DepthNodeConfig, PipelineConfig, FusionConfig, TemporalConfig, NavConfig)
BUILDERS = {DepthNodeConfig: DepthNodeConfig.from_values, PipelineConfig: pipeline_config_from_values,
            FusionConfig: fusion_config_from_values, TemporalConfig: temporal_config_from_values,
            NavConfig: nav_config_from_values}


def test_readme_tables_are_generated_from_the_parameter_tables():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_tables(readme) == params_markdown(), (
        "README parameter tables differ from depth_ros/ros/params.py; regenerate them with "
        "python -c \"from depth_ros.ros.params_doc import update_readme; update_readme('README.md')\"")


def test_update_readme_rewrites_only_the_parameter_block(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    stale = readme.replace("| `scan.range_max` | `8` |", "| `scan.range_max` | `9` |")
    path = tmp_path / "README.md"
    path.write_text(stale, encoding="utf-8")
    assert update_readme(path) and path.read_text(encoding="utf-8") == readme
    assert not update_readme(path)
    with pytest.raises(InvalidInputError, match="Repository layout"):
        readme_tables("no tables here\n")


def test_every_config_parameter_is_declared_once_by_both_nodes():
    for node in ("depth_node", "radar_depth_node"):
        names = [p.name for p in params_for(node)]
        assert len(names) == len(set(names)), f"{node} declares a parameter twice"
        for cls in CONFIGS:
            held = {param_name(f) for f in dataclasses.fields(cls)} | {p.name for p in ros_params(cls)}
            missing = held - {None} - set(names)
            assert not missing, f"{cls.__name__} holds parameters {node} does not declare: {missing}"
    assert {p.name for p in ros_params(PipelineConfig)} <= {p.name for p in DEPTH_NODE_PARAMS}
    tables = DEPTH_NODE_PARAMS + FUSION_PARAMS + TEMPORAL_PARAMS + NAV_PARAMS
    # depth_node's table is the configs' own, but for its few own defaults (as the radar node has more).
    assert [p.name for p in params_for("depth_node")] == [p.name for p in tables]
    changed = {p.name for p, q in zip(params_for("depth_node"), tables) if p != q}
    assert changed == set(DEPTH_NODE_DEFAULTS) == {"flip_average"}
    assert set(RADAR_NODE_DEFAULTS) <= {p.name for p in params_for("depth_node")}


def test_node_defaults_give_the_dataclass_defaults():
    """Converted fields (extrinsics, height band, mounting) too: the parameter defaults mean the same (but for
    depth_node's own defaults, which the config's field takes from its value)."""
    values = {**resolve_values("depth_node", {}), **{k: not v for k, v in DEPTH_NODE_DEFAULTS.items()}}
    assert all(isinstance(v, bool) for v in DEPTH_NODE_DEFAULTS.values())
    for cls, build in BUILDERS.items():
        built, plain = build(values), cls()
        for f in dataclasses.fields(cls):
            a, b = getattr(built, f.name), getattr(plain, f.name)
            if hasattr(a, "R"):  # RigidTransform
                np.testing.assert_allclose(a.R, b.R, atol=1e-12, err_msg=f.name)
                np.testing.assert_allclose(a.t, b.t, atol=1e-12, err_msg=f.name)
            elif isinstance(a, np.ndarray):
                np.testing.assert_allclose(a, b, atol=1e-12, err_msg=f.name)
            else:
                assert a == b and type(a) is type(b), f"{cls.__name__}.{f.name}: {a!r} from the node, {b!r} default"


def _other_value(p):
    if p.choices:
        return next(c for c in p.choices if c != p.default)
    if isinstance(p.default, bool):
        return not p.default
    if isinstance(p.default, str):
        return p.default + "_x"
    if p.min is not None:
        return type(p.default)(p.max)
    return p.default + 1


def test_each_parameter_lands_in_its_field():
    defaults = resolve_values("depth_node", {})
    checked = 0
    for cls, build in BUILDERS.items():
        for f in dataclasses.fields(cls):
            name = param_name(f)
            if name is None:
                continue
            p = next(p for p in params_for("depth_node") if p.name == name)
            value = _other_value(p)
            assert value != p.default
            if name == "min_depth":
                value = 1.0  # kept below max_depth
            assert getattr(build({**defaults, name: value}), f.name) == value, f"{name} -> {cls.__name__}.{f.name}"
            checked += 1
    assert checked >= 55


def test_converted_parameters():
    values = resolve_values("radar_depth_node", {
        "radar.translation": [0.5, 0.0, 0.2], "imu.rotation_rpy": [0.0, 0.0, np.pi / 2],
        "obstacles.min_height": 0.1, "obstacles.max_height": 1.5, "mount.fixed_gravity": True, "mount.pitch": 0.3})
    fusion, nav = fusion_config_from_values(values), nav_config_from_values(values)
    # camera_link x forward, z up -> optical z forward, y down
    np.testing.assert_allclose(fusion.T_cam_radar.t, [0.0, -0.2, 0.5], atol=1e-12)
    # yawed 90 degrees left: the IMU's x axis is camera_link's y (left), optical -x
    np.testing.assert_allclose(fusion.R_cam_imu @ [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], atol=1e-12)
    assert nav.height_band == (0.1, 1.5) and nav.mount_roll_pitch == (0.0, 0.3)
    assert nav_config_from_values(resolve_values("depth_node", {"mount.pitch": 0.3})).mount_roll_pitch is None
    with pytest.raises(InvalidInputError, match="radar.translation"):
        fusion_config_from_values({**values, "radar.translation": [1.0, 2.0]})
    with pytest.raises(InvalidInputError, match="not both"):
        fusion_config_from_values({**values, "radar.rotation_rpy": [0.1, 0, 0],
                                   "radar.rotation_quaternion": [0.0, 0.0, 1.0, 0.0]})


def test_config_from_values_names_what_is_wrong():
    values = resolve_values("depth_node", {})
    with pytest.raises(InvalidInputError, match=r"scale\.mode \(FusionConfig\.scale_mode\)"):
        config_from_values(FusionConfig, {k: v for k, v in values.items() if k != "scale.mode"},
                           T_cam_radar=FusionConfig().T_cam_radar, R_cam_imu=np.eye(3))
    with pytest.raises(InvalidInputError, match=r"T_cam_radar is built from radar\.translation"):
        config_from_values(FusionConfig, values)
    with pytest.raises(InvalidInputError, match="min_depth is parameter min_depth"):
        config_from_values(PipelineConfig, values, min_depth=1.0)
    with pytest.raises(InvalidInputError, match="no_such_field"):
        config_from_values(PipelineConfig, values, no_such_field=1)

    @dataclasses.dataclass
    class Small:
        gain: float = param(0.5, "x.gain", "Gain.", min=0.0, max=1.0)
        plain: int = 3

    assert config_from_values(Small, {"x.gain": 0.25}) == Small(0.25, 3)
    assert [p.name for p in ros_params(Small)] == ["x.gain"]
    assert not any(CONVERTED in f.metadata for f in dataclasses.fields(Small))


def test_pipeline_schema_needs_no_rclpy():
    code = ("import sys, pkgutil, importlib, depth_ros.pipeline as p\n"
            "for m in pkgutil.iter_modules(p.__path__): importlib.import_module('depth_ros.pipeline.' + m.name)\n"
            "import depth_ros.ros.params, depth_ros.ros.params_doc\n"
            "print(','.join(m for m in ('rclpy', 'rcl_interfaces', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""
