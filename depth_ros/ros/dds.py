"""Middleware settings that large sensor messages need (Fast DDS shared-memory segment size)."""

from __future__ import annotations

import os
from pathlib import Path

from depth_ros.package_data import config_file

PROFILE_NAME = "fastdds_large_data.xml"
PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"


def large_data_profile() -> Path | None:
    """Path of the package's Fast DDS profile (package data), or None if this installation lacks it."""
    try:
        return config_file(PROFILE_NAME)
    except FileNotFoundError:
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
