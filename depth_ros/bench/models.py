"""Depth network runtimes compared in one run: eager torch, ONNX Runtime and torch inference tweaks.

Networks (random weights with unit-gain init, so that outputs vary and the numerical check means
something; speed does not depend on the weights): the Depth Anything V2 Small architecture
(DINOv2-S/14 backbone: hidden 384, 12 layers, 6 heads, features of layers 3/6/9/12; DPT neck
48/96/192/384, fusion 64, head 32; 24.8 M parameters) at 518x518 and 266x350 (H x W), and the
project's compact model (`depth_ros.models.compact`, 4-channel input at its own size) when that
module exists. No download: the checkpoint is built from the config and saved to a temporary
folder, then loaded through the registry like any user checkpoint.

Variants, each timed on the same prepared input (network call only; pre/post-processing is the
same shared code for every runtime):
  torch eager        `load_model(...)` as the node runs it (`torch.inference_mode`, float32)
  ONNX Runtime       exported with `depth_ros.tools.export` (the users' export path), loaded with
                     `load_model("onnx", ...)`; checked against torch: max |diff| < 1e-3 of the range
  torch 1 thread / ORT 1 thread   the same with one intra-op thread (on a loaded machine the
                     default thread count can lose several times to one thread)
  with --extra-tweaks (slower to run; on our 2 shared cores none beat eager torch reliably):
  torch jit          `torch.jit.trace` + `torch.jit.freeze` of the same module
  torch channels_last  module and input in channels_last memory format
  torch bf16 autocast  CPU autocast to bfloat16 (AMX/AVX512-BF16 CPUs; NOT exact, diff printed)
  torch.compile      only with --compile (inductor compiles for ~1 min on 2 cores)
The extra tweaks run at the first size only.
With --device cuda: fp32 (or fp16 with --fp16) on the GPU; ORT uses its CUDA provider when
onnxruntime-gpu is installed; the CPU-only variants are skipped.

Timing: each variant first runs once for the numerical check (its warm-up; the JIT gets one more
call), then each round runs every variant once, in a rotating order; medians over the rounds.
Ratios are taken within this run. On a machine shared with other work, torch's default thread
count can be several times slower than one thread (threads waiting on each other at every
operator); the 1-thread rows show it.

Last line: ``RESULT ort_vs_torch=<ORT / eager torch at 518x518, default threads>
ort_vs_torch_1thread=<the same, both on one thread> ort_vs_torch_small=<default threads, 266x350>
best=<fastest variant at 518x518> best_vs_torch=<its time / eager> ort_rel_diff=<max |ORT - torch| / torch range>
compact_ort_vs_torch=<compact model, when present> torch_ms=<eager 518x518> ort_ms=<ORT 518x518>``
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.cli import ArgumentParser
from depth_ros.core.errors import DepthRosError, InvalidInputError
from depth_ros.models import load_model
from depth_ros.models.export import export_model

SIZES = ((518, 518), (266, 350))
DAV2_SMALL = "depth_anything_v2_small"
TOLERANCE = 1e-3
TOLERANCE_FP16 = 1e-2


def dav2_small_config() -> Any:
    """The transformers config of Depth Anything V2 Small (values of depth-anything/Depth-Anything-V2-Small-hf)."""
    from transformers import DepthAnythingConfig, Dinov2Config  # noqa: PLC0415

    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, patch_size=14,
                            image_size=518, out_indices=[3, 6, 9, 12], reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384, reassemble_factors=[4, 2, 1, 0.5],
                               neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64, head_hidden_size=32,
                               depth_estimation_type="relative")


def randomise(module: Any, seed: int = 0) -> None:
    """Unit-gain random weights (the default init gives near-constant outputs)."""
    import torch  # noqa: PLC0415

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.ndim > 1:
                param.copy_(torch.randn(param.shape, generator=gen) / param[0].numel() ** 0.5)
            else:
                base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
                param.copy_(base + 0.1 * torch.randn(param.shape, generator=gen))


def build_dav2_small(folder: Path, seed: int = 0) -> Path:
    """A random-weight Depth Anything V2 Small checkpoint saved in `folder` (config.json + safetensors)."""
    from transformers import AutoModelForDepthEstimation  # noqa: PLC0415

    model = AutoModelForDepthEstimation.from_config(dav2_small_config())
    randomise(model, seed)
    model.head.conv3.bias.data.fill_(0.5)  # keep the ReLU output mostly positive
    model.save_pretrained(folder)
    return folder


def build_compact(folder: Path, seed: int = 0) -> Path | None:
    """A random-weight compact model saved with its own `save_compact`, or None when the module is absent."""
    try:
        from depth_ros.models.compact import CompactConfig, CompactDepthNet, save_compact  # noqa: PLC0415
    except ImportError:
        return None
    net = CompactDepthNet(CompactConfig())
    randomise(net, seed)
    save_compact(net.eval(), folder)
    return folder


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers.utils import logging as hf_logging  # noqa: PLC0415

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            yield
        finally:
            hf_logging.set_verbosity(level)
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    import torch  # noqa: PLC0415

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Variant:
    name: str
    run: Callable[[], np.ndarray]
    exact: bool = True  # expected to match eager torch within the tolerance
    note: str = ""
    warmups: int = 0  # calls before timing, besides the numerical-check call that every variant makes


@dataclass
class CaseResult:
    label: str
    size: tuple[int, int]
    ms: dict[str, float] = field(default_factory=dict)
    rel_diff: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    predict_ms: dict[str, float] = field(default_factory=dict)


def _time(variants: list[Variant], rounds: int) -> dict[str, float]:
    for v in variants:  # the check call warmed every variant up once; the JIT wants profiling runs
        for _ in range(v.warmups):
            v.run()
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    for r in range(rounds):
        for k in range(len(variants)):
            v = variants[(r + k) % len(variants)]
            t0 = time.perf_counter()
            v.run()
            times[v.name].append(time.perf_counter() - t0)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def _torch_variants(module: Any, pixels: Any, device: str, fp16: bool, threads: int | None, compile_: bool,
                    extra: bool, output: Callable[[Any], Any], skipped: dict[str, str]) -> list[Variant]:
    """The torch inference tweaks on a copy of `module` (the eager model stays untouched)."""
    import torch  # noqa: PLC0415

    out: list[Variant] = []

    def runner(fn: Callable[[], Any]) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            with torch.inference_mode():
                return output(fn()).float().cpu().numpy()
        return run

    class Wrapped(torch.nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            return output(self.net(x))

    if extra:
        try:
            with _quiet(), torch.no_grad():
                traced = torch.jit.freeze(torch.jit.trace(Wrapped(module).eval(), pixels, check_trace=False))
            out.append(Variant("torch jit trace+freeze", runner(lambda: traced(pixels)), warmups=1))
        except Exception as exc:  # noqa: BLE001 - report and go on
            skipped["torch jit trace+freeze"] = f"{type(exc).__name__}: {str(exc)[:120]}"
        cl_module = copy.deepcopy(module).to(memory_format=torch.channels_last)
        cl_pixels = pixels.contiguous(memory_format=torch.channels_last)
        out.append(Variant("torch channels_last", runner(lambda: cl_module(cl_pixels))))

    if device == "cpu":
        bf16_ok = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
        if extra and bf16_ok:
            def bf16() -> Any:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return module(pixels)
            out.append(Variant("torch bf16 autocast", runner(bf16), exact=False, note="not exact"))
        elif extra:
            skipped["torch bf16 autocast"] = "CPU without native bfloat16"

        def one_thread() -> Any:
            with _torch_threads(1):
                return module(pixels)
        if (threads or torch.get_num_threads()) > 1:
            out.append(Variant("torch 1 thread", runner(one_thread)))
    if compile_:
        try:
            t0 = time.perf_counter()
            compiled = torch.compile(module)
            with _quiet(), torch.inference_mode():
                compiled(pixels)
            out.append(Variant("torch.compile", runner(lambda: compiled(pixels)),
                               note=f"compiled in {time.perf_counter() - t0:.0f} s"))
        except Exception as exc:  # noqa: BLE001
            skipped["torch.compile"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return out


def run_case(label: str, name: str, weights: Path, size: tuple[int, int] | None, workdir: Path, rounds: int,
             device: str, fp16: bool, threads: int | None, compile_: bool, tweaks: bool, thread_variants: bool,
             extra: bool = False, out: Callable[[str], None] = print) -> CaseResult:
    """Time one network at one input size (None: the model's own size) with every variant."""
    import torch  # noqa: PLC0415


    with _quiet():
        eager = load_model(name, path=str(weights), device=device, fp16=fp16, input_size=size, num_threads=threads)
    size = eager.spec.input_size or size
    result = CaseResult(label, size)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    rgb = np.clip(np.stack([xx * 255 // 640, yy * 255 // 480, (xx ^ yy) % 256], axis=2)
                  + rng.normal(0, 20, (480, 640, 3)), 0, 255).astype(np.uint8)
    prior = None
    if eager.spec.input_channels == 4:  # sparse radar-like prior: a few discs of metric depth
        prior = np.zeros((480, 640), np.float32)
        prior[::40, ::40] = rng.uniform(1, 20, prior[::40, ::40].shape)
    prepared = eager._prepare(rgb, prior)

    t0 = time.perf_counter()
    export_dir = workdir / f"{label}_{size[0]}x{size[1]}{'_fp16' if fp16 else ''}"
    with _quiet():  # compared with torch below, on the benchmark's own input
        exported = export_model(name, export_dir, str(weights), size, fp16=fp16, device=device, check=False)
    out(f"  exported {label} {size[0]}x{size[1]} to ONNX in {time.perf_counter() - t0:.1f} s")
    variants = [Variant("torch eager", lambda: eager._infer(prepared))]
    ort_models = []
    try:
        ort = load_model("onnx", path=str(exported.onnx_file), device=device, num_threads=threads)
        ort_models.append(ort)
        variants.append(Variant("ONNX Runtime", lambda: ort._infer(prepared)))
        if device == "cpu" and (threads or os.cpu_count() or 1) > 1 and thread_variants:
            ort1 = load_model("onnx", path=str(exported.onnx_file), device=device, num_threads=1)
            ort_models.append(ort1)
            variants.append(Variant("ORT 1 thread", lambda: ort1._infer(prepared)))
    except DepthRosError as exc:
        result.skipped["ONNX Runtime"] = str(exc)
    if tweaks:
        module = eager.module
        pixels = torch.from_numpy(prepared.nchw()).to(device, torch.float16 if fp16 else torch.float32)

        def depth_of(o: Any) -> Any:
            for attr in ("predicted_depth", "depth"):
                if hasattr(o, attr):
                    return getattr(o, attr)
            return o[0] if isinstance(o, (tuple, list)) else o

        call = (lambda m: (lambda x: m(pixel_values=x))) if eager.spec.backend == "transformers" else (lambda m: m)

        class Caller(torch.nn.Module):  # a uniform forward(x) for the tweaks
            def __init__(self, net: Any) -> None:
                super().__init__()
                self.net = net
                self.f = call(net)

            def forward(self, x: Any) -> Any:
                return self.f(x)

        variants += _torch_variants(Caller(module).eval(), pixels, device, fp16, threads, compile_, extra, depth_of,
                                    result.skipped)
    elif thread_variants and device == "cpu" and (threads or torch.get_num_threads()) > 1:
        def one_thread() -> np.ndarray:
            with _torch_threads(1):
                return eager._infer(prepared)
        variants.append(Variant("torch 1 thread", one_thread))

    reference = np.asarray(variants[0].run(), np.float64)
    span = float(reference.max() - reference.min())
    tol = TOLERANCE_FP16 if fp16 else TOLERANCE
    for v in variants[1:]:
        got = np.asarray(v.run(), np.float64).reshape(reference.shape)
        result.rel_diff[v.name] = float(np.abs(got - reference).max()) / span if span > 0 else float("inf")
        if v.exact and not result.rel_diff[v.name] < tol:
            raise RuntimeError(f"{label} {v.name} differs from eager torch by {result.rel_diff[v.name]:.2e} of the "
                               f"depth range (limit {tol:g})")
        if v.note:
            result.notes[v.name] = v.note
    result.ms = _time(variants, rounds)
    if ort_models:  # what the shared pre/post-processing adds around the network (one ORT predict)
        ort_models[0].predict(rgb, prior)
        result.predict_ms = {k: 1e3 * v for k, v in ort_models[0].last_timings.items()}
    for m in (eager, *ort_models):
        m.close()
    return result


def _print_case(r: CaseResult, out: Callable[[str], None] = print) -> None:
    base = r.ms["torch eager"]
    out(f"{r.label} {r.size[0]}x{r.size[1]}:")
    out(f"  {'variant':<26}{'ms':>10}{'x eager':>10}{'max|diff|/range':>18}")
    for name, ms in sorted(r.ms.items(), key=lambda kv: kv[1]):
        diff = "-" if name == "torch eager" else f"{r.rel_diff.get(name, float('nan')):.1e}"
        note = f"  ({r.notes[name]})" if name in r.notes else ""
        out(f"  {name:<26}{ms:10.1f}{ms / base:10.3f}{diff:>18}{note}")
    for name, why in r.skipped.items():
        out(f"  {name:<26}skipped: {why}")
    if r.predict_ms:
        out("  one ORT predict of a 640x480 image: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in r.predict_ms.items()))


def run(rounds: int = 3, device: str = "cpu", fp16: bool = False, threads: int | None = None, compile_: bool = False,
        sizes: tuple[tuple[int, int], ...] = SIZES, compact: bool = True, workdir: Path | None = None,
        extra: bool = False, out: Callable[[str], None] = print) -> dict:
    """Build the networks, run every case and return the numbers of the RESULT line."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch  # noqa: PLC0415

    if rounds < 1:
        raise InvalidInputError(f"rounds must be >= 1, got {rounds}")
    if fp16 and not device.startswith("cuda"):
        raise InvalidInputError("--fp16 needs --device cuda (float16 inference is for GPUs)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device!r} requested but CUDA is not available (torch {torch.__version__}, "
                                f"{'no CUDA build' if torch.version.cuda is None else 'no GPU visible'})")
    if not (device == "cpu" or device.startswith("cuda")):
        raise InvalidInputError(f"device must be cpu or cuda[:N], got {device!r}")
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_models_")))
        t0 = time.perf_counter()
        with _quiet():
            dav2 = build_dav2_small(root / "dav2_small")
        out(f"Depth Anything V2 Small (random weights) built in {time.perf_counter() - t0:.1f} s; device {device}"
            f"{' fp16' if fp16 else ''}; torch threads {threads or torch.get_num_threads()}, ORT threads "
            f"{threads or 'default'}; {rounds} rounds")
        cases = []
        for i, size in enumerate(sizes):  # the torch tweaks at the first (RESULT) size only
            cases.append(run_case("dav2_small", DAV2_SMALL, dav2, size, root, rounds, device, fp16, threads,
                                  compile_ and i == 0, tweaks=i == 0, thread_variants=True, extra=extra, out=out))
            _print_case(cases[-1], out)
        compact_case = None
        if compact:
            folder = build_compact(root / "compact")
            if folder is None:
                out("compact model: depth_ros.models.compact is absent, skipped")
            else:
                try:
                    compact_case = run_case("compact", "compact_depth", folder, None, root, rounds, device, fp16,
                                            threads, False, tweaks=False, thread_variants=False, out=out)
                    _print_case(compact_case, out)
                except Exception as exc:  # noqa: BLE001 - another helper's module: report and go on
                    out(f"compact model: skipped ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})")
    main_case = cases[0]
    fastest = min(main_case.ms, key=main_case.ms.get)
    res: dict[str, Any] = {
        "cases": cases,
        "compact": compact_case,
        "torch_ms": main_case.ms["torch eager"],
        "ort_ms": main_case.ms.get("ONNX Runtime", float("nan")),
        "best": fastest.replace(" ", "_"),
        "best_vs_torch": main_case.ms[fastest] / main_case.ms["torch eager"],
        "ort_rel_diff": main_case.rel_diff.get("ONNX Runtime", float("nan")),
    }
    res["ort_vs_torch"] = res["ort_ms"] / res["torch_ms"]
    if "ORT 1 thread" in main_case.ms and "torch 1 thread" in main_case.ms:
        res["ort_vs_torch_1thread"] = main_case.ms["ORT 1 thread"] / main_case.ms["torch 1 thread"]
    if len(cases) > 1:
        res["ort_vs_torch_small"] = cases[1].ms.get("ONNX Runtime", float("nan")) / cases[1].ms["torch eager"]
    if compact_case is not None:
        res["compact_ort_vs_torch"] = compact_case.ms.get("ONNX Runtime", float("nan")) / compact_case.ms["torch eager"]
    return res


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 518x518, got {text!r}") from None
    return h, w


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(prog="depth-ros-bench models", description=__doc__.split("\n\n")[0],
                                epilog="See the module docstring (python -m pydoc depth_ros.bench.models) for "
                                       "what each variant is.")
    p.add_argument("--rounds", type=int, default=3,
                   help="timing rounds; each runs every variant once; medians are reported (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s); cuda must be available")
    p.add_argument("--fp16", action="store_true", help="float16 weights and compute; needs --device cuda")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads of torch and ONNX Runtime (default: each runtime's default)")
    p.add_argument("--sizes", type=_size, nargs="+", default=list(SIZES), metavar="HxW",
                   help="Depth Anything input sizes; the first is the RESULT size (default: 518x518 266x350)")
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile (inductor) at the first size; compiling takes about a minute")
    p.add_argument("--extra-tweaks", action="store_true",
                   help="also time torch jit trace+freeze, channels_last and bf16 autocast at the first size "
                        "(adds about a minute on 2 cores)")
    p.add_argument("--no-compact", action="store_true", help="skip the compact model")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the checkpoints and ONNX exports here (default: a temporary folder, removed)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    try:
        r = run(args.rounds, args.device, args.fp16, args.threads, args.compile, tuple(args.sizes),
                not args.no_compact, args.workdir, args.extra_tweaks)
    except InvalidInputError as exc:
        print(f"bench_models: {exc}", file=sys.stderr)
        return 2
    print(f"total {time.perf_counter() - t0:.0f} s")
    parts = [f"ort_vs_torch={r['ort_vs_torch']:.3f}"]
    if "ort_vs_torch_1thread" in r:
        parts.append(f"ort_vs_torch_1thread={r['ort_vs_torch_1thread']:.3f}")
    if "ort_vs_torch_small" in r:
        parts.append(f"ort_vs_torch_small={r['ort_vs_torch_small']:.3f}")
    parts += [f"best={r['best']}", f"best_vs_torch={r['best_vs_torch']:.3f}", f"ort_rel_diff={r['ort_rel_diff']:.1e}"]
    if "compact_ort_vs_torch" in r:
        parts.append(f"compact_ort_vs_torch={r['compact_ort_vs_torch']:.3f}")
    parts += [f"torch_ms={r['torch_ms']:.1f}", f"ort_ms={r['ort_ms']:.1f}"]
    print("RESULT " + " ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
