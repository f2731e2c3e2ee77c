"""Training data for `depth-ros-train`: generated or bagged runs turned into frames, depth and radar points.

A `Record` holds one run: RGB frames (N, H, W, 3) uint8, ground-truth depth (N, H, W) float16
metres (NaN = none) and, per frame, the radar points the pipeline would use for that frame:
pixel position (u, v) and depth z. These come from the pipeline's own `FusionStage` (radar and
IMU fed in time order, the last ``radar_max_scans`` scans within ``radar_max_age_s``, motion
compensated with the gyro, projected with the full camera model), so the training prior matches
the one `DepthPipeline` feeds the network. Points are rasterised into the prior (`FusionStage.prior`
discs) per sample, after augmentation (`make_batch`).

Sources: `generate_record` (a `depth_ros.sim.world` run; cached as .npz by `load_or_generate`)
and `read_bag_record` (a bag written by depth-ros-simulate: image, depth ground truth, camera_info,
radar, IMU and /tf_static, paired by header stamps).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depth_ros.bags.io import open_bag
from depth_ros.core.errors import BagError, InvalidInputError
from depth_ros.core.imu import ImuReading
from depth_ros.core.radar import RadarScan, rasterize_prior
from depth_ros.core.transforms import RigidTransform, body_extrinsic_to_optical
from depth_ros.datasets.rgbd import load_manifest, select_sets, simulated_radar_points
from depth_ros.datasets.sequences import FRAME, IMU, RADAR, fusion_config, sequence_events, sequence_fusion_config
from depth_ros.models.preprocess import resize_sparse_prior
from depth_ros.pipeline.fusion import FusionConfig, FusionStage
from depth_ros.ros.conversions import camera_model_from_info, image_to_depth_m, image_to_rgb, read_fields
from depth_ros.ros.conversions.stamps import stamp_to_ns

CACHE_VERSION = 1
SCENES = ("hall", "yard")
MIN_DEPTH = 0.1
# Event priorities at equal stamps, as depth-ros-simulate writes them: IMU, then the frame, then radar.
_RUN = re.compile(r"(?P<scene>[a-z]+):(?P<first>\d+)(?:-(?P<last>\d+))?(?:@(?P<seconds>[0-9.]+))?\Z")


@dataclass(frozen=True)
class RunSpec:
    """A generated run: scene, seed, length and image size."""

    scene: str
    seed: int
    seconds: float
    width: int = 320
    height: int = 240

    @property
    def name(self) -> str:
        return f"{self.scene}:{self.seed}"


@dataclass(eq=False)
class Record:
    """One run's frames (see module doc). ``offsets[k]:offsets[k+1]`` index frame k's radar points."""

    name: str
    rgb: np.ndarray  # (N, H, W, 3) uint8
    depth: np.ndarray  # (N, H, W) float16 metres, NaN = no ground truth
    radar_uvd: np.ndarray  # (M, 3) float32: u, v (pixels), depth z (metres)
    offsets: np.ndarray  # (N + 1,) int64
    stamps_ns: np.ndarray  # (N,) int64
    camera_height: float = 0.0

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    def points(self, k: int) -> np.ndarray:
        """(m, 3) radar points (u, v, z) of frame k."""
        return self.radar_uvd[self.offsets[k]:self.offsets[k + 1]]

    def subsample(self, stride: int) -> Record:
        """Every ``stride``-th frame."""
        if stride <= 1:
            return self
        keep = np.arange(0, len(self), stride)
        pts = [self.points(int(k)) for k in keep]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in pts])]).astype(np.int64)
        uvd = np.concatenate(pts) if pts else np.zeros((0, 3), np.float32)
        return Record(self.name, self.rgb[keep], self.depth[keep], uvd.astype(np.float32), offsets,
                      self.stamps_ns[keep], self.camera_height)

    def save(self, path: Path) -> None:
        """Write an uncompressed .npz (fast to load) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part.npz")
        np.savez(tmp, rgb=self.rgb, depth=self.depth, radar_uvd=self.radar_uvd, offsets=self.offsets,
                 stamps_ns=self.stamps_ns, meta=np.array(json.dumps({"name": self.name, "version": CACHE_VERSION,
                                                                     "camera_height": self.camera_height})))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Record:
        """Read a `save` file."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != CACHE_VERSION:
                raise InvalidInputError(f"{path}: cache version {meta.get('version')} != {CACHE_VERSION}")
            return cls(meta["name"], data["rgb"], data["depth"], data["radar_uvd"], data["offsets"],
                       data["stamps_ns"], float(meta.get("camera_height", 0.0)))


def parse_runs(text: str, seconds: float, width: int = 320, height: int = 240) -> list[RunSpec]:
    """``"hall:0-9,yard:3,hall:20-29@8"`` -> runs (scene, seed), each ``seconds`` long unless ``@SECONDS`` says.

    `InvalidInputError` when malformed, for unknown scenes and for runs named twice.
    """
    runs: list[RunSpec] = []
    for item in (s.strip() for s in text.split(",")):
        m = _RUN.match(item)
        if m is None:
            raise InvalidInputError(f"bad run {item!r} in {text!r}: expected SCENE:SEED or SCENE:FIRST-LAST, "
                                    f"optionally with @SECONDS, e.g. hall:0-9,yard:0-9@8")
        if m["scene"] not in SCENES:
            raise InvalidInputError(f"unknown scene {m['scene']!r} in {text!r}; scenes: {', '.join(SCENES)}")
        first, last = int(m["first"]), int(m["last"] if m["last"] is not None else m["first"])
        if last < first:
            raise InvalidInputError(f"bad seed range {item!r}: {last} < {first}")
        length = float(m["seconds"]) if m["seconds"] is not None else float(seconds)
        if not (math.isfinite(length) and 0 < length <= 3600):
            raise InvalidInputError(f"bad run length in {item!r}: must be in (0, 3600] seconds")
        runs += [RunSpec(m["scene"], s, length, width, height) for s in range(first, last + 1)]
    if len({(r.scene, r.seed) for r in runs}) != len(runs):
        raise InvalidInputError(f"{text!r} names a run twice")
    return runs


def _record_from_events(name: str, events: Iterable[tuple[int, int, Any]], config: FusionConfig,
                        max_depth: float, camera_height: float = 0.0) -> Record:
    """Run a FusionStage over time-ordered events; a frame item is (rgb, depth, camera)."""
    stage = FusionStage(config, MIN_DEPTH, max_depth)
    rgbs, depths, stamps, points = [], [], [], []
    for stamp, kind, item in events:
        if kind == IMU:
            stage.add_imu(item)
        elif kind == RADAR:
            stage.add_radar(item)
        else:
            rgb, depth, camera = item
            proj = stage.radar_points(camera, stamp)
            uvd = (np.zeros((0, 3), np.float32) if proj is None or len(proj) == 0
                   else np.column_stack([proj.uv, proj.depth]).astype(np.float32))
            rgbs.append(rgb)
            depths.append(depth.astype(np.float16))
            stamps.append(stamp)
            points.append(uvd)
    if not rgbs:
        raise InvalidInputError(f"{name}: no frames")
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in points])]).astype(np.int64)
    return Record(name, np.stack(rgbs), np.stack(depths), np.concatenate(points), offsets,
                  np.asarray(stamps, np.int64), camera_height)


def generate_record(run: RunSpec, max_depth: float = 40.0) -> Record:
    """Generate ``run`` with `depth_ros.sim.world.generate_sequence` and collect its frames and radar points."""
    from depth_ros.sim.world import generate_sequence  # noqa: PLC0415

    seq = generate_sequence(run.scene, run.seconds, run.seed, width=run.width, height=run.height)
    events = [(s, k, (i.rgb, i.depth, seq.camera) if k == FRAME else i) for s, k, i in sequence_events(seq)]
    return _record_from_events(run.name, events, sequence_fusion_config(seq), max_depth, seq.camera_height)


def cache_path(cache_dir: Path, run: RunSpec, max_depth: float) -> Path:
    """Cache file of a run (name spells every input that changes its content)."""
    return cache_dir / (f"{run.scene}_{run.seed}_{run.seconds:g}s_{run.width}x{run.height}_max{max_depth:g}"
                        f"_v{CACHE_VERSION}.npz")


def load_or_generate(run: RunSpec, cache_dir: Path | None, max_depth: float = 40.0) -> Record:
    """The run from the cache, else generated (and cached when ``cache_dir`` is set)."""
    if cache_dir is not None:
        path = cache_path(cache_dir, run, max_depth)
        if path.is_file():
            return Record.load(path)
    record = generate_record(run, max_depth)
    if cache_dir is not None:
        record.save(cache_path(cache_dir, run, max_depth))
    return record


def rgbd_record(manifest: Path, sets: str | None = None, seed: int = 0, max_depth: float = 40.0) -> Record:
    """Frames of an RGB-D manifest (optionally only ``sets``, comma-separated) with simulated radar points.

    Each frame is an independent scene: one radar scan is simulated from its ground truth (seeded by
    ``seed`` and the frame's position) and projected as the pipeline would (`simulated_radar_points`).
    Ground truth beyond ``max_depth`` becomes NaN.
    """

    frames = select_sets(load_manifest(manifest), sets)
    if not frames:
        raise InvalidInputError(f"{manifest}: no frames{f' in sets {sets}' if sets else ''}")
    rgbs, depths, points = [], [], []
    for i, frame in enumerate(frames):
        _, proj = simulated_radar_points(frame, np.random.default_rng([seed, i]))
        depth = np.where(frame.depth <= max_depth, frame.depth, np.nan)
        rgbs.append(frame.rgb)
        depths.append(depth.astype(np.float16))
        points.append(np.column_stack([proj.uv, proj.depth]).astype(np.float32) if proj is not None
                      else np.zeros((0, 3), np.float32))
    sizes = {r.shape for r in rgbs}
    if len(sizes) != 1:
        raise InvalidInputError(f"{manifest}: frames of different sizes {sorted(sizes)}")
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in points])]).astype(np.int64)
    name = f"{manifest}{'@' + sets if sets else ''}"
    return Record(name, np.stack(rgbs), np.stack(depths), np.concatenate(points), offsets,
                  np.arange(len(frames), dtype=np.int64) * 100_000_000)


def parse_rgbd_source(text: str) -> tuple[Path, str | None]:
    """``MANIFEST`` or ``MANIFEST@SET,SET`` -> (manifest path, sets or None)."""
    path, _, sets = str(text).partition("@")
    return Path(path), (sets or None)


def _transform(tf: Any) -> RigidTransform:
    t, q = tf.translation, tf.rotation
    return RigidTransform.from_translation_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))


def read_bag_record(path: Path, max_depth: float = 40.0, slop_s: float = 0.005) -> Record:
    """A bag of depth-ros-simulate (topics of `depth_ros.sim.world.TOPICS`) as a `Record`.

    Images are paired with the ground-truth depth of the nearest header stamp within ``slop_s``
    (frames without one are skipped) and the camera_info of the nearest stamp; radar and IMU go
    through a FusionStage built from /tf_static (camera_link -> radar_link / imu_link).
    """
    from depth_ros.sim.world import FRAME_IDS, TOPICS  # noqa: PLC0415

    with open_bag(path) as bag:
        missing = [t for t in ("image", "camera_info", "depth_gt", "radar", "imu", "tf_static")
                   if TOPICS[t] not in bag.topics]
        if missing:
            raise BagError(f"bag {path} lacks {[TOPICS[t] for t in missing]} (write it with depth-ros-simulate)")
        mounts: dict[str, RigidTransform] = {}
        for m in bag.messages(TOPICS["tf_static"]):
            for tf in m.msg.transforms:
                if tf.header.frame_id == FRAME_IDS["camera"]:
                    mounts[tf.child_frame_id] = _transform(tf.transform)
        if FRAME_IDS["radar"] not in mounts or FRAME_IDS["imu"] not in mounts:
            raise BagError(f"bag {path}: /tf_static lacks camera_link -> radar_link / imu_link")
        depth_by_stamp = {stamp_to_ns(m.msg.header.stamp): image_to_depth_m(m.msg)
                          for m in bag.messages(TOPICS["depth_gt"])}
        gt_stamps = np.array(sorted(depth_by_stamp), dtype=np.int64)
        cameras = {stamp_to_ns(m.msg.header.stamp): camera_model_from_info(m.msg)
                   for m in bag.messages(TOPICS["camera_info"])}
        info_stamps = np.array(sorted(cameras), dtype=np.int64)
        config = fusion_config(body_extrinsic_to_optical(mounts[FRAME_IDS["radar"]]),
                               body_extrinsic_to_optical(RigidTransform(mounts[FRAME_IDS["imu"]].R, np.zeros(3))).R)

        def nearest(stamps: np.ndarray, stamp: int) -> int | None:
            i = int(np.searchsorted(stamps, stamp))
            near = [j for j in (i - 1, i) if 0 <= j < len(stamps)]
            return int(stamps[min(near, key=lambda j: abs(int(stamps[j]) - stamp))]) if near else None

        def events() -> Iterator[tuple[int, int, Any]]:
            for m in bag.messages([TOPICS["image"], TOPICS["radar"], TOPICS["imu"]]):
                msg = m.msg
                stamp = stamp_to_ns(msg.header.stamp)
                if m.topic == TOPICS["imu"]:
                    v, a = msg.angular_velocity, msg.linear_acceleration
                    yield stamp, IMU, ImuReading(stamp, (v.x, v.y, v.z), (a.x, a.y, a.z))
                elif m.topic == TOPICS["radar"]:
                    f = read_fields(msg, names=("x", "y", "z"))
                    yield stamp, RADAR, RadarScan(stamp, np.stack([f["x"], f["y"], f["z"]], axis=1), {},
                                                  msg.header.frame_id)
                else:
                    gt, info = nearest(gt_stamps, stamp), nearest(info_stamps, stamp)
                    if gt is None or info is None or abs(gt - stamp) > slop_s * 1e9:
                        continue
                    rgb, camera = image_to_rgb(msg), cameras[info]
                    if (camera.width, camera.height) == (rgb.shape[1], rgb.shape[0]):
                        yield stamp, FRAME, (rgb, depth_by_stamp[gt], camera)

        return _record_from_events(str(path), events(), config, max_depth)


@dataclass(frozen=True)
class Augment:
    """Augmentation settings of `make_batch` (probabilities and ranges)."""

    flip: float = 0.5
    brightness: float = 0.2  # multiply by U(1 - b, 1 + b)
    contrast: float = 0.2  # scale around the image mean by U(1 - c, 1 + c)
    saturation: float = 0.2
    hue_gain: float = 0.05  # per-channel gain U(1 - h, 1 + h) (colour cast)
    noise: float = 2.0  # Gaussian pixel noise sigma up to this (0..255 scale)
    prior_dropout: float = 0.3  # probability of an all-zero prior (no radar)
    keep_min: float = 0.4  # otherwise each radar point is kept with probability U(keep_min, 1)

    @classmethod
    def none(cls) -> Augment:
        """No augmentation, every radar point kept."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def rasterize(points: np.ndarray, shape: tuple[int, int], radius: int) -> np.ndarray:
    """Prior (H, W) float32 metres from (m, 3) points (u, v, z), as `FusionStage.prior` draws it."""
    if len(points) == 0:
        return np.zeros(shape, np.float32)
    return rasterize_prior(points[:, :2], points[:, 2], shape, radius)[0]


def make_sample(record: Record, k: int, rng: np.random.Generator, aug: Augment, radius: int,
                use_prior: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb float32 0..255 (H, W, 3), prior (H, W) metres, depth (H, W) float32) of frame k, augmented."""
    rgb = record.rgb[k].astype(np.float32)
    depth = record.depth[k].astype(np.float32)
    shape = depth.shape
    pts = record.points(k)
    if not use_prior or rng.random() < aug.prior_dropout:
        prior = np.zeros(shape, np.float32)
    else:
        keep = rng.random(len(pts)) < rng.uniform(aug.keep_min, 1.0)
        prior = rasterize(pts[keep], shape, radius)
    if rng.random() < aug.flip:
        rgb, depth, prior = rgb[:, ::-1], depth[:, ::-1], prior[:, ::-1]
    if aug.brightness or aug.contrast or aug.saturation or aug.hue_gain:
        rgb = rgb * rng.uniform(1 - aug.brightness, 1 + aug.brightness)
        mean = rgb.mean()
        rgb = (rgb - mean) * rng.uniform(1 - aug.contrast, 1 + aug.contrast) + mean
        grey = rgb.mean(axis=2, keepdims=True)
        rgb = (rgb - grey) * rng.uniform(1 - aug.saturation, 1 + aug.saturation) + grey
        rgb = rgb * rng.uniform(1 - aug.hue_gain, 1 + aug.hue_gain, 3).astype(np.float32)
    if aug.noise:
        rgb = rgb + rng.normal(0.0, rng.uniform(0, aug.noise), rgb.shape).astype(np.float32)
    rgb = np.clip(rgb, 0, 255)
    return np.ascontiguousarray(rgb, np.float32), np.ascontiguousarray(prior), np.ascontiguousarray(depth)


def make_batch(records: list[Record], index: np.ndarray, rng: np.random.Generator, aug: Augment, radius: int,
               use_prior: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacked `make_sample`s of ``index`` rows (record, frame): rgb (B, H, W, 3), prior, depth (B, H, W)."""
    samples = [make_sample(records[int(r)], int(k), rng, aug, radius, use_prior) for r, k in index]
    return tuple(np.stack(parts) for parts in zip(*samples))  # type: ignore[return-value]


def resize_batch(rgb: np.ndarray, prior: np.ndarray, depth: np.ndarray,
                 size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resize a batch to ``size`` (h, w): area/linear RGB, nearest depth, z-buffer pooled prior."""

    h, w = size
    if rgb.shape[1:3] == (h, w):
        return rgb, prior, depth
    interp = cv2.INTER_AREA if h <= rgb.shape[1] and w <= rgb.shape[2] else cv2.INTER_LINEAR
    rgb = np.stack([cv2.resize(x, (w, h), interpolation=interp) for x in rgb])
    depth = np.stack([cv2.resize(x, (w, h), interpolation=cv2.INTER_NEAREST) for x in depth])
    prior = np.stack([resize_sparse_prior(x, (h, w)) for x in prior])
    return rgb, prior, depth


def frame_index(records: list[Record]) -> np.ndarray:
    """(N, 2) int64 rows (record, frame) of every frame."""
    rows = [np.column_stack([np.full(len(r), i), np.arange(len(r))]) for i, r in enumerate(records)]
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 2), np.int64)
