"""RGB-D frame folders described by a manifest.json (the layout of ../shared/data/rgbd)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.pipeline.fusion import FusionConfig, FusionStage


@dataclass
class RgbdFrame:
    id: str
    set: str
    rgb: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 metres, NaN where the sensor had no measurement
    camera: CameraModel


def default_shared_dir(start: Path | None = None) -> Path | None:
    """The `shared` folder beside the checkout (../shared), or None when absent.

    Looked for above `start`, else above the current folder and then above this file (a checkout).
    """
    for here in [start] if start else [Path.cwd() / "_", Path(__file__)]:
        for parent in here.resolve().parents:
            candidate = parent.parent / "shared"
            if (parent / "depth_ros").is_dir() and candidate.is_dir():
                return candidate
    return None


def _read_manifest(manifest: Path) -> dict:
    try:
        spec = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read RGB-D manifest {manifest}: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("frames", []), list):
        raise InvalidInputError(f"RGB-D manifest {manifest} is not an object with a 'frames' list")
    return spec


def manifest_sets(manifest: str | Path) -> set[str]:
    """Names of the sets the frames of a manifest belong to (reads the JSON only)."""
    return {str(entry.get("set")) for entry in _read_manifest(Path(manifest)).get("frames", [])
            if isinstance(entry, dict)}


def load_manifest(manifest: str | Path) -> list[RgbdFrame]:
    """Load every frame of a manifest (colour as RGB, depth in metres with NaN = invalid)."""
    manifest = Path(manifest)
    spec = _read_manifest(manifest)
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


def select_sets(frames: list[RgbdFrame], sets: str | list[str] | None) -> list[RgbdFrame]:
    """The frames of the named sets (comma-separated or a list); None or "" = all. Unknown names raise."""
    if not sets:
        return list(frames)
    wanted = [s.strip() for s in sets.split(",")] if isinstance(sets, str) else list(sets)
    known = {f.set for f in frames}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise InvalidInputError(f"unknown RGB-D set(s) {unknown}; the manifest has {sorted(known)}")
    return [f for f in frames if f.set in wanted]


def simulated_radar_points(frame: RgbdFrame, rng: np.random.Generator, depth: np.ndarray | None = None,
                           stamp_ns: int = 1_000_000_000, **radar: Any) -> tuple[Any, Any]:
    """(simulated scan, its projection into the frame's camera) as the pipeline's FusionStage sees them.

    The scan comes from `simulate_radar` on ``depth`` (default: the frame's ground truth) with the
    keyword options ``radar``; the projection from a radar-only `FusionStage`, as in the node.
    """
    from depth_ros.sim.radar import simulate_radar  # noqa: PLC0415

    sim = simulate_radar(frame.depth if depth is None else depth, frame.camera, rng, stamp_ns=stamp_ns, **radar)
    stage = FusionStage(FusionConfig(radar_enabled=True, T_cam_radar=sim.T_cam_radar, temporal=False), 0.0, 1e4)
    stage.add_radar(sim.scan)
    return sim, stage.radar_points(frame.camera, stamp_ns)


def floor_plane(frame: RgbdFrame, rng: np.random.Generator | None = None, max_tilt_deg: float = 40.0,
                tolerance_m: float = 0.03, min_share: float = 0.03) -> tuple[np.ndarray, float] | None:
    """Gravity (unit, down, optical frame) and camera height of the floor seen in a frame's ground truth.

    What a level-mounted IMU and a measured mount height would give the pipeline, for frames without
    either: RANSAC over planes through three back-projected ground-truth points whose normal is within
    ``max_tilt_deg`` of the image's down direction, at a height of 0.2-3 m below the camera, with no
    more than 1 % of the points below them (the floor is the lowest surface). The plane with the most
    points within ``tolerance_m`` wins if it holds at least ``min_share`` of the valid pixels; None
    when the floor is not in view.
    """
    rng = rng or np.random.default_rng(0)
    depth = frame.depth
    valid = np.isfinite(depth) & (depth > 0)
    if valid.sum() < 100:
        return None
    rays = frame.camera.rays
    vs, us = np.nonzero(valid)
    z = depth[vs, us].astype(np.float64)
    x = np.broadcast_to(rays.x, depth.shape)[vs, us] * z
    y = np.broadcast_to(rays.y, depth.shape)[vs, us] * z
    pts = np.stack([x, y, z], axis=1)
    sample = pts[rng.choice(len(pts), size=min(len(pts), 6000), replace=False)]
    cos_tilt = np.cos(np.radians(max_tilt_deg))
    best: tuple[int, np.ndarray, float] | None = None
    for _ in range(300):
        a, b, c = sample[rng.choice(len(sample), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm
        if n[1] < 0:
            n = -n  # pointing down the image (optical +y)
        h = float(n @ a)
        if n[1] < cos_tilt or not 0.2 <= h <= 3.0:
            continue
        dist = sample @ n - h
        inliers = int(np.count_nonzero(np.abs(dist) <= tolerance_m))
        if np.mean(dist > 3 * tolerance_m) > 0.01:
            continue  # points below the plane: a table or a step, not the floor
        if best is None or inliers > best[0]:
            best = (inliers, n, h)
    if best is None or best[0] < min_share * len(sample):
        return None
    _, n, h = best
    # Least-squares refinement on the inliers of all points.
    near = pts[np.abs(pts @ n - h) <= tolerance_m]
    centre = near.mean(axis=0)
    _, _, vt = np.linalg.svd(near - centre, full_matrices=False)
    n2 = vt[2] if vt[2][1] > 0 else -vt[2]
    return n2, float(n2 @ centre)
