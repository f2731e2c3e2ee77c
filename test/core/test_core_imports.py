"""depth_ros.core must stay free of rclpy, message packages and torch."""

import subprocess
import sys

FORBIDDEN = ("rclpy", "torch", "sensor_msgs", "transformers", "onnxruntime")


def test_core_imports_neither_rclpy_nor_torch():
    code = (
        "import sys, pkgutil, importlib, depth_ros.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('depth_ros.core.' + m.name)\n"
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"depth_ros.core imported {out.stdout.strip()}"
