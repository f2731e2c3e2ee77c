"""package.xml declares (format 3) every ROS package the code imports."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROS_PACKAGES = {"rclpy", "ament_index_python", "launch", "launch_ros", "tf2_ros", "rosidl_runtime_py"}


def test_manifest_is_format_3_ament_python():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "depth_ros"
    assert root.find("export").findtext("build_type") == "ament_python"


def test_every_imported_ros_package_is_an_exec_depend():
    root = ET.parse(REPO / "package.xml").getroot()
    declared = {e.text for e in root.findall("exec_depend")}
    imported = set()
    pattern = re.compile(r"^\s*(?:from|import)\s+([a-z_0-9]+)(?:\.(msg|srv|action)\b)?", re.M)
    for path in list((REPO / "depth_ros").rglob("*.py")) + list((REPO / "launch").glob("*.py")):
        for pkg, kind in pattern.findall(path.read_text()):
            if kind or pkg in ROS_PACKAGES:
                imported.add(pkg)
    assert {"rclpy", "sensor_msgs", "diagnostic_msgs"} <= imported  # the scan itself works
    assert imported <= declared, f"imported but not declared in package.xml: {sorted(imported - declared)}"
