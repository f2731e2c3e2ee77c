"""RGB-D frame folders described by a manifest.json (the layout of ../shared/data/rgbd)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError


@dataclass
class RgbdFrame:
    id: str
    set: str
    rgb: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 metres, NaN where the sensor had no measurement
    camera: CameraModel


def default_shared_dir(start: Path | None = None) -> Path | None:
    """The `shared` folder beside the checkout (../shared), or None when absent."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared"
        if (parent / "depth_ros").is_dir() and candidate.is_dir():
            return candidate
    return None


def load_manifest(manifest: str | Path) -> list[RgbdFrame]:
    """Load every frame of a manifest (colour as RGB, depth in metres with NaN = invalid)."""
    manifest = Path(manifest)
    try:
        spec = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read RGB-D manifest {manifest}: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("frames", []), list):
        raise InvalidInputError(f"RGB-D manifest {manifest} is not an object with a 'frames' list")
    frames = []
    for i, entry in enumerate(spec.get("frames", [])):
        try:
            rgb_path, depth_path = manifest.parent / entry["rgb"], manifest.parent / entry["depth"]
            bgr = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
            raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
            if bgr is None or raw is None:
                raise InvalidInputError(f"cannot read frame {entry.get('id')}: {rgb_path} / {depth_path}")
            depth = raw.astype(np.float32) / float(entry["depth_units_per_metre"])
            depth[raw == 0] = np.nan
            camera = CameraModel(
                width=int(entry["width"]), height=int(entry["height"]),
                fx=entry["fx"], fy=entry["fy"], cx=entry["cx"], cy=entry["cy"],
            )
            frames.append(RgbdFrame(entry["id"], entry["set"], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), depth, camera))
        except InvalidInputError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a malformed entry
            raise InvalidInputError(f"RGB-D manifest {manifest}: frame {i} is malformed "
                                    f"({type(exc).__name__}: {exc})") from exc
    return frames
