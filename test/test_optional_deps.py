"""Optional dependencies are optional: the runtime install runs both nodes' models without them, and a
missing one is a one-line error naming the extra that installs it.

Each check runs in a fresh interpreter in which the optional packages cannot be imported (an
import hook raises ModuleNotFoundError for them, as on an install without the extras).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

OPTIONAL = ("torch", "transformers", "safetensors", "onnx", "scipy", "matplotlib", "psutil", "ray", "rerun")

BLOCKER = textwrap.dedent(f"""
    import sys
    class _Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {OPTIONAL!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None
    sys.meta_path.insert(0, _Blocker())
""")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
def test_runtime_install_runs_the_shipped_models_and_the_nodes():
    run = _run("""
        import numpy as np
        import depth_ros.ros.depth_node, depth_ros.tools.evaluate  # the nodes and the evaluator import
        from depth_ros.models.registry import load_model
        for name in ("fastdepth_tflite", "tcmonodepth_small", "compact_depth"):
            out = load_model(name).predict(np.zeros((96, 128, 3), np.uint8))
            assert out.shape == (96, 128), (name, out.shape)
        blocked = [m for m in sys.modules if m.split(".")[0] in {blocked!r}]
        assert not blocked, blocked
        print("ok")
    """.replace("{blocked!r}", repr(OPTIONAL)))
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]


@pytest.mark.slow
def test_the_tflite_node_path_loads_no_jit_compiler():
    """depth_node's default path (FastDepth, no scale source, cloud) never imports numba: its import and JIT
    cost a node ~125 MB (README, Performance notes); only navigation outputs, relative networks, the
    temporal stage and the simulator load it."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys
        import numpy as np
        import depth_ros.ros.depth_node
        from depth_ros.core.camera import CameraModel
        from depth_ros.models.registry import load_model
        from depth_ros.pipeline.pipeline import DepthPipeline, Frame
        pipeline = DepthPipeline(load_model("fastdepth_tflite"))
        rgb = np.zeros((480, 640, 3), np.uint8)
        result = pipeline.process(Frame(rgb, CameraModel(640, 480, 525.0, 525.0, 319.5, 239.5), 0))
        assert pipeline.build_cloud(result, rgb).height == 480
        loaded = sorted(m for m in ("numba", "llvmlite", "torch", "scipy") if m in sys.modules)
        assert not loaded, loaded
        print("ok")
    """)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]


@pytest.mark.parametrize("code, extra", [
    ("import depth_ros.models.compact", "torch"),
    ("import depth_ros.models.tcmonodepth", "torch"),
    ("from depth_ros.models.registry import load_model; load_model('depth_anything_v2_small', path='/nonexistent')",
     "transformers"),
    ("from depth_ros.optional import pyplot; pyplot('a plot')", "tools"),
    ("from depth_ros.optional import ray_module; ray_module('several bags on Ray')", "fleet"),
])
def test_a_missing_extra_is_named(code, extra):
    run = _run(f"""
        from depth_ros.core.errors import MissingDependencyError
        try:
            {code}
        except MissingDependencyError as exc:
            print(exc)
    """)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"pip install 'depth_ros[{extra}]'" in run.stdout, run.stdout


def test_a_tool_without_its_extra_exits_with_one_line(tmp_path):
    run = _run(f"""
        from depth_ros.tools.simulate import main
        sys.exit(main(["--scene", "hall", "--seconds", "1", "--out", {str(tmp_path / "bag")!r}]))
    """)
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "depth_ros[tools]" in lines[0], run.stderr
