"""A simulated robot run: scene + trajectory + sensors, with exact ground truth.

Time: sensor time t (seconds) starts at 0 at `epoch_ns` (stamp = epoch_ns + round(t * 1e9)).
Camera frames at k / camera_hz; radar scans at radar_offset + j / radar_hz (deliberately not
aligned with the frames, so motion compensation matters); IMU samples at i / imu_hz.

Frames (REP-103): base_link on the robot, camera_link (body axes) mounted on it,
camera_optical_frame (x right, y down, z forward) sharing camera_link's origin; radar_link
and imu_link mounted on camera_link. `Extrinsics` holds those static transforms; everything
is seeded: the same (scene, seed, size, rates) gives bit-identical arrays.

Radar: each scan's ground truth is a half-resolution depth render at the scan's own stamp,
fed to `depth_ros.sim.radar.simulate_radar`; its doppler field is replaced by the true
radial velocity of each (static) point as seen from the moving radar, plus 0.1 m/s noise
(the radar convention: negative = approaching).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from depth_ros.core.camera import PLUMB_BOB, CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.imu import STANDARD_GRAVITY, ImuReading
from depth_ros.core.radar import RadarScan
from depth_ros.core.transforms import OPTICAL_FROM_BODY, RigidTransform, matrix_to_rpy
from depth_ros.sim.radar import SimulatedRadar, simulate_radar
from depth_ros.sim.render import render
from depth_ros.sim.scenes import SCENES, Scene, build_scene
from depth_ros.sim.trajectory import GroundTrajectory, ImuNoise, MotionParams, synthesize_imu

EPOCH_NS = 1_700_000_000 * 1_000_000_000
RADAR_OFFSET_S = 0.023
FRAME_IDS = {
    "base": "base_link",
    "camera": "camera_link",
    "optical": "camera_optical_frame",
    "radar": "radar_link",
    "imu": "imu_link",
    "odom": "odom",
}
TOPICS = {
    "image": "/camera/image_raw",
    "camera_info": "/camera/camera_info",
    "depth_gt": "/camera/depth/ground_truth",
    "radar": "/radar/points",
    "imu": "/imu/data",
    "tf_static": "/tf_static",
    "odom": "/odom",  # wheel-odometry-like base_link pose in "odom" (sim/odometry.py)
    "tf": "/tf",  # odom -> base_link, from that odometry
    "pose_gt": "/ground_truth/pose",  # the exact base_link pose (odom = world at the start)
}
# Default sensor mounts on camera_link (REP-103 translation and roll, pitch, yaw).
RADAR_TRANSLATION = (0.02, -0.10, -0.015)  # 10 cm right of the camera, slightly behind and below
RADAR_RPY = (0.0, 0.0, math.radians(2.0))
IMU_TRANSLATION = (-0.03, 0.04, -0.05)
IMU_RPY = (math.radians(2.0), math.radians(-3.0), math.radians(90.0))  # turned 90 deg, slightly tilted
DISTORTION = (-0.05, 0.012, 0.0005, -0.0003, 0.0)


def default_camera(width: int = 320, height: int = 240) -> CameraModel:
    """The simulated camera: ~64 deg horizontal FoV, square pixels, off-centre principal point, mild plumb_bob."""
    if width < 8 or height < 8:
        raise InvalidInputError(f"image size must be at least 8x8, got {width}x{height}")
    f = 0.78 * width
    return CameraModel(width, height, f, f, width / 2 - 0.5 + 0.004 * width, height / 2 - 0.5 - 0.003 * width,
                       PLUMB_BOB, DISTORTION)


@dataclass(frozen=True, eq=False)
class Extrinsics:
    """Static transforms (T_a_b maps b-frame points into frame a = pose of b in a)."""

    T_base_camera_link: RigidTransform
    T_camera_link_radar: RigidTransform
    T_camera_link_imu: RigidTransform

    @property
    def T_camera_link_optical(self) -> RigidTransform:
        return OPTICAL_FROM_BODY.inverse()

    @property
    def T_cam_radar(self) -> RigidTransform:
        """Radar-frame points -> camera optical frame (what simulate_radar and the node use)."""
        return OPTICAL_FROM_BODY @ self.T_camera_link_radar

    @property
    def T_cam_imu(self) -> RigidTransform:
        """IMU-frame vectors -> camera optical frame."""
        return OPTICAL_FROM_BODY @ self.T_camera_link_imu

    @property
    def T_base_radar(self) -> RigidTransform:
        return self.T_base_camera_link @ self.T_camera_link_radar

    @property
    def T_base_imu(self) -> RigidTransform:
        return self.T_base_camera_link @ self.T_camera_link_imu

    @property
    def T_base_optical(self) -> RigidTransform:
        return self.T_base_camera_link @ self.T_camera_link_optical


def default_extrinsics(T_base_camera_link: RigidTransform) -> Extrinsics:
    return Extrinsics(
        T_base_camera_link,
        RigidTransform.from_translation_rpy(RADAR_TRANSLATION, RADAR_RPY),
        RigidTransform.from_translation_rpy(IMU_TRANSLATION, IMU_RPY),
    )


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera frame with its ground truth."""

    index: int
    stamp_ns: int
    t: float  # seconds since the epoch of the run
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 optical z, NaN = no ground truth
    object_id: np.ndarray  # (H, W) int32, -1 = none
    T_world_cam: RigidTransform  # pose of camera_optical_frame


@dataclass(frozen=True, eq=False)
class RadarFrame:
    """One radar scan (points in radar_link) with the truth behind it."""

    index: int
    stamp_ns: int
    t: float
    sim: SimulatedRadar
    T_world_cam: RigidTransform  # optical frame pose at the scan's stamp

    @property
    def scan(self) -> RadarScan:
        return self.sim.scan


@dataclass(frozen=True, eq=False)
class ImuStream:
    """IMU samples in imu_link: gyro rad/s, accel m/s^2 (specific force), with the true biases."""

    stamps_ns: np.ndarray  # (N,) int64
    gyro: np.ndarray  # (N, 3)
    accel: np.ndarray  # (N, 3)
    gyro_true: np.ndarray
    accel_true: np.ndarray
    gyro_bias: np.ndarray  # (3,)
    accel_bias: np.ndarray  # (3,)
    noise: ImuNoise

    def __len__(self) -> int:
        return int(self.stamps_ns.shape[0])

    def readings(self) -> list[ImuReading]:
        return [ImuReading(int(s), g, a) for s, g, a in zip(self.stamps_ns, self.gyro, self.accel)]


def sensor_stamps(epoch_ns: int, hz: float, seconds: float, offset_s: float = 0.0, inclusive: bool = False) -> np.ndarray:
    """Stamps offset_s + k / hz for t < seconds (t <= seconds when `inclusive`)."""
    span = (seconds - offset_s) * hz
    n = int(math.floor(span + 1e-9)) + 1 if inclusive else int(math.ceil(span - 1e-9))
    k = np.arange(max(n, 0), dtype=np.int64)
    return epoch_ns + int(round(offset_s * 1e9)) + np.rint(k * (1e9 / hz)).astype(np.int64)


class World:
    """A seeded run: scene, trajectory, camera, sensor stamps; renders frames and scans on demand."""

    def __init__(
        self,
        scene: str,
        seconds: float,
        seed: int,
        width: int = 320,
        height: int = 240,
        camera_hz: float = 10.0,
        radar_hz: float = 15.0,
        imu_hz: float = 200.0,
        epoch_ns: int = EPOCH_NS,
        camera: CameraModel | None = None,
        motion: MotionParams | None = None,
        imu_noise: ImuNoise = ImuNoise(),
        radar_scale: float = 0.5,
        image_noise: float = 1.5,
    ) -> None:
        if scene not in SCENES:
            raise InvalidInputError(f"unknown scene {scene!r}; choose one of {', '.join(SCENES)}")
        if not (np.isfinite(seconds) and seconds > 0):
            raise InvalidInputError(f"seconds must be > 0, got {seconds}")
        for name, hz in (("camera_hz", camera_hz), ("radar_hz", radar_hz), ("imu_hz", imu_hz)):
            if not (np.isfinite(hz) and 0 < hz <= 2000):
                raise InvalidInputError(f"{name} must be in (0, 2000] Hz, got {hz}")
        if not 0 < radar_scale <= 1:
            raise InvalidInputError(f"radar_scale must be in (0, 1], got {radar_scale}")
        self.scene_name = scene
        self.seconds = float(seconds)
        self.seed = int(seed)
        self.epoch_ns = int(epoch_ns)
        self.camera_hz, self.radar_hz, self.imu_hz = float(camera_hz), float(radar_hz), float(imu_hz)
        self.camera = camera or default_camera(int(width), int(height))
        self.scene: Scene = build_scene(scene, self.seed)
        sid = SCENES.index(scene)
        self.motion = motion or MotionParams.random(np.random.default_rng([self.seed, sid, 1]))
        if self.scene.path is None:
            raise InvalidInputError(f"scene {scene!r} has no planned route")
        self.trajectory = GroundTrajectory(self.scene.path, self.motion, self.seconds)
        self.extrinsics = default_extrinsics(self.trajectory.T_base_camera_link)
        self.imu_noise = imu_noise
        self.radar_scale = float(radar_scale)
        self.image_noise = float(image_noise)
        self._sid = sid
        self.frame_stamps_ns = sensor_stamps(self.epoch_ns, self.camera_hz, self.seconds)
        self.radar_stamps_ns = sensor_stamps(self.epoch_ns, self.radar_hz, self.seconds, RADAR_OFFSET_S)
        self.imu_stamps_ns = sensor_stamps(self.epoch_ns, self.imu_hz, self.seconds, inclusive=True)

    @property
    def camera_height(self) -> float:
        return self.motion.camera_height

    def time_of(self, stamp_ns: int) -> float:
        return (int(stamp_ns) - self.epoch_ns) * 1e-9

    def T_world_cam(self, t: float) -> RigidTransform:
        """Pose of camera_optical_frame in the world at time t (s)."""
        return self.trajectory.pose(t, self.extrinsics.T_base_optical)

    def T_world_frame(self, t: float, frame: str) -> RigidTransform:
        """Pose of 'base_link', 'camera_link', 'camera_optical_frame', 'radar_link' or 'imu_link' at t."""
        e = self.extrinsics
        mounts = {"base_link": None, "camera_link": e.T_base_camera_link, "camera_optical_frame": e.T_base_optical,
                  "radar_link": e.T_base_radar, "imu_link": e.T_base_imu}
        if frame not in mounts:
            raise InvalidInputError(f"unknown frame {frame!r}; known: {sorted(mounts)}")
        return self.trajectory.pose(t, mounts[frame])

    @cached_property
    def radar_camera(self) -> CameraModel:
        """The camera whose depth render feeds the radar simulator (same lens, lower resolution)."""
        c = self.camera
        return c.scaled(max(8, int(round(c.width * self.radar_scale))), max(8, int(round(c.height * self.radar_scale))))

    def frame(self, k: int) -> Frame:
        """Camera frame k (rendered now)."""
        stamp = int(self.frame_stamps_ns[k])
        t = self.time_of(stamp)
        pose = self.T_world_cam(t)
        rng = np.random.default_rng([self.seed, self._sid, 2, k])
        r = render(self.scene, self.camera, pose, rng=rng, noise_sigma=self.image_noise)
        return Frame(k, stamp, t, r.rgb, r.depth, r.object_id, pose)  # type: ignore[arg-type]

    def radar_scan(self, j: int) -> RadarFrame:
        """Radar scan j: depth rendered at its own stamp, simulated in radar_link, with doppler."""
        stamp = int(self.radar_stamps_ns[j])
        t = self.time_of(stamp)
        pose = self.T_world_cam(t)
        cam = self.radar_camera
        depth = render(self.scene, cam, pose, color=False).depth
        rng = np.random.default_rng([self.seed, self._sid, 3, j])
        sim = simulate_radar(depth, cam, rng, T_cam_radar=self.extrinsics.T_cam_radar,
                             max_range=self.scene.max_depth, stamp_ns=stamp, frame_id=FRAME_IDS["radar"])
        # Radial velocity of static points seen from the moving radar, in the radar frame.
        R_w_r, _ = self.trajectory.pose_arrays(t, self.extrinsics.T_base_radar)
        v_r = R_w_r[0].T @ self.trajectory.velocity(t, self.extrinsics.T_base_radar)[0]
        pts = sim.true_points_radar
        unit = pts / np.maximum(np.linalg.norm(pts, axis=1, keepdims=True), 1e-9)
        doppler = -(unit @ v_r) + rng.normal(0.0, 0.1, len(pts))
        scan = RadarScan(stamp, sim.scan.points, {"snr": sim.scan.fields["snr"], "doppler": doppler},
                         FRAME_IDS["radar"])
        return RadarFrame(j, stamp, t, replace(sim, scan=scan), pose)

    def imu(self) -> ImuStream:
        """All IMU samples of the run (computed once)."""
        return self._imu

    @cached_property
    def _imu(self) -> ImuStream:
        t = (self.imu_stamps_ns - self.epoch_ns) * 1e-9
        syn = synthesize_imu(self.trajectory, self.extrinsics.T_base_imu, t,
                             np.random.default_rng([self.seed, self._sid, 4]), self.imu_noise, STANDARD_GRAVITY)
        return ImuStream(self.imu_stamps_ns.copy(), syn.gyro, syn.accel, syn.gyro_true, syn.accel_true,
                         syn.gyro_bias, syn.accel_bias, self.imu_noise)

    def iter_frames(self) -> Iterator[Frame]:
        for k in range(len(self.frame_stamps_ns)):
            yield self.frame(k)

    def iter_radar(self) -> Iterator[RadarFrame]:
        for j in range(len(self.radar_stamps_ns)):
            yield self.radar_scan(j)

    def describe(self) -> dict:
        """Everything world.yaml holds (plain Python types)."""
        c, e, imu = self.camera, self.extrinsics, self.imu()
        return {
            "scene": self.scene_name,
            "seed": self.seed,
            "seconds": self.seconds,
            "epoch_ns": self.epoch_ns,
            "rates_hz": {"camera": self.camera_hz, "radar": self.radar_hz, "imu": self.imu_hz},
            "camera": camera_dict(c),
            "camera_height": float(self.camera_height),
            "camera_pitch_deg": float(math.degrees(self.motion.camera_pitch)),
            "max_depth": float(self.scene.max_depth),
            "extrinsics": extrinsics_dict(e),
            "frame_ids": dict(FRAME_IDS),
            "topics": dict(TOPICS),
            "gravity": float(STANDARD_GRAVITY),
            "imu_noise": {
                "gyro_sigma": self.imu_noise.gyro_sigma,
                "accel_sigma": self.imu_noise.accel_sigma,
                "gyro_bias": [float(v) for v in imu.gyro_bias],
                "accel_bias": [float(v) for v in imu.accel_bias],
            },
            "route": {"center": list(self.scene.path.center), "a": self.scene.path.a, "b": self.scene.path.b}
            if self.scene.path else None,
        }


def _pose_dict(T: RigidTransform) -> dict:
    # "+ 0.0" turns -0.0 into 0.0 for tidier YAML.
    return {"translation": [float(v) + 0.0 for v in T.t], "rotation_rpy": [float(v) + 0.0 for v in matrix_to_rpy(T.R)]}


def camera_dict(c: CameraModel) -> dict:
    return {"width": c.width, "height": c.height, "fx": c.fx, "fy": c.fy, "cx": c.cx, "cy": c.cy,
            "distortion_model": c.distortion_model or PLUMB_BOB, "d": list(c.D) or [0.0] * 5}


def extrinsics_dict(e: Extrinsics) -> dict:
    """Parent -> child poses as translation + REP-103 rpy (radians)."""
    return {
        "base_link_to_camera_link": _pose_dict(e.T_base_camera_link),
        "camera_link_to_camera_optical_frame": _pose_dict(e.T_camera_link_optical),
        "camera_link_to_radar_link": _pose_dict(e.T_camera_link_radar),
        "camera_link_to_imu_link": _pose_dict(e.T_camera_link_imu),
    }


@dataclass(eq=False)
class Sequence:
    """A generated run held in memory (for data loaders and tests)."""

    world: World
    frames: list[Frame]
    radar: list[RadarFrame]
    imu: ImuStream

    @property
    def camera(self) -> CameraModel:
        return self.world.camera

    @property
    def extrinsics(self) -> Extrinsics:
        return self.world.extrinsics

    @property
    def scene(self) -> Scene:
        return self.world.scene

    @property
    def camera_height(self) -> float:
        return self.world.camera_height


def generate_sequence(
    scene: str,
    seconds: float,
    seed: int,
    width: int = 320,
    height: int = 240,
    camera_hz: float = 10.0,
    radar_hz: float = 15.0,
    imu_hz: float = 200.0,
    radar: bool = True,
    **world_kwargs: object,
) -> Sequence:
    """Render a whole run in memory: frames (rgb, depth GT, poses), radar scans, IMU samples."""
    w = World(scene, seconds, seed, width, height, camera_hz, radar_hz, imu_hz, **world_kwargs)  # type: ignore[arg-type]
    frames = list(w.iter_frames())
    scans = list(w.iter_radar()) if radar else []
    return Sequence(w, frames, scans, w.imu())
