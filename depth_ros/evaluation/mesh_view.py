"""A rendered view of a map's mesh for reports: matplotlib's 3D polygons, shaded by a light, coloured by height."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depth_ros.optional import pyplot

LIGHT = np.array([0.4, -0.5, 0.77])  # from the viewer's upper left


def render_mesh(vertices: np.ndarray, triangles: np.ndarray, path: Path, title: str,
                elevation: float = 35.0, azimuth: float = -60.0) -> Path:
    """Write a PNG of the mesh seen from above at an angle; each triangle lit by `LIGHT` (Lambert,
    two-sided) and coloured by the height of its centre. Returns `path`."""
    plt = pyplot("the rendered mesh view")
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: PLC0415 - with matplotlib (the tools extra)

    faces = np.asarray(vertices, np.float64)[np.asarray(triangles, np.int64)]  # (M, 3, 3)
    fig = plt.figure(figsize=(8, 6))
    ax = fig.add_subplot(projection="3d")
    if len(faces):
        normals = np.cross(faces[:, 1] - faces[:, 0], faces[:, 2] - faces[:, 0])
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        shade = 0.35 + 0.65 * np.abs(normals @ (LIGHT / np.linalg.norm(LIGHT)))
        z = faces[:, :, 2].mean(axis=1)
        span = max(float(np.ptp(z)), 1e-6)
        colours = plt.get_cmap("viridis")((z - z.min()) / span)
        colours[:, :3] *= shade[:, None]
        ax.add_collection3d(Poly3DCollection(faces, facecolors=colours, edgecolors="none"))
        lo, hi = faces.reshape(-1, 3).min(axis=0), faces.reshape(-1, 3).max(axis=0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 0.5)
        for set_lim, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
            set_lim(c - half, c + half)  # equal axes: the map is not stretched
    ax.view_init(elev=elevation, azim=azimuth)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")
    ax.set_title(f"{title} ({len(faces)} triangles)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
