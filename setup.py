"""ament_python package definition: works with colcon (ROS 2) and with pip (no ROS install)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "depth_ros"

NODES = {
    "depth_node": "depth_ros.ros.depth_node:main",
    "radar_depth_node": "depth_ros.ros.depth_node:radar_main",
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
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["models/weights/*", "models/weights/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="depth_ros maintainers",
    maintainer_email="maintainers@depth-ros.dev",
    description="Metric monocular and radar-fused depth for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [f"{name} = {target}" for name, target in {**NODES, **TOOLS}.items()],
    },
)
