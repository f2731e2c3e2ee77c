"""Shared fixtures: the ../shared data folder and an isolated ROS domain per test session."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Tests never download weights.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Each test session gets its own DDS domain so that parallel runs on one machine cannot hear each other.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# Large images over best-effort QoS need Fast DDS's big shared-memory segment (see depth_ros/config/).
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "depth_ros" / "config" / "fastdds_large_data.xml"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (real data and models) is not present beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def rgbd_frames(shared_dir):
    from depth_ros.datasets.rgbd import load_manifest

    return load_manifest(shared_dir / "data" / "rgbd" / "manifest.json")


@pytest.fixture(scope="session")
def fastdepth_path(shared_dir) -> Path:
    path = shared_dir / "models" / "fastdepth_224_int8" / "fast_depth_224.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="module")
def ros():
    """An rclpy context for the ROS graph tests of one module."""
    import rclpy

    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture
def make_graph(ros):
    """Makes graph_rig.Graph rigs (depth node + client + executor, same arguments); closes them, in
    the order made, after the test."""
    from graph_rig import Graph

    made = []

    def make(*args, **kwargs):
        g = Graph(*args, **kwargs)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()
