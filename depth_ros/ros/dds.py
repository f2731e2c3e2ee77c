"""Middleware settings that large sensor messages need (Fast DDS shared-memory segment size)."""

from __future__ import annotations

import os
from pathlib import Path

PROFILE_NAME = "fastdds_large_data.xml"
PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"


def large_data_profile() -> Path | None:
    """Path of the package's Fast DDS profile (source checkout/pip install, or colcon share dir)."""
    candidate = Path(__file__).resolve().parents[2] / "config" / PROFILE_NAME
    if candidate.is_file():
        return candidate
    try:
        from ament_index_python.packages import get_package_share_directory

        shared = Path(get_package_share_directory("depth_ros")) / "config" / PROFILE_NAME
        return shared if shared.is_file() else None
    except (ImportError, LookupError, ValueError):
        return None


def use_large_data_profile() -> None:
    """Point Fast DDS at the large-data profile unless the user chose a profile already.

    Must run before the first rclpy.init() of the process; child processes inherit it.
    """
    if os.environ.get(PROFILE_ENV) or os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE"):
        return
    profile = large_data_profile()
    if profile is not None:
        os.environ[PROFILE_ENV] = str(profile)
