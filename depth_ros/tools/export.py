"""depth-ros-export: a registered torch/transformers depth model -> ONNX graph + JSON sidecar.

  depth-ros-export --model NAME [--model-path P] --out DIR [--input-size H W] [--opset N] [--fp16]

Writes DIR/model.onnx and its sidecar DIR/model.json (`depth_ros.models.onnx_backend` format), so
that ``load_model("onnx", path="DIR/model.onnx")`` runs the same network with the same spec
(output kind, metric range, normalisation, input size). The graph has a fixed input size (the
TorchScript exporter bakes the ViT position-embedding interpolation into constants): --input-size,
else the spec's fixed size, else the size a 640x480 image gets. Then both models predict a random
640x480 image and the largest difference is printed; it must stay below 1e-3 of the torch depth
range (1e-2 with --fp16).

Exit status: 0 exported and checked; 1 bad input (unknown model, missing weights, a size that is
not a multiple of the patch size, a model that is not a torch model), printed as one line; 2 the
numerical check failed (the files are kept for inspection).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from depth_ros.core.errors import DepthRosError, InvalidInputError
from depth_ros.models.registry import get_spec, load_model
from depth_ros.models.spec import ModelSpec

ONNX_NAME = "model.onnx"
DEFAULT_OPSET = 17
CHECK_SIZE = (480, 640)  # (height, width) of the random check image and of the default input size
TOLERANCE = 1e-3  # of the torch output's depth range
TOLERANCE_FP16 = 1e-2


@dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote and how the exported graph compares with torch."""

    onnx_file: Path
    sidecar: Path
    spec: ModelSpec
    input_size: tuple[int, int]
    max_abs_diff: float
    depth_range: float
    tolerance: float
    seconds: float

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / self.depth_range if self.depth_range > 0 else float("inf")

    @property
    def ok(self) -> bool:
        return self.relative_diff < self.tolerance


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence tracer/deprecation warnings and transformers' logging while exporting."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from transformers.utils import logging as hf_logging

            level = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - transformers is optional for non-HF torch models
            hf_logging = None
        try:
            yield
        finally:
            if hf_logging is not None:
                hf_logging.set_verbosity(level)
                hf_logging.enable_progress_bar()


def _depth_module(model: Any, spec: ModelSpec) -> Any:
    """A torch module mapping (1, C, H, W) normalised pixels to the raw depth output of `model`."""
    import torch

    net = getattr(model, "module", None)
    if not isinstance(net, torch.nn.Module):
        raise InvalidInputError(f"model {spec.name!r} (backend {spec.backend}) is not a torch model and cannot be "
                                f"exported; export works for transformers and other torch-backed models")
    keyword = spec.backend == "transformers"

    class DepthOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            out = self.net(pixel_values=pixel_values) if keyword else self.net(pixel_values)
            for name in ("predicted_depth", "depth"):  # transformers outputs, RadarDepthOutput
                if hasattr(out, name):
                    return getattr(out, name)
            return out[0] if isinstance(out, (tuple, list)) else out

    return DepthOnly().eval()


def export_size(spec: ModelSpec, input_size: tuple[int, int] | None) -> tuple[int, int]:
    """The fixed (height, width) of the exported graph (see the module doc)."""
    from depth_ros.models.preprocess import network_size

    if input_size is not None:
        return spec.with_input_size(tuple(input_size)).input_size  # type: ignore[return-value]
    if spec.input_size is not None and not spec.keep_aspect:
        return spec.input_size
    return network_size(spec, *CHECK_SIZE)


def _to_fp16(onnx_file: Path) -> None:
    """Convert the graph's weights and compute to float16, keeping float32 inputs and outputs."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(onnx_file)), keep_io_types=True)
    onnx.save(model, str(onnx_file))


def export_model(
    name: str,
    out_dir: str | Path,
    model_path: str | None = None,
    input_size: tuple[int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    device: str = "cpu",
    seed: int = 0,
    check: bool = True,
) -> ExportResult:
    """Export model `name` to `out_dir`/model.onnx + sidecar and check it against torch (see module doc).

    With ``check=False`` the comparison is skipped (the result's differences are NaN): for callers
    that compare on inputs of their own, such as the models benchmark.
    """
    import torch

    t0 = time.perf_counter()
    spec = get_spec(name)  # UnknownModelError lists the known names
    if spec.backend == "tflite" or spec.name == "onnx":
        raise InvalidInputError(f"model {name!r} (backend {spec.backend}) is not a torch model and cannot be "
                                f"exported; export works for transformers and other torch-backed models")
    if opset < 14:
        raise InvalidInputError(f"opset must be >= 14 (scaled dot-product attention, layer norm), got {opset}")
    size = export_size(spec, input_size)
    with _quiet():
        # Loaded at the export size, so that its own predictions are the reference of the check.
        model = load_model(name, path=model_path, device=device, input_size=size)
    try:
        spec = model.spec
        module = _depth_module(model, spec)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        onnx_file = out / ONNX_NAME
        dummy = torch.zeros(1, spec.input_channels, *size, device=device)
        with _quiet(), torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(module, (dummy,), str(onnx_file), dynamo=False, opset_version=opset,
                              input_names=["pixel_values"], output_names=["depth"], do_constant_folding=True)
        if fp16:
            _to_fp16(onnx_file)
        exported = replace(spec.with_input_size(size), backend="onnx",
                           description=f"{spec.name} exported to ONNX at {size[0]}x{size[1]}"
                                       f"{' (fp16)' if fp16 else ''}: {spec.description}")
        from depth_ros.models.onnx_backend import write_sidecar

        sidecar = write_sidecar(exported, onnx_file)
        if not check:
            nan = float("nan")
            return ExportResult(onnx_file, sidecar, exported, size, nan, nan, TOLERANCE, time.perf_counter() - t0)
        rgb = np.random.default_rng(seed).integers(0, 256, (*CHECK_SIZE, 3), dtype=np.uint8)
        reference = model.predict(rgb)
    finally:
        model.close()
    with load_model("onnx", path=str(onnx_file), device=device) as onnx_model:
        theirs = onnx_model.predict(rgb)
    depth_range = float(reference.max() - reference.min())
    diff = float(np.abs(theirs.astype(np.float64) - reference).max())
    return ExportResult(onnx_file, sidecar, exported, size, diff, depth_range, TOLERANCE_FP16 if fp16 else TOLERANCE,
                        time.perf_counter() - t0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="depth-ros-export", description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 exported and checked, 1 bad input (one line on stderr), 2 numerical check failed.")
    p.add_argument("--model", required=True, help="registered model name (depth-ros-models lists them)")
    p.add_argument("--model-path", default=None,
                   help="weights of the model (a local transformers directory, checkpoint, ...); default: the "
                        "model's usual location ($DEPTH_ROS_MODEL_DIR, its default path)")
    p.add_argument("--out", required=True, type=Path,
                   help="output directory; receives model.onnx and its sidecar model.json")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="fixed network input height and width (multiples of the model's patch size); default: "
                        "the model's fixed size, else the size a 640x480 image is resized to")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default: %(default)s)")
    p.add_argument("--fp16", action="store_true",
                   help="store weights and compute in float16 (inputs/outputs stay float32); meant for CUDA "
                        "(onnxruntime-gpu); the check then allows 1e-2 of the depth range")
    p.add_argument("--device", default="cpu", help="torch device used to trace and check (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random check image (default: %(default)s)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.fp16 and not args.device.startswith("cuda"):
            print("depth-ros-export: note: --fp16 graph checked on CPU (ONNX Runtime casts unsupported fp16 ops)",
                  file=sys.stderr)
        result = export_model(args.model, args.out, args.model_path, tuple(args.input_size) if args.input_size else None,
                              args.opset, args.fp16, args.device, args.seed)
    except (DepthRosError, OSError) as exc:
        print(f"depth-ros-export: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - tracing/ONNX failures are reported as one line too
        print(f"depth-ros-export: error: export of {args.model!r} failed ({type(exc).__name__}: "
              f"{' '.join(str(exc).split())[:500]})", file=sys.stderr)
        return 1
    h, w = result.input_size
    print(f"exported {args.model!r} -> {result.onnx_file} (sidecar {result.sidecar.name}), input {h}x{w}, "
          f"opset {args.opset}{', fp16' if args.fp16 else ''}, {result.seconds:.1f} s")
    print(f"check on a random 640x480 image: max |torch - onnx| = {result.max_abs_diff:.3g} "
          f"({result.relative_diff:.2e} of the depth range {result.depth_range:.4g}; limit {result.tolerance:g}) "
          f"{'OK' if result.ok else 'FAILED'}")
    if not result.ok:
        return 2
    print(f"load it with: load_model('onnx', path='{result.onnx_file}')  (node: model:=onnx "
          f"model_path:={result.onnx_file})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
