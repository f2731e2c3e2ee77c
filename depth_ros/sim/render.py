"""Numba ray caster: exact ground-truth depth and shaded RGB of a `Scene` from a camera pose.

Every pixel's ray is the camera's own undistorted ray ``(x, y, 1)`` from `CameraModel.rays`
(so lens distortion is exactly the one `CameraModel.project` applies), rotated into the world.
With that parametrisation the ray parameter of the nearest hit IS the optical-frame depth z,
computed in float64 and stored as float32. Depth beyond `Scene.max_depth` and sky are NaN.

Colour: procedural albedo (filtered by the pixel footprint so that distant texture does not
alias), Lambertian lighting from directional/point lights with hard shadows, hemispheric
ambient light, distance haze, a sky gradient with faint clouds, gamma 2.2, optional Gaussian
sensor noise drawn from the caller's generator.

Packed array layouts (see `depth_ros.sim.scenes.pack_scene`):
  planes (P, 8): n(3), d, material, -, -, -            (object id = row)
  boxes (B, 20): centre(3), half size(3), R world<-box (9, row-major), material, seed, group, id
  groups (G, 8): AABB min(3), max(3), first box row, end row
  cylinders (C, 8): x, y, radius, z0, z1, material, seed, id
  materials (M, 10): kind, colour A(3), colour B(3), scale, seed, variation
  lights (L, 8): kind (0 directional, 1 point), vector(3), colour(3), falloff
  env (19,): ambient up(3), ambient down(3), sky horizon(3), sky zenith(3), haze colour(3),
             haze distance, exposure, has sky, max depth
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from depth_ros.core.camera import CameraModel
from depth_ros.core.errors import InvalidInputError
from depth_ros.core.transforms import RigidTransform
from depth_ros.sim.scenes import Scene

_EPS = 1e-9
_JIT = dict(cache=True, error_model="numpy", fastmath=False)


# -- procedural noise ---------------------------------------------------------------------------


@njit(inline="always", **_JIT)
def _hash(ix: int, iy: int, seed: int) -> float:
    h = (ix * 374761393 + iy * 668265263 + seed * 2246822519) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return h / 4294967296.0


@njit(inline="always", **_JIT)
def _vnoise(u: float, v: float, seed: int) -> float:
    fu, fv = math.floor(u), math.floor(v)
    iu, iv = np.int64(fu), np.int64(fv)
    tu, tv = u - fu, v - fv
    su, sv = tu * tu * (3.0 - 2.0 * tu), tv * tv * (3.0 - 2.0 * tv)
    a = _hash(iu, iv, seed)
    b = _hash(iu + 1, iv, seed)
    c = _hash(iu, iv + 1, seed)
    d = _hash(iu + 1, iv + 1, seed)
    return (a + (b - a) * su) + ((c + (d - c) * su) - (a + (b - a) * su)) * sv


@njit(inline="always", **_JIT)
def _att(fp: float, freq: float) -> float:
    """Amplitude kept of a pattern of `freq` cycles/m seen with a pixel footprint of fp metres."""
    x = fp * freq
    return math.exp(-4.0 * x * x)


@njit(**_JIT)
def _fbm(u: float, v: float, seed: int, freq: float, octaves: int, fp: float) -> float:
    s = 0.0
    amp = 0.5
    norm = 0.0
    for o in range(octaves):
        s += amp * _att(fp, freq) * (_vnoise(u * freq, v * freq, seed + 7919 * o) - 0.5)
        norm += amp
        amp *= 0.5
        freq *= 2.0
    return s / norm


@njit(inline="always", **_JIT)
def _lines(x: float, period: float, width: float, fp: float) -> float:
    """Coverage of lines of `width` every `period` metres, box-filtered over the footprint."""
    d = abs(x / period - math.floor(x / period + 0.5)) * period
    f = max(fp, 1e-6)
    cov = min(max((0.5 * width + 0.5 * f - d) / f, 0.0), 1.0)
    k = min(max(2.0 * fp / period - 0.5, 0.0), 1.0)
    return cov * (1.0 - k) + (width / period) * k


@njit(inline="always", **_JIT)
def _clamp01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


@njit(**_JIT)
def _albedo(m: np.ndarray, u: float, v: float, fp: float, seed: int) -> tuple[float, float, float]:
    kind = int(m[0])
    ar, ag, ab = m[1], m[2], m[3]
    br, bg, bb = m[4], m[5], m[6]
    scale, var = m[7], m[9]
    sd = int(m[8]) + seed
    # Per-object offset so that equal materials on different objects do not repeat.
    u += _hash(sd, 1, 3) * 97.0
    v += _hash(sd, 2, 5) * 89.0
    if kind == 0:  # PAINT
        n = _fbm(u, v, sd, 1.0 / scale, 4, fp)
        k = 1.0 + 2.0 * var * n
        s = _clamp01(_fbm(u, v, sd + 11, 0.35, 2, fp) * 3.0 * var)
        return (ar * k * (1 - s) + br * s, ag * k * (1 - s) + bg * s, ab * k * (1 - s) + bb * s)
    if kind == 1:  # TILES
        iu, iv = math.floor(u / scale), math.floor(v / scale)
        tv = (_hash(np.int64(iu), np.int64(iv), sd) - 0.5) * 2.0 * var * _att(fp, 1.0 / scale)
        k = (1.0 + tv) * (1.0 + 0.25 * _fbm(u, v, sd + 3, 6.0 / scale, 3, fp))
        g = max(_lines(u, scale, 0.012 + 0.02 * scale, fp), _lines(v, scale, 0.012 + 0.02 * scale, fp))
        return (ar * k * (1 - g) + br * g, ag * k * (1 - g) + bg * g, ab * k * (1 - g) + bb * g)
    if kind == 2:  # WOOD: planks of width `scale` across v, grain along u
        iv = math.floor(v / scale)
        pv = (_hash(np.int64(iv), 7, sd) - 0.5) * 0.3 * _att(fp, 1.0 / scale)
        warp = 2.0 * _fbm(u, v, sd + 5, 1.5, 2, fp)
        grain = 0.5 + 0.5 * math.sin(2.0 * math.pi * (v * 25.0 + warp + iv * 0.37)) * _att(fp, 25.0)
        seam = _lines(v, scale, 0.006, fp)
        k = (1.0 + pv) * (1.0 - 0.6 * seam)
        return ((ar + (br - ar) * grain) * k, (ag + (bg - ag) * grain) * k, (ab + (bb - ab) * grain) * k)
    if kind == 3:  # CARDBOARD with a tape strip of half width `scale` along u = 0
        k = 1.0 + 0.35 * _fbm(u, v, sd, 12.0, 3, fp)
        uu = u - _hash(sd, 1, 3) * 97.0  # back to box-centred coordinates for the tape
        f = max(fp, 1e-6)
        tape = _clamp01((scale + 0.5 * f - abs(uu)) / f) * 0.8
        return (ar * k * (1 - tape) + br * tape, ag * k * (1 - tape) + bg * tape, ab * k * (1 - tape) + bb * tape)
    if kind == 4 or kind == 10:  # GRASS, or GROUND_MIX (asphalt A / grass B by a noise mask)
        if kind == 10:
            mask = _clamp01((_fbm(u, v, sd + 21, 1.0 / scale, 3, fp) + var - 0.5) * 8.0 + 0.5)
        else:
            mask = 1.0
        gr, gg, gb = (br, bg, bb) if kind == 10 else (ar, ag, ab)
        g2r, g2g, g2b = (gr * 1.3, gg * 1.15, gb * 0.9) if kind == 10 else (br, bg, bb)
        p = _clamp01(0.5 + 2.0 * _fbm(u, v, sd, 0.4, 3, fp))
        bl = 1.0 + 0.8 * _fbm(u, v, sd + 9, 6.0, 4, fp)
        grr, grg, grb = (gr + (g2r - gr) * p) * bl, (gg + (g2g - gg) * p) * bl, (gb + (g2b - gb) * p) * bl
        if mask >= 1.0:
            return (grr, grg, grb)
        ak = (1.0 + 0.6 * _fbm(u, v, sd + 2, 20.0, 3, fp)) * (1.0 + 0.25 * _fbm(u, v, sd + 4, 0.5, 2, fp))
        return (ar * ak * (1 - mask) + grr * mask, ag * ak * (1 - mask) + grg * mask, ab * ak * (1 - mask) + grb * mask)
    if kind == 5:  # ASPHALT with dashed painted lines (colour B) every 1 / scale metres
        k = (1.0 + 0.6 * _fbm(u, v, sd, 20.0, 3, fp)) * (1.0 + 0.3 * _fbm(u, v, sd + 1, 0.4, 3, fp))
        period = 1.0 / scale
        dash = 1.0 if (v / 3.0 - math.floor(v / 3.0)) < 0.55 else 0.0
        paint = _lines(u, period, 0.12, fp) * (dash * (1.0 - _att(fp, 0.33)) + 0.55 * _att(fp, 0.33)) * 0.85
        return (ar * k * (1 - paint) + br * paint, ag * k * (1 - paint) + bg * paint, ab * k * (1 - paint) + bb * paint)
    if kind == 6:  # BRICK: bricks of length `scale`, height scale / 3, mortar B
        bh = scale / 3.0
        row = math.floor(v / bh)
        uo = u + 0.5 * scale * (row % 2)
        col = math.floor(uo / scale)
        k = 1.0 + (_hash(np.int64(col), np.int64(row), sd) - 0.5) * 2.0 * var * _att(fp, 1.0 / bh)
        k *= 1.0 + 0.2 * _fbm(u, v, sd + 2, 10.0, 2, fp)
        g = max(_lines(v, bh, 0.012, fp), _lines(uo, scale, 0.012, fp))
        return (ar * k * (1 - g) + br * g, ag * k * (1 - g) + bg * g, ab * k * (1 - g) + bb * g)
    if kind == 7:  # RIBBED container wall: ribs every `scale` along u, rust B
        rib = math.sin(2.0 * math.pi * u / scale) * _att(fp, 1.0 / scale)
        k = (1.0 + 0.22 * rib) * (1.0 + 0.15 * _fbm(u, v, sd, 2.0, 3, fp))
        s = _clamp01((_fbm(u, v, sd + 4, 0.7, 3, fp) + var - 0.5) * 3.0)
        return (ar * k * (1 - s) + br * s, ag * k * (1 - s) + bg * s, ab * k * (1 - s) + bb * s)
    if kind == 8:  # CONCRETE
        k = 1.0 + 0.3 * _fbm(u, v, sd, 1.0 / scale, 5, fp)
        s = _clamp01(_fbm(u, v, sd + 6, 0.5, 2, fp) * 2.5)
        return (ar * k * (1 - s) + br * s, ag * k * (1 - s) + bg * s, ab * k * (1 - s) + bb * s)
    if kind == 11:  # WALL: noisy paint, vertical panel seams every `scale` m, dark skirting (B) below 0.12 m
        vz = v - _hash(sd, 2, 5) * 89.0  # back to height above the floor
        n = _fbm(u, v, sd, 1.0 / scale, 4, fp)
        k = (1.0 + 2.0 * var * n) * (1.0 - 0.35 * _lines(u, scale, 0.01, fp))
        f = max(fp, 1e-6)
        sk = _clamp01((0.12 - vz) / f + 0.5)
        band = _clamp01((0.04 - abs(vz - 1.05)) / f + 0.5) * 0.6
        k *= 1.0 - 0.25 * band
        return (ar * k * (1 - sk) + br * sk, ag * k * (1 - sk) + bg * sk, ab * k * (1 - sk) + bb * sk)
    # METAL (and unknown kinds)
    k = 1.0 + 0.15 * _fbm(u, v, sd, 3.0, 3, fp)
    return (ar * k, ag * k, ab * k)


# -- intersection -------------------------------------------------------------------------------


@njit(**_JIT)
def _box_hit(b: np.ndarray, ox: float, oy: float, oz: float, dx: float, dy: float, dz: float,
             tmin_allowed: float) -> tuple[float, int]:
    """(t, face axis) of the ray entering box row `b`, or (inf, -1)."""
    rx, ry, rz = ox - b[0], oy - b[1], oz - b[2]
    # local = R^T (p - c)
    lo0 = b[6] * rx + b[9] * ry + b[12] * rz
    lo1 = b[7] * rx + b[10] * ry + b[13] * rz
    lo2 = b[8] * rx + b[11] * ry + b[14] * rz
    ld0 = b[6] * dx + b[9] * dy + b[12] * dz
    ld1 = b[7] * dx + b[10] * dy + b[13] * dz
    ld2 = b[8] * dx + b[11] * dy + b[14] * dz
    tn, tf, axis = -np.inf, np.inf, -1
    for k in range(3):
        o = lo0 if k == 0 else (lo1 if k == 1 else lo2)
        d = ld0 if k == 0 else (ld1 if k == 1 else ld2)
        h = b[3 + k]
        if d == 0.0:
            if abs(o) > h:
                return np.inf, -1
            continue
        t1 = (-h - o) / d
        t2 = (h - o) / d
        if t1 > t2:
            t1, t2 = t2, t1
        if t1 > tn:
            tn, axis = t1, k
        if t2 < tf:
            tf = t2
        if tn > tf:
            return np.inf, -1
    if tn > tmin_allowed and axis >= 0:
        return tn, axis
    return np.inf, -1


@njit(inline="always", **_JIT)
def _aabb_enter(g: np.ndarray, ox: float, oy: float, oz: float, ix: float, iy: float, iz: float) -> float:
    """Entry parameter of the ray into AABB row g (inf when missed); i* are 1/direction."""
    t1, t2 = (g[0] - ox) * ix, (g[3] - ox) * ix
    tn, tf = min(t1, t2), max(t1, t2)
    t1, t2 = (g[1] - oy) * iy, (g[4] - oy) * iy
    tn, tf = max(tn, min(t1, t2)), min(tf, max(t1, t2))
    t1, t2 = (g[2] - oz) * iz, (g[5] - oz) * iz
    tn, tf = max(tn, min(t1, t2)), min(tf, max(t1, t2))
    if tn != tn or tf != tf:  # NaN from 0 * inf: the ray lies in a slab plane; be conservative
        return 0.0
    if tf < max(tn, 0.0):
        return np.inf
    return max(tn, 0.0)


@njit(**_JIT)
def _trace(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, tmax: float, any_hit: bool,
           planes: np.ndarray, boxes: np.ndarray, groups: np.ndarray, cyls: np.ndarray) -> tuple[float, int, int, int]:
    """Nearest hit with eps < t < tmax: (t, kind 0 plane/1 box/2 cylinder/-1 none, row, face)."""
    best, kind, row, face = tmax, -1, -1, -1
    for i in range(planes.shape[0]):
        den = planes[i, 0] * dx + planes[i, 1] * dy + planes[i, 2] * dz
        if den != 0.0:
            t = (planes[i, 3] - (planes[i, 0] * ox + planes[i, 1] * oy + planes[i, 2] * oz)) / den
            if _EPS < t < best:
                best, kind, row, face = t, 0, i, 0
                if any_hit:
                    return best, kind, row, face
    ix, iy, iz = 1.0 / dx, 1.0 / dy, 1.0 / dz
    for gi in range(groups.shape[0]):
        if _aabb_enter(groups[gi], ox, oy, oz, ix, iy, iz) >= best:
            continue
        for bi in range(int(groups[gi, 6]), int(groups[gi, 7])):
            t, ax = _box_hit(boxes[bi], ox, oy, oz, dx, dy, dz, _EPS)
            if t < best:
                best, kind, row, face = t, 1, bi, ax
                if any_hit:
                    return best, kind, row, face
    a = dx * dx + dy * dy
    for ci in range(cyls.shape[0]):
        cx, cy, r, z0, z1 = cyls[ci, 0], cyls[ci, 1], cyls[ci, 2], cyls[ci, 3], cyls[ci, 4]
        px, py = ox - cx, oy - cy
        if a > 1e-18:
            b = px * dx + py * dy
            c = px * px + py * py - r * r
            disc = b * b - a * c
            if disc >= 0.0:
                t = (-b - math.sqrt(disc)) / a
                if _EPS < t < best:
                    z = oz + t * dz
                    if z0 <= z <= z1:
                        best, kind, row, face = t, 2, ci, 0
                        if any_hit:
                            return best, kind, row, face
        if dz != 0.0:
            t = (z1 - oz) / dz
            if _EPS < t < best and oz > z1:
                qx, qy = px + t * dx, py + t * dy
                if qx * qx + qy * qy <= r * r:
                    best, kind, row, face = t, 2, ci, 1
                    if any_hit:
                        return best, kind, row, face
    return best, kind, row, face


@njit(**_JIT)
def _surface(kind: int, row: int, face: int, px: float, py: float, pz: float, dx: float, dy: float, dz: float,
             planes: np.ndarray, boxes: np.ndarray, cyls: np.ndarray) -> tuple[float, float, float, float, float, int, int, int]:
    """Facing normal, texture coordinates, material row, seed and object id of a hit."""
    if kind == 0:
        nx, ny, nz = planes[row, 0], planes[row, 1], planes[row, 2]
        if nx * dx + ny * dy + nz * dz > 0.0:
            nx, ny, nz = -nx, -ny, -nz
        if abs(nz) > 0.9:
            u, v = px, py
        else:
            h = math.sqrt(nx * nx + ny * ny)
            u, v = (-ny * px + nx * py) / h, pz
        return nx, ny, nz, u, v, int(planes[row, 4]), row, row
    if kind == 1:
        b = boxes[row]
        rx, ry, rz = px - b[0], py - b[1], pz - b[2]
        l0 = b[6] * rx + b[9] * ry + b[12] * rz
        l1 = b[7] * rx + b[10] * ry + b[13] * rz
        l2 = b[8] * rx + b[11] * ry + b[14] * rz
        ldk = (b[6 + face] * dx + b[9 + face] * dy + b[12 + face] * dz)
        sgn = -1.0 if ldk > 0.0 else 1.0
        nx, ny, nz = sgn * b[6 + face], sgn * b[9 + face], sgn * b[12 + face]
        if face == 0:
            u, v = l1, l2
        elif face == 1:
            u, v = l0, l2
        else:
            u, v = l0, l1
        return nx, ny, nz, u, v, int(b[15]), int(b[16]), int(b[18])
    c = cyls[row]
    qx, qy = px - c[0], py - c[1]
    if face == 1:
        return 0.0, 0.0, 1.0, qx, qy, int(c[5]), int(c[6]), int(c[7])
    r = c[2]
    return qx / r, qy / r, 0.0, math.atan2(qy, qx) * r, pz, int(c[5]), int(c[6]), int(c[7])


@njit(**_JIT)
def _shade(t: float, kind: int, row: int, face: int, ox: float, oy: float, oz: float, dx: float, dy: float, dz: float,
           pix: float, shadows: bool, planes: np.ndarray, boxes: np.ndarray, groups: np.ndarray, cyls: np.ndarray,
           mats: np.ndarray, lights: np.ndarray, env: np.ndarray) -> tuple[float, float, float]:
    dn = math.sqrt(dx * dx + dy * dy + dz * dz)
    if kind < 0:
        if env[17] == 0.0:
            return 0.0, 0.0, 0.0
        e = dz / dn
        k = math.sqrt(_clamp01(e))
        r = env[6] + (env[9] - env[6]) * k
        g = env[7] + (env[10] - env[7]) * k
        b = env[8] + (env[11] - env[8]) * k
        if e > 0.01:
            cl = _clamp01(2.5 * _fbm(dx / dz, dy / dz, 77, 0.6, 4, 0.0) + 0.1) * min(1.0, e * 8.0) * 0.6
            r, g, b = r + (0.95 - r) * cl, g + (0.95 - g) * cl, b + (0.97 - b) * cl
        return r, g, b
    px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
    nx, ny, nz, u, v, mi, seed, _ = _surface(kind, row, face, px, py, pz, dx, dy, dz, planes, boxes, cyls)
    rng_ = t * dn
    cosi = abs(nx * dx + ny * dy + nz * dz) / dn
    fp = t * pix / math.sqrt(max(cosi, 0.05))
    ar, ag, ab = _albedo(mats[mi], u, v, fp, seed)
    lr = env[0] * (0.5 + 0.5 * nz) + env[3] * (0.5 - 0.5 * nz)
    lg = env[1] * (0.5 + 0.5 * nz) + env[4] * (0.5 - 0.5 * nz)
    lb = env[2] * (0.5 + 0.5 * nz) + env[5] * (0.5 - 0.5 * nz)
    off = 1e-6 * (1.0 + rng_)
    sx, sy, sz = px + nx * off, py + ny * off, pz + nz * off
    for li in range(lights.shape[0]):
        if lights[li, 0] == 0.0:
            lx, ly, lz = lights[li, 1], lights[li, 2], lights[li, 3]
            dist, att = np.inf, 1.0
        else:
            lx, ly, lz = lights[li, 1] - px, lights[li, 2] - py, lights[li, 3] - pz
            dist = math.sqrt(lx * lx + ly * ly + lz * lz)
            lx, ly, lz = lx / dist, ly / dist, lz / dist
            q = dist / lights[li, 7]
            att = 1.0 / (1.0 + q * q)
        ndl = nx * lx + ny * ly + nz * lz
        if ndl <= 0.0:
            continue
        if shadows:
            ts, ks, _, _ = _trace(sx, sy, sz, lx, ly, lz, dist, True, planes, boxes, groups, cyls)
            if ks >= 0:
                continue
        lr += lights[li, 4] * ndl * att
        lg += lights[li, 5] * ndl * att
        lb += lights[li, 6] * ndl * att
    ex = env[16]
    r, g, b = ar * lr * ex, ag * lg * ex, ab * lb * ex
    f = 1.0 - math.exp(-rng_ / env[15])
    return r + (env[12] - r) * f, g + (env[13] - g) * f, b + (env[14] - b) * f


@njit(parallel=True, **_JIT)
def _render_kernel(rx: np.ndarray, ry: np.ndarray, Rwc: np.ndarray, o: np.ndarray, pix: float, color: bool,
                   shadows: bool, planes: np.ndarray, boxes: np.ndarray, groups: np.ndarray, cyls: np.ndarray,
                   mats: np.ndarray, lights: np.ndarray, env: np.ndarray, depth: np.ndarray, ids: np.ndarray,
                   rgb: np.ndarray) -> None:
    H, W = rx.shape
    ox, oy, oz = o[0], o[1], o[2]
    max_depth = env[18]
    for i in prange(H):
        for j in range(W):
            x, y = rx[i, j], ry[i, j]
            dx = Rwc[0, 0] * x + Rwc[0, 1] * y + Rwc[0, 2]
            dy = Rwc[1, 0] * x + Rwc[1, 1] * y + Rwc[1, 2]
            dz = Rwc[2, 0] * x + Rwc[2, 1] * y + Rwc[2, 2]
            tmax = np.inf if color else max_depth * (1.0 + 1e-12)
            t, kind, row, face = _trace(ox, oy, oz, dx, dy, dz, tmax, False, planes, boxes, groups, cyls)
            if kind >= 0 and t <= max_depth:
                depth[i, j] = t
                if kind == 0:
                    ids[i, j] = row
                elif kind == 1:
                    ids[i, j] = int(boxes[row, 18])
                else:
                    ids[i, j] = int(cyls[row, 7])
            else:
                depth[i, j] = np.nan
                ids[i, j] = -1
            if color:
                r, g, b = _shade(t, kind, row, face, ox, oy, oz, dx, dy, dz, pix, shadows,
                                 planes, boxes, groups, cyls, mats, lights, env)
                rgb[i, j, 0] = math.pow(_clamp01(r), 1.0 / 2.2)
                rgb[i, j, 1] = math.pow(_clamp01(g), 1.0 / 2.2)
                rgb[i, j, 2] = math.pow(_clamp01(b), 1.0 / 2.2)


@njit(parallel=True, **_JIT)
def _cast_kernel(orig: np.ndarray, dirs: np.ndarray, planes: np.ndarray, boxes: np.ndarray, groups: np.ndarray,
                 cyls: np.ndarray, t_out: np.ndarray, id_out: np.ndarray) -> None:
    for n in prange(orig.shape[0]):
        t, kind, row, face = _trace(orig[n, 0], orig[n, 1], orig[n, 2], dirs[n, 0], dirs[n, 1], dirs[n, 2],
                                    np.inf, False, planes, boxes, groups, cyls)
        if kind < 0:
            t_out[n], id_out[n] = np.inf, -1
        else:
            t_out[n] = t
            id_out[n] = row if kind == 0 else (int(boxes[row, 18]) if kind == 1 else int(cyls[row, 7]))


# -- public API ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RenderResult:
    """One rendered view."""

    depth: np.ndarray  # (H, W) float32 optical z in metres, NaN = sky / beyond max depth
    object_id: np.ndarray  # (H, W) int32, -1 = nothing (see Scene.object_kind)
    rgb: np.ndarray | None  # (H, W, 3) uint8 RGB, None when rendered without colour


def _rays(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    r = camera.rays
    shape = (camera.height, camera.width)
    return (np.ascontiguousarray(np.broadcast_to(r.x, shape), dtype=np.float64),
            np.ascontiguousarray(np.broadcast_to(r.y, shape), dtype=np.float64))


def render(
    scene: Scene,
    camera: CameraModel,
    T_world_cam: RigidTransform,
    color: bool = True,
    shadows: bool = True,
    rng: np.random.Generator | None = None,
    noise_sigma: float = 1.5,
) -> RenderResult:
    """Render the scene seen by `camera` whose optical frame has pose `T_world_cam` in the world.

    `rng` adds Gaussian sensor noise of `noise_sigma` grey levels to the colour image (no rng:
    no noise, fully deterministic). Without `color` only depth and ids are computed (faster).
    """
    if not isinstance(T_world_cam, RigidTransform):
        raise InvalidInputError(f"T_world_cam must be a RigidTransform, got {type(T_world_cam).__name__}")
    p = scene.packed
    rx, ry = _rays(camera)
    H, W = camera.height, camera.width
    depth = np.empty((H, W), np.float64)
    ids = np.empty((H, W), np.int32)
    rgb = np.empty((H, W, 3) if color else (1, 1, 3), np.float64)
    _render_kernel(rx, ry, np.ascontiguousarray(T_world_cam.R), np.ascontiguousarray(T_world_cam.t),
                   1.0 / camera.fx, bool(color), bool(shadows), p.planes, p.boxes, p.groups, p.cylinders,
                   p.materials, p.lights, p.env, depth, ids, rgb)
    img = None
    if color:
        img = rgb * 255.0
        if rng is not None and noise_sigma > 0:
            img += rng.normal(0.0, noise_sigma, img.shape)
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return RenderResult(depth.astype(np.float32), ids, img)


def cast_rays(scene: Scene, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hits of world rays o + t d: (t (N,) in units of |d|, inf = none; object id (N,), -1 = none)."""
    o = np.ascontiguousarray(np.asarray(origins, dtype=np.float64).reshape(-1, 3))
    d = np.ascontiguousarray(np.asarray(directions, dtype=np.float64).reshape(-1, 3))
    if o.shape != d.shape:
        raise InvalidInputError(f"origins {o.shape} and directions {d.shape} must both be (N, 3)")
    p = scene.packed
    t = np.empty(len(o))
    ids = np.empty(len(o), np.int32)
    _cast_kernel(o, d, p.planes, p.boxes, p.groups, p.cylinders, t, ids)
    return t, ids
