"""Named depth models: their specs, the factories that load them, and `load_model`.

A factory is called as ``factory(spec, path=..., device=..., fp16=..., input_size=..., num_threads=...)``
and returns a `DepthModel`. Built-in factories import their runtime (torch, onnxruntime,
ai-edge-litert) only when called, so importing this module stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from depth_ros.core.errors import InvalidInputError, UnknownModelError
from depth_ros.models import compact_spec, radar_fusion_spec, tcmonodepth_spec
from depth_ros.models.base import DepthModel
from depth_ros.models.focal import FASTDEPTH_TRAIN_FOCAL
from depth_ros.models.spec import ModelSpec, OutputKind
from depth_ros.package_data import package_path

Factory = Callable[..., DepthModel]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)
WEIGHTS_ROOT = package_path("models", "weights")  # weights shipped in the package, with model cards
FASTDEPTH_FILE = WEIGHTS_ROOT / "fastdepth_224_int8" / "fast_depth_224.tflite"

_REGISTRY: dict[str, tuple[ModelSpec, Factory]] = {}


def _lazy(module: str, function: str) -> Factory:
    def factory(spec: ModelSpec, **kwargs: object) -> DepthModel:
        return getattr(importlib.import_module(module), function)(spec, **kwargs)

    factory.__qualname__ = f"{module}.{function}"
    return factory


_TFLITE = _lazy("depth_ros.models.tflite_backend", "load_tflite")
_TRANSFORMERS = _lazy("depth_ros.models.transformers_backend", "load_transformers")
_ONNX = _lazy("depth_ros.models.onnx_backend", "load_onnx")


def register_model(spec: ModelSpec, factory: Factory, replace: bool = False) -> None:
    """Add a model under ``spec.name``; registering a taken name needs ``replace=True``."""
    if not spec.name:
        raise InvalidInputError("a registered model needs a non-empty name")
    if spec.name in _REGISTRY and not replace:
        raise InvalidInputError(f"model {spec.name!r} is already registered (pass replace=True to override)")
    _REGISTRY[spec.name] = (spec, factory)


def available_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The spec registered as ``name``; `UnknownModelError` listing the known names otherwise."""
    try:
        return _REGISTRY[name][0]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(available_models())}") from None


def load_model(name: str, path: str | None = None, device: str = "cpu", fp16: bool = False,
               input_size: tuple[int, int] | None = None, num_threads: int | None = None) -> DepthModel:
    """Load model ``name`` from ``path`` (local file/dir, or a hub id when online) or its defaults.

    ``input_size`` forces a fixed (height, width) network input (multiples of ``multiple_of``);
    ``num_threads`` limits the CPU threads of the runtime; ``fp16`` needs ``device="cuda"``.
    The returned model's ``spec`` may differ from `get_spec` where the weights say more (the ONNX
    sidecar, a checkpoint's metric range, a TFLite file's input size).
    """
    spec = get_spec(name)
    factory = _REGISTRY[name][1]
    return factory(spec, path=path or None, device=device, fp16=fp16,
                   input_size=tuple(input_size) if input_size is not None else None, num_threads=num_threads)


def _builtin_specs() -> list[tuple[ModelSpec, Factory]]:
    def dav2(name: str, hub_id: str, kind: OutputKind, max_depth: float, what: str) -> ModelSpec:
        return ModelSpec(name, "transformers", kind, max_depth, None, multiple_of=14, short_side=518,
                         mean=IMAGENET_MEAN, std=IMAGENET_STD, resample="bicubic", hub_id=hub_id,
                         env_subpath=name, description=f"Depth Anything V2 {what} (DINOv2 + DPT head)")

    specs: list[tuple[ModelSpec, Factory]] = [
        (ModelSpec("fastdepth_tflite", "tflite", OutputKind.METRIC, 10.0, (224, 224),
                   env_subpath="fastdepth_224_int8/fast_depth_224.tflite", default_path=str(FASTDEPTH_FILE),
                   train_focal=FASTDEPTH_TRAIN_FOCAL,
                   description="FastDepth (MobileNet + NNConv5), NYU Depth V2, full-int8 TFLite, raw uint8 "
                               "input; clipped to the NYU range of 10 m (the int8 output spans 0..18.3 m); "
                               "metres scaled to the camera's focal length"),
         _TFLITE),
        (ModelSpec("dpt_large", "transformers", OutputKind.RELATIVE_INVERSE, 20.0, (384, 384), mean=HALF, std=HALF,
                   resample="bicubic", hub_id="Intel/dpt-large", env_subpath="dpt_large",
                   description="DPT-Large (ViT-L/16), MiDaS 3.0 mix, relative inverse depth"), _TRANSFORMERS),
        (ModelSpec("dpt_hybrid_midas", "transformers", OutputKind.RELATIVE_INVERSE, 20.0, (384, 384), mean=HALF,
                   std=HALF, resample="bicubic", hub_id="Intel/dpt-hybrid-midas", env_subpath="dpt_hybrid_midas",
                   description="DPT-Hybrid (ViT-hybrid, BiT backbone), MiDaS 3.0, relative inverse depth"),
         _TRANSFORMERS),
        (ModelSpec("zoedepth_nyu_kitti", "transformers", OutputKind.METRIC, 80.0, (384, 512), multiple_of=32,
                   keep_aspect=True, mean=HALF, std=HALF, align_corners=True, pad_reflect=True,
                   hub_id="Intel/zoedepth-nyu-kitti", env_subpath="zoedepth_nyu_kitti",
                   description="ZoeDepth NK (BEiT-L MiDaS + metric bins), NYU indoor / KITTI outdoor router"),
         _TRANSFORMERS),
        (ModelSpec("glpn_nyu", "transformers", OutputKind.METRIC, 10.0, None, multiple_of=32,
                   hub_id="vinvino02/glpn-nyu", env_subpath="glpn_nyu",
                   description="GLPN (SegFormer encoder), NYU Depth V2, metric up to 10 m"), _TRANSFORMERS),
        (compact_spec.SPEC, _lazy(compact_spec.FACTORY_MODULE, compact_spec.FACTORY_FUNCTION)),
        (tcmonodepth_spec.SPEC, tcmonodepth_spec.load_tcmonodepth),
        (radar_fusion_spec.SPEC, _lazy(radar_fusion_spec.FACTORY_MODULE, radar_fusion_spec.FACTORY_FUNCTION)),
        (ModelSpec("onnx", "onnx", OutputKind.RELATIVE_INVERSE, 1.0, None,
                   description="any exported ONNX depth network; its spec comes from the JSON sidecar "
                               "<stem>.json next to <stem>.onnx (see depth_ros.models.onnx_backend)"), _ONNX),
    ]
    for size in ("Small", "Base", "Large"):
        specs.append((dav2(f"depth_anything_v2_{size.lower()}", f"depth-anything/Depth-Anything-V2-{size}-hf",
                           OutputKind.RELATIVE_INVERSE, 20.0, f"{size}, relative inverse depth"), _TRANSFORMERS))
        for scene, max_depth in (("indoor", 20.0), ("outdoor", 80.0)):
            specs.append((dav2(f"depth_anything_v2_metric_{scene}_{size.lower()}",
                               f"depth-anything/Depth-Anything-V2-Metric-{scene.capitalize()}-{size}-hf",
                               OutputKind.METRIC, max_depth,
                               f"{size}, metric {scene} (fine-tuned on "
                               f"{'Hypersim' if scene == 'indoor' else 'Virtual KITTI 2'}), up to {max_depth:g} m"),
                          _TRANSFORMERS))
    return specs


for _spec, _factory in _builtin_specs():
    register_model(_spec, _factory)
