"""Training checkpoints: written atomically, read with weights_only, with the RNG states for an exact resume."""

from __future__ import annotations

import argparse
from pathlib import Path

from depth_ros.core.errors import InvalidInputError

PROG = "depth-ros-train"  # the tool whose checkpoints these are
CHECKPOINT_FORMAT = "depth_ros.train"

CHECKPOINT_VERSION = 1


def save_training_checkpoint(path: Path, state: dict) -> None:
    import torch  # noqa: PLC0415

    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    tmp.replace(path)


def load_training_checkpoint(path: Path) -> dict:
    """A checkpoint written by this tool (``weights_only`` loading: tensors and plain data only)."""
    import torch  # noqa: PLC0415


    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise InvalidInputError(f"--resume {path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise InvalidInputError(f"--resume {path}: cannot read the checkpoint: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InvalidInputError(f"--resume {path}: not a {PROG} checkpoint")
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise InvalidInputError(f"--resume {path}: checkpoint version {state.get('version')} is newer than this tool")
    state["path"] = str(path)
    return state


def rng_state_plain(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def rng_state_from_plain(plain: list) -> tuple:
    version, internal, gauss = plain
    return version, tuple(internal), gauss


def jsonable_args(args: argparse.Namespace) -> dict:
    return {k: ([str(x) for x in v] if isinstance(v, list) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()}
