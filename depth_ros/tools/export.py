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
import sys
from pathlib import Path

from depth_ros.cli import ArgumentParser
from depth_ros.core.errors import DepthRosError
from depth_ros.models.export import DEFAULT_OPSET, export_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(
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
