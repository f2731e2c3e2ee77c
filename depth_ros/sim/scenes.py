"""Procedural scenes: infinite planes, oriented boxes and vertical cylinders with procedural,
world-anchored materials, lights, sky and haze; plus the seeded `hall` and `yard` builders.

World frame: z up, ground at z = 0 (see `depth_ros.sim.trajectory`). Every builder also plans
the robot's route (`Scene.path`) and keeps every obstacle at least `clearance` metres from it,
so a camera following the route never drives through geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np

from depth_ros.core.errors import InvalidInputError
from depth_ros.core.transforms import rpy_to_matrix
from depth_ros.sim.trajectory import LoopPath

# Material kinds (the renderer's texture switch).
PAINT, TILES, WOOD, CARDBOARD, GRASS, ASPHALT, BRICK, RIBBED, CONCRETE, METAL, GROUND_MIX, WALL = range(12)
MATERIAL_KINDS = {
    "paint": PAINT, "tiles": TILES, "wood": WOOD, "cardboard": CARDBOARD, "grass": GRASS,
    "asphalt": ASPHALT, "brick": BRICK, "ribbed": RIBBED, "concrete": CONCRETE, "metal": METAL,
    "ground_mix": GROUND_MIX, "wall": WALL,
}
SCENES = ("hall", "yard")


@dataclass(frozen=True)
class Material:
    """A procedural texture: `kind` (a MATERIAL_KINDS name), two linear RGB colours in [0, 1],
    a pattern size in metres (tile/brick/plank/rib size) and a seed that decorrelates noise."""

    kind: str
    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0
    seed: int = 0
    variation: float = 0.15

    def row(self) -> list[float]:
        if self.kind not in MATERIAL_KINDS:
            raise InvalidInputError(f"unknown material kind {self.kind!r}; known: {sorted(MATERIAL_KINDS)}")
        return [MATERIAL_KINDS[self.kind], *self.color_a, *self.color_b, self.scale, self.seed % 100003, self.variation]


@dataclass(frozen=True)
class Plane:
    """Infinite plane {p : normal . p = offset}; `normal` is normalised on packing."""

    normal: tuple[float, float, float]
    offset: float
    material: int


@dataclass(frozen=True)
class Box:
    """Box of full `size` (x, y, z in its own frame) centred at `center`, rotated by REP-103 rpy."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    material: int
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    group: int = 0
    seed: int = 0


@dataclass(frozen=True)
class Cylinder:
    """Vertical cylinder (axis along world z) with a closed top."""

    x: float
    y: float
    radius: float
    z0: float
    z1: float
    material: int
    seed: int = 0


@dataclass(frozen=True)
class Light:
    """`directional`: `vector` points TOWARDS the light; `point`: `vector` is its position,
    attenuated by 1 / (1 + (d / falloff)^2)."""

    kind: str
    vector: tuple[float, float, float]
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    falloff: float = 5.0


class PackedScene(NamedTuple):
    """Arrays the ray-casting kernels take (see render.py for the column layouts)."""

    planes: np.ndarray
    boxes: np.ndarray
    groups: np.ndarray
    cylinders: np.ndarray
    materials: np.ndarray
    lights: np.ndarray
    env: np.ndarray


@dataclass(eq=False)
class Scene:
    """A static world. Object ids: planes first, then boxes, then cylinders (in list order)."""

    name: str
    materials: list[Material]
    planes: list[Plane] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    cylinders: list[Cylinder] = field(default_factory=list)
    lights: list[Light] = field(default_factory=list)
    ambient_up: tuple[float, float, float] = (0.35, 0.35, 0.35)
    ambient_down: tuple[float, float, float] = (0.15, 0.15, 0.15)
    sky_horizon: tuple[float, float, float] | None = None  # None: no sky (closed room)
    sky_zenith: tuple[float, float, float] = (0.25, 0.45, 0.85)
    haze_color: tuple[float, float, float] = (0.7, 0.75, 0.8)
    haze_distance: float = 1e9  # metres of range for 63 % haze
    exposure: float = 1.0
    max_depth: float = 40.0  # optical z beyond which depth is NaN
    path: LoopPath | None = None
    clearance: float = 0.0
    info: dict = field(default_factory=dict)

    def object_kind(self, object_id: int) -> str:
        """'plane', 'box', 'cylinder' or 'none' (id -1) for an id from the renderer."""
        i = int(object_id)
        if i < 0:
            return "none"
        if i < len(self.planes):
            return "plane"
        if i < len(self.planes) + len(self.boxes):
            return "box"
        if i < len(self.planes) + len(self.boxes) + len(self.cylinders):
            return "cylinder"
        raise InvalidInputError(f"object id {i} is not in scene {self.name!r}")

    @cached_property
    def packed(self) -> PackedScene:
        """The scene as kernel arrays (computed once; do not mutate the scene afterwards)."""
        return pack_scene(self)


def pack_scene(scene: Scene) -> PackedScene:
    """Flatten a scene into float64 arrays; boxes are grouped, each group with a world AABB."""
    n_mat = len(scene.materials)

    def check_mat(i: int, what: str) -> int:
        if not 0 <= int(i) < n_mat:
            raise InvalidInputError(f"{what} uses material {i}, but the scene has {n_mat} materials")
        return int(i)

    mats = np.array([m.row() for m in scene.materials], dtype=np.float64).reshape(-1, 10)
    planes = np.zeros((len(scene.planes), 8))
    for k, pl in enumerate(scene.planes):
        n = np.asarray(pl.normal, dtype=np.float64)
        norm = float(np.linalg.norm(n))
        if not norm > 0:
            raise InvalidInputError(f"plane {k} has a zero normal")
        planes[k, :3] = n / norm
        planes[k, 3] = pl.offset / norm
        planes[k, 4] = check_mat(pl.material, f"plane {k}")
    # Boxes: id order is list order; the kernel visits them group by group through `order`.
    n_box = len(scene.boxes)
    boxes = np.zeros((n_box, 20))
    for k, bx in enumerate(scene.boxes):
        size = np.asarray(bx.size, dtype=np.float64)
        if size.shape != (3,) or not (size > 0).all():
            raise InvalidInputError(f"box {k} needs 3 positive sizes, got {bx.size}")
        boxes[k, :3] = bx.center
        boxes[k, 3:6] = size / 2
        boxes[k, 6:15] = rpy_to_matrix(*bx.rpy).reshape(-1)
        boxes[k, 15] = check_mat(bx.material, f"box {k}")
        boxes[k, 16] = bx.seed % 100003
        boxes[k, 17] = bx.group
        boxes[k, 18] = len(scene.planes) + k  # object id
    order = np.argsort(boxes[:, 17], kind="stable") if n_box else np.zeros(0, dtype=np.int64)
    boxes = boxes[order]
    groups = []
    start = 0
    while start < n_box:
        end = start
        while end < n_box and boxes[end, 17] == boxes[start, 17]:
            end += 1
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for row in boxes[start:end]:
            R = row[6:15].reshape(3, 3)
            ext = np.abs(R) @ row[3:6]
            lo = np.minimum(lo, row[:3] - ext)
            hi = np.maximum(hi, row[:3] + ext)
        groups.append([*(lo - 1e-6), *(hi + 1e-6), start, end])
        start = end
    groups_arr = np.array(groups, dtype=np.float64).reshape(-1, 8)
    cyl = np.zeros((len(scene.cylinders), 8))
    for k, c in enumerate(scene.cylinders):
        if not (c.radius > 0 and c.z1 > c.z0):
            raise InvalidInputError(f"cylinder {k} needs radius > 0 and z1 > z0")
        cyl[k] = [c.x, c.y, c.radius, c.z0, c.z1, check_mat(c.material, f"cylinder {k}"), c.seed % 100003,
                  len(scene.planes) + n_box + k]
    lights = np.zeros((len(scene.lights), 8))
    for k, li in enumerate(scene.lights):
        v = np.asarray(li.vector, dtype=np.float64)
        if li.kind == "directional":
            lights[k, 0] = 0
            v = v / np.linalg.norm(v)
        elif li.kind == "point":
            lights[k, 0] = 1
        else:
            raise InvalidInputError(f"light kind must be 'directional' or 'point', got {li.kind!r}")
        lights[k, 1:4] = v
        lights[k, 4:7] = li.color
        lights[k, 7] = li.falloff
    has_sky = scene.sky_horizon is not None
    env = np.array([
        *scene.ambient_up, *scene.ambient_down,
        *(scene.sky_horizon or (0.0, 0.0, 0.0)), *scene.sky_zenith,
        *scene.haze_color, scene.haze_distance, scene.exposure, float(has_sky), scene.max_depth,
    ], dtype=np.float64)
    return PackedScene(planes, boxes, groups_arr, cyl, mats, lights, env)


# -- builders ---------------------------------------------------------------------------------


class _Placer:
    """Rejection sampling of object footprints off the route and off each other."""

    def __init__(self, path: LoopPath, clearance: float, bounds: tuple[float, float, float, float] | None,
                 ring: tuple[float, float] | None = None) -> None:
        self.route = path.samples(720)
        self.clearance = clearance
        self.bounds = bounds  # xmin, xmax, ymin, ymax for every footprint corner
        self.ring = ring  # footprint centres within [r0, r1] of the origin (outdoor far objects)
        self.taken: list[tuple[float, float, float]] = []  # (x, y, radius)

    def fits(self, x: float, y: float, hx: float, hy: float, yaw: float, margin: float = 0.1,
             clearance: float | None = None) -> bool:
        c, s = math.cos(yaw), math.sin(yaw)
        if self.bounds is not None:
            for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                px, py = x + c * sx * hx - s * sy * hy, y + s * sx * hx + c * sy * hy
                xmin, xmax, ymin, ymax = self.bounds
                if not (xmin <= px <= xmax and ymin <= py <= ymax):
                    return False
        d = self.route - np.array([x, y])
        lx = np.abs(c * d[:, 0] + s * d[:, 1]) - hx
        ly = np.abs(-s * d[:, 0] + c * d[:, 1]) - hy
        dist = np.hypot(np.maximum(lx, 0.0), np.maximum(ly, 0.0))
        if dist.min() < (self.clearance if clearance is None else clearance):
            return False
        r = math.hypot(hx, hy)
        return all(math.hypot(x - ox, y - oy) > r + orad + margin for ox, oy, orad in self.taken)

    def take(self, x: float, y: float, hx: float, hy: float) -> None:
        self.taken.append((x, y, math.hypot(hx, hy)))

    def sample(self, rng: np.random.Generator, hx: float, hy: float, yaw: float | None = None,
               tries: int = 200, region: tuple[float, float, float, float] | None = None,
               margin: float = 0.1) -> tuple[float, float, float] | None:
        """A free (x, y, yaw) for a footprint of half sizes hx, hy, or None."""
        for _ in range(tries):
            if self.ring is not None:
                r = rng.uniform(*self.ring)
                a = rng.uniform(0, 2 * np.pi)
                x, y = r * math.cos(a), r * math.sin(a)
            else:
                xmin, xmax, ymin, ymax = region or self.bounds  # type: ignore[misc]
                x, y = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
            th = float(rng.uniform(0, np.pi)) if yaw is None else yaw
            if self.fits(x, y, hx, hy, th, margin):
                self.take(x, y, hx, hy)
                return x, y, th
        return None


def _jitter(rng: np.random.Generator, rgb: tuple[float, float, float], amount: float = 0.12) -> tuple[float, float, float]:
    c = np.clip(np.asarray(rgb) * rng.uniform(1 - amount, 1 + amount, 3) * rng.uniform(0.85, 1.15), 0.02, 0.95)
    return tuple(float(v) for v in c)


def _random_loop(rng: np.random.Generator, a_range: tuple[float, float], b_range: tuple[float, float],
                 center_jitter: float, min_radius: float, fits=None) -> LoopPath:
    for _ in range(500):
        path = LoopPath(
            center=(float(rng.uniform(-center_jitter, center_jitter)), float(rng.uniform(-center_jitter, center_jitter))),
            a=float(rng.uniform(*a_range)),
            b=float(rng.uniform(*b_range)),
            theta=float(rng.uniform(-0.15, 0.15)),
            ex=float(rng.uniform(0.0, 0.06)),
            px=float(rng.uniform(0, 2 * np.pi)),
            ey=float(rng.uniform(0.0, 0.03)),
            py=float(rng.uniform(0, 2 * np.pi)),
            direction=int(rng.choice([-1, 1])),
            sq=float(rng.uniform(0.03, 0.10)),
        )
        if path.min_turn_radius() >= min_radius and (fits is None or fits(path)):
            return path
    raise InvalidInputError("could not plan a route for the scene")  # pragma: no cover - ranges allow it


_BOX_COLOURS = [(0.55, 0.40, 0.24), (0.62, 0.48, 0.30), (0.48, 0.34, 0.20), (0.70, 0.58, 0.40)]
_PLASTIC = [(0.10, 0.25, 0.60), (0.60, 0.12, 0.10), (0.15, 0.45, 0.20), (0.70, 0.60, 0.10), (0.35, 0.35, 0.38)]
_PAINTS = [(0.80, 0.78, 0.70), (0.65, 0.72, 0.78), (0.78, 0.70, 0.62), (0.70, 0.78, 0.68), (0.82, 0.82, 0.82)]


def _crate_material(rng: np.random.Generator, mats: list[Material]) -> int:
    r = rng.random()
    seed = int(rng.integers(1 << 30))
    if r < 0.5:
        mats.append(Material("cardboard", _jitter(rng, _BOX_COLOURS[rng.integers(len(_BOX_COLOURS))], 0.08),
                             (0.85, 0.80, 0.65), scale=float(rng.uniform(0.04, 0.07)), seed=seed))
    elif r < 0.8:
        mats.append(Material("wood", _jitter(rng, (0.60, 0.42, 0.25)), _jitter(rng, (0.40, 0.26, 0.14)),
                             scale=float(rng.uniform(0.09, 0.15)), seed=seed))
    else:
        mats.append(Material("paint", _jitter(rng, _PLASTIC[rng.integers(len(_PLASTIC))], 0.1),
                             (0.0, 0.0, 0.0), scale=0.3, seed=seed, variation=0.08))
    return len(mats) - 1


def _stack(rng: np.random.Generator, scene: Scene, x: float, y: float, yaw: float, w: float, d: float,
           group: int, max_levels: int = 3, z0: float = 0.0, max_height: float = 10.0) -> None:
    """A stack of boxes, each a bit smaller and slightly turned."""
    z = z0
    for level in range(int(rng.integers(1, max_levels + 1))):
        h = float(rng.uniform(0.25, 0.7))
        if z + h > max_height:
            break
        mat = _crate_material(rng, scene.materials)
        jx, jy = (rng.uniform(-0.05, 0.05, 2) * (level > 0))
        scene.boxes.append(Box((x + jx, y + jy, z + h / 2), (w, d, h), mat,
                               rpy=(0.0, 0.0, yaw + float(rng.uniform(-0.08, 0.08)) * (level > 0)),
                               group=group, seed=int(rng.integers(1 << 30))))
        z += h
        w *= float(rng.uniform(0.7, 0.95))
        d *= float(rng.uniform(0.7, 0.95))


def _shelf(rng: np.random.Generator, scene: Scene, x: float, y: float, yaw: float, length: float, depth: float,
           height: float, group: int) -> None:
    """Four posts, 3-4 boards and boxes on the boards."""
    post = 0.06
    metal = len(scene.materials)
    scene.materials.append(Material("metal", _jitter(rng, (0.25, 0.35, 0.55) if rng.random() < 0.5 else (0.55, 0.35, 0.12)),
                                    (0.2, 0.2, 0.2), scale=0.5, seed=int(rng.integers(1 << 30))))
    board = len(scene.materials)
    scene.materials.append(Material("wood", _jitter(rng, (0.62, 0.48, 0.30)), _jitter(rng, (0.45, 0.32, 0.18)),
                                    scale=0.12, seed=int(rng.integers(1 << 30))))
    c, s = math.cos(yaw), math.sin(yaw)

    def world(lx: float, ly: float) -> tuple[float, float]:
        return x + c * lx - s * ly, y + s * lx + c * ly

    for sx in (-1, 1):
        for sy in (-1, 1):
            px, py = world(sx * (length / 2 - post / 2), sy * (depth / 2 - post / 2))
            scene.boxes.append(Box((px, py, height / 2), (post, post, height), metal, rpy=(0, 0, yaw), group=group))
    levels = int(rng.integers(3, 5))
    zs = np.linspace(0.12, height - 0.03, levels)
    thick = 0.03
    for i, zb in enumerate(zs):
        scene.boxes.append(Box((x, y, zb), (length, depth, thick), board, rpy=(0, 0, yaw), group=group,
                               seed=int(rng.integers(1 << 30))))
        if i == levels - 1:
            top = 0.5
        else:
            top = zs[i + 1] - zb - thick - 0.04
        # Boxes standing on this board, side by side along the shelf.
        lx = -length / 2 + 0.05
        while True:
            w = float(rng.uniform(0.25, 0.6))
            if lx + w > length / 2 - 0.05:
                break
            if rng.random() < 0.75:
                d = float(rng.uniform(0.5, 0.95)) * depth
                h = float(rng.uniform(0.4, 0.95)) * top
                if h > 0.08:
                    bx, by = world(lx + w / 2, float(rng.uniform(-1, 1)) * (depth - d) / 2)
                    scene.boxes.append(Box((bx, by, zb + thick / 2 + h / 2), (w * 0.95, d, h),
                                           _crate_material(rng, scene.materials),
                                           rpy=(0, 0, yaw + float(rng.uniform(-0.06, 0.06))), group=group,
                                           seed=int(rng.integers(1 << 30))))
            lx += w + float(rng.uniform(0.02, 0.15))


def build_hall(seed: int) -> Scene:
    """Indoor hall: tiled floor, painted walls, ceiling with lamps, shelves, box stacks, columns."""
    rng = np.random.default_rng([seed, 101])
    L, W, H = float(rng.uniform(14, 20)), float(rng.uniform(10, 14)), float(rng.uniform(3.0, 4.0))
    margin = 1.6

    def inside(path: LoopPath) -> bool:
        pts = path.samples(360)
        return bool((np.abs(pts[:, 0]) < L / 2 - margin).all() and (np.abs(pts[:, 1]) < W / 2 - margin).all())

    path = _random_loop(rng, (0.26 * L, 0.34 * L), (0.25 * W, 0.32 * W), 0.8, 1.1, inside)
    mats: list[Material] = []
    scene = Scene("hall", mats, path=path, clearance=0.9, sky_horizon=None,
                  haze_color=(0.55, 0.55, 0.55), haze_distance=float(rng.uniform(45, 70)), max_depth=40.0)
    floor_colour = _jitter(rng, [(0.55, 0.55, 0.52), (0.62, 0.55, 0.45), (0.45, 0.47, 0.50)][rng.integers(3)], 0.05)
    mats.append(Material("tiles", floor_colour, (0.25, 0.24, 0.22), scale=float(rng.uniform(0.45, 0.65)),
                         seed=int(rng.integers(1 << 30)), variation=0.12))
    wall_base = _PAINTS[rng.integers(len(_PAINTS))]
    for _ in range(4):
        mats.append(Material("wall", _jitter(rng, wall_base, 0.05), _jitter(rng, (0.22, 0.22, 0.25)),
                             scale=float(rng.uniform(1.0, 2.5)), seed=int(rng.integers(1 << 30)), variation=0.12))
    mats.append(Material("tiles", (0.85, 0.85, 0.83), (0.55, 0.55, 0.55), scale=0.6, seed=int(rng.integers(1 << 30)),
                         variation=0.04))
    scene.planes += [
        Plane((0, 0, 1), 0.0, 0),
        Plane((1, 0, 0), -L / 2, 1), Plane((-1, 0, 0), -L / 2, 2),
        Plane((0, 1, 0), -W / 2, 3), Plane((0, -1, 0), -W / 2, 4),
        Plane((0, 0, -1), -H, 5),
    ]
    placer = _Placer(path, scene.clearance, (-L / 2 + 0.02, L / 2 - 0.02, -W / 2 + 0.02, W / 2 - 0.02))
    group = 0
    # Columns first: they are big and structural.
    concrete = len(mats)
    mats.append(Material("concrete", (0.62, 0.61, 0.58), (0.45, 0.44, 0.42), scale=0.8, seed=int(rng.integers(1 << 30))))
    for _ in range(int(rng.integers(0, 5))):
        spot = placer.sample(rng, 0.2, 0.2, yaw=0.0)
        if spot:
            scene.boxes.append(Box((spot[0], spot[1], H / 2), (0.4, 0.4, H), concrete, group=group))
            group += 1
    # Shelves, mostly along the walls.
    for _ in range(int(rng.integers(4, 9))):
        length, depth = float(rng.uniform(1.8, 3.2)), float(rng.uniform(0.5, 0.8))
        height = float(rng.uniform(1.8, min(2.6, H - 0.3)))
        wall = int(rng.integers(4))
        yaw = (0.0, 0.0, np.pi / 2, np.pi / 2)[wall] + float(rng.uniform(-0.03, 0.03))
        if rng.random() < 0.75:
            off = depth / 2 + float(rng.uniform(0.05, 0.4))
            region = [(-L / 2, L / 2, W / 2 - off - 0.01, W / 2 - off + 0.01),
                      (-L / 2, L / 2, -W / 2 + off - 0.01, -W / 2 + off + 0.01),
                      (L / 2 - off - 0.01, L / 2 - off + 0.01, -W / 2, W / 2),
                      (-L / 2 + off - 0.01, -L / 2 + off + 0.01, -W / 2, W / 2)][wall]
        else:
            region = None
        spot = placer.sample(rng, length / 2, depth / 2, yaw=yaw, region=region)
        if spot:
            _shelf(rng, scene, spot[0], spot[1], spot[2], length, depth, height, group)
            group += 1
    # Box stacks and pallets anywhere free.
    for _ in range(int(rng.integers(8, 18))):
        w, d = float(rng.uniform(0.4, 1.1)), float(rng.uniform(0.4, 1.1))
        spot = placer.sample(rng, w / 2 + 0.05, d / 2 + 0.05)
        if spot:
            _stack(rng, scene, spot[0], spot[1], spot[2], w, d, group, max_height=H - 0.2)
            group += 1
    n_lamps = int(rng.integers(2, 4))
    for k in range(n_lamps):
        lx = (k + 0.5) / n_lamps * L * 0.8 - 0.4 * L
        scene.lights.append(Light("point", (lx, float(rng.uniform(-1, 1)), H - 0.3),
                                  color=tuple(float(v) for v in np.array([1.0, 0.97, 0.9]) * rng.uniform(0.9, 1.3)),
                                  falloff=float(rng.uniform(3.5, 5.0))))
    scene.ambient_up = tuple(float(v) for v in np.array([0.26, 0.26, 0.28]) * rng.uniform(0.8, 1.2))
    scene.ambient_down = tuple(float(v) for v in np.array([0.13, 0.13, 0.14]) * rng.uniform(0.8, 1.2))
    scene.exposure = float(rng.uniform(0.9, 1.1))
    scene.info = {"length": L, "width": W, "height": H}
    return scene


_CONTAINER_COLOURS = [(0.60, 0.12, 0.08), (0.10, 0.25, 0.55), (0.15, 0.40, 0.20), (0.75, 0.40, 0.08),
                      (0.45, 0.45, 0.45), (0.55, 0.50, 0.40)]


def build_yard(seed: int) -> Scene:
    """Outdoor yard: asphalt/grass ground, buildings, walls, containers, poles, sky, sun."""
    rng = np.random.default_rng([seed, 202])
    path = _random_loop(rng, (5.0, 9.0), (3.5, 6.0), 1.0, 1.2)
    mats: list[Material] = []
    scene = Scene("yard", mats, path=path, clearance=1.0,
                  sky_horizon=_jitter(rng, (0.78, 0.84, 0.92), 0.04), sky_zenith=_jitter(rng, (0.25, 0.45, 0.85), 0.08),
                  haze_distance=float(rng.uniform(70, 140)), max_depth=40.0)
    scene.haze_color = scene.sky_horizon  # type: ignore[assignment]
    mode = rng.random()
    asphalt, grass = _jitter(rng, (0.30, 0.30, 0.31), 0.08), _jitter(rng, (0.22, 0.38, 0.12), 0.1)
    if mode < 0.3:
        mats.append(Material("asphalt", asphalt, (0.85, 0.82, 0.7), scale=float(rng.uniform(0.12, 0.3)),
                             seed=int(rng.integers(1 << 30))))
    elif mode < 0.55:
        mats.append(Material("grass", grass, _jitter(rng, (0.35, 0.42, 0.15)), scale=0.5, seed=int(rng.integers(1 << 30))))
    else:
        mats.append(Material("ground_mix", asphalt, grass, scale=float(rng.uniform(6, 12)), seed=int(rng.integers(1 << 30)),
                             variation=float(rng.uniform(0.3, 0.7))))
    scene.planes.append(Plane((0, 0, 1), 0.0, 0))
    placer = _Placer(path, scene.clearance, None, ring=(16.0, 34.0))
    group = 0
    for _ in range(int(rng.integers(3, 7))):
        lx, ly, h = float(rng.uniform(8, 20)), float(rng.uniform(6, 12)), float(rng.uniform(4, 12))
        spot = placer.sample(rng, lx / 2, ly / 2)
        if not spot:
            continue
        kind = ("brick", "concrete", "paint")[int(rng.integers(3))]
        col = {"brick": (0.55, 0.25, 0.18), "concrete": (0.60, 0.60, 0.58), "paint": _PAINTS[rng.integers(len(_PAINTS))]}[kind]
        mortar = (0.6, 0.58, 0.55) if kind == "brick" else (0.4, 0.4, 0.4)
        mats.append(Material(kind, _jitter(rng, col, 0.1), _jitter(rng, mortar),
                             scale=0.25 if kind == "brick" else 1.5, seed=int(rng.integers(1 << 30))))
        scene.boxes.append(Box((spot[0], spot[1], h / 2), (lx, ly, h), len(mats) - 1, rpy=(0, 0, spot[2]), group=group,
                               seed=int(rng.integers(1 << 30))))
        group += 1
    placer.ring = (2.0, 18.0)
    for _ in range(int(rng.integers(3, 9))):
        length = 6.06 if rng.random() < 0.7 else 12.19
        spot = placer.sample(rng, length / 2, 1.22)
        if not spot:
            continue
        for level in range(1 + int(rng.random() < 0.3)):
            mats.append(Material("ribbed", _jitter(rng, _CONTAINER_COLOURS[rng.integers(len(_CONTAINER_COLOURS))], 0.1),
                                 (0.35, 0.20, 0.10), scale=0.15, seed=int(rng.integers(1 << 30)), variation=0.25))
            scene.boxes.append(Box((spot[0], spot[1], 1.295 + 2.59 * level), (length, 2.44, 2.59), len(mats) - 1,
                                   rpy=(0, 0, spot[2] + float(rng.uniform(-0.03, 0.03)) * level), group=group,
                                   seed=int(rng.integers(1 << 30))))
        group += 1
    for _ in range(int(rng.integers(2, 5))):
        length, thick, h = float(rng.uniform(5, 14)), float(rng.uniform(0.2, 0.3)), float(rng.uniform(1.2, 3.0))
        spot = placer.sample(rng, length / 2, thick / 2)
        if not spot:
            continue
        kind = "brick" if rng.random() < 0.5 else "concrete"
        mats.append(Material(kind, _jitter(rng, (0.55, 0.27, 0.2) if kind == "brick" else (0.62, 0.62, 0.6)),
                             (0.62, 0.6, 0.56), scale=0.25 if kind == "brick" else 1.0, seed=int(rng.integers(1 << 30))))
        scene.boxes.append(Box((spot[0], spot[1], h / 2), (length, thick, h), len(mats) - 1, rpy=(0, 0, spot[2]),
                               group=group, seed=int(rng.integers(1 << 30))))
        group += 1
    placer.ring = (1.0, 14.0)
    for _ in range(int(rng.integers(4, 10))):
        crates = float(rng.uniform(0.7, 1.3))
        spot = placer.sample(rng, crates / 2, crates / 2)
        if spot:
            _stack(rng, scene, spot[0], spot[1], spot[2], crates, crates * float(rng.uniform(0.7, 1.0)), group, max_levels=2)
            group += 1
    pole_mat = len(mats)
    mats.append(Material("metal", _jitter(rng, (0.45, 0.46, 0.48), 0.05), (0.3, 0.3, 0.3), scale=0.5,
                         seed=int(rng.integers(1 << 30))))
    bollard = len(mats)
    mats.append(Material("paint", (0.75, 0.6, 0.08), (0.1, 0.1, 0.1), scale=0.3, seed=int(rng.integers(1 << 30)), variation=0.05))
    for _ in range(int(rng.integers(4, 12))):
        tall = rng.random() < 0.6
        r = float(rng.uniform(0.06, 0.14)) if tall else 0.1
        spot = placer.sample(rng, r, r, yaw=0.0)
        if spot:
            h = float(rng.uniform(3.0, 8.0)) if tall else 0.9
            scene.cylinders.append(Cylinder(spot[0], spot[1], r, 0.0, h, pole_mat if tall else bollard,
                                            seed=int(rng.integers(1 << 30))))
    elev, azim = math.radians(float(rng.uniform(25, 65))), float(rng.uniform(0, 2 * np.pi))
    sun = (math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev))
    sun_colour = np.array([1.0, 0.96, 0.88]) * rng.uniform(1.0, 1.3)
    scene.lights.append(Light("directional", sun, color=tuple(float(v) for v in sun_colour)))
    scene.ambient_up = tuple(float(v) for v in np.array([0.32, 0.36, 0.45]) * rng.uniform(0.8, 1.1))
    scene.ambient_down = tuple(float(v) for v in np.array([0.14, 0.14, 0.12]) * rng.uniform(0.8, 1.1))
    scene.exposure = float(rng.uniform(0.9, 1.1))
    return scene


def build_scene(name: str, seed: int) -> Scene:
    """A seeded `hall` or `yard` (same seed -> identical scene)."""
    if name == "hall":
        return build_hall(int(seed))
    if name == "yard":
        return build_yard(int(seed))
    raise InvalidInputError(f"unknown scene {name!r}; choose one of {', '.join(SCENES)}")
