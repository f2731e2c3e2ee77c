"""Where a model's weights come from: a local path, ``$DEPTH_ROS_MODEL_DIR``, or a hub id when online.

Order for `resolve_weights`: the explicit path (an existing local path, else a Hugging Face id if
hub ids are allowed and the hub is reachable); without one, ``$DEPTH_ROS_MODEL_DIR/<env_subpath>``,
then the spec's ``default_path``, then its ``hub_id`` (online only). Every failure is a
`ModelLoadError` that names the path and the ROS parameter to set.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from depth_ros.core.errors import ModelLoadError
from depth_ros.models.spec import ModelSpec

MODEL_DIR_ENV = "DEPTH_ROS_MODEL_DIR"
PATH_PARAMETER = "model_path"
HUB_HOST = ("huggingface.co", 443)
_TRUE = {"1", "true", "yes", "on"}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class WeightsSource:
    """A resolved weights location: a local path, or a hub id (``is_hub``)."""

    location: str
    is_hub: bool = False


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """False when HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set or huggingface.co:443 cannot be reached."""
    if any(os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout_s):
            return True
    except OSError:
        return False


def looks_like_hub_id(text: str) -> bool:
    """True for "owner/name" strings that are not filesystem-looking paths."""
    return bool(_HUB_ID.fullmatch(text)) and not text.startswith((".", "~"))


def _missing(spec: ModelSpec, tried: list[str], expects: str, offline_hub_id: str | None = None) -> ModelLoadError:
    if tried:
        msg = f"model {spec.name!r}: {', '.join(repr(t) for t in tried)} does not exist locally"
    else:
        msg = f"model {spec.name!r}: no {PATH_PARAMETER} given and the model has no default location"
    if offline_hub_id is not None:
        msg += f" and the Hugging Face hub is offline or unreachable, so {offline_hub_id!r} cannot be downloaded"
    msg += f"; set the {PATH_PARAMETER} parameter to {expects}"
    if spec.env_subpath:
        msg += f" (or place it at ${MODEL_DIR_ENV}/{spec.env_subpath})"
    return ModelLoadError(msg)


def resolve_weights(spec: ModelSpec, path: str | None, expects: str, allow_hub: bool = False) -> WeightsSource:
    """Resolve where to load ``spec``'s weights from; ``expects`` describes a valid local path for messages."""
    if path:
        local = Path(path).expanduser()
        if local.exists():
            return WeightsSource(str(local))
        if allow_hub and looks_like_hub_id(path):
            if hub_reachable():
                return WeightsSource(path, is_hub=True)
            raise _missing(spec, [path], expects, offline_hub_id=path)
        raise _missing(spec, [str(local)], expects)
    tried: list[str] = []
    model_dir = os.environ.get(MODEL_DIR_ENV)
    if model_dir and spec.env_subpath:
        tried.append(str(Path(model_dir).expanduser() / spec.env_subpath))
    if spec.default_path:
        tried.append(str(Path(spec.default_path).expanduser()))
    for candidate in tried:
        if Path(candidate).exists():
            return WeightsSource(candidate)
    if allow_hub and spec.hub_id:
        if hub_reachable():
            return WeightsSource(spec.hub_id, is_hub=True)
        raise _missing(spec, tried + [spec.hub_id], expects, offline_hub_id=spec.hub_id)
    raise _missing(spec, tried, expects)
