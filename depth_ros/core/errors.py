"""Exceptions raised by depth_ros library code.

Every error names the bad value so that a node can log one clear line and carry on.
"""

from __future__ import annotations


class DepthRosError(Exception):
    """Base class of every error raised on purpose by depth_ros."""


class InvalidInputError(DepthRosError, ValueError):
    """Input data (an image, a cloud, an IMU sample, a parameter) is malformed or inconsistent."""


class CameraModelError(InvalidInputError):
    """Camera intrinsics are missing, zero or inconsistent with the image."""


class ConversionError(InvalidInputError):
    """A ROS message cannot be converted (wrong encoding, size/step mismatch, missing fields)."""


class ModelError(DepthRosError):
    """A depth model cannot be found, loaded or run."""


class UnknownModelError(ModelError, LookupError):
    """A model name is not in the registry; the message lists the known names."""


class ModelLoadError(ModelError):
    """Weights or configuration cannot be loaded (missing path, corrupt file, offline hub id)."""


class ModelOutputError(ModelError):
    """A model returned unusable output (NaN, inf, negative depth, wrong shape)."""


class BagError(DepthRosError):
    """A bag cannot be read or written; the message names the file and, where known, the topic."""


class MissingDependencyError(DepthRosError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""
