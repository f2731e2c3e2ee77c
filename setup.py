"""ament_python package definition: works with colcon (ROS 2) and with pip (no ROS install)."""
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "depth_ros"
HERE = Path(__file__).resolve().parent


def requirements(name: str) -> list[str]:
    """The pins of a requirements file, without those of the files it includes (-r)."""
    lines = (line.split("#")[0].strip() for line in (HERE / name).read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


# Optional dependencies (depth_ros.optional names the extra in its error when one is missing).
# ROS 2 itself (requirements-ros.txt) is no requirement: with ROS it comes from rosdep (package.xml),
# without ROS scripts/setup_env.sh installs the PyPI wheels.
EXTRAS = {
    "tools": requirements("requirements-tools.txt"),
    "torch": requirements("requirements-torch.txt"),
    "map": requirements("requirements-map.txt"),
    "view": requirements("requirements-view.txt"),
    "fleet": requirements("requirements-fleet.txt"),
}
EXTRAS["transformers"] = EXTRAS["torch"] + requirements("requirements-transformers.txt")

NODES = {
    "depth_node": "depth_ros.ros.depth_node:main",
    "radar_depth_node": "depth_ros.ros.depth_node:radar_main",
    "depth_map_node": "depth_ros.ros.map_node:console_main",
}
TOOLS = {
    "depth-ros-demo": "depth_ros.tools.demo:main",
    "depth-ros-models": "depth_ros.tools.models:main",
    "depth-ros-bench": "depth_ros.tools.bench:main",
    "depth-ros-play": "depth_ros.tools.play:main",
    "depth-ros-record": "depth_ros.tools.record:main",
    "depth-ros-simulate": "depth_ros.tools.simulate:main",
    "depth-ros-eval": "depth_ros.tools.evaluate:main",
    "depth-ros-export": "depth_ros.tools.export:main",
    "depth-ros-train": "depth_ros.tools.train:main",
    "depth-ros-eval-compact": "depth_ros.tools.eval_compact:main",
    "depth-ros-view": "depth_ros.tools.view:main",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["config/*", "models/weights/*", "models/weights/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob(f"{PACKAGE}/config/*")),
    ],
    install_requires=["setuptools", *requirements("requirements.txt")],
    extras_require=EXTRAS,
    zip_safe=False,  # package data (configs, weights) is read as plain files
    maintainer="depth_ros maintainers",
    maintainer_email="maintainers@depth-ros.dev",
    description="Metric monocular and radar-fused depth for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [f"{name} = {target}" for name, target in {**NODES, **TOOLS}.items()],
    },
)
