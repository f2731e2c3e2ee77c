"""Files shipped inside the package and the per-user folders the tools write to.

Found with importlib.resources, so they resolve the same from a source checkout, a wheel, a pip
install or a colcon install (which also copies depth_ros/config to share/depth_ros/config for launch).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

PACKAGE = "depth_ros"


def package_path(*parts: str) -> Path:
    """Path of a file or folder in the package, whether or not this installation holds it."""
    # The package installs unzipped (setup.py zip_safe=False), so resources are real files.
    return Path(str(resources.files(PACKAGE).joinpath(*parts)))


def package_file(*parts: str) -> Path:
    """Path of a file shipped in the package, e.g. package_file("config", "depth_node.yaml").

    Raises FileNotFoundError naming the file when the installation does not hold it.
    """
    path = package_path(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"depth_ros package file {'/'.join(parts)!r} is not installed (looked for {path})")
    return path


def config_file(name: str) -> Path:
    """A file of the package's config folder: node parameter YAML, RViz layout, Fast DDS profile."""
    return package_file("config", name)


def package_sources(subpackage: str) -> list[Path]:
    """The .py files of a subpackage (e.g. "sim"), sorted: what a cache key of its behaviour hashes."""
    return sorted(package_path(subpackage).glob("*.py"))


def user_cache_dir(*parts: str) -> Path:
    """Per-user cache folder of depth_ros ($XDG_CACHE_HOME/depth_ros or ~/.cache/depth_ros), plus parts."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, PACKAGE, *parts)
